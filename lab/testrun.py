"""`make test`: lint, unit tests and every Molecule scenario, stopping at the first failure.

Ends with a pytest-style summary line and writes the timings to
.lab/reports/test-run.json, so the wall time of every step is on record.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lab.state import PROJECT_DIR

# The whole site is the main proof: the `cluster` scenario converges site.yml on the 13
# hosts with upstream Horilla and runs every tier's tests, the SLA drill, a converge
# after it and the restore drill (make test-all: the operators' operations too). It starts at once
# (after `prepare`), beside the lint and unit tests, which use one core only; the small
# scenarios follow them on that second slot: `trixie` and `bookworm` (site.yml --check
# on fresh Debian 13 and, in make test-all only, 12 hosts) and `node_exporter` (one role alone on fresh hosts,
# the scenario to copy). Scenarios not named here run after these, in alphabetical order.
SCENARIO_ORDER = ("cluster", "trixie", "bookworm", "node_exporter")

# Scenarios `make test` (and so CI) leaves to `make test-all`, with the reason.
OUTSIDE_MAKE_TEST: dict[str, str] = {
    # Its 14 controllers' dry run is about 9 min of CPU on the second slot, all of it
    # during the cluster's converge: CI's run of fe7f6c1 took 60.8 min with it.
    "bookworm": "make test-all converges and drills the whole site on Debian 12 (a stronger proof than its dry run)",
}

# `make test-all` runs the cluster's whole suite (molecule/cluster/tests/conftest.py:
# make test leaves the operators' operations out, to keep CI within the hour).
FULL_SUITE = {"LAB_CLUSTER_SUITE": "full"}

# `make test-all` also runs these, each a scenario with settings of its own.
EXTRA_RUNS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("cluster on Debian 12", "cluster", {"LAB_DEBIAN_RELEASE": "bookworm", **FULL_SUITE}),
)

LINT_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("yamllint", ("yamllint", "--strict", ".")),
    ("ansible-lint", ("ansible-lint",)),
    ("ruff check", ("ruff", "check", ".")),
    ("ruff format", ("ruff", "format", "--check", ".")),
    ("promtool rules", (sys.executable, "-m", "lab", "rules")),
    ("README tables", (sys.executable, "-m", "lab", "readme", "--check")),
)
UNIT_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (("pytest", (sys.executable, "-m", "pytest")),)


# Molecule scenarios run this many at a time. Each scenario is its own lab (own
# containers, network and subnet); two at once on 2 cores finish the suite far sooner
# than one after the other, and every scenario's drills were measured with another
# scenario running beside them. Three at once made the suite as a whole slower
# (reports/ci/jobs.md).
JOBS = int(os.environ.get("LAB_TEST_JOBS", "2"))
# The whole-site scenario is the critical path (its converge and drills take most of
# the hour); every step beside it runs at this niceness, so the cores go to the cluster
# first and the others use what it leaves (they finish far ahead of it anyway). It also
# keeps the drills' timings closer to those of a machine that runs nothing else. What
# runs inside containers is the Docker engine's child, not ours: only the controllers'
# work (Ansible, linters, pytest) yields.
BESIDE_NICENESS = 10
LOG_DIR = PROJECT_DIR / ".lab" / "reports" / "logs"


@dataclass
class Step:
    name: str
    argv: tuple[str, ...]
    result: str = "not run"
    seconds: float = 0.0
    # May run beside other such steps (its output then goes to a log file).
    parallel: bool = False
    # Commands run after `argv` succeeds, as part of the same step and log.
    then: tuple[tuple[str, ...], ...] = ()
    # Environment variables of this step's commands (on top of the runner's).
    env: dict[str, str] = field(default_factory=dict)
    # What failed, from its log (failure_digest), printed last.
    digest: list[str] = field(default_factory=list)
    # Run its commands under `nice -n <niceness>` (0: as they are).
    niceness: int = 0


def scenarios(root: Path = PROJECT_DIR) -> list[str]:
    found = sorted(p.parent.name for p in (root / "molecule").glob("*/molecule.yml"))
    ordered = [s for s in SCENARIO_ORDER if s in found]
    return ordered + [s for s in found if s not in ordered]


def prepare_argv(debian_12: bool) -> tuple[str, ...]:
    """`lab prepare` for the images the run needs: Debian 13's always, Debian 12's for the
    bookworm scenario and make test-all (the whole site on Debian 12 as well)."""
    releases = ("trixie", "bookworm") if debian_12 else ("trixie",)
    return (sys.executable, "-m", "lab", "prepare", *(a for r in releases for a in ("--release", r)))


def plan(selected: list[str] | None, stages: set[str], everything: bool = False) -> list[Step]:
    checks: list[tuple[str, tuple[str, ...]]] = []
    if not selected and "lint" in stages:
        checks += LINT_STEPS
    if not selected and "unit" in stages:
        checks += UNIT_STEPS
    if "molecule" not in stages:
        return [Step(n, a) for n, a in checks]

    available = scenarios()
    names = selected or [s for s in available if everything or s not in OUTSIDE_MAKE_TEST]
    unknown = [s for s in names if s not in available]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; have: {', '.join(available)}")
    suite = FULL_SUITE if everything else {}
    molecule = [
        Step(
            f"molecule {s}",
            ("molecule", "test", "-s", s),
            parallel=True,
            env=dict(suite),
            niceness=0 if s == "cluster" else BESIDE_NICENESS,
        )
        for s in names
    ]
    if everything and not selected:
        molecule += [
            Step(f"molecule {label}", ("molecule", "test", "-s", scenario), parallel=True, env=env)
            for label, scenario, env in EXTRA_RUNS
        ]
    first = Step(
        molecule[0].name,
        prepare_argv(everything or "bookworm" in names),
        parallel=True,
        then=(molecule[0].argv,),
        env=molecule[0].env,
    )
    if not checks:
        return [first, *molecule[1:]]
    # Lint and unit tests (one core) beside `prepare` and then the first scenario (the
    # other core); the next scenario starts when either of the two is done. A failed
    # check starts no further scenario (one already running is let finish).
    # The first scenario's step time (summary, test-run.json) includes the prepare.
    lint_and_unit = Step(
        "lint and unit tests (" + ", ".join(n for n, _ in checks) + ")",
        checks[0][1],
        parallel=True,
        then=tuple(a for _, a in checks[1:]),
        niceness=BESIDE_NICENESS,
    )
    return [first, lint_and_unit, *molecule[1:]]


def _run_one(step: Step, log: Path | None = None) -> bool:
    """Runs the step's commands in order until one fails; output to `log` when given."""
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("w")) if log is not None else None
        for argv in (step.argv, *step.then):
            if out is not None and step.then:
                out.write(f"\n===== {' '.join(argv)} =====\n")
                out.flush()
            redirect = {"stdout": out, "stderr": subprocess.STDOUT} if out is not None else {}
            env = {**os.environ, **step.env}
            if step.niceness:
                argv = ("nice", "-n", str(step.niceness), *argv)
            code = subprocess.run(argv, cwd=PROJECT_DIR, check=False, env=env, **redirect).returncode
            if code != 0:
                break
    step.seconds = time.monotonic() - started
    step.result = "passed" if code == 0 else "failed"
    return code == 0


