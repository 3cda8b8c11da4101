"""Helpers of the backup scenario's tests: the cluster's leader, SQL on it, the commands
on the hosts, and the restore playbook run the way an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request

from lab import testing
from lab.state import PROJECT_DIR

SCENARIO_DIR = PROJECT_DIR / "molecule" / "backup"
DATABASE = "horilla"


def address(name: str) -> str:
    return testing.lab().host(name).address


def postgres_hosts() -> list[str]:
    return [h.name for h in testing.lab().group("postgres")]


def backup_host() -> str:
    return testing.lab().group("backup")[0].name


# The app node stand-in (inventory/hosts.yml: outside the `app` tier group).
APP_GROUP = "app_standin"


def app_host() -> str:
    return testing.lab().group(APP_GROUP)[0].name


def cluster() -> dict:
    for name in postgres_hosts():
        try:
            with urllib.request.urlopen(f"http://{address(name)}:8008/cluster", timeout=3) as resp:
                return json.load(resp)
        except OSError:
            continue
    raise ConnectionError("no Patroni node answered /cluster")


def leader() -> str:
    found = [m["name"] for m in cluster()["members"] if m["role"] == "leader" and m["state"] == "running"]
    assert len(found) == 1, f"expected one running leader, got {cluster()['members']}"
    return found[0]


def replicas() -> list[str]:
    return [h for h in postgres_hosts() if h != leader()]


def healthy() -> bool:
    try:
        members = cluster()["members"]
    except ConnectionError:
        return False
    return (
        len(members) == len(postgres_hosts())
        and sum(m["role"] == "leader" for m in members) == 1
        and all(m["state"] in ("running", "streaming") for m in members)
    )


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s")


def sh(host: str, command: str, timeout_note: str = ""):
    """Run a shell command on a lab host; fail with its output unless it exits 0."""
    result = testing.host(host).run(command)
    assert result.rc == 0, f"{host}: `{command}` exited {result.rc}{timeout_note}\n{result.stdout}\n{result.stderr}"
    return result


def sql(query: str, host: str | None = None) -> str:
    """One query on the app database as the superuser through the local socket (default: the leader)."""
    escaped = query.replace("'", "'\"'\"'")
    return sh(
        host or leader(), f"runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d {DATABASE} -c '{escaped}'"
    ).stdout.strip()


def restore_playbook(**extra_vars) -> tuple[float, str]:
    """Run playbooks/restore.yml against this scenario's hosts; returns its wall time and output."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(PROJECT_DIR / "roles"),
        "LAB_NAME": testing.lab().name,
        "LAB_SUBNET_PREFIX": testing.lab().hosts[backup_host()].address.rsplit(".", 1)[0],
        "ANSIBLE_FORCE_COLOR": "0",
    }
    argv = ["ansible-playbook", "-i", str(SCENARIO_DIR / "inventory"), str(PROJECT_DIR / "playbooks" / "restore.yml")]
    # JSON, so lists stay lists (key=value extra vars are strings).
    argv += ["-e", json.dumps(extra_vars)]
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=1800)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, (
        f"restore playbook failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    )
    return seconds, proc.stdout
