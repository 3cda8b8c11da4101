"""The firewall role's allow-list (plugins/filter/firewall.py) and its nftables table
(roles/firewall/templates/horilla-firewall.nft.j2), rendered by Ansible for hosts of a
small site and then loaded by nft itself in a network namespace of its own, next to a
table of someone else's (Docker's NAT in a lab container) that must survive."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lab import playbook
from lab.plugins import filters

problems_of = filters("firewall")["firewall_problems"]
accepts_of = filters("firewall")["firewall_accepts"]

GROUPS = {
    "loadbalancers": {"lb1": "192.0.2.11", "lb2": "192.0.2.12"},
    "app": {"app1": "192.0.2.21", "app2": "192.0.2.22"},
    "postgres": {"db1": "192.0.2.31", "db2": "192.0.2.32"},
    "etcd": {"db1": "192.0.2.31", "db2": "192.0.2.32", "mon1": "192.0.2.61"},
    "redis": {"redis1": "192.0.2.41"},
    "sentinel": {"redis1": "192.0.2.41", "mon1": "192.0.2.61"},
    "elasticsearch": {"es1": "192.0.2.51"},
    "monitoring": {"mon1": "192.0.2.61"},
    "backup": {"mon1": "192.0.2.61"},
}
VIP = "192.0.2.100"
SETTINGS = {"horilla_vip": VIP, "_firewall_controller": "", "firewall_admin_sources": ["198.51.100.0/24"]}
KNOWN = {**{g: list(m) for g, m in GROUPS.items()}, "all": sorted({h for m in GROUPS.values() for h in m})}


def render(tmp_path: Path, host: str, **settings) -> str:
    work = tmp_path / host
    work.mkdir()
    return playbook.render_role_template(
        work, "firewall", "horilla-firewall.nft.j2", host, GROUPS, {**SETTINGS, **settings}
    )


def rule(text: str, service: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if f'comment "{service}"' in line]


def nft(*args: str, netns_script: str) -> subprocess.CompletedProcess:
    """Runs a shell script with nft in a new network namespace (root only)."""
    if shutil.which("nft") is None or shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root, nft and unshare")
    return subprocess.run(
        ["unshare", "--net", "sh", "-ec", netns_script, "sh", *args], capture_output=True, text=True, check=False
    )


def test_each_host_opens_only_what_its_groups_serve_to_whom_may_connect(tmp_path):
    db1 = render(tmp_path, "db1")
    assert rule(db1, "etcd client") == [
        'ip saddr { 192.0.2.31, 192.0.2.32, 192.0.2.61 } tcp dport { 2379 } accept comment "etcd client"'
    ]
    assert rule(db1, "etcd peer") == [
        'ip saddr { 192.0.2.31, 192.0.2.32, 192.0.2.61 } tcp dport { 2380 } accept comment "etcd peer"'
    ]
    assert "192.0.2.21" not in " ".join(rule(db1, "etcd client")), "the app never reaches etcd"
    assert rule(db1, "gunicorn") == []

    app1 = render(tmp_path, "app1")
    assert rule(app1, "gunicorn") == [
        'ip saddr { 192.0.2.11, 192.0.2.12, 192.0.2.61 } tcp dport { 8000 } accept comment "gunicorn"'
    ]
    assert rule(app1, "glusterfs") == [
        'ip saddr { 192.0.2.21, 192.0.2.22 } tcp dport { 24007, 24008, 49152-60999 } accept comment "glusterfs"'
    ]
    assert rule(app1, "postgres") == []

    lb1 = render(tmp_path, "lb1")
    # Horilla to anyone, on the VIP only; Postgres through HAProxy to the app tier only.
    assert rule(lb1, "horilla http and https") == [
        f'ip daddr {{ {VIP} }} tcp dport {{ 80, 443 }} accept comment "horilla http and https"'
    ]
    assert rule(lb1, "postgres through haproxy") == [
        "ip saddr { 192.0.2.21, 192.0.2.22, 192.0.2.61 } tcp dport { 5000, 5001 } "
        'accept comment "postgres through haproxy"'
    ]
    assert rule(lb1, "vrrp") == ['ip saddr { 192.0.2.11, 192.0.2.12 } meta l4proto vrrp accept comment "vrrp"']
    assert rule(lb1, "haproxy stats") == [
        'ip saddr { 192.0.2.61, 198.51.100.0/24 } tcp dport { 8404 } accept comment "haproxy stats"'
    ]

    mon1 = render(tmp_path, "mon1")
    assert rule(mon1, "restic sftp") == [
        "ip saddr { 192.0.2.11, 192.0.2.12, 192.0.2.21, 192.0.2.22, 192.0.2.31, 192.0.2.32, 192.0.2.41, 192.0.2.51, "
        '192.0.2.61 } tcp dport { 22 } accept comment "restic sftp"'
    ]
    for text in (db1, app1, lb1, mon1):
        assert "flush ruleset" not in text
        assert re.search(r"policy drop;", text)
        assert rule(text, "ssh from the operators") == [
            'ip saddr { 198.51.100.0/24 } tcp dport 22 accept comment "ssh from the operators"'
        ]
        assert not rule(text, "trusted: every port")


def test_the_controllers_address_keeps_ssh_open_and_trusted_sources_reach_everything(tmp_path):
    text = render(tmp_path, "es1", _firewall_controller="203.0.113.9", firewall_trusted_sources=["192.0.2.1"])
    assert rule(text, "ssh from the operators") == [
        'ip saddr { 198.51.100.0/24, 203.0.113.9 } tcp dport 22 accept comment "ssh from the operators"'
    ]
    assert rule(text, "trusted: every port") == ['ip saddr { 192.0.2.1 } accept comment "trusted: every port"']


def test_nft_loads_it_atomically_again_and_again_leaving_other_tables_alone(tmp_path):
    files = []
    for host in ("lb1", "db1", "mon1"):
        path = tmp_path / f"{host}.nft"
        path.write_text(render(tmp_path, host))
        files.append(str(path))
    # Docker's NAT table for its embedded DNS, as a lab container holds it.
    script = """