def _run_parallel(steps: list[Step], jobs: int) -> bool:
    """Runs steps `jobs` at a time; after a failure, starts no more and waits for the rest."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    pending = list(steps)
    running: dict[Future[bool], tuple[Step, Path]] = {}
    ok = True
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            while ok and pending and len(running) < jobs:
                step = pending.pop(0)
                # "lint and unit tests (yamllint, ...)" logs to lint-and-unit-tests.log
                log = LOG_DIR / f"{step.name.split(' (')[0].replace(' ', '-')}.log"
                print(f"\n===== {step.name} (started; output in {log.relative_to(PROJECT_DIR)}) =====", flush=True)
                running[pool.submit(_run_one, step, log)] = (step, log)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                step, log = running.pop(future)
                print(f"\n===== {step.name}: {step.result} in {step.seconds:.0f} s =====", flush=True)
                if not future.result():
                    ok = False
                    lines = log.read_text(errors="replace").splitlines()
                    print(f"----- last 200 lines of {log.relative_to(PROJECT_DIR)} -----")
                    print("\n".join(lines[-200:]), flush=True)
                    step.digest = failure_digest(lines)
    return ok


# What marks a line of a failed step's log as saying what failed: pytest's summary and
# assertion lines, Ansible's fatal results (kept with their task), Python tracebacks.
_FAILURE_ANYWHERE = ("FAILED ", "ERROR ", "fatal: [", "Error:")
_FAILURE_AT_START = ("E   ", "Traceback")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failure_digest(lines: list[str], keep: int = 40) -> list[str]:
    """The last `keep` lines of a failed step's log that say what failed.

    A CI system may show only the tail of the output, so these are printed after the
    step timings. Molecule draws a box rule before each line; it is dropped. Ansible's
    retries of an `until` loop and its ignored failures are not failures."""
    picked: list[list[str]] = []  # [task, fatal line] or [line]
    task = ""
    for line in lines:
        text = _ANSI.sub("", line).replace("\u2502", " ").strip()
        if text.startswith("TASK ["):
            task = text
        elif text == "...ignoring":
            if picked and picked[-1][-1].startswith("fatal: ["):
                picked.pop()
        elif "FAILED - RETRYING" in text:
            continue
        elif any(m in text for m in _FAILURE_ANYWHERE) or text.startswith(_FAILURE_AT_START):
            picked.append([task, text[:300]] if task and text.startswith("fatal: [") else [text[:300]])
    return [line for entry in picked for line in entry][-keep:]


def run(steps: list[Step], jobs: int = JOBS) -> bool:
    index = 0
    while index < len(steps):
        step = steps[index]
        if step.parallel and jobs > 1:
            batch = [step]
            while index + len(batch) < len(steps) and steps[index + len(batch)].parallel:
                batch.append(steps[index + len(batch)])
            if not _run_parallel(batch, jobs):
                return False
            index += len(batch)
            continue
        print(f"\n===== {step.name} =====", flush=True)
        if not _run_one(step):
            return False
        index += 1
    return True


def summary(steps: list[Step], seconds: float) -> str:
    width = max(len(s.name) for s in steps)
    lines = ["", "===== step timings ====="]
    lines += [f"{s.name:<{width}}  {s.result:<8} {s.seconds:8.1f} s" for s in steps]
    counts = {r: sum(1 for s in steps if s.result == r) for r in ("passed", "failed", "not run")}
    parts = [f"{n} {r}" for r, n in counts.items() if n]
    for step in steps:
        if step.digest:
            lines += [f"===== what failed in {step.name} =====", *step.digest]
    lines.append(f"===== {', '.join(parts)} in {seconds:.1f}s ({seconds / 60:.1f} min) =====")
    return "\n".join(lines)


def main(selected: list[str] | None, stages: set[str], everything: bool = False) -> int:
    steps = plan(selected, stages, everything)
    if not selected and not everything and "molecule" in stages:
        for name, why in OUTSIDE_MAKE_TEST.items():
            print(f"make test leaves scenario {name} to make test-all: {why}")
    started = time.monotonic()
    ok = run(steps)
    total = time.monotonic() - started
    print(summary(steps, total))
    # Copied into reports/ci/test-run.json from a fresh clone's run (README's table).
    report = PROJECT_DIR / ".lab" / "reports" / "test-run.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True)
    record = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "commit": commit.stdout.strip(),
        "scenarios": [s.name.removeprefix("molecule ") for s in steps if s.name.startswith("molecule ")],
        "total_s": round(total, 1),
        "steps": [{"name": s.name, "result": s.result, "seconds": round(s.seconds, 1)} for s in steps],
    }
    report.write_text(json.dumps(record, indent=2) + "\n")
    return 0 if ok else 1
