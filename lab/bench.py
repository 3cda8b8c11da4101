"""`make bench`: how long the whole site takes to converge, measured on the 13-host lab.

Creates its own lab (inventory/lab, named `horilla-bench` on 172.30.3.0/24, so it never
touches `make lab`'s containers), then times:

- `cold_converge`: site.yml on the fresh hosts (base images and the machine's caches,
  such as the app's wheelhouse, already there);
- `noop_rerun`: site.yml again, with nothing to change (it must report changed=0);
- `noop_rerun_plain` (with --compare-plain): the same re-run with Ansible's own linear
  strategy instead of mitogen, on the same hosts: the measured effect of mitogen;
- `noop_rerun_ssh`, `noop_rerun_ssh_plain` (with --compare-ssh): the same re-run over
  SSH as an unprivileged user with sudo (production's connection; lab/ssh.yml prepares
  the hosts), through mitogen and without.

Per run: wall seconds, seconds per tier (from the plays' start events), tasks and the
PLAY RECAP counters, the controller's CPU seconds. The figures go to
reports/bench/converge.json (`runs`, plus the headline keys the README table shows);
its `before` (an earlier tree, measured once) and `changes` (the measured effect of
each change, before and after on the same hosts) sections are kept as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from lab import playbook
from lab.state import PROJECT_DIR

REPORT = PROJECT_DIR / "reports" / "bench" / "converge.json"
BENCH_LAB = {"LAB_NAME": "horilla-bench", "LAB_SUBNET_PREFIX": "172.30.3"}
TIERS = ("preflight", "base", "database", "cache", "loadbalancer", "app", "search", "monitoring", "backup")
PREFLIGHT_PLAY = "Check every role's inputs before anything changes"
TARGETS = {"noop_rerun_s": 240, "cold_converge_s": 900}


def play_tiers(project: Path = PROJECT_DIR) -> dict[str, str]:
    """Play name -> tier tag, read from the tier playbooks (the first tier tag of a play)."""
    tiers: dict[str, str] = {PREFLIGHT_PLAY: "preflight"}
    for path in sorted((project / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(path.read_text()) or []:
            if not isinstance(play, dict) or "hosts" not in play:
                continue
            tags = play.get("tags") or []
            tier = next((t for t in tags if t in TIERS), None)
            if tier and play.get("name"):
                tiers.setdefault(play["name"], tier)
    return tiers


def figures(run: playbook.PlaybookRun, tiers: dict[str, str]) -> dict:
    per_tier: dict[str, float] = {}
    for play in run.plays:
        tier = tiers.get(play.name, "other")
        per_tier[tier] = round(per_tier.get(tier, 0.0) + play.seconds, 1)
    totals = run.totals()
    return {
        "seconds": run.seconds,
        "exit_status": run.rc,
        "hosts": len(run.hosts()),
        "tasks": run.tasks,
        "tasks_ok": totals["ok"],
        "tasks_changed": totals["changed"],
        "tasks_skipped": totals["skipped"],
        "tasks_failed": totals["failures"],
        "hosts_unreachable": totals["dark"],
        "changed_hosts": run.changed_hosts(),
        "controller_cpu_s": run.controller_cpu_s,
        "seconds_per_tier": {tier: per_tier[tier] for tier in (*TIERS, "other") if tier in per_tier},
    }


def _git(*args: str, cwd: Path = PROJECT_DIR) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare-plain", action="store_true", help="also re-run with Ansible's linear strategy")
    parser.add_argument("--compare-ssh", action="store_true", help="also re-run over SSH, with and without mitogen")
    parser.add_argument("--keep", action="store_true", help="leave the bench lab up afterwards")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)

    os.environ.update(BENCH_LAB)
    inventory = [PROJECT_DIR / "inventory" / "lab"]
    tiers = play_tiers()
    logs = PROJECT_DIR / ".lab" / "reports" / "bench"
    logs.mkdir(parents=True, exist_ok=True)

    def step(name: str, path: str, **kwargs) -> playbook.PlaybookRun:
        print(f"bench: {name} ...", flush=True)
        run = playbook.run(path, inventories=inventory, log=logs / f"{name}.log", **kwargs)
        print(f"bench: {name}: {run.seconds} s, exit {run.rc}, {run.totals()}", flush=True)
        if not run.ok:
            print(run.tail(80), file=sys.stderr)
            raise SystemExit(f"bench: {name} failed (log: {logs / f'{name}.log'})")
        return run

    step("destroy", "lab/destroy.yml")
    started = time.monotonic()
    create = step("create", "lab/create.yml")
    runs: dict[str, dict] = {"create": {"seconds": create.seconds}}
    runs["cold_converge"] = figures(step("cold_converge", "site.yml"), tiers)
    runs["noop_rerun"] = figures(step("noop_rerun", "site.yml"), tiers)
    app = app_label()
    if args.compare_plain:
        plain = step("noop_rerun_plain", "site.yml", env={"ANSIBLE_STRATEGY": "linear"})
        runs["noop_rerun_plain"] = figures(plain, tiers)
    if args.compare_ssh:
        step("prepare_ssh", "lab/ssh.yml")
        runs["noop_rerun_ssh"] = figures(step("noop_rerun_ssh", "site.yml", env={"LAB_CONNECTION": "ssh"}), tiers)
        plain_ssh = step(
            "noop_rerun_ssh_plain", "site.yml", env={"LAB_CONNECTION": "ssh", "ANSIBLE_STRATEGY": "linear"}
        )
        runs["noop_rerun_ssh_plain"] = figures(plain_ssh, tiers)
    if not args.keep:
        step("destroy", "lab/destroy.yml")

    release = os.environ.get("LAB_DEBIAN_RELEASE") or "trixie"
    measured = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD") + ("+changes" if _git("status", "--porcelain") else ""),
        "machine": f"{os.cpu_count()} cores",
        "debian_release": release,
        "app": app,
        "hosts": runs["cold_converge"]["hosts"],
        "cold_converge_s": runs["cold_converge"]["seconds"],
        "noop_rerun_s": runs["noop_rerun"]["seconds"],
        "noop_rerun_changed": runs["noop_rerun"]["tasks_changed"],
        "tasks_ok": runs["cold_converge"]["tasks_ok"],
        "tasks_skipped": runs["cold_converge"]["tasks_skipped"],
        "controller_cpu_s": runs["cold_converge"]["controller_cpu_s"],
        "bench_seconds": round(time.monotonic() - started, 1),
        "runs": runs,
    }
    # `before` (an earlier tree's figures) and `changes` (the measured effect of each
    # change) are kept from the existing report: they are measured once, not per run.
    previous = json.loads(args.report.read_text()) if args.report.exists() else {}
    report = {**measured, "targets": TARGETS, "changes": previous.get("changes", [])}
    if previous.get("before"):
        report["before"] = previous["before"]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: figures written to {args.report.relative_to(PROJECT_DIR)}")
    failed_noop = runs["noop_rerun"]["tasks_changed"]
    if failed_noop:
        print(f"bench: the re-run changed {runs['noop_rerun']['changed_hosts']}: not idempotent", file=sys.stderr)
        return 1
    return 0


def app_label(host: str = "app1") -> str:
    """Which app the bench lab runs, as the horilla role labels it (horilla@<commit>),
    read from an app node's ops settings while the lab is up."""
    container = f"{BENCH_LAB['LAB_NAME']}-{host}"
    done = subprocess.run(
        ["docker", "exec", container, "cat", "/etc/horilla/ops.env"], capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "HORILLA_OPS_APP":
            return value.strip().strip("'\"")
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
