"""HORILLA_OPS_* parsing: good values become typed settings, bad ones a clear error."""

import ipaddress
import secrets

import pytest

from horilla_ops.config import DEFAULT_SCHEDULER_LOCK_ID, ConfigError, OpsConfig

REDIS_SECRET, SENTINEL_SECRET = secrets.token_hex(8), secrets.token_hex(8)


def test_defaults_are_safe():
    config = OpsConfig.from_environ({})
    # Not the cache: shared by every node, and the app serves without it.
    assert config.ready_checks == ("database", "migrations")
    assert config.is_internal("127.0.0.1")
    assert not config.is_internal("10.0.0.1"), "only loopback is internal unless the operator says otherwise"
    assert config.cache_settings() is None, "without Sentinels upstream's cache stays"
    assert config.scheduler_lock_id == DEFAULT_SCHEDULER_LOCK_ID < 2**63


def test_a_large_lock_id_keeps_every_bit():
    assert OpsConfig.from_environ({"HORILLA_OPS_SCHEDULER_LOCK_ID": "9007199254740993"}).scheduler_lock_id == 2**53 + 1


def test_sentinels_and_networks_are_parsed():
    config = OpsConfig.from_environ(
        {
            "HORILLA_OPS_REDIS_SENTINELS": "10.0.0.41:26379, redis2:26380",
            "HORILLA_OPS_REDIS_PASSWORD": REDIS_SECRET,
            "HORILLA_OPS_REDIS_SENTINEL_PASSWORD": SENTINEL_SECRET,
            "HORILLA_OPS_INTERNAL_NETWORKS": "10.0.0.0/8,fd00::/8",
        }
    )
    assert config.redis_sentinels == (("10.0.0.41", 26379), ("redis2", 26380))
    assert config.internal_networks == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    assert config.is_internal("10.1.2.3") and config.is_internal("fd00::1")
    assert not config.is_internal("203.0.113.7") and not config.is_internal("not-an-ip")
    options = config.cache_settings()["default"]["OPTIONS"]
    assert options["SENTINELS"] == [("10.0.0.41", 26379), ("redis2", 26380)]
    assert options["PASSWORD"] == REDIS_SECRET
    # The Sentinels get the data connections' timeouts too (a dead Sentinel must not hang
    # the lookup of the new primary): redis-py drops them once sentinel_kwargs are given.
    assert options["SENTINEL_KWARGS"] == {
        "password": SENTINEL_SECRET,
        "socket_connect_timeout": options["SOCKET_CONNECT_TIMEOUT"],
        "socket_timeout": options["SOCKET_TIMEOUT"],
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HORILLA_OPS_REDIS_SENTINELS", "redis1", "is not host:port"),
        ("HORILLA_OPS_INTERNAL_NETWORKS", "10.0.0.0/33", "HORILLA_OPS_INTERNAL_NETWORKS"),
        ("HORILLA_OPS_READY_CHECKS", "database,coffee", "unknown check"),
        ("HORILLA_OPS_SCHEDULER_LEASE_SECONDS", "ten", "is not a number"),
        ("HORILLA_OPS_REDIS_DB", "0.5", "is not an integer"),
    ],
)
def test_bad_values_name_the_variable(variable, value, message):
    with pytest.raises(ConfigError, match=message) as error:
        OpsConfig.from_environ({variable: value})
    assert variable in str(error.value)
