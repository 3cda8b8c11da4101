"""Operations on the running site that an operator performs, each one checked and each
leaving the site as it found it: a planned switchover of the Postgres leader, a setting
rolled through Patroni, the Redis role re-run after a failover with every Sentinel down,
an Elasticsearch setting rolled one node at a time, bad input refused in preflight,
HAProxy reloads under users' load, a frozen scheduler leader evicted, and the app down
long enough for its alert (delivered, resolved, and in the SLA report).

Figures go to reports/drills/<tier>.json; asserts are generous ceilings.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from datetime import UTC, datetime

import pytest
import requests

from lab import testing
from lab.cluster import app, balancer, cache, health, monitoring, postgres, report, run_playbook
from lab.cluster.search import Cluster

SWITCHOVER_CEILING = 30.0
FAILED_CEILING_PERCENT = 0.5
ALERT_CEILING = 180.0
# What the app-down drill did, for the SLA report test after it.
APP_DOWN: dict[str, float] = {}


@pytest.fixture(autouse=True)
def healthy_site():
    """Every operation starts from a healthy site and leaves one."""
    health.wait_until_healthy()
    yield
    health.wait_until_healthy()


# --- the database tier ------------------------------------------------------------------


def test_switchover_playbook_moves_the_leader_without_losing_a_commit():
    old_leader = postgres.leader()
    candidate = next(h for h in postgres.hosts() if h != old_leader)
    writer = postgres.Writer(run=f"switchover-{int(time.time())}").start()
    try:
        writer.wait_for_ack_after(time.monotonic(), 30)
        time.sleep(2)
        started_at, wall_started = time.monotonic(), time.time()
        run = run_playbook("playbooks/postgresql-switchover.yml", timeout=300)
        assert run.ok, run.tail()
        writer.wait_for_ack_after(time.monotonic(), SWITCHOVER_CEILING)
        postgres.wait_healthy()
        time.sleep(1)
    finally:
        writer.stop()
    window = [at for _, at in writer.acked if at >= started_at - 1]
    unavailable = max((b - a for a, b in itertools.pairwise(window)), default=None)
    lost = writer.lost()
    figures = {
        "name": "planned_switchover",
        "from": old_leader,
        "to": postgres.leader(),
        "write_unavailable_seconds": round(unavailable, 2) if unavailable is not None else None,
        "acknowledged_commits": len(writer.acked),
        "lost_acknowledged_commits": len(lost),
        "old_leader_role_after": postgres.members()[old_leader]["role"],
    }
    report.add_event("postgresql", figures)
    assert postgres.leader() == candidate
    assert lost == []
    # The switchover announced itself (issue 24, item 5).
    monitoring.assert_maintenance_announced("PostgreSQL switchover", since=wall_started)
    assert unavailable is not None and unavailable < SWITCHOVER_CEILING, figures
    assert figures["old_leader_role_after"] == "sync_standby"


def test_a_setting_rolls_through_patroni_replica_first_without_failover():
    """max_connections needs a restart: raised, the replica restarts first and the leader
    last, keeping the lock. Rolled back to the inventory's value, the leader goes first (a
    hot standby may not run below the primary's value), still without a failover."""
    leader = postgres.leader()
    replica = next(h for h in postgres.hosts() if h != leader)
    current = postgres.patroni("/config")["postgresql"]["parameters"]
    raised = int(current["max_connections"]) + 10

    def started(name: str) -> str:
        return postgres.patroni("/patroni", host=name)["postmaster_start_time"]

    before = {h: started(h) for h in (leader, replica)}
    # The operator's way to add one setting: postgresql_parameters_extra (postgresql_parameters
    # is the role's whole list, and the live config also holds the archiving it adds).
    run = run_playbook(
        "playbooks/database.yml",
        tags=["postgresql"],
        extra_vars={"postgresql_parameters_extra": {"max_connections": raised}},
        timeout=900,
    )
    assert run.ok, run.tail()
    after = {h: started(h) for h in (leader, replica)}
    shown = {h: postgres.psql(h, "SHOW max_connections") for h in (leader, replica)}
    # Back to the inventory's value (the converge after the drills must change nothing).
    back = run_playbook("playbooks/database.yml", tags=["postgresql"], timeout=900)
    assert back.ok, back.tail()
    postgres.wait_healthy()
    rolled_back = {h: started(h) for h in (leader, replica)}
    assert shown == dict.fromkeys((leader, replica), str(raised))
    assert after[replica] != before[replica] and after[leader] != before[leader]
    assert after[replica] < after[leader], "raised: the replica restarts first"
    assert rolled_back[leader] != after[leader] and rolled_back[replica] != after[replica]
    assert rolled_back[leader] < rolled_back[replica], "lowered: the leader restarts first"
    assert postgres.leader() == leader, "no failover"
    for host in (leader, replica):
        assert postgres.psql(host, "SHOW max_connections") == str(current["max_connections"]), host