nft add table ip nat
nft add chain ip nat DOCKER_OUTPUT
for f in "$@"; do nft -c -f "$f"; nft -f "$f"; nft -f "$f"; done
nft list tables
nft list table inet horilla_firewall
"""
    result = nft(*files, netns_script=script)
    assert result.returncode == 0, result.stderr
    assert "table ip nat" in result.stdout, "another table was flushed"
    assert result.stdout.count("table inet horilla_firewall") == 2  # listed once by tables, once whole
    assert '"not allowed"' in result.stdout and "policy drop" in result.stdout


def preflight(tmp_path: Path, **settings) -> playbook.PlaybookRun:
    """The role's preflight for db1 of the small site, with the role's defaults and `settings`."""
    hosts = playbook.local_inventory(tmp_path / "hosts.yml", GROUPS, {**SETTINGS, **settings})
    play = {
        "name": "Preflight the firewall",
        "hosts": "db1",
        "gather_facts": False,
        "tasks": [{"ansible.builtin.include_role": {"name": "firewall", "tasks_from": "preflight.yml"}}],
    }
    (tmp_path / "preflight.yml").write_text(yaml.safe_dump([play], sort_keys=False))
    return playbook.run(tmp_path / "preflight.yml", inventories=[hosts], timeout=120)


def test_the_roles_allow_list_passes_its_preflight(tmp_path):
    run = preflight(tmp_path)
    assert run.ok, run.tail()


def test_preflight_refuses_a_bad_inventory_entry_naming_variable_index_and_host(tmp_path):
    run = preflight(tmp_path, firewall_group_rules=[{"service": "x", "group": "app", "tcp": [8000], "from": ["apps"]}])
    assert not run.ok
    assert "firewall_group_rules (host db1)[0] `from` names 'apps'" in run.stdout, run.tail()


BAD = [
    ({"service": "x", "group": "app", "tcp": [8000], "from": ["apps"]}, "'apps': neither a group"),
    ({"service": "x", "group": "apps", "tcp": [8000], "from": ["app"]}, "`group` names 'apps'"),
    ({"service": "x", "group": "app", "tcp": [70000], "from": ["app"]}, "port 70000 is outside"),
    ({"service": "x", "group": "app", "tcp": ["9-2"], "from": ["app"]}, "'9-2' is neither"),
    ({"service": "x", "group": "app", "from": ["app"]}, "opens nothing"),
    ({"service": "x", "group": "app", "tcp": [1], "from": ["0.0.0.0/0"]}, "write `any`"),
    ({"service": "x", "group": "app", "tcp": [1], "from": ["app"], "to": ["vip"]}, "`to` must be a list of addresses"),
    ({"service": 'x"; accept', "group": "app", "tcp": [1], "from": ["app"]}, "may hold only"),
    ({"service": "x", "group": "app", "tcp": [1], "from": ["app"], "port": 2}, "unknown keys ['port']"),
    ("8000", "not a mapping"),
]


@pytest.mark.parametrize(("entry", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_entry_is_named_with_its_variable_index_and_host(entry, message):
    problems = problems_of(
        {"firewall_group_rules": [{"service": "ok", "group": "app", "tcp": [1], "from": ["any"]}, entry]}, KNOWN, "app2"
    )
    assert len(problems) == 1, problems
    assert problems[0].startswith("firewall_group_rules (host app2)[1] ")
    assert message in problems[0]


def test_bad_sources_are_named():
    problems = problems_of(
        {"firewall_admin_sources": ["10.0.0.0/8", "office"], "firewall_trusted_sources": ["::/0"]}, KNOWN, "lb2"
    )
    assert problems == [
        "firewall_admin_sources (host lb2) holds 'office', not an address or network",
        "firewall_trusted_sources (host lb2) holds '::/0': every address may not be trusted or admitted to SSH",
    ]


def test_an_empty_or_missing_group_admits_nobody():
    rules = [{"service": "x", "group": "app", "tcp": [1], "from": ["backup"]}]
    hostvars = {h: {"internal_address": a} for m in GROUPS.values() for h, a in m.items()}
    assert accepts_of(rules, {**KNOWN, "backup": []}, hostvars, "app1") == []
    assert accepts_of(rules, KNOWN, hostvars, "db1") == [], "db1 does not serve it"


address_problems = filters("firewall")["address_problems"]
listen_problems = filters("firewall")["listen_problems"]
in_network = filters("firewall")["in_network"]
ADDRESSES = {"lb1": "10.0.0.11", "lb2": "10.0.0.12", "app1": "93.184.216.34", "app2": "10.0.0.11", "db1": "db1.example"}
HOSTVARS = {h: {"internal_address": a} for h, a in ADDRESSES.items()}


def test_internal_addresses_must_be_private_unique_and_not_the_vip():
    assert address_problems("lb2", HOSTVARS, ADDRESSES, [], "10.0.0.100") == []
    assert address_problems("app1", HOSTVARS, ADDRESSES, ["93.184.216.34"], "") == []
    assert address_problems("app1", HOSTVARS, ADDRESSES, [], "") == [
        "internal_address (host app1) is 93.184.216.34, a public address: every service binds there. Give the host's "
        "address on the private network, or list it in firewall_public_internal_addresses if it is meant"
    ]
    assert address_problems("lb1", HOSTVARS, ADDRESSES, [], "10.0.0.11") == [
        "internal_address (host lb1) is 10.0.0.11, which is also the address of app2",
        "horilla_vip (host lb1) is 10.0.0.11, this host's own internal_address: the VIP belongs to no host",
    ]
    assert address_problems("db1", HOSTVARS, ADDRESSES) == [
        "internal_address (host db1) is 'db1.example', not an IP address"
    ]
    assert address_problems("lb2", HOSTVARS, ADDRESSES, [], "10.0.0") == [
        "horilla_vip (host lb2) is '10.0.0', not an IP address"
    ]


def test_the_internal_vip_is_private_no_hosts_and_not_the_vip():
    assert address_problems("lb2", HOSTVARS, ADDRESSES, [], "203.0.113.10", "10.0.0.99") == []
    assert address_problems("lb2", HOSTVARS, ADDRESSES, [], "93.184.216.34", "93.184.216.34") == [
        "horilla_internal_vip (host lb2) is 93.184.216.34, a public address: the database listeners bind there",
        "horilla_internal_vip (host lb2) is 93.184.216.34, the same as horilla_vip: the database listeners must not "
        "be on the public VIP",
    ]
    assert address_problems("lb2", HOSTVARS, ADDRESSES, [], "10.0.0.100", "10.0.0.12") == [
        "horilla_internal_vip (host lb2) is 10.0.0.12, this host's own internal_address: the VIP belongs to no host"
    ]
    assert address_problems("lb2", HOSTVARS, ADDRESSES, [], "10.0.0.100", "vip") == [
        "horilla_internal_vip (host lb2) is 'vip', not an IP address"
    ]


@pytest.mark.parametrize("value", ["0.0.0.0:9100", "[::]:9093", ":9115", "0.0.0.0", "::"])  # noqa: S104
def test_a_listen_address_on_every_address_is_refused(value):
    assert listen_problems({"x_web_listen_address": value}, "mon1") == [
        f"x_web_listen_address (host mon1) is {value!r}: it listens on every address. Bind it to internal_address"
    ]


@pytest.mark.parametrize("value", ["10.0.0.61:9100", "[fd00::61]:9093", "10.0.0.61"])
def test_a_listen_address_on_one_address_passes(value):
    assert listen_problems({"x_web_listen_address": value}, "mon1") == []


def test_in_network():
    assert in_network("172.30.0.100", "172.30.0.0", "255.255.255.0")
    assert not in_network("172.31.0.100", "172.30.0.0", "255.255.255.0")
    assert not in_network("vip", "172.30.0.0", "255.255.255.0")
