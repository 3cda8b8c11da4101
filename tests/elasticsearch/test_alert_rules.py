"""The search tier's alerting rules are valid and fire when, and only when, they should.

promtool comes from Debian's `prometheus` package: the one on PATH, else the binary
unpacked (not installed) from that package into .cache/promtool/.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

RULES_DIR = Path(__file__).resolve().parents[2] / "roles" / "elasticsearch_exporter" / "files"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "promtool"


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    unpacked = CACHE / "usr" / "bin" / "promtool"
    if not unpacked.exists() and shutil.which("apt-get") and shutil.which("dpkg-deb"):
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "prometheus"], cwd=CACHE, check=False, capture_output=True)
        for deb in CACHE.glob("prometheus_*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(CACHE)], check=True)
    if not unpacked.exists():
        pytest.skip("promtool is not installed and Debian's prometheus package could not be unpacked")
    return str(unpacked)


def test_rules_are_valid():
    result = subprocess.run(
        [promtool(), "check", "rules", "elasticsearch.rules.yml"], cwd=RULES_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_fire_as_specified():
    result = subprocess.run(
        [promtool(), "test", "rules", "elasticsearch.rules.test.yml"], cwd=RULES_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
