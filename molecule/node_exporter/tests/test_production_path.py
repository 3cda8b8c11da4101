"""The production connection path: the converge came over SSH as `deploy` with sudo, and
the firewall it applied keeps SSH open to the controller through its own rule only.

The scenario trusts the controller with nothing (converge.yml): SSH from this machine
stays open only because the firewall accepts the address the run connected from.
Inspection itself goes through `docker exec` (testinfra's docker backend).
"""

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from lab import playbook, testing
from lab.cluster import scan

testinfra_hosts = testing.hosts()

SUDO_ROOT = re.compile(r"\bdeploy : .*; USER=root ; COMMAND=")


@pytest.fixture
def me(host):
    return testing.lab().host(host.check_output("hostname"))


def controller_address(target: str) -> str:
    """The address this machine reaches `target` from (a UDP socket's, nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((target, 9))
        return probe.getsockname()[0]


def journal(host, *match: str) -> list[dict]:
    out = host.check_output(f"journalctl -q --no-pager -o json {' '.join(match)}")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def reject_count(host) -> int:
    """Packets the firewall's final TCP reject ("not allowed") has refused so far."""
    ruleset = json.loads(host.check_output("nft -j list table inet horilla_firewall"))
    for item in ruleset["nftables"]:
        rule = item.get("rule")
        if rule and rule.get("comment") == "not allowed":
            return next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    raise AssertionError("the firewall has no 'not allowed' rule")


def test_logged_in_over_ssh_as_deploy_after_the_firewall_was_up(host, me):
    """sshd accepted `deploy`'s key from the controller's address, and again once the
    firewall was running (the idempotence step's converge): no lock-out."""
    controller = controller_address(me.address)
    logins = [
        entry
        for entry in journal(host, "-u", "ssh")
        if re.match(rf"Accepted publickey for deploy from {re.escape(controller)} ", entry.get("MESSAGE", ""))
    ]
    assert logins, f"sshd on {me.name} never accepted deploy from {controller}"
    firewall_up = int(host.check_output("systemctl show -P ActiveEnterTimestampMonotonic horilla-firewall"))
    assert firewall_up > 0, "the firewall unit never started"
    assert any(int(entry["__MONOTONIC_TIMESTAMP"]) > firewall_up for entry in logins), (
        f"no SSH login from {controller} on {me.name} after the firewall started"
    )


def test_became_root_through_sudo(host, me):
    """Every root task went through sudo as `deploy` (none does over docker exec)."""
    records = [entry.get("MESSAGE", "") for entry in journal(host, "_COMM=sudo")]
    assert any(SUDO_ROOT.search(message) for message in records), f"no sudo to root by deploy on {me.name}"
    assert host.file("/etc/sudoers.d/lab-ssh").exists


def test_controller_reaches_ssh_and_nothing_else(host, me):
    """From this machine (not trusted here): port 22 answers, every other port is refused."""
    answered = scan.scan(None, {me.address: scan.ports(["1-65535"])})
    assert answered == {f"{me.address}:22"}
    with pytest.raises(ConnectionRefusedError):  # a reset: refused at once, not dropped
        socket.create_connection((me.address, 9100), timeout=10).close()


def test_outsider_is_refused_ssh_and_the_exporter():
    """A container on the lab network in no group: refused on 22 and 9100 everywhere, by
    the firewall's own reject rule (its counter moves: the probes did reach the hosts)."""
    hosts = list(testing.lab().hosts.values())
    before = {h.name: reject_count(testing.host(h.name)) for h in hosts}
    with scan.outsider() as outsider:
        answered = scan.scan(outsider, {h.address: [22, 9100] for h in hosts})
    assert answered == set(), f"{scan.outsider_address()} reached {sorted(answered)}"
    for h in hosts:
        assert reject_count(testing.host(h.name)) >= before[h.name] + 2, f"{h.name} refused nothing"


def ansible_ping(home: Path, name: str) -> subprocess.CompletedProcess:
    """`ansible -m ping` to one host through the scenario's own inventory (the connection
    it converged with), with the labs' SSH directory under `home`."""
    return subprocess.run(
        ["ansible", *[f"--inventory={i}" for i in testing.lab().inventories], name, "-m", "ansible.builtin.ping"],
        env={**os.environ, **playbook.environment({"HOME": str(home)})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_wrong_host_key_fails_the_connection(tmp_path):
    """Host keys are checked: with another host's key recorded at mon1's address, Ansible
    refuses to connect; with the keys lab/ssh.yml recorded, it connects."""
    real = Path(os.environ["HOME"], ".cache/horilla-lab/ssh")
    known_hosts = f"known_hosts-{testing.lab().name}"
    hosts = list(testing.lab().hosts.values())
    victim, other = hosts[0], hosts[1]
    keys = dict(line.split(" ", 1) for line in (real / known_hosts).read_text().splitlines())
    assert keys[victim.address] != keys[other.address]
    for case, victim_key in (("genuine", keys[victim.address]), ("wrong", keys[other.address])):
        ssh_dir = tmp_path / case / ".cache/horilla-lab/ssh"
        ssh_dir.mkdir(parents=True, mode=0o700)
        shutil.copy2(real / "id_ed25519", ssh_dir / "id_ed25519")
        (ssh_dir / known_hosts).write_text(f"{victim.address} {victim_key}\n")
    genuine = ansible_ping(tmp_path / "genuine", victim.name)
    assert genuine.returncode == 0, genuine.stdout[-2000:]
    wrong = ansible_ping(tmp_path / "wrong", victim.name)
    assert wrong.returncode != 0, wrong.stdout[-2000:]
    assert "UNREACHABLE" in wrong.stdout and re.search(
        r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|mismatching host key",
        wrong.stdout + wrong.stderr,
    ), wrong.stdout[-2000:]
