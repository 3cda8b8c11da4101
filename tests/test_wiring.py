"""How the tiers find each other, and who may override it.

The settings that connect tiers (the app's database and Sentinels, the Redis and
Sentinel peer lists, WAL archiving, HAProxy's metrics login) default to values derived
from the inventory's groups, in the roles' own defaults: Ansible's lowest precedence,
so an inventory's group_vars/all wins. (They used to sit in a playbook-level
group_vars/all, which outranks the inventory's and silently overrode an operator's
setting.) The "address:port" lists, these and the internal ones (Patroni's etcd
hosts, Prometheus' Alertmanagers, etcd's initial cluster), come from the `endpoints`
filter (plugins/filter/), which Ansible must find from a play in playbooks/. And
playbooks/preflight.yml is derived from the tier playbooks.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from lab import playbook, preflight
from lab.state import PROJECT_DIR

WIRED = (
    "horilla_database_host",
    "horilla_database_port",
    "horilla_redis_sentinels",
    "redis_servers",
    "redis_sentinels",
    "redis_sentinel_peers",
    "redis_sentinel_redis_servers",
    "_postgresql_patroni_config.etcd3.hosts",
    "_prometheus_monitoring_alertmanagers",
    "_etcd_initial_cluster",
    "postgresql_archive_command",
    "prometheus_haproxy_stats_user",
)
ROLES = ("horilla", "redis", "redis_sentinel", "postgresql", "prometheus", "etcd")


def _inventory(tmp_path: Path, group_vars_all: dict | None = None) -> Path:
    def hosts(names: dict[str, int]) -> dict[str, str]:
        return {name: f"192.0.2.{octet}" for name, octet in names.items()}

    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    groups = {
        "loadbalancers": hosts({"lb1": 11}),
        "postgres": hosts({"db1": 21, "db2": 22}),
        "redis": hosts({"redis1": 41, "redis2": 42}),
        "sentinel": hosts({"redis1": 41, "redis2": 42, "mon1": 61}),
        "backup": hosts({"mon1": 61}),
        "etcd": hosts({"db1": 21, "db2": 22, "mon1": 61}),
        "monitoring": hosts({"mon1": 61}),
    }
    wiring = {"horilla_vip": "192.0.2.100", "horilla_internal_vip": "192.0.2.99", "haproxy_stats_user": "stats"}
    playbook.local_inventory(inventory / "hosts.yml", groups, wiring)
    if group_vars_all:
        (inventory / "group_vars" / "all" / "site.yml").write_text(yaml.safe_dump(group_vars_all))
    return inventory


@pytest.fixture
def resolve(tmp_path):
    """The wired settings as the roles see them, from a play in playbooks/ (where the
    tier playbooks live, so a playbook group_vars/ there would be loaded too)."""

    def _resolve(inventory: Path) -> dict:
        out = tmp_path / "wired.json"
        probe = PROJECT_DIR / "playbooks" / f".wiring-probe-{uuid.uuid4().hex}.yml"
        play = {
            "name": "Resolve the wiring",
            "hosts": "redis1",
            "gather_facts": False,
            # Loaded for their defaults only: `never` skips every task of theirs, and
            # skipping `always` their argument validation (it wants the secrets).
            "roles": [{"role": role, "tags": ["never"]} for role in ROLES],
            "tasks": [
                {
                    "name": "Write the wired settings",
                    "ansible.builtin.copy": {
                        "content": "{{ {" + ", ".join(f"'{v}': {v}" for v in WIRED) + "} | to_json }}",
                        "dest": str(out),
                        "mode": "0600",
                    },
                }
            ],
        }
        probe.write_text(yaml.safe_dump([play], sort_keys=False))
        try:
            run = playbook.run(
                probe, inventories=[inventory], skip_tags=["always"], env={"ANSIBLE_STRATEGY": "linear"}, timeout=120
            )
        finally:
            probe.unlink()
        assert run.ok, run.tail()
        return json.loads(out.read_text())

    return _resolve


def test_the_groups_wire_the_tiers(tmp_path, resolve):
    wired = resolve(_inventory(tmp_path))
    assert wired["horilla_database_host"] == "192.0.2.99"  # HAProxy on the internal VIP, not the public one
    assert int(wired["horilla_database_port"]) == 5000
    sentinels = ["192.0.2.41:26379", "192.0.2.42:26379", "192.0.2.61:26379"]
    assert wired["horilla_redis_sentinels"] == sentinels
    assert wired["redis_sentinels"] == sentinels
    assert wired["redis_sentinel_peers"] == sentinels
    assert wired["redis_servers"] == ["192.0.2.41:6379", "192.0.2.42:6379"]
    assert wired["redis_sentinel_redis_servers"] == wired["redis_servers"]
    assert wired["_postgresql_patroni_config.etcd3.hosts"] == ["192.0.2.21:2379", "192.0.2.22:2379", "192.0.2.61:2379"]
    assert wired["_prometheus_monitoring_alertmanagers"] == ["192.0.2.61:9093"]
    assert wired["_etcd_initial_cluster"] == (
        "db1=https://192.0.2.21:2380,db2=https://192.0.2.22:2380,mon1=https://192.0.2.61:2380"
    )
    assert wired["postgresql_archive_command"] == "pgbackrest --stanza=horilla archive-push %p"
    assert wired["prometheus_haproxy_stats_user"] == "stats"


def test_an_inventorys_group_vars_all_wins(tmp_path, resolve):
    mine = {
        "horilla_database_host": "pg.example.internal",
        "horilla_database_port": 6432,
        "redis_sentinel_port": 26380,  # an input of the derivations: they follow it
        "postgresql_archive_command": "/usr/local/bin/archive %p",
        "prometheus_haproxy_stats_user": "scraper",
    }
    wired = resolve(_inventory(tmp_path, mine))
    assert wired["horilla_database_host"] == "pg.example.internal"
    assert int(wired["horilla_database_port"]) == 6432
    assert wired["horilla_redis_sentinels"] == ["192.0.2.41:26380", "192.0.2.42:26380", "192.0.2.61:26380"]
    assert wired["redis_sentinel_peers"] == wired["horilla_redis_sentinels"]
    assert wired["postgresql_archive_command"] == "/usr/local/bin/archive %p"
    assert wired["prometheus_haproxy_stats_user"] == "scraper"


def test_no_playbook_level_group_vars():
    """Any group_vars/ next to a playbook outranks the inventory's group_vars/all."""
    for directory in (PROJECT_DIR, PROJECT_DIR / "playbooks", PROJECT_DIR / "molecule"):
        assert not (directory / "group_vars").exists(), directory / "group_vars"


def test_preflight_is_derived_from_the_tier_playbooks():
    assert preflight.PREFLIGHT.read_text() == preflight.render(), "stale: run python -m lab preflight"
