"""The whole-site SLA drill: logged-in users walk their journey through the VIP for the
whole drill (lab.load.HorillaUser: pages, a static asset, the REST API with a JWT, a write),
while one tier after the other loses a host (SIGKILL of its container: a power cut) that
is brought back before the next event, and finally a rolling deploy of the app tier.

Events, in order: the app node that runs the cluster's scheduled jobs, the app node a
logged-in user's session is pinned to (the user must stay logged in), the load balancer
holding the VIP, the Patroni leader, three times (a writer commits through HAProxy
meanwhile: no acknowledged commit may be lost; the app holds the users' reads), the etcd
leader's process (the host stays up), the Redis primary (a writer through Sentinel: lost
acknowledged writes are counted), the elected Elasticsearch master, then each monitoring
host: mon1 (which also runs an etcd member and a Sentinel) and mon2 (which also holds the
backup repositories). Each victim stays down until Alertmanager has delivered its
HostDown alert to the webhook sink (make test waits so for the first event and the
monitoring hosts only, AWAIT_ALERTS). Two Prometheus send it to two clustered
Alertmanagers, which deduplicate: once is the rule, but their cluster promises delivery at
least once and, rather than risk silence, sends twice when one misses its peer's
notification in time (upstream's high-availability design): each event records who sent
it, no Alertmanager may send it twice, and a duplicate is allowed in one event of three at
most (test_25 checks the steady state: exactly once). A monitoring host's HostDown comes
from the other one, and the Watchdog heartbeat must go on while either is down (issue 21,
item 4).

Per event: the users' requests and failures in the event's window (by journey step),
seconds unavailable (first failed request to the next success), seconds until the tier
failed over, the alert's delivery and resolution. Figures go to reports/drills/cluster.json
and .md; the asserts are generous ceilings only, the objectives sit next to them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from lab import readme, testing
from lab.cluster import app, balancer, cache, health, monitoring, postgres, report, run_playbook, search
from lab.cluster.monitoring import Sink
from lab.load import SteadyLoad, Summary

USERS = 3
LOAD_RATE = 3.0  # requests per second through the VIP, all users together
# Generous ceilings for a 2-core machine.
CEILING_UNAVAILABLE_SECONDS = 120  # per event
CEILING_ALERT_SECONDS = 300  # kill -> HostDown delivered; restart -> resolved delivered
CEILING_HEALTHY_SECONDS = 420  # restart -> every tier healthy again
CEILING_ERROR_RATE = 0.10  # whole drill
CEILING_P95_SECONDS = 10.0  # whole drill
TARGETS = {"availability_percent": 99.99, "p95_seconds": 2.0, "error_rate": 0.001, "recovery_seconds": 300}
# Every victim stays down this long at least; a monitoring host this long, time for the
# survivor to send several Watchdog heartbeats (one per group_interval).
MIN_DOWN_SECONDS = 20
MONITORING_DOWN_SECONDS = 60
# make test-all keeps each victim down until its HostDown notification has arrived and
# reports the alert timings. make test (CI) waits so for ALWAYS_AWAITED only, the proof
# that a host's death reaches the operators within a minute with the production alerting
# defaults (issue 21; about 25 s more per event, 4 min of CI's hour for all); there the
# other victims stay down MIN_DOWN_SECONDS and until their tier has failed over.
AWAIT_ALERTS = testing.full_suite()
# The first event, and the monitoring hosts: their alert is the proof that losing either
# never silences alerting (they stay down MONITORING_DOWN_SECONDS anyway).
ALWAYS_AWAITED = {"app_node", "monitoring_host", "backup_host"}


@dataclass
class Event:
    name: str
    what: str
    # The host to kill, chosen while the users' load runs.
    victim: Callable[[SteadyLoad], str | None]
    # True once the tier has taken over from the victim (None: nothing to take over).
    failed_over: Callable[[str], bool] | None
    alerted: bool = True  # whether Alertmanager can deliver the victim's HostDown
    # Kills in a row: an objective stated as a median over rounds needs that many.
    rounds: int = 1
    # How the victim dies and comes back: its whole container by default (a power cut).
    kill: Callable[[str], None] = testing.kill
    start: Callable[[str], None] = testing.start
    min_down: float = MIN_DOWN_SECONDS


def _peer_holds_vip(victim: str) -> bool:
    return balancer.vip_holders() == [lb for lb in balancer.lbs() if lb != victim]


def _new_pg_leader(victim: str) -> bool:
    leader = postgres.leader()
    return leader is not None and leader != victim


def _new_redis_primary(victim: str) -> bool:
    primary = cache.primary()
    return primary is not None and primary != victim


def _new_etcd_leader(victim: str) -> bool:
    leader = postgres.etcd_leader(exclude=victim)
    return leader is not None and leader != victim


def _new_es_master(victim: str) -> bool:
    master = search.master()
    return master is not None and master != victim


def _out_of_rotation(victim: str) -> bool:
    return balancer.server_states(balancer.vip_holders()[0]).get(victim, "").startswith("DOWN")


def _scheduler_moved(victim: str) -> bool:
    """Another node leads the scheduler, and HAProxy took the victim out of rotation."""
    leader = next((n for n in app.nodes() if n != victim and app.detailed(n)["scheduler"]["this_node_leads"]), None)
    return leader is not None and _out_of_rotation(victim)


EVENTS = [
    Event(
        "app_node",
        "the app node leading the scheduled jobs killed",
        lambda _users: app.scheduler_leader(),
        _scheduler_moved,
    ),
    # A user pinned to the dead node by HAProxy's cookie stays logged in on another
    # (sessions live in the database): being sent to the login page counts as a failure.
    Event(
        "app_node_session", "the app node holding a logged-in user's session killed", app.session_node, _out_of_rotation
    ),
    Event(
        "load_balancer",
        "the load balancer holding the VIP killed",
        lambda _users: balancer.vip_holders()[0],
        _peer_holds_vip,
    ),
    # Issue 21: reads held, writes back within 20 s as a median of 3 rounds.
    Event("postgres_leader", "the Patroni leader killed", lambda _users: postgres.leader(), _new_pg_leader, rounds=3),
    # The member that leads etcd, Patroni's DCS, its process killed (SIGKILL, kept down): the
    # others elect a leader and Patroni's leader keeps its lock.
    Event(
        "etcd_leader",
        "the etcd leader's member killed (its process; the host stays up)",
        lambda _users: postgres.etcd_leader(),
        _new_etcd_leader,
        alerted=False,
        kill=postgres.kill_etcd,
        start=postgres.start_etcd,
    ),
    Event("redis_primary", "the Redis primary killed", lambda _users: cache.primary(), _new_redis_primary),
    Event(
        "elasticsearch_node",
        "the elected Elasticsearch master killed",
        lambda _users: search.master(),
        _new_es_master,
    ),
    # Either monitoring host killed: the other one's Prometheus and Alertmanager alert.
    Event(
        "monitoring_host",
        "mon1 killed (Prometheus, Alertmanager, an etcd member, a Sentinel)",
        lambda _users: "mon1",
        None,
        min_down=MONITORING_DOWN_SECONDS,
    ),
    Event(
        "backup_host",
        "mon2 killed (Prometheus, Alertmanager, the backup repositories)",
        lambda _users: "mon2",
        None,
        min_down=MONITORING_DOWN_SECONDS,
    ),
]
# (event, round): an event of several rounds is killed that many times in a row.
CASES = [(event, n) for event in EVENTS for n in range(1, event.rounds + 1)]


@pytest.fixture(scope="module")
def drill():
    """The state shared by the drill's steps, and the report written at the end."""
    state: dict = {"events": {}, "started": None}
    yield state
    if state["started"] is not None:
        write_report(state)


