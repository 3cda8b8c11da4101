"""`make test`: lint, unit tests and every Molecule scenario, stopping at the first failure.

Ends with a pytest-style summary line and writes the timings to
.lab/reports/test-run.json, so the wall time of every step is on record.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lab.state import PROJECT_DIR

# Cheap and foundational first, so a broken base fails in minutes, not after the
# cluster. Scenarios not named here run after these, in alphabetical order.
SCENARIO_ORDER = (
    "common",
    "node_exporter",
    "redis",
    "postgresql",
    "elasticsearch",
    "horilla",
    "loadbalancer",
    "monitoring",
    "backup",
    "cluster",
)

LINT_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("yamllint", ("yamllint", "--strict", ".")),
    ("ansible-lint", ("ansible-lint",)),
    ("ruff check", ("ruff", "check", ".")),
    ("ruff format", ("ruff", "format", "--check", ".")),
    ("promtool rules", (sys.executable, "-m", "lab", "rules")),
)
UNIT_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (("pytest", (sys.executable, "-m", "pytest")),)


@dataclass
class Step:
    name: str
    argv: tuple[str, ...]
    result: str = "not run"
    seconds: float = 0.0


def scenarios(root: Path = PROJECT_DIR) -> list[str]:
    found = sorted(p.parent.name for p in (root / "molecule").glob("*/molecule.yml"))
    ordered = [s for s in SCENARIO_ORDER if s in found]
    return ordered + [s for s in found if s not in ordered]


def plan(selected: list[str] | None, stages: set[str]) -> list[Step]:
    steps: list[Step] = []
    if not selected and "lint" in stages:
        steps += [Step(n, a) for n, a in LINT_STEPS]
    if not selected and "unit" in stages:
        steps += [Step(n, a) for n, a in UNIT_STEPS]
    if "molecule" in stages:
        available = scenarios()
        names = selected or available
        unknown = [s for s in names if s not in available]
        if unknown:
            raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; have: {', '.join(available)}")
        steps.append(Step("prepare (engine, host packages, images)", (sys.executable, "-m", "lab", "prepare")))
        steps += [Step(f"molecule {s}", ("molecule", "test", "-s", s)) for s in names]
    return steps


def run(steps: list[Step]) -> bool:
    ok = True
    for step in steps:
        print(f"\n===== {step.name} =====", flush=True)
        started = time.monotonic()
        code = subprocess.run(step.argv, cwd=PROJECT_DIR, check=False).returncode
        step.seconds = time.monotonic() - started
        step.result = "passed" if code == 0 else "failed"
        if code != 0:
            ok = False
            break
    return ok


def summary(steps: list[Step], seconds: float) -> str:
    width = max(len(s.name) for s in steps)
    lines = ["", "===== step timings ====="]
    lines += [f"{s.name:<{width}}  {s.result:<8} {s.seconds:8.1f} s" for s in steps]
    counts = {r: sum(1 for s in steps if s.result == r) for r in ("passed", "failed", "not run")}
    parts = [f"{n} {r}" for r, n in counts.items() if n]
    lines.append(f"===== {', '.join(parts)} in {seconds:.1f}s ({seconds / 60:.1f} min) =====")
    return "\n".join(lines)


def main(selected: list[str] | None, stages: set[str]) -> int:
    steps = plan(selected, stages)
    started = time.monotonic()
    ok = run(steps)
    total = time.monotonic() - started
    print(summary(steps, total))
    report = PROJECT_DIR / ".lab" / "reports" / "test-run.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps(
            {
                "total_seconds": round(total, 1),
                "steps": [{"name": s.name, "result": s.result, "seconds": round(s.seconds, 1)} for s in steps],
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if ok else 1
