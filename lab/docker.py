"""A Docker engine that answers: checked, and on Debian as root installed and started."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

DOCKERD_LOG = Path("/var/log/horilla-lab-dockerd.log")


class EngineError(RuntimeError):
    """No Docker engine, and none can be provided automatically on this machine."""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return _run("docker", "info", "--format", "{{.ServerVersion}}").returncode == 0


def image_label(image: str, label: str) -> str | None:
    """The value of ``label`` on a local image, or None when the image is absent."""
    result = _run("docker", "image", "inspect", "--format", f'{{{{ index .Config.Labels "{label}" }}}}', image)
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def image_id(image: str) -> str:
    result = _run("docker", "image", "inspect", "--format", "{{.Id}}", image)
    if result.returncode != 0:
        raise EngineError(f"image {image} is missing: {result.stderr.strip()}")
    return result.stdout.strip()


def _is_debian() -> bool:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    return any(line in ("ID=debian", 'ID="debian"') for line in text.splitlines())


def _systemd_is_init() -> bool:
    return Path("/run/systemd/system").is_dir()


def ensure_engine(timeout: float = 90.0) -> str:
    """Make sure ``docker info`` answers; returns how it got there.

    On Debian, as root, installs Debian's docker.io when no daemon is present and
    starts dockerd (through systemd when systemd is PID 1, in the background
    otherwise). Anywhere else an engine that does not answer is an error telling
    the operator what to install.
    """
    if engine_answers():
        return "running"
    root = os.geteuid() == 0
    if not root or not _is_debian():
        raise EngineError(
            "no Docker engine answers. Install Docker Engine "
            "(Debian: `apt-get install docker.io`; elsewhere: "
            "https://docs.docker.com/engine/install/), start it, and make sure "
            "`docker info` works for this user, then run `make lab` again."
        )
    how = "started"
    if not shutil.which("dockerd"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "docker.io"], check=True, env=env)
        how = "installed and started"
    if _systemd_is_init():
        subprocess.run(["systemctl", "start", "docker"], check=True)
    else:
        with DOCKERD_LOG.open("ab") as log:
            # The daemon outlives this process on purpose: it is the lab's engine.
            subprocess.Popen(
                ["dockerd"],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine_answers():
            return how
        time.sleep(1)
    raise EngineError(f"dockerd did not answer within {timeout:.0f} s; see {DOCKERD_LOG}")