# --- the cache tier ---------------------------------------------------------------------


def test_redis_rerun_with_every_sentinel_down_keeps_the_promoted_primary():
    """The redis role finds the primary by asking the servers when no Sentinel answers,
    and demotes no one. The promoted primary must not be the first Redis host (the one
    a fresh cluster starts with), else there is nothing to get wrong."""
    first = cache.redis_hosts()[0]
    if cache.primary() == first:
        cache.sentinel(cache.sentinel_hosts()[-1]).execute_command("SENTINEL", "FAILOVER", cache.MASTER_NAME)
        testing.wait_for(lambda: cache.primary() not in (None, first), 60, f"a planned failover away from {first}")
    promoted = cache.primary()
    testing.wait_for(cache.healthy, 60, f"{promoted} streaming to its replicas")
    sentinels = cache.sentinel_hosts()
    for name in sentinels:
        testing.host(name).run_expect([0], "systemctl stop redis-sentinel")
    try:
        rerun = run_playbook("playbooks/cache.yml", tags=["redis"], timeout=600)
        assert rerun.ok, rerun.tail()
        assert rerun.changed_hosts() == {}, rerun.tail()
        for name in cache.redis_hosts():
            info = cache.server(name).info("replication")
            if name == promoted:
                assert info["role"] == "master", name
            else:
                assert (info["role"], info["master_host"]) == ("slave", testing.address(promoted)), name
    finally:
        for name in sentinels:
            testing.host(name).run_expect([0], "systemctl start redis-sentinel")
    testing.wait_for(lambda: set(cache.sentinel_views().values()) == {promoted}, 60, "the Sentinels agreeing again")


def test_a_replicas_configuration_survives_a_restart():
    """Settings live in redis.conf (written once, then CONFIG REWRITE): a restart keeps them."""
    replica = next(h for h in cache.redis_hosts() if h != cache.primary())
    client = cache.server(replica)
    keys = ("bind", "requirepass", "masterauth", "maxmemory", "appendonly", "replicaof")
    before = client.config_get(*keys)
    testing.host(replica).run_expect([0], "systemctl restart redis-server")
    client = cache.server(replica)
    testing.wait_for(client.ping, 30, "Redis answering again")
    assert client.config_get(*keys) == before
    assert client.role()[0] == "slave"


# --- the search tier --------------------------------------------------------------------


