"""The README's tables of measured figures, generated from the reports they come from.

    python -m lab readme           rewrite the generated blocks of README.md
    python -m lab readme --check   fail when README.md is not what the reports give

A generated block sits between `<!-- generated: NAME -->` and `<!-- end: NAME -->`;
everything else in the README is left alone. Figures are never copied by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from lab.state import PROJECT_DIR

README = PROJECT_DIR / "README.md"
BENCH = PROJECT_DIR / "reports" / "bench" / "converge.json"
CI_RUN = PROJECT_DIR / "reports" / "ci" / "test-run.json"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def bench_table(path: Path = BENCH) -> str:
    if not path.exists():
        return "_No benchmark yet: run `make bench`._"
    report = json.loads(path.read_text())
    before = report.get("before") or {}
    targets = report.get("targets", {})
    runs = report.get("runs", {})
    lines = [
        f"Measured by `make bench` on {report['measured_at'][:10]} ({report['machine']}, Debian "
        f"{report['debian_release']}, {report['hosts']} hosts, app {report['app']}, commit {report['commit']}); "
        "raw figures in `reports/bench/converge.json`.",
        "",
        "| whole site (`site.yml`) | before | now | target |",
        "|---|---|---|---|",
    ]
    for key, label in (("cold_converge_s", "converge of fresh hosts"), ("noop_rerun_s", "re-run with nothing to do")):
        target = targets.get(key)
        lines.append(
            f"| {label} | {_minutes(before.get(key))} | {_minutes(report.get(key))} | "
            f"{'≤ ' + _minutes(target) if target else '-'} |"
        )
    cold, noop = runs.get("cold_converge", {}), runs.get("noop_rerun", {})
    lines += [
        f"| tasks ok / skipped (fresh hosts) | {before.get('tasks_ok', '-')} / {before.get('tasks_skipped', '-')} "
        f"| {report.get('tasks_ok', '-')} / {report.get('tasks_skipped', '-')} | |",
        f"| controller CPU (fresh hosts) | {before.get('controller_cpu_s', '-')} s "
        f"| {report.get('controller_cpu_s', '-')} s | |",
        f"| changed on the re-run | {before.get('noop_rerun_changed', '-')} | {report.get('noop_rerun_changed', '-')} "
        "| 0 |",
    ]
    if "noop_rerun_plain" in runs:
        plain = runs["noop_rerun_plain"]
        lines.append(
            f"| re-run with plain Ansible instead of mitogen (same hosts) | | {_minutes(plain['seconds'])}, "
            f"controller CPU {plain['controller_cpu_s']} s (mitogen: {noop.get('controller_cpu_s')} s) | |"
        )
    tiers = list(cold.get("seconds_per_tier", {}))
    if tiers:
        lines += [
            "",
            "| tier | " + " | ".join(tiers) + " |",
            "|---|" + "---|" * len(tiers),
            "| fresh hosts, s | " + " | ".join(f"{cold['seconds_per_tier'][t]:.0f}" for t in tiers) + " |",
            "| re-run, s | " + " | ".join(f"{noop.get('seconds_per_tier', {}).get(t, 0):.0f}" for t in tiers) + " |",
        ]
    changes = report.get("changes") or []
    if changes:
        lines += ["", "| change | measured | before | after |", "|---|---|---|---|"]
        lines += [f"| {c['change']} | {c['measure']} | {c['before']} | {c['after']} |" for c in changes]
    return "\n".join(lines)


def ci_table(path: Path = CI_RUN) -> str:
    if not path.exists():
        return "_No fresh-clone run recorded yet._"
    report = json.loads(path.read_text())
    lines = [
        f"One fresh-clone run of `bash .ci/run` ({report.get('measured_at', '')[:10]}, {report.get('machine', '')}): "
        f"{_minutes(report['total_s'])} in all; raw figures in `reports/ci/test-run.json`.",
        "",
        "| step | seconds | result |",
        "|---|---|---|",
    ]
    lines += [f"| {s['name']} | {s['seconds']:.0f} | {s['result']} |" for s in report["steps"]]
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {"bench": bench_table, "ci": ci_table}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(\n<!-- end: {name} -->)", re.S)
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + m.group(2), text)
    return text


def main(check: bool = False) -> int:
    current = README.read_text()
    wanted = render(current)
    if check:
        if wanted != current:
            print("README.md: generated tables are stale: run `python -m lab readme`")
            return 1
        print("README.md: generated tables up to date")
        return 0
    if wanted != current:
        README.write_text(wanted)
        print("README.md: generated tables rewritten")
    else:
        print("README.md: generated tables up to date")
    return 0
