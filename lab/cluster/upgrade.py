"""python -m lab.cluster.upgrade NAME PLAYBOOK...: an upgrade of a running site, measured.

Run against a lab converged by an earlier release (check that release out, converge the
lab, come back to this one): the playbooks run in order, as an operator upgrading would
run them, while logged-in users walk their journeys through the VIP; then the whole
site's converge once more, which must change nothing. What the users saw during each
playbook goes to reports/drills/NAME.json, one event per playbook (failed requests,
seconds, the longest wait), and the run stops at the first playbook that fails.

    LAB_NAME=molecule-cluster python -m lab.cluster.upgrade etcd-tls \\
        playbooks/etcd-tls.yml molecule/cluster/converge.yml
"""

from __future__ import annotations

import argparse
import sys
import time

from lab.cluster import app, report, run_playbook

CONVERGE = "molecule/cluster/converge.yml"
RATE, USERS = 3.0, 3  # app.journeys' load: requests a second, logged-in users


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.cluster.upgrade", description=__doc__)
    parser.add_argument("name", help="the drill report's name (reports/drills/NAME.json)")
    parser.add_argument("playbooks", nargs="+", help="the upgrade's playbooks, in order")
    args = parser.parse_args(argv)

    events: list[dict] = []
    users = app.journeys(rate=RATE, users=USERS).start()
    first = time.monotonic()
    failed = None
    try:
        time.sleep(5)
        for playbook in args.playbooks:
            started = time.monotonic()
            run = run_playbook(playbook, timeout=3600)
            summary = users.summary(started, time.monotonic())
            events.append(
                {
                    "name": playbook,
                    "failed_requests": summary.failed,
                    "seconds": round(run.seconds, 1),
                    "ok": run.ok,
                    "changed_hosts": run.changed_hosts(),
                    "users": summary.as_dict(),
                }
            )
            print(f"{playbook}: rc {run.rc} in {run.seconds:.1f} s; {summary.failed} of {summary.requests} failed")
            if not run.ok:
                failed = run
                break
        time.sleep(5)
    finally:
        users.stop()
    whole = users.summary()
    if failed is None:
        again = run_playbook(CONVERGE, timeout=3600)
        events.append(
            {
                "name": "converge again",
                "seconds": round(again.seconds, 1),
                "ok": again.ok,
                "changed_hosts": again.changed_hosts(),
            }
        )
        print(f"converge again: rc {again.rc}; changed {again.changed_hosts() or 'nothing'}")
    path = report.write(
        args.name,
        events=events,
        totals={
            "requests": whole.requests,
            "failed_requests": whole.failed,
            "seconds": round(time.monotonic() - first, 1),
        },
        settings={"playbooks": args.playbooks, "users": USERS, "requests_per_second": RATE},
    )
    print(f"written: {path}")
    if failed is not None:
        print(failed.tail(), file=sys.stderr)
        return 1
    return 0 if all(e["ok"] for e in events) else 1


if __name__ == "__main__":
    sys.exit(main())
