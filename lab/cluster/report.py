"""Drill reports in one schema: reports/drills/<name>.json, one file per drill.

Every report has the same top-level keys, and no others:

- the header (drill, measured_at, debian_release, machine, app: which application ran,
  "horilla@<commit>"), so figures from different runs, releases or apps are never mixed up;
- `settings`: the knobs that shaped the figures (the load, targets, ceilings, alerting
  intervals, data sizes, tool versions), a dict, empty when nothing was set;
- `events`: what happened or was measured, a list of dicts, each with a unique `name`;
- `totals`: what sums up the events (the whole drill's requests, the queries checked), a
  dict, empty when nothing sums up.

`write()` writes a whole report; `add_event()` merges one event into a report by its
name (several tests contribute to one report). A report of another Debian release than
the default goes to <name>-<release>.json.
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
HEADER = ("drill", "measured_at", "debian_release", "machine", "app")
BODY = ("settings", "events", "totals")
KEYS = HEADER + BODY


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


def path(name: str, release: str | None = None) -> Path:
    release = release or testing.lab().release or DEFAULT_RELEASE
    return REPORTS / (f"{name}.json" if release == DEFAULT_RELEASE else f"{name}-{release}.json")


def problems(report: dict) -> list[str]:
    """What keeps a report from the schema (nothing: it follows it)."""
    found = []
    missing = [k for k in KEYS if k not in report]
    unexpected = [k for k in report if k not in KEYS]
    if missing or unexpected:
        found.append(f"top-level keys: missing {missing}, unexpected {unexpected}")
    for key in ("settings", "totals"):
        if key in report and not isinstance(report[key], dict):
            found.append(f"{key} is a {type(report[key]).__name__}, not a dict")
    events = report.get("events", [])
    if not isinstance(events, list):
        return [*found, f"events is a {type(events).__name__}, not a list"]
    names = []
    for index, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("name"), str) or not event["name"]:
            found.append(f"event {index} is not a dict with a name: {event!r:.200}")
            continue
        names.append(event["name"])
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        found.append(f"event names appear more than once: {repeated}")
    return found


def write(name: str, *, events: list[dict], totals: dict, settings: dict) -> Path:
    """Writes the header, the settings, the events and the totals; returns the file.
    Raises ValueError (naming the drill) for a report that does not follow the schema."""
    return _write(header(name), settings=settings, events=events, totals=totals)


def add_event(name: str, event: dict, settings: dict | None = None) -> Path:
    """Merges one event into the drill's report: it replaces the event of the same name
    (in its place) or comes last; settings are merged, totals kept. Returns the file."""
    if not isinstance(event, dict) or not isinstance(event.get("name"), str) or not event["name"]:
        raise ValueError(f"drill report {name!r}: an event is a dict with a name, not {event!r:.200}")
    head = header(name)
    target = path(name, head["debian_release"])
    current = json.loads(target.read_text()) if target.exists() else {}
    # Only the schema's parts of what is there (a report of an older shape keeps nothing).
    events = [e for e in current.get("events", []) if isinstance(e, dict) and isinstance(e.get("name"), str)]
    names = [e["name"] for e in events]
    if event["name"] in names:
        events[names.index(event["name"])] = event
    else:
        events.append(event)
    return _write(
        head,
        settings={**(current.get("settings") or {}), **(settings or {})},
        events=events,
        totals=current.get("totals") or {},
    )


def _write(head: dict, *, settings: dict, events: list[dict], totals: dict) -> Path:
    name = head["drill"]
    report = {**head, "settings": settings, "events": events, "totals": totals}
    found = problems(report)
    if found:
        raise ValueError(f"drill report {name!r}: " + "; ".join(found))
    target = path(name, head["debian_release"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n")
    return target
