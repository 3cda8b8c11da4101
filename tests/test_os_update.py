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
    assert "tasks/vip-handover.yml" in plays["loadbalancers"]
    assert "_elasticsearch_restart_by_os_update: true" in plays["elasticsearch"]


def steps(tasks: list[dict]) -> list[str]:
    """What each task does, in order: its runtime API or nft input, else its module's args."""
    out = []
    for task in tasks:
        module = next(v for k, v in task.items() if k.startswith("ansible.builtin."))
        out.append(str(module.get("stdin", module)) if isinstance(module, dict) else str(module))
    return out


def test_the_vips_move_with_no_connection_left_to_break():
    handover = yaml.safe_load((PLAYBOOK.parent / "tasks" / "vip-handover.yml").read_text())[0]
    done = steps(handover["block"])
    order = [
        next(i for i, s in enumerate(done) if s == "add acl virt@handover on"),  # close after answers
        next(i for i, s in enumerate(done) if "timeout" in s),  # the kept-alive ones end
        next(i for i, s in enumerate(done) if "tcp flags & (syn | ack) == syn drop" in s),  # new ones wait
        next(i for i, s in enumerate(done) if s == "show stat"),  # those in flight finish
        next(i for i, s in enumerate(done) if "'name': 'keepalived', 'state': 'stopped'" in s),
    ]
    assert order == sorted(order), done
    undone = steps(handover["always"])
    assert any(s.startswith("nft delete table inet") for s in undone)
    assert "clear acl virt@handover" in undone
    # The flag is the pattern list the haproxy role's frontends read.
    role_vars = yaml.safe_load((PROJECT / "roles" / "haproxy" / "vars" / "main.yml").read_text())
    assert role_vars["_haproxy_handover_acl"] == "virt@handover"
    frontends = (PROJECT / "roles" / "haproxy" / "templates" / "haproxy.d" / "app.cfg.j2").read_text()
    assert frontends.count("set-header Connection close if { str(on) -m str -f {{ _haproxy_handover_acl }} }") == 2
