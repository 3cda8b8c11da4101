"""playbooks/os-update.yml reboots every host of an inventory exactly once, one at a
time, and stops at the first failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

PROJECT = Path(__file__).resolve().parent.parent
PLAYBOOK = PROJECT / "playbooks" / "os-update.yml"


def rebooting_plays() -> list[dict]:
    """The plays that include the common role's os_update tasks, themselves or through a
    role's rolling restart."""
    plays = yaml.safe_load(PLAYBOOK.read_text())
    return [p for p in plays if "hosts" in p and ("os_update.yml" in str(p) or "rolling_restart.yml" in str(p))]


@pytest.mark.parametrize("inventory", ["lab", "production.example"])
def test_every_host_is_rebooted_exactly_once(inventory: str):
    hosts = InventoryManager(loader=DataLoader(), sources=[str(PROJECT / "inventory" / inventory)])
    rebooted = [h.name for play in rebooting_plays() for h in hosts.get_hosts(play["hosts"])]
    every = sorted(h.name for h in hosts.get_hosts("all"))
    assert sorted(rebooted) == every, f"rebooted twice or never in inventory/{inventory}"


def test_one_host_at_a_time_and_the_first_failure_stops_the_run():
    plays = rebooting_plays()
    assert len(plays) == 7
    for play in plays:
        assert play["serial"] == 1, play["name"]
        assert play["max_fail_percentage"] == 0, play["name"]


def test_each_tier_moves_its_work_before_the_reboot():
    plays = {p["hosts"].split(":")[0]: yaml.safe_dump(p) for p in rebooting_plays()}
    assert "switchover.yml" in plays["postgres"]
    assert "tasks/redis-primary-away.yml" in plays["redis"]
    away = (PLAYBOOK.parent / "tasks" / "redis-primary-away.yml").read_text()
    assert "SENTINEL, failover" in away
    # An app node leaves the load balancers' rotation as in a rolling deploy: drained first.
    assert "tasks_from: rotation_out.yml" in plays["app"]
    out = yaml.safe_load((PROJECT / "roles" / "horilla" / "tasks" / "rotation_out.yml").read_text())
    assert [t["vars"]["_horilla_rotation_state"] for t in out] == ["drain", "maint"]
    assert "name: keepalived" in plays["loadbalancers"] and "state: stopped" in plays["loadbalancers"]
    assert "_elasticsearch_restart_by_os_update: true" in plays["elasticsearch"]