def test_an_elasticsearch_setting_restarts_one_node_at_a_time():
    """The search playbook with one more elasticsearch.yml setting on two of the three
    nodes, watched from outside: never more than one node away, never red, the changed
    nodes restarted once each, one after the other; then back to the inventory's value."""
    es = Cluster()
    changed = es.nodes[:2]

    def jvm_started() -> dict[str, int]:
        nodes = es.get(es.nodes[-1], "_nodes/jvm").json()["nodes"].values()
        return {n["name"]: n["jvm"]["start_time_in_millis"] for n in nodes}

    def watched(**kwargs) -> tuple[bool, str, int, set[str]]:
        import threading

        fewest, statuses, done = len(es.nodes), set(), threading.Event()
        result: dict = {}

        def run() -> None:
            result["run"] = run_playbook("playbooks/search.yml", tags=["elasticsearch"], timeout=1200, **kwargs)
            done.set()

        threading.Thread(target=run, daemon=True).start()
        while not done.wait(0.5):
            for node in es.nodes:
                try:
                    state = es.health(node, timeout=2)
                except requests.RequestException:
                    continue  # that node is the one restarting
                fewest = min(fewest, state["number_of_nodes"])
                statuses.add(state["status"])
                break
        return result["run"].ok, result["run"].tail(), fewest, statuses

    before = jvm_started()
    change = {"elasticsearch_extra_config": {"indices.memory.index_buffer_size": "15%"}}
    ok, tail, fewest, statuses = watched(limit=",".join(changed), extra_vars=change)
    assert ok, tail
    after = jvm_started()
    es.wait_for_green()
    ok_back, tail_back, fewest_back, statuses_back = watched(limit=",".join(changed))
    assert ok_back, tail_back
    es.wait_for_green()
    assert all(after[n] > before[n] for n in changed), "every changed node's JVM restarted"
    assert all(after[n] == before[n] for n in es.nodes if n not in changed), "an unchanged node restarted"
    assert fewest == fewest_back == len(es.nodes) - 1, "exactly one node at a time may be away"
    assert "red" not in statuses | statuses_back
    first, second = sorted(changed, key=after.get)
    gap = (after[second] - after[first]) / 1000
    report.add_event(
        "elasticsearch", {"name": "rolling_restart", "first": first, "second": second, "seconds_between": gap}
    )
    assert gap > 5, "the second node restarted only after the first was back and the cluster green"


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        pytest.param({"elasticsearch_node_roles": ["data"]}, "has 0 master-eligible node(s)", id="no-quorum"),
        pytest.param(
            # A repository that does not answer (a closed port on a lab host: no traffic
            # leaves the lab) stops the apt method before anything is installed.
            {"elasticsearch_install_method": "apt", "elasticsearch_apt_repository_url": "http://{es1}:9/apt"},
            "cannot reach the Elasticsearch APT repository http://{es1}:9/apt",
            id="apt-repository-unreachable",
        ),
    ],
)
def test_bad_search_input_stops_in_preflight(extra_vars, message):
    es1 = testing.address("es1")
    extra_vars = {k: v.format(es1=es1) if isinstance(v, str) else v for k, v in extra_vars.items()}
    config = "/etc/elasticsearch/elasticsearch.yml"
    before = testing.host("es1").file(config).md5sum
    run = run_playbook("playbooks/search.yml", limit="elasticsearch", extra_vars=extra_vars, timeout=300)
    output = " ".join(run.stdout.split())
    assert not run.ok
    assert message.format(es1=es1) in output, output[-3000:]
    assert "TASK [elasticsearch : Write elasticsearch.yml]" not in output
    assert testing.host("es1").file(config).md5sum == before


# --- the load balancer tier -------------------------------------------------------------


def test_haproxy_reloads_fail_no_users_request():
    holder = balancer.vip_holders()[0]
    reloads = 5
    with app.journeys() as load:
        time.sleep(5)
        started = time.monotonic()
        for _ in range(reloads):
            testing.host(holder).run_expect([0], "systemctl reload haproxy")
            time.sleep(2)
        seconds = time.monotonic() - started
        time.sleep(3)
    summary = load.summary()
    figures = {
        "name": "haproxy_reloads",
        **summary.as_dict(),
        "reloads": reloads,
        "on": holder,
        "seconds": round(seconds, 1),
    }
    report.add_event("loadbalancer", figures)
    assert summary.error_rate * 100 < FAILED_CEILING_PERCENT, figures
    assert balancer.vip_holders() == [holder], "a reload never moves the VIP"


# --- the app tier -----------------------------------------------------------------------


def scheduler_leader() -> str:
    return testing.wait_for(app.scheduler_leader, 60, "exactly one scheduler leader")


def test_a_frozen_scheduler_leader_is_evicted_and_fences_itself():
    """docker pause freezes the leader: its TCP session to PostgreSQL stays open, so only
    the lease can tell. Another node must take over; once thawed, the old leader must
    stop at once (exit status 75) without running a job."""
    leader = scheduler_leader()
    frozen_at = time.time()
    testing.pause(leader)
    try:
        new = testing.wait_for(
            lambda: next(
                (n for n in app.nodes() if n != leader and app.detailed(n)["scheduler"]["this_node_leads"]), None
            ),
            120,
            "another node leading the scheduler",
        )
        takeover = time.time() - frozen_at
    finally:
        testing.unpause(leader)
    thawed = int(time.time()) - 1
    node = testing.host(leader)
    exits = f"journalctl -u horilla-scheduler --since @{thawed} -q --no-pager | grep -c 'status=75' || true"
    testing.wait_for(lambda: int(node.check_output(exits) or 0) > 0, 60, "the thawed leader exiting with status 75")
    late = [run for run in app.scheduled_runs(thawed) if run[0] == leader]
    report.add_event(
        "horilla",
        {
            "name": "frozen_scheduler_leader",
            "frozen": leader,
            "new_leader": new,
            "seconds_until_taken_over": round(takeover, 1),
        },
    )
    assert takeover < 60
    assert late == [], f"the evicted leader ran jobs after it was thawed: {late}"
    assert scheduler_leader() == new, "the thawed node does not take the lock back"


# --- the monitoring tier ----------------------------------------------------------------


