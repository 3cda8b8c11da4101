"""Run one step of the cluster scenario and record its wall time in the drill report.

    python molecule/cluster/timed.py converge_cold -- molecule converge -s cluster
    python molecule/cluster/timed.py converge_warm -- molecule converge -s cluster

The command's output goes through unchanged. Its wall time, exit status and the sum of
the PLAY RECAP counters (changed, failed, unreachable) go to the `timings` of
reports/drills/cluster.json (the SLA drill keeps them when it writes its figures), so
the cold and warm converge of the whole site are measured, not assumed. Exits with the
command's status.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent.parent / "reports" / "drills" / "cluster.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(
    r"^\S+\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)"
)


def recap_totals(lines: list[str]) -> dict[str, int]:
    """Sums of the PLAY RECAP counters over every host and every playbook run in the output."""
    totals = {"hosts_in_recap": 0, "ok": 0, "changed": 0, "unreachable": 0, "failed": 0}
    for line in lines:
        # Molecule 26 frames the playbook's output: each line starts with "  │ ".
        match = RECAP.match(ANSI.sub("", line).strip().lstrip("│").strip())
        if match:
            totals["hosts_in_recap"] += 1
            for key, value in match.groupdict().items():
                totals[key] += int(value)
    return totals


def record(name: str, figures: dict, report: Path = REPORT) -> None:
    data = json.loads(report.read_text()) if report.exists() else {"scenario": "cluster"}
    data.setdefault("timings", {})[name] = figures
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the step's key in the report's timings, e.g. converge_cold")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    lines: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
    seconds = time.monotonic() - started
    figures = {
        "command": " ".join(command),
        "started_at": started_at,
        "seconds": round(seconds, 1),
        "exit_status": proc.returncode,
        **recap_totals(lines),
    }
    record(args.name, figures)
    print(f"timed.py: {args.name}: {figures['seconds']} s, exit {proc.returncode}, changed={figures['changed']}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
