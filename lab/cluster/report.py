"""Drill reports in one shape: reports/drills/<name>.json, one file per drill.

Every report starts with the same header (drill, measured_at, debian_release, machine,
app: which application ran, "horilla@<commit>") so figures from different runs, releases
or apps are never mixed up; the drill's own figures follow. A report of another Debian
release than the default goes to <name>-<release>.json.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from lab import testing
from lab.state import PROJECT_DIR

REPORTS = PROJECT_DIR / "reports" / "drills"
DEFAULT_RELEASE = "trixie"


def header(name: str) -> dict:
    from lab.cluster import app

    release = testing.lab().release or DEFAULT_RELEASE
    try:
        label = app.label()
    except Exception:  # no app tier reachable: say so rather than guess
        label = "unknown"
    return {
        "drill": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "debian_release": release,
        "machine": f"{os.cpu_count()} cores",
        "app": label,
    }


def path(name: str) -> Path:
    release = testing.lab().release or DEFAULT_RELEASE
    return REPORTS / (f"{name}.json" if release == DEFAULT_RELEASE else f"{name}-{release}.json")


def write(name: str, figures: dict) -> Path:
    """Writes the header and the figures; returns the file."""
    target = path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({**header(name), **figures}, indent=2) + "\n")
    return target


def update(name: str, **figures: object) -> Path:
    """Merges figures into the drill's report (several tests contribute to one)."""
    target = path(name)
    current = json.loads(target.read_text()) if target.exists() else {}
    current = {
        k: v for k, v in current.items() if k not in ("drill", "measured_at", "debian_release", "machine", "app")
    }
    return write(name, {**current, **figures})
