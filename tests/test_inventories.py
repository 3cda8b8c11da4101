"""The lab topology matches CONTRIBUTING.md (Architecture), and Molecule scenarios cannot collide."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent

DESIGN_GROUPS = {
    "loadbalancers": ["lb1", "lb2"],
    "app": ["app1", "app2", "app3"],
    "postgres": ["db1", "db2"],
    "etcd": ["db1", "db2", "mon1"],
    "redis": ["redis1", "redis2"],
    "sentinel": ["redis1", "redis2", "mon1"],
    "elasticsearch": ["es1", "es2", "es3"],
    # A pair, so that losing either host never silences alerting; the backups apart from
    # mon1's quorum members (issue 21, item 4).
    "monitoring": ["mon1", "mon2"],
    "backup": ["mon2"],
}


def inventory(path: Path) -> dict:
    out = subprocess.run(
        ["ansible-inventory", "-i", str(path), "--list"], check=True, capture_output=True, text=True, cwd=PROJECT
    ).stdout
    return json.loads(out)


def members(inv: dict, group: str) -> set[str]:
    hosts = set(inv.get(group, {}).get("hosts", []))
    for child in inv.get(group, {}).get("children", []):
        hosts |= members(inv, child)
    return hosts


def test_lab_inventory_has_the_design_topology():
    inv = inventory(PROJECT / "inventory" / "lab")
    for group, hosts in DESIGN_GROUPS.items():
        assert members(inv, group) == set(hosts), group
    assert len(members(inv, "lab")) == 14


def octets(hosts_file: Path) -> dict[str, int]:
    found: dict[str, int] = {}

    def walk(node):
        if not isinstance(node, dict):
            return
        for name, hostvars in (node.get("hosts") or {}).items():
            if hostvars and "lab_host_octet" in hostvars:
                found[name] = hostvars["lab_host_octet"]
        for child in (node.get("children") or {}).values():
            walk(child)

    walk(yaml.safe_load(hosts_file.read_text())["all"])
    return found


HOSTS_FILES = [PROJECT / "inventory" / "lab" / "hosts.yml", *sorted(PROJECT.glob("molecule/*/inventory/hosts.yml"))]


@pytest.mark.parametrize("hosts_file", HOSTS_FILES, ids=lambda p: str(p.relative_to(PROJECT)))
def test_every_lab_host_has_a_unique_address(hosts_file):
    found = octets(hosts_file)
    inv = inventory(hosts_file.parent)
    assert set(found) == members(inv, "lab"), "every lab host needs lab_host_octet exactly once"
    assert len(set(found.values())) == len(found), "two hosts share an address"
    assert all(2 <= o <= 254 and o != 100 for o in found.values()), ".1 is the gateway, .100 the VIP"


def test_scenarios_use_distinct_subnets():
    """Scenarios may run side by side (and beside `make lab`): their networks must not overlap."""
    prefixes = {"make lab": "172.30.0", "make bench": "172.30.3"}
    for molecule_yml in sorted(PROJECT.glob("molecule/*/molecule.yml")):
        env = (yaml.safe_load(molecule_yml.read_text()).get("ansible") or {}).get("env") or {}
        prefix = env.get("LAB_SUBNET_PREFIX")
        assert prefix and re.fullmatch(r"\d+\.\d+\.\d+", prefix), f"{molecule_yml}: set ansible.env.LAB_SUBNET_PREFIX"
        assert prefix not in prefixes.values(), f"{molecule_yml} reuses {prefix}"
        prefixes[molecule_yml.parent.name] = prefix


def test_cluster_scenario_uses_the_lab_inventory_itself():
    """The `cluster` scenario converges the lab definition, not a copy of it: the lab
    inventory first, then only drill-settings/, which sets variables of the lab's
    monitoring group and adds no host and no group."""
    config = yaml.safe_load((PROJECT / "molecule" / "cluster" / "molecule.yml").read_text())
    args = config["ansible"]["executor"]["args"]["ansible_playbook"]
    assert args == [
        "--inventory=${MOLECULE_PROJECT_DIRECTORY}/inventory/lab",
        "--inventory=${MOLECULE_SCENARIO_DIRECTORY}/drill-settings",
    ]
    assert not (PROJECT / "molecule" / "cluster" / "inventory").exists()
    lab = inventory(PROJECT / "inventory" / "lab")
    both = subprocess.run(
        ["ansible-inventory", "-i", "inventory/lab", "-i", "molecule/cluster/drill-settings", "--list"],
        check=True,
        capture_output=True,
        text=True,
        cwd=PROJECT,
    ).stdout
    combined = json.loads(both)
    assert set(combined["_meta"]["hostvars"]) == set(lab["_meta"]["hostvars"])
    groups = {name for name in combined if name != "_meta"}
    assert groups == {name for name in lab if name != "_meta"}
    for group in groups:
        assert members(combined, group) == members(lab, group), group
    settings = yaml.safe_load((PROJECT / "molecule" / "cluster" / "drill-settings" / "hosts.yml").read_text())
    assert set(settings) == {"all"} and set(settings["all"]) == {"children"}, "drill-settings: group variables only"
    assert {name: set(group) for name, group in settings["all"]["children"].items()} == {"monitoring": {"vars"}}


def test_scenarios_share_the_lab_group_vars():
    """One lab definition: scenario inventories link the lab's group_vars, never copy them."""
    for inv in sorted(PROJECT.glob("molecule/*/inventory")):
        link = inv / "group_vars"
        assert link.is_symlink(), f"{link} must be a link to inventory/lab/group_vars"
        assert link.resolve() == (PROJECT / "inventory" / "lab" / "group_vars").resolve()
