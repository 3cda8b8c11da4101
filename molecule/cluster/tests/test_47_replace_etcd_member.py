"""An etcd member that lost its data (a host rebuilt, a disk replaced) rejoins by a
converge of that host, while logged-in users work through the VIP (issue 25 item 2).

mon1's member is the victim: stopping it and emptying its data directory is what a
rebuilt host looks like to etcd (the same name and address, no data). The operator's
command is `ansible-playbook site.yml --limit mon1 --tags etcd`: the role sees the
cluster running on the other members, replaces mon1's old entry (its vote could never
come back) and starts the member as a joiner. Nothing stored is lost, the member gets a
new id, a second run changes nothing. Figures: reports/drills/day2.json.
"""

from __future__ import annotations

import json
import time

from lab import testing
from lab.cluster import app, health, postgres, report, run_playbook

VICTIM = "mon1"  # an etcd member without a database: only the DCS loses a member
DATA_DIR = "/var/lib/etcd/default"  # etcd_data_dir
KEY = "/horilla-drill/replace-member"


def members(ask: str) -> dict[str, dict]:
    out = testing.host(ask).check_output("etcdctl member list -w json")
    return {m.get("name", ""): m for m in json.loads(out)["members"]}


def healthy_members() -> int:
    result = testing.host("db1").run("etcdctl endpoint health --cluster")
    return (result.stdout + result.stderr).count("is healthy")


def test_an_etcd_member_without_its_data_rejoins_by_a_converge():
    health.wait_until_healthy()
    peer = next(n for n in testing.names("etcd") if n != VICTIM)
    before = members(peer)
    assert VICTIM in before, before
    stamp = str(time.time())
    testing.host(peer).run_expect([0], f"etcdctl put {KEY} {stamp}")
    leader = postgres.leader()

    users = app.journeys().start()
    started = time.monotonic()
    try:
        time.sleep(5)
        testing.host(VICTIM).run_expect([0], f"systemctl stop etcd && rm -rf {DATA_DIR}")
        run = run_playbook("site.yml", limit=VICTIM, tags=["etcd"])
        assert run.ok, run.tail(80)
        testing.wait_for(lambda: healthy_members() == len(testing.names("etcd")), 60, "every etcd member healthy")
        time.sleep(5)
    finally:
        users.stop()
    seconds = time.monotonic() - started
    summary = users.summary()

    after = members(peer)
    again = run_playbook("site.yml", limit=VICTIM, tags=["etcd"])
    report.add_event(
        "day2",
        {
            "name": "etcd_member_replaced",
            "what": f"{VICTIM}'s etcd member lost its data and rejoined by `site.yml --limit {VICTIM} --tags etcd`",
            "seconds": round(seconds, 1),
            "converge_seconds": run.seconds,
            "requests": summary.requests,
            "failed_requests": summary.failed,
            "errors": summary.errors,
            "second_run_changed": again.changed_hosts(),
        },
    )
    assert sorted(after) == sorted(testing.names("etcd")), after
    assert after[VICTIM]["ID"] != before[VICTIM]["ID"], "the member joined as a new one"
    assert all(m.get("clientURLs") for m in after.values()), "every member started"
    # Nothing stored is lost, and the new member serves it.
    assert testing.host(VICTIM).check_output(f"etcdctl get --print-value-only {KEY}") == stamp
    assert postgres.leader() == leader, "the database kept its leader"
    assert 'ETCD_INITIAL_CLUSTER_STATE="existing"' in testing.host(VICTIM).file("/etc/default/etcd").content_string
    assert again.ok and again.changed_hosts() == {}, again.tail(80)
    testing.host(peer).run_expect([0], f"etcdctl del {KEY}")
