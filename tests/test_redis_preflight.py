"""Bad input for the Redis tier stops in preflight, naming the variable or group.

Runs the real playbooks/preflight.yml against a throw-away inventory of local hosts
(nothing is changed: preflight only reads facts and asserts).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import yaml

from lab import playbook

PROJECT = Path(__file__).resolve().parent.parent
# A throw-away secret, as the lab would generate one.
PASSWORD = secrets.token_hex(16)


def inventory(
    tmp_path: Path, sentinels: list[str], extra: dict | None = None, servers: tuple[str, ...] = ("redis1", "redis2")
) -> Path:
    hosts = {"redis1": 41, "redis2": 42, "redis3": 43, "mon1": 61}
    local = {
        "ansible_connection": "local",
        "ansible_python_interpreter": os.environ.get("PYTHON", "python3"),
        # The exporters' TLS and scrape user, checked on every host.
        "metrics_scrape_password": PASSWORD,
        "metrics_tls_ca_dir": "/nonexistent/internal-ca",
    }
    doc = {
        "all": {
            "vars": {**local, **(extra or {})},
            "children": {
                "redis": {"hosts": {h: {"internal_address": f"192.0.2.{hosts[h]}"} for h in servers}},
                "sentinel": {"hosts": {h: {"internal_address": f"192.0.2.{hosts[h]}"} for h in sentinels}},
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def preflight(hosts_file: Path) -> playbook.PlaybookRun:
    # redis1 is in both groups, so every check runs; one host keeps the test quick.
    return playbook.run("playbooks/preflight.yml", inventories=[hosts_file], limit="redis1", timeout=300)


def test_good_input_passes(tmp_path):
    run = preflight(inventory(tmp_path, ["redis1", "redis2", "mon1"], {"redis_password": PASSWORD}))
    assert run.ok, run.stdout[-3000:]


@pytest.mark.parametrize(
    ("sentinels", "extra", "message"),
    [
        (["redis1", "redis2", "mon1"], {}, "redis_password must be set"),
        (["redis1", "redis2", "mon1"], {"redis_password": "has a space in it, 32 characters"}, "without spaces"),
        (["redis1", "redis2"], {"redis_password": PASSWORD}, "The `sentinel` group must have at least 3 hosts"),
        (
            ["redis1", "redis2", "mon1"],
            {"redis_password": PASSWORD, "redis_sentinel_quorum": 4},
            "redis_sentinel_quorum is 4 but there are 3 Sentinels",
        ),
    ],
    ids=["no-password", "password-with-space", "two-sentinels", "quorum-above-count"],
)
def test_bad_input_stops_in_preflight(tmp_path, sentinels, extra, message):
    run = preflight(inventory(tmp_path, sentinels, extra))
    assert not run.ok
    output = " ".join(run.stdout.split())
    assert " ".join(message.split()) in output, run.stdout[-3000:]


THREE = ("redis1", "redis2", "redis3")


def test_guard_with_a_replica_to_spare_passes(tmp_path):
    """Three servers: the default (1 replica) and a lag of 1 s are accepted."""
    extra = {"redis_password": PASSWORD, "redis_min_replicas_max_lag": 1}
    run = preflight(inventory(tmp_path, ["redis1", "redis2", "mon1"], extra, servers=THREE))
    assert run.ok, run.stdout[-3000:]


@pytest.mark.parametrize(
    ("servers", "guard", "message"),
    [
        (
            ("redis1", "redis2"),
            {"redis_min_replicas_to_write": 1},
            "redis_min_replicas_to_write is 1 on redis1, but redis_servers lists 2 server(s), so a primary has"
            " 1 replica(s): one replica down or restarting would stop every write",
        ),
        (
            THREE,
            {"redis_min_replicas_to_write": 3},
            "redis_min_replicas_to_write is 3 on redis1, but redis_servers lists 3 server(s), so a primary has"
            " 2 replica(s): the primary would never accept a write. Use at most 1",
        ),
        (
            THREE,
            {"redis_min_replicas_to_write": 1, "redis_min_replicas_max_lag": 0},
            "redis_min_replicas_max_lag is 0 on redis1 with redis_min_replicas_to_write 1: Redis turns the guard off",
        ),
    ],
    ids=["as-many-as-replicas", "more-than-replicas", "no-lag"],
)
def test_guard_the_group_cannot_serve_stops_in_preflight(tmp_path, servers, guard, message):
    extra = {"redis_password": PASSWORD, **guard}
    run = preflight(inventory(tmp_path, ["redis1", "redis2", "mon1"], extra, servers=servers))
    assert not run.ok
    output = " ".join(run.stdout.split())
    assert " ".join(message.split()) in output, run.stdout[-3000:]