@pytest.fixture(scope="module")
def load(drill, sink: Sink):
    health.wait_until_healthy(CEILING_HEALTHY_SECONDS)
    # The sink must be reachable from mon1 before anything is killed.
    testing.host("mon1").run_expect(
        [0], f"curl -sf -o /dev/null -X POST -d '{{\"alerts\": []}}' http://{sink.host}:{sink.port}/"
    )
    # Read before anything is killed: mon1 is one of the victims.
    drill["alerting"] = monitoring.alerting_settings()
    users = app.journeys(rate=LOAD_RATE, users=USERS).start()
    drill["started"] = time.monotonic()
    drill["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    time.sleep(15)
    yield users
    users.stop()
    drill["ended"] = time.monotonic()
    drill["total"] = users.summary()


def figures(summary: Summary) -> dict:
    """The users' figures of one event window (outages: each run of failed requests)."""
    keys = (
        "requests",
        "failed_requests",
        "failed_reads",
        "writes",
        "failed_writes",
        "seconds_unavailable",
        "longest_gap_s",
        "slowest_read_s",
        "latency_p95_ms",
    )
    data = summary.as_dict()
    return {**{k: data[k] for k in keys}, "outages": data["outages"], "errors": data["errors"], "steps": data["steps"]}


def monitoring_host(address: str) -> str:
    """The monitoring host at an address (the sender of a notification)."""
    return next((n for n in testing.names("monitoring") if testing.address(n) == address), address)


def other_alerts(sink: Sink, since: float, victim: str) -> list[str]:
    names = {
        f"{a['labels']['alertname']}{{{a['labels'].get('instance', '')}}}"
        for _, a in sink.alerts(since)
        if a["status"] == "firing"
        and a["labels"]["alertname"] != "Watchdog"
        and not (a["labels"]["alertname"] == "HostDown" and a["labels"].get("instance") == victim)
    }
    return sorted(names)


def fail_open_served() -> dict[str, int]:
    """Per load balancer that answers: the requests sent to its fail-open backend so far."""
    counts = {}
    for lb in balancer.lbs():
        with contextlib.suppress(Exception):  # a killed load balancer answers nothing
            counts[lb] = balancer.fail_open_served(lb)
    return counts


@contextlib.contextmanager
def writers(event: str):
    """The tier's own writer during its event: commits through HAProxy, keys through Sentinel."""
    if event == "postgres_leader":
        writer = postgres.Writer(run=f"sla-{int(time.time())}").start()
        try:
            yield writer
        finally:
            writer.stop()
    elif event == "redis_primary":
        writer = cache.Writer(run=f"sla-{int(time.time())}")
        writer.start()
        try:
            yield writer
        finally:
            writer.stop()
    else:
        yield None


def lost_writes(event: str, writer) -> dict:
    """The tier writer's figures: its attempts and failures (recorded like the users'
    requests), the longest time no write succeeded, and the acknowledged writes lost."""
    if writer is None:
        return {}
    summary = writer.summary()
    longest = max((o.seconds for o in summary.outages), default=0.0)
    # Named apart from the users' own writes ("writes", "failed_writes" of the journey).
    attempts = {
        "writer_attempts": summary.requests,
        "writer_failed": summary.failed,
        "write_unavailable_s": round(longest, 2),
    }
    if isinstance(writer, postgres.Writer):
        return {**attempts, "acknowledged_commits": len(writer.acked), "lost_acknowledged_commits": len(writer.lost())}
    primary = testing.wait_for(cache.primary, 60, "a Redis primary")
    return {**attempts, "acknowledged_writes": len(writer.acks), "lost_acknowledged_writes": len(writer.lost(primary))}


@pytest.mark.parametrize(("event", "round_"), CASES, ids=[e.name if n == 1 else f"{e.name}-round{n}" for e, n in CASES])
def test_drill_event(event: Event, round_: int, load: SteadyLoad, sink: Sink, drill: dict):
    health.wait_until_healthy(CEILING_HEALTHY_SECONDS)
    time.sleep(5)
    victim = event.victim(load)
    assert victim, f"no victim for {event.name}"
    with writers(event.name) as writer:
        time.sleep(2 if writer else 0)
        served_open = fail_open_served()
        window_start = time.monotonic()
        killed_wall = time.time()
        event.kill(victim)

        failover_s = None
        delivered_s = None
        awaited = event.alerted and (AWAIT_ALERTS or event.name in ALWAYS_AWAITED)
        min_down = event.min_down
        deadline = window_start + (CEILING_ALERT_SECONDS if event.alerted else min_down + CEILING_UNAVAILABLE_SECONDS)
        while time.monotonic() < deadline:
            now = time.monotonic()
            if failover_s is None and event.failed_over is not None:
                with contextlib.suppress(Exception):  # a peer busy taking over answers nothing yet
                    if event.failed_over(victim):
                        failover_s = now - window_start
            if awaited and delivered_s is None:
                at = sink.first("HostDown", "firing", killed_wall, instance=victim)
                if at is not None:
                    delivered_s = at - killed_wall
            if (
                (not awaited or delivered_s is not None)
                and (failover_s is not None or event.failed_over is None)
                and now - window_start >= min_down
            ):
                break
            time.sleep(0.5)
        down_s = time.monotonic() - window_start

        restarted_wall = time.time()
        restart_at = time.monotonic()
        event.start(victim)
        health.wait_until_healthy(CEILING_HEALTHY_SECONDS)
        healthy_s = time.monotonic() - restart_at
    written = lost_writes(event.name, writer)
    resolved_s = None
    if awaited and delivered_s is not None:
        at = testing.wait_for(
            lambda: sink.first("HostDown", "resolved", restarted_wall, instance=victim),
            CEILING_ALERT_SECONDS,
            "the resolved HostDown",
            interval=1,
        )
        resolved_s = at - restarted_wall
    time.sleep(3)
    window_end = time.monotonic()
    served_open_after = fail_open_served()
    result = {
        "name": event.name if round_ == 1 else f"{event.name}_round{round_}",
        **({"round": round_} if event.rounds > 1 else {}),
        "what": event.what,
        "victim": victim,
        "seconds_down": round(down_s, 1),
        "seconds_until_failed_over": round(failover_s, 2) if failover_s is not None else None,
        "seconds_restart_to_healthy": round(healthy_s, 1),
        **figures(load.summary(window_start, window_end)),
        **written,
        # Requests HAProxy sent to the live nodes while no node was ready (failing open).
        "served_failing_open": sum(
            max(0, served_open_after[n] - served_open[n]) for n in served_open_after.keys() & served_open.keys()
        ),
        "alert": "HostDown" if awaited else None,
        "alert_delivered_s": round(delivered_s, 1) if delivered_s is not None else None,
        "seconds_restart_until_alert_resolved": round(resolved_s, 1) if resolved_s is not None else None,
        "other_alerts_delivered": other_alerts(sink, killed_wall, victim),
    }
    if awaited:
        # Two Prometheus send every alert to two clustered Alertmanagers: one notification,
        # or one from each when they missed each other's (at least once, never silence).
        senders = sink.senders("HostDown", "firing", killed_wall, instance=victim, path="/alerts")
        result["alert_notifications"] = len(senders)
        result["alert_notified_by"] = [monitoring_host(a) for a in senders]
    if event.kill is testing.kill and victim in testing.names("monitoring"):
        # A whole monitoring host down (not the etcd member's process on mon1).
        beats = sink.heartbeats()
        before = [t for t in beats if t < killed_wall]
        during = [t for t in beats if killed_wall <= t < restarted_wall]
        after = [t for t in beats if t >= restarted_wall]
        around = before[-1:] + during + after[:1]
        result["watchdog_heartbeat"] = {
            "beats_while_down": len(during),
            "seconds_longest_gap": max((round(b - a, 1) for a, b in itertools.pairwise(around)), default=None),
        }
    drill["events"][result["name"]] = result
    print(json.dumps(result, indent=2))
    assert result["seconds_unavailable"] <= CEILING_UNAVAILABLE_SECONDS, result
    if event.failed_over is not None:
        assert failover_s is not None, f"{event.name}: no failover while {victim} was down"
    if awaited:
        assert delivered_s is not None and delivered_s <= CEILING_ALERT_SECONDS, result
        assert resolved_s is not None and resolved_s <= CEILING_ALERT_SECONDS, result
        # Neither Alertmanager sent it twice (a repeat, a flapping alert, a group resent).
        assert len(set(senders)) == len(senders), result
    if "watchdog_heartbeat" in result:
        # The dead man's switch never sees silence: the surviving Alertmanager beats on.
        assert result["watchdog_heartbeat"]["beats_while_down"] > 0, result
    assert result.get("lost_acknowledged_commits", 0) == 0, "synchronous replication loses no acknowledged commit"
    if event.name == "app_node_session":
        # The users pinned to the dead node stayed logged in (sessions live in the database).
        assert "sent to the login page" not in result["errors"], result
    if event.name == "postgres_leader":
        # Every node's readiness failed with the database: HAProxy failed open to the live
        # nodes (rather than answer 503 to everyone) and they served the users.
        assert result["served_failing_open"] > 0, result


def test_drill_rolling_deploy(load: SteadyLoad, sink: Sink, drill: dict):
    """playbooks/rolling-deploy.yml while the users keep working, each pinned to a node by
    HAProxy's persistence cookie: a drained node's users are moved to another node (the
    session is in the database, they stay logged in)."""
    health.wait_until_healthy(CEILING_HEALTHY_SECONDS)
    time.sleep(5)
    window_start = time.monotonic()
    started_wall = time.time()
    run = run_playbook("playbooks/rolling-deploy.yml")
    deploy_s = time.monotonic() - window_start
    time.sleep(5)
    result = {
        "name": "rolling_deploy",
        "what": "rolling deploy of the app nodes (playbooks/rolling-deploy.yml: drain, maintenance, role, restart)",
        "victim": "app nodes",
        "seconds_deploy": round(deploy_s, 1),
        **figures(load.summary(window_start, time.monotonic())),
        "alert": None,
        "other_alerts_delivered": other_alerts(sink, started_wall, ""),
    }
    drill["events"]["rolling_deploy"] = result
    print(json.dumps(result, indent=2))
    assert run.ok, run.tail(80)
    assert result["seconds_unavailable"] <= CEILING_UNAVAILABLE_SECONDS, result
    # The deploy announced itself and silenced the app nodes' expected alerts (issue 24, item 5).
    monitoring.assert_maintenance_announced("rolling deploy of the app nodes", since=started_wall)


def test_drill_totals(load: SteadyLoad, drill: dict):
    """The whole drill's figures, from the first request to now (the load keeps running);
    the alerts' deduplication over the drill's events."""
    total = load.summary()
    drill["total_so_far"] = total
    notified = [e["alert_notifications"] for e in drill["events"].values() if "alert_notifications" in e]
    # Deduplication that works: a duplicate is the exception (an Alertmanager that missed
    # its peer's notification for the peer timeout), not the rule.
    assert notified, "no event awaited its alert"
    assert sum(n > 1 for n in notified) <= max(1, len(notified) // 3), notified
    assert total.requests > 0
    assert total.error_rate <= CEILING_ERROR_RATE, total.as_dict()
    assert total.p95_seconds <= CEILING_P95_SECONDS, total.as_dict()


def write_report(drill: dict) -> None:
    total: Summary = drill.get("total") or drill.get("total_so_far")
    seconds = drill.get("ended", time.monotonic()) - drill["started"]
    settings = {
        "load": (
            f"{USERS} logged-in users of Horilla through the VIP, {LOAD_RATE:g} requests/s in all, each walking"
            " the journey of lab.load.HorillaUser (employee list, an employee's page, a static asset, an API read,"
            " an API department created then deleted); a failure is a 5xx or unexpected status, a timeout, a"
            " connection error, or being sent to the login page"
        ),
        # The running site's timings from HostDown's death to its notification (with
        # production_defaults: whether they are the roles' defaults), and the lab's
        # shorter group_wait of other alerts and group_interval (drill-settings/hosts.yml).
        "alerting": drill.get("alerting"),
        "targets": TARGETS,
        "ceilings": {
            "seconds_unavailable_per_event": CEILING_UNAVAILABLE_SECONDS,
            "seconds_alert_delivered_or_resolved": CEILING_ALERT_SECONDS,
            "error_rate": CEILING_ERROR_RATE,
            "p95_seconds": CEILING_P95_SECONDS,
        },
    }
    events = list(drill["events"].values())
    path = report.write(
        "cluster",
        settings=settings,
        events=events,
        totals={"seconds": round(seconds, 1), **total.as_dict(), "rounds": rounds(events)},
    )
    path.with_suffix(".md").write_text(markdown(json.loads(path.read_text())))


def rounds(events: list[dict]) -> dict:
    """Each event killed in several rounds: the median pause of writes (the tier's writer),
    the reads that failed and the slowest read, over its rounds."""
    grouped: dict[str, list[dict]] = {}
    for e in events:
        if "round" in e:
            grouped.setdefault(e["name"].split("_round")[0], []).append(e)
    summary = {}
    for name, runs in grouped.items():
        paused = [e["write_unavailable_s"] for e in runs if e.get("write_unavailable_s") is not None]
        summary[name] = {
            "rounds": len(runs),
            "write_unavailable_s": paused,
            "write_unavailable_s_median": round(statistics.median(paused), 2) if paused else None,
            "failed_reads": sum(e["failed_reads"] for e in runs),
            "failed_writes": sum(e["failed_writes"] for e in runs),
            "slowest_read_s": max(e["slowest_read_s"] for e in runs),
        }
    return summary


def markdown(data: dict) -> str:
    """cluster.md: the README's drill table (lab/readme.py), under this run's header."""
    header = f"# Whole-site SLA drill ({data['app']}, Debian {data['debian_release']}, {data['measured_at']})"
    return "\n".join([header, "", *readme.cluster_drill_table(data)]) + "\n"
