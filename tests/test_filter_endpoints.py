"""The `endpoints` filter (plugins/filter/endpoints.py): a group's hosts as "address:port".

The filter itself, called directly; that Ansible finds it from the roles (ansible.cfg's
filter_plugins) and the roles' peer lists come out right is tests/test_wiring.py's.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from lab.plugins import filters

PROJECT = Path(__file__).resolve().parent.parent
PLUGIN = PROJECT / "plugins" / "filter" / "endpoints.py"
endpoints = filters("endpoints")["endpoints"]

HOSTVARS = {
    "redis1": {"internal_address": "192.0.2.41", "inventory_hostname": "redis1"},
    "redis2": {"internal_address": "192.0.2.42"},
    "mon1": {"internal_address": "192.0.2.61"},
    "bare": {"ansible_host": "bare.example"},
    "blank": {"internal_address": ""},
}


def test_hosts_become_address_port_in_group_order():
    assert endpoints(["redis2", "redis1", "mon1"], HOSTVARS, 26379) == [
        "192.0.2.42:26379",
        "192.0.2.41:26379",
        "192.0.2.61:26379",
    ]


def test_port_may_be_a_string():
    assert endpoints(["redis1"], HOSTVARS, "6379") == ["192.0.2.41:6379"]


def test_an_empty_group_gives_an_empty_list():
    assert endpoints([], HOSTVARS, 6379) == []


@pytest.mark.parametrize("host", ["bare", "blank"])
def test_a_host_without_internal_address_is_named(host):
    with pytest.raises(AnsibleFilterError, match=rf"host {host} has no internal_address"):
        endpoints(["redis1", host], HOSTVARS, 6379)


def test_a_host_outside_the_inventory_is_named():
    with pytest.raises(AnsibleFilterError, match="'ghost' is not a host of the inventory"):
        endpoints(["ghost"], HOSTVARS, 6379)


def test_a_single_hostname_is_refused_not_split_into_characters():
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        endpoints("redis1", HOSTVARS, 6379)


def test_a_missing_port_is_refused():
    with pytest.raises(AnsibleFilterError, match="needs a port"):
        endpoints(["redis1"], HOSTVARS, "")


def test_ansible_cfg_loads_the_filter_directory():
    """Every playbook, lab/ playbook and Molecule scenario runs with this ansible.cfg."""
    config = configparser.ConfigParser()
    config.read(PROJECT / "ansible.cfg")
    directories = [d.strip() for d in config["defaults"]["filter_plugins"].split(":")]
    assert any((PROJECT / d).resolve() == PLUGIN.parent for d in directories), directories


def test_molecule_scenarios_run_with_that_ansible_cfg():
    base = yaml.safe_load((PROJECT / ".config" / "molecule" / "config.yml").read_text())
    assert base["ansible"]["env"]["ANSIBLE_CONFIG"] == "${MOLECULE_PROJECT_DIRECTORY}/ansible.cfg"
    for scenario in sorted((PROJECT / "molecule").glob("*/molecule.yml")):
        env = (yaml.safe_load(scenario.read_text()).get("ansible") or {}).get("env") or {}
        overridden = {"ANSIBLE_CONFIG", "ANSIBLE_FILTER_PLUGINS"} & set(env)
        assert not overridden, f"{scenario.parent.name} sets {sorted(overridden)}"
