"""The Prometheus rules' check in `make lint`: promtool validates and unit-tests them.

promtool comes with Debian's `prometheus` package (lab/host-packages.txt), installed
here first when missing, so a fresh CI machine has it before the check runs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lab import host
from lab.state import PROJECT_DIR

RULES_DIR = PROJECT_DIR / "roles" / "prometheus" / "files"


def check(files: Path = RULES_DIR) -> int:
    host.ensure_packages()
    promtool = shutil.which("promtool")
    if not promtool:
        raise host.HostError("promtool is not on PATH after installing the host packages (Debian: prometheus)")
    rules = sorted(str(p) for p in (files / "rules").glob("*.yml"))
    tests = sorted(p.name for p in (files / "rules-tests").glob("*.yml"))
    if not rules or not tests:
        raise FileNotFoundError(f"no rule files or no rule tests under {files}")
    code = subprocess.run([promtool, "check", "rules", *rules], check=False).returncode
    if code == 0:
        # Test files name their rule files relative to themselves.
        code = subprocess.run([promtool, "test", "rules", *tests], cwd=files / "rules-tests", check=False).returncode
    return code
