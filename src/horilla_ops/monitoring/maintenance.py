"""horilla-maintenance: planned maintenance, announced so that it is seen and not paged.

  horilla-maintenance start --reason "rolling deploy" [--duration 30m]
                            [--expect 'alertname=~"HorillaTierDegraded|HorillaEndpointProbeFailed"']
  horilla-maintenance end
  horilla-maintenance status

start
  - sets horilla_maintenance_active{reason="..."} 1 in node_exporter's textfile
    collector on this host: the HorillaMaintenance info alert announces it to the info
    channels, the dashboards show it, and the SLA report counts downtime inside it as
    planned, apart from incidents;
  - silences in Alertmanager the alerts the work is expected to raise (each --expect is
    a set of Alertmanager matchers, `name=value`, `name!=value`, `name=~regex`,
    `name!~regex`, comma-separated), until `end` or --duration at the latest, so a
    forgotten `end` never mutes them for good.
end
  sets the metric to 0 (the announcement resolves) and expires the silences.

The playbooks that disturb the site on purpose (rolling-deploy.yml,
postgresql-switchover.yml) run it on the first monitoring host around their work.
State: /var/lib/horilla-ops/maintenance.json (HORILLA_MAINTENANCE_STATE_FILE).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from horilla_ops.monitoring.settings import Settings, SettingsError

TEXTFILE_DIR = Path("/var/lib/prometheus/node-exporter")
STATE_FILE = Path("/var/lib/horilla-ops/maintenance.json")
METRIC_FILE = "horilla-maintenance.prom"
CREATED_BY = "horilla-maintenance"
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')
_DURATION = re.compile(r"^(\d+)([smhd])$")


class MaintenanceError(RuntimeError):
    pass


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"a duration such as 30m, 2h or 1d, got {text!r}")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def parse_matchers(text: str) -> list[dict[str, Any]]:
    """Alertmanager API v2 matchers of `alertname=~"A|B",job="horilla"`."""
    matchers = []
    for part in re.split(r",(?=\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=))", text):
        match = _MATCHER.match(part)
        if not match or not match.group(3):
            raise argparse.ArgumentTypeError(f'matchers such as alertname=~"A|B",job="horilla", got {text!r}')
        name, op, value = match.groups()
        matchers.append({"name": name, "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")})
    return matchers


def metric_text(active: bool, reason: str) -> str:
    escaped = reason.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return (
        "# HELP horilla_maintenance_active 1 while planned maintenance runs (horilla-maintenance)\n"
        "# TYPE horilla_maintenance_active gauge\n"
        f'horilla_maintenance_active{{reason="{escaped}"}} {1 if active else 0}\n'
    )


def _write(path: Path, text: str) -> None:
    """Atomically: node_exporter never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(text)
    Path(tmp.name).chmod(0o644)
    Path(tmp.name).replace(path)


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    if not url.startswith(("http://", "https://")):
        raise MaintenanceError(f"not an http(s) URL: {url}")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (scheme checked)
            text = response.read()
    except urllib.error.HTTPError as exc:
        raise MaintenanceError(f"{method} {url}: HTTP {exc.code} {exc.read().decode(errors='replace')[:200]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise MaintenanceError(f"cannot reach {url}: {exc}") from None
    return json.loads(text) if text.strip() else None


def start(
    alertmanager: str, reason: str, duration: timedelta, expect: list[list[dict]], textfile: Path, state: Path
) -> dict[str, Any]:
    now = datetime.now(UTC)
    silences = []
    for matchers in expect:
        answer = _call(
            "POST",
            f"{alertmanager}/api/v2/silences",
            {
                "matchers": matchers,
                "startsAt": now.isoformat(),
                "endsAt": (now + duration).isoformat(),
                "createdBy": CREATED_BY,
                "comment": f"Planned maintenance: {reason}",
            },
        )
        silences.append(answer["silenceID"])
    _write(textfile / METRIC_FILE, metric_text(True, reason))
    record = {"reason": reason, "started_at": now.isoformat(), "until": (now + duration).isoformat()}
    record["silences"] = silences
    _write(state, json.dumps(record, indent=2) + "\n")
    return record


def end(alertmanager: str, textfile: Path, state: Path) -> dict[str, Any] | None:
    """Ends the maintenance `start` recorded; None when none runs."""
    if not state.exists():
        return None
    record = json.loads(state.read_text())
    for silence in record.get("silences", []):
        try:
            _call("DELETE", f"{alertmanager}/api/v2/silence/{silence}")
        except MaintenanceError as exc:
            if "HTTP 404" not in str(exc):  # expired or deleted already
                raise
    _write(textfile / METRIC_FILE, metric_text(False, record["reason"]))
    state.unlink()
    record["ended_at"] = datetime.now(UTC).isoformat()
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="horilla-maintenance", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    begin = sub.add_parser("start", help="announce maintenance and silence what it is expected to raise")
    begin.add_argument("--reason", required=True, help="what is done, shown in the announcement")
    begin.add_argument("--duration", type=parse_duration, default=timedelta(minutes=30), help="default 30m")
    begin.add_argument("--expect", type=parse_matchers, action="append", default=[], help="matchers to silence")
    sub.add_parser("end", help="end the maintenance: the announcement resolves, the silences expire")
    sub.add_parser("status", help="the maintenance running now, if any (JSON)")
    args = parser.parse_args(argv)

    try:
        settings = Settings.load().open_apis()
    except SettingsError as exc:
        print(f"horilla-maintenance: {exc}", file=sys.stderr)
        return 2
    alertmanager = settings.alertmanager_url.rstrip("/")
    textfile = Path(os.environ.get("HORILLA_MAINTENANCE_TEXTFILE_DIR") or TEXTFILE_DIR)
    state = Path(os.environ.get("HORILLA_MAINTENANCE_STATE_FILE") or STATE_FILE)
    try:
        if args.command == "start":
            if state.exists():
                end(alertmanager, textfile, state)  # a new announcement replaces a forgotten one
            record = start(alertmanager, args.reason, args.duration, args.expect, textfile, state)
            print(f"horilla-maintenance: announced ({args.reason}), {len(record['silences'])} silence(s)")
        elif args.command == "end":
            record = end(alertmanager, textfile, state)
            print("horilla-maintenance: " + ("ended" if record else "none was running"))
        else:
            print(state.read_text() if state.exists() else "{}")
    except MaintenanceError as exc:
        print(f"horilla-maintenance: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
