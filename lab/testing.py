"""Helpers for the testinfra tests and drills of every Molecule scenario.

A scenario's lab is named by $LAB_NAME (set in .config/molecule/config.yml); its
hosts, containers and addresses come from the state file lab/create.yml wrote.
"""

from __future__ import annotations

import os
import subprocess
import time
from functools import cache

import testinfra

from lab.state import LabState, load


@cache
def lab() -> LabState:
    return load(os.environ.get("LAB_NAME", "horilla-lab"))


def hosts(group: str = "all") -> list[str]:
    """testinfra host URIs of an inventory group, for a module's `testinfra_hosts`."""
    members = list(lab().hosts.values()) if group == "all" else lab().group(group)
    return [f"docker://{h.container}" for h in members]


def host(name: str) -> testinfra.host.Host:
    """A testinfra host for one inventory host."""
    return testinfra.get_host(f"docker://{lab().host(name).container}")


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def kill(name: str) -> None:
    """Kill a lab host's container at once (SIGKILL): a power cut, not a shutdown."""
    docker("kill", lab().host(name).container)


def start(name: str, timeout: float = 120) -> None:
    """Start a killed lab host again and wait until systemd has booted it."""
    container = lab().host(name).container
    docker("start", container)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["docker", "exec", container, "systemctl", "is-system-running", "--wait"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() in ("running", "degraded"):
            return
        time.sleep(1)
    raise TimeoutError(f"{name} did not finish booting within {timeout:.0f} s")
