"""Debian packages the build machine needs (lab/host-packages.txt)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PACKAGES_FILE = Path(__file__).resolve().parent / "host-packages.txt"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")

# Kernel limits of the machine running the containers. Every systemd container takes
# several inotify instances from the host's per-user pool (128 by default, all
# containers run as the host's root): past about a dozen containers systemd cannot
# start and the container exits at once.
KERNEL_MINIMUMS = {
    "fs.inotify.max_user_instances": 8192,
    "fs.inotify.max_user_watches": 1048576,
}


class HostError(RuntimeError):
    """Packages are missing and cannot be installed from here."""


def required_packages(path: Path = PACKAGES_FILE) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def missing_packages(names: list[str]) -> list[str]:
    if not shutil.which("dpkg-query"):
        return names
    missing = []
    for name in names:
        probe = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", name], capture_output=True, text=True, check=False
        )
        if probe.stdout.strip() != "installed":
            missing.append(name)
    return missing


def ensure_packages() -> list[str]:
    """Install what is missing on Debian as root; returns what was installed."""
    missing = missing_packages(required_packages())
    if not missing:
        return []
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise HostError(f"missing packages on this machine: {' '.join(missing)} (install them, then retry)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    with services_not_started():
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)
    return missing


@contextmanager
def services_not_started(policy: Path = POLICY_RC_D) -> Iterator[None]:
    """Keep packages from starting their services while they install (policy-rc.d, exit 101).

    The build machine needs tools (promtool from `prometheus`), not the daemons some of
    those packages ship. An existing policy is left alone.
    """
    if policy.exists():
        yield
        return
    policy.write_text("#!/bin/sh\n# lab/host.py: no service starts while host packages install\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)


def _proc_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def tune_kernel(minimums: dict[str, int] = KERNEL_MINIMUMS) -> list[str]:
    """Raise kernel limits below the minimum; returns the settings changed.

    Raises HostError naming the settings when they are too low and cannot be raised
    from here (not root, or /proc/sys read-only), with the command that fixes them.
    """
    changed, stuck = [], []
    for key, minimum in minimums.items():
        path = _proc_path(key)
        try:
            current = int(path.read_text().split()[0])
        except (OSError, ValueError):
            continue
        if current >= minimum:
            continue
        try:
            path.write_text(f"{minimum}\n")
            changed.append(f"{key}={minimum}")
        except OSError:
            stuck.append(f"{key}={minimum}")
    if stuck:
        raise HostError(
            "kernel limits too low for the lab's systemd containers; as root run: sysctl -w " + " ".join(stuck)
        )
    return changed