def _vip_ready_at() -> float | None:
    try:
        ready = requests.get(balancer.https("/health/ready/"), verify=balancer.ca_file(), timeout=5)
    except requests.RequestException:
        return None
    return time.time() if ready.status_code == 200 else None


def test_the_app_down_alert_is_delivered_and_resolved(sink):
    """Every app node's gunicorn stopped: no readiness probe succeeds, and
    HorillaApplicationDown (critical) must reach the sink, and Teams, and horilla-monitor
    must say so; its resolved notification follows once the app is back."""
    mon = testing.host(monitoring.host())
    failed_at = time.time()
    for name in app.nodes():
        testing.host(name).run_expect([0], "systemctl stop horilla-gunicorn")
    try:
        delivered = testing.wait_for(
            lambda: sink.first("HorillaApplicationDown", "firing", failed_at), ALERT_CEILING, "HorillaApplicationDown"
        )
        teams = testing.wait_for(
            lambda: [
                n for n in sink.notifications(failed_at, "/teams") if "HorillaApplicationDown" in json.dumps(n.payload)
            ],
            30,
            "HorillaApplicationDown in a Teams message",
        )
        card = teams[0].payload
        assert "MessageCard" in (card.get("type"), card.get("@type")), card
        down = mon.run("horilla-monitor --status")
        assert down.rc == 1
        assert "critical alert HorillaApplicationDown" in down.stdout
    finally:
        for name in app.nodes():
            testing.host(name).run_expect([0], "systemctl start horilla-gunicorn")
    # Recovered when a user is served again: Horilla takes a while to boot on 2 cores.
    recovered_at = testing.wait_for(_vip_ready_at, ALERT_CEILING, "the VIP serving /health/ready/ again")
    resolved = testing.wait_for(
        lambda: sink.first("HorillaApplicationDown", "resolved", recovered_at),
        ALERT_CEILING,
        "the resolved notification",
    )
    APP_DOWN.update(failed_at=failed_at, recovered_at=recovered_at)
    report.add_event(
        "monitoring",
        {
            "name": "app_down_alert",
            "seconds_failure_to_firing_notification": round(delivered - failed_at, 1),
            "seconds_recovery_to_resolved_notification": round(resolved - recovered_at, 1),
        },
        settings={
            "alert_for": "30s",
            "intervals": monitoring.alerting_settings(),
        },
    )


def test_the_sla_report_shows_the_app_down_outage():
    """horilla-sla-report over the last minutes, from this site's own Prometheus data."""
    if not APP_DOWN:
        pytest.skip("the app-down drill did not run")
    mon = testing.host(monitoring.host())
    # The report ends now: wait until the SLI has recorded the recovery (a probe and a
    # rule evaluation, 10 s each), or the outage reads as ongoing.
    testing.wait_for(
        lambda: [r for r in monitoring.query("horilla:service_up:probe") if r["value"][1] == "1"],
        60,
        "the availability SLI back at 1",
    )
    time.sleep(10)
    start = datetime.fromtimestamp(APP_DOWN["failed_at"] - 300, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    workdir = mon.check_output("mktemp -d -p /var/tmp")
    mon.run_expect([0], f"horilla-sla-report --from {start} --output {workdir}/sla.md")
    mon.run_expect([0], f"horilla-sla-report --from {start} --format html --output {workdir}/sla.html")
    markdown = mon.file(f"{workdir}/sla.md").content_string
    assert "| Availability | >= 99.99 % |" in markdown and "| NO |" in markdown
    incidents = re.findall(r"^\| (\d+) \| (\S+ \S+) UTC \| (\S+ \S+) UTC \| (.+) \|$", markdown, re.MULTILINE)

    def epoch(stamp: str) -> float:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()

    # The SLI sees the outage within a probe and a rule evaluation (10 s each), give or
    # take a probe's own time on a busy machine.
    ours = [
        (epoch(began), epoch(ended))
        for _, began, ended, _ in incidents
        if APP_DOWN["failed_at"] - 1 <= epoch(began) <= APP_DOWN["failed_at"] + 40
    ]
    assert len(ours) == 1, markdown
    assert APP_DOWN["recovered_at"] - 1 <= ours[0][1] <= APP_DOWN["recovered_at"] + 40
    assert "| HorillaApplicationDown | critical |" in markdown
    for plot in ("availability", "latency"):
        assert mon.file(f"{workdir}/sla-{plot}.svg").content_string.startswith("<svg")
    assert "HorillaApplicationDown" in mon.file(f"{workdir}/sla.html").content_string
