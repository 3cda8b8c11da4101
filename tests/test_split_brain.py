"""The split-brain guards as the roles write them, sized by the inventory.

Redis' min-replicas-to-write and Patroni's strict synchronous mode are on where the tier
keeps a replica to spare (3 members or more) and off on two, where either node's loss
would stop every write; Patroni's watchdog is off unless asked for. Rendered through
real Ansible with the roles' defaults (roles/redis/README.md and
roles/postgresql/README.md, "Split brain"). The refusals are in test_redis_preflight.py
and test_database_preflight.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.playbook import render_role_template

SECRET = "x" * 32


def hosts(prefix: str, count: int, first_octet: int) -> dict[str, str]:
    return {f"{prefix}{i + 1}": f"192.0.2.{first_octet + i}" for i in range(count)}


def redis_conf(tmp_path: Path, servers: int, settings: dict | None = None) -> dict[str, str]:
    text = render_role_template(
        tmp_path,
        "redis",
        "redis.conf.j2",
        "redis1",
        {"redis": hosts("redis", servers, 41)},
        {"redis_password": SECRET, "_shared_redis_primary": "", **(settings or {})},
    )
    return dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize(("servers", "replicas"), [(2, "0"), (3, "1"), (5, "1")])
def test_redis_guard_is_on_where_a_replica_is_to_spare(tmp_path, servers, replicas):
    conf = redis_conf(tmp_path, servers)
    assert conf["min-replicas-to-write"] == replicas
    assert conf["min-replicas-max-lag"] == "10"


def test_redis_guard_follows_the_variables(tmp_path):
    conf = redis_conf(tmp_path, 3, {"redis_min_replicas_to_write": 1, "redis_min_replicas_max_lag": 4})
    assert (conf["min-replicas-to-write"], conf["min-replicas-max-lag"]) == ("1", "4")


def test_redis_guard_is_kept_in_line_on_the_running_server():
    """redis.conf is written once; later changes reach the server only through the
    runtime settings (CONFIG GET / CONFIG SET), so both must be there."""
    runtime = yaml.safe_load((Path(__file__).parent.parent / "roles/redis/vars/main.yml").read_text())
    settings = runtime["_redis_runtime_settings"]
    assert settings["min-replicas-to-write"] == "{{ redis_min_replicas_to_write }}"
    assert settings["min-replicas-max-lag"] == "{{ redis_min_replicas_max_lag }}"


def patroni_config(tmp_path: Path, members: int, settings: dict | None = None) -> dict:
    secrets = dict.fromkeys(
        (
            "postgresql_superuser_password",
            "postgresql_replication_password",
            "postgresql_rewind_password",
            "postgresql_patroni_api_password",
            "postgresql_app_password",
        ),
        SECRET,
    )
    postgres = hosts("db", members, 21)
    text = render_role_template(
        tmp_path,
        "postgresql",
        "patroni.yml.j2",
        "db1",
        {"postgres": postgres, "etcd": postgres, "app": hosts("app", 1, 51)},
        {**secrets, "postgresql_version": "17", **(settings or {})},
    )
    return yaml.safe_load(text)


@pytest.mark.parametrize(("members", "strict"), [(2, False), (3, True)])
def test_strict_synchronous_mode_is_on_where_a_replica_is_to_spare(tmp_path, members, strict):
    dcs = patroni_config(tmp_path, members)["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True
    assert dcs["synchronous_mode_strict"] is strict


def test_watchdog_is_off_by_default(tmp_path):
    watchdog = patroni_config(tmp_path, 2)["watchdog"]
    # 'off' must reach Patroni as a string or a false, never as a mode it does not know.
    assert watchdog == {"mode": "off", "device": "/dev/watchdog", "safety_margin": 5}


def test_watchdog_mode_follows_the_variable(tmp_path):
    assert patroni_config(tmp_path, 3, {"postgresql_watchdog_mode": "required"})["watchdog"]["mode"] == "required"
