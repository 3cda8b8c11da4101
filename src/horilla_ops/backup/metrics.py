"""Backup metrics for node_exporter's textfile collector.

One file per kind (horilla_backup_<kind>.prom), replaced atomically (prometheus_client
writes a temporary file and renames it). A failed run keeps the last success time of
the previous file, so "no backup for 26 hours" still counts from the last good one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

# The kinds of CONTRIBUTING.md ("Metrics other tiers rely on"), plus the verification.
KINDS = ("pgbackrest_full", "pgbackrest_diff", "pgbackrest_incr", "pg_dump", "restic", "verify")
PREFIX = "horilla_backup_"


@dataclass(frozen=True)
class Outcome:
    kind: str
    success: bool
    duration_seconds: float
    size_bytes: float | None = None
    finished_at: float | None = None


def metrics_file(textfile_dir: Path, kind: str) -> Path:
    return textfile_dir / f"{PREFIX}{kind}.prom"


def previous_success(path: Path) -> float | None:
    """The last success timestamp recorded in an earlier file, if any."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    for family in text_string_to_metric_families(text):
        if family.name == f"{PREFIX}last_success_timestamp_seconds":
            for sample in family.samples:
                return sample.value
    return None


def write(textfile_dir: Path, outcome: Outcome) -> Path:
    if outcome.kind not in KINDS:
        raise ValueError(f"unknown backup kind {outcome.kind!r}; known: {', '.join(KINDS)}")
    path = metrics_file(textfile_dir, outcome.kind)
    finished = outcome.finished_at if outcome.finished_at is not None else time.time()
    last_success = finished if outcome.success else previous_success(path)

    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(f"{PREFIX}{name}", doc, ["kind"], registry=registry).labels(kind=outcome.kind).set(value)

    gauge("last_result", "Result of the last run: 1 success, 0 failure.", 1 if outcome.success else 0)
    gauge("last_run_timestamp_seconds", "When the last run finished (Unix time).", finished)
    gauge("last_duration_seconds", "How long the last run took.", outcome.duration_seconds)
    if last_success is not None:
        gauge("last_success_timestamp_seconds", "When the last successful run finished (Unix time).", last_success)
    if outcome.size_bytes is not None and outcome.success:
        gauge(
            "last_size_bytes", "Size of the last successful backup (bytes, see the role's README).", outcome.size_bytes
        )
    textfile_dir.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    path.chmod(0o644)
    return path
