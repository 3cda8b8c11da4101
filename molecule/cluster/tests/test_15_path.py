"""The whole path of a request on the converged site: HTTPS through the VIP to each app
node, from there to Postgres through HAProxy's :5000 and to Redis found through the
Sentinels; Prometheus scrapes every target; no alert fires but the Watchdog. Runs first
after the baseline: every later module may raise alerts of its own."""

from __future__ import annotations

import time

import pytest
import requests

from lab import testing
from lab.cluster import balancer, cache, health, monitoring, postgres

COOKIE = "HORILLA_LB"  # roles/haproxy: the persistence cookie names the app node
# A fresh site settles: exporters' first scrapes, `for:` windows of alerts raised while
# the tiers were still coming up during the converge.
SETTLE_TIMEOUT = 600


def through_the_vip(path: str, node: str) -> requests.Response:
    """A request through the VIP that HAProxy sends to one app node (persistence cookie)."""
    return requests.get(balancer.https(path), cookies={COOKIE: node}, verify=balancer.ca_file(), timeout=15)


@pytest.fixture(scope="module", autouse=True)
def settled():
    health.wait_until_healthy(SETTLE_TIMEOUT)


@pytest.mark.parametrize("node", testing.names("app"))
def test_https_through_the_vip_reaches_the_node_and_its_dependencies(node):
    live = through_the_vip("/health/live/", node)
    assert live.status_code == 200, live.text
    assert live.json()["node"] == node
    assert live.headers["Strict-Transport-Security"].startswith("max-age=")
    ready = through_the_vip("/health/ready/", node)
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    # Readiness leaves the cache out (shared by every node; test_24 checks it in detailed).
    assert set(checks) == {"database", "migrations"} and all(c["ok"] for c in checks.values()), checks
    # The operators' endpoints stay off the public entry point.
    assert through_the_vip("/health/detailed/", node).status_code == 404


def test_the_app_reaches_postgres_only_through_haproxy():
    """Postgres sees the app's sessions coming from the load balancers (HAProxy :5000),
    never straight from an app node."""
    leader = postgres.leader()
    assert leader
    lb_addresses = {testing.address(lb) for lb in testing.names("loadbalancers")}
    app_addresses = {testing.address(app) for app in testing.names("app")}
    seen: set[str] = set()
    sql = (
        "SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE usename = 'horilla' AND client_addr IS NOT NULL"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not seen:
        for node in testing.names("app"):
            through_the_vip("/health/ready/", node)
        out = testing.host(leader).check_output(f'runuser -u postgres -- psql -XAtc "{sql}"')
        seen |= set(out.split())
        time.sleep(0.5)
    assert seen, "no session of the app user on the leader"
    assert seen <= lb_addresses, seen
    assert not seen & app_addresses
    # The address each app node is given is the VIP's primary listener.
    for node in testing.names("app"):
        env = testing.host(node).check_output("grep -h '^DATABASE_URL=' /etc/horilla/horilla.env")
        assert f"@{testing.lab().vars['internal_vip']}:5000/" in env, node


def test_the_app_finds_redis_through_the_sentinels():
    """Every app node reads and writes on the primary the Sentinels name, holds no
    connection to a replica, and its settings name only the Sentinels, no Redis host."""
    primary = cache.primary()
    assert primary
    for node in testing.names("app"):
        through_the_vip("/health/ready/", node)
    clients = {
        name: {c["addr"].rsplit(":", 1)[0] for c in cache.server(name).client_list()} for name in testing.names("redis")
    }
    app_addresses = {testing.address(app) for app in testing.names("app")}
    assert app_addresses <= clients[primary], clients
    for replica in set(testing.names("redis")) - {primary}:
        assert not app_addresses & clients[replica], clients
    sentinels = {f"{testing.address(s)}:26379" for s in testing.names("sentinel")}
    for node in testing.names("app"):
        ops = testing.host(node).check_output("grep -h '^HORILLA_OPS_REDIS' /etc/horilla/*.env || true")
        settings = dict(line.split("=", 1) for line in ops.splitlines())
        assert set(settings["HORILLA_OPS_REDIS_SENTINELS"].strip("'").split(",")) == sentinels, (node, settings)
        assert not any(f"{testing.address(r)}:6379" in ops for r in testing.names("redis")), ops


def test_prometheus_scrapes_every_target_and_each_is_up():
    active = monitoring.prom("/api/v1/targets", state="active")["activeTargets"]
    jobs = {(t["labels"]["job"], t["labels"]["instance"]) for t in active}
    assert monitoring.expected_targets() <= jobs
    # The probes through the VIPs, as users reach the site (HTTPS on the public VIP) and
    # as the app reaches Postgres (:5000, :5001 on the internal VIP); their job label is
    # that of the other probes.
    vip_probes = {
        (
            t["labels"]["job"],
            t["labels"].get("service"),
            t["labels"]["target"].split("://")[-1].split("/")[0].split(":")[0],
        )
        for t in active
        if t["labels"]["instance"] == "vip"
    }
    public, internal = testing.lab().vars["vip"], testing.lab().vars["internal_vip"]
    assert vip_probes >= {
        ("blackbox_http", "horilla", public),
        ("blackbox_tcp", "postgres-primary", internal),
        ("blackbox_tcp", "postgres-replicas", internal),
    }, vip_probes
    assert monitoring.targets_down() == []
    # Up is not enough for a probe: each must succeed (TLS through the VIP included).
    failing = monitoring.prom("/api/v1/query", query="probe_success == 0")["result"]
    assert failing == [], [(r["metric"].get("instance"), r["metric"].get("target")) for r in failing]


# When this module is imported: the converge is over and the verifier has begun.
VERIFY_STARTED = time.time()
# The availability burn-rate alerts look back 30 minutes to 6 hours: over the converge too.
BURN_ALERTS = {"HorillaAvailabilityBudgetFastBurn", "HorillaAvailabilityBudgetSlowBurn"}


def last_failed_probe_before(now: float) -> float | None:
    """When the availability SLI last recorded the site down, over the last hour."""
    series = monitoring.prom(
        "/api/v1/query_range", query="horilla:service_up:probe", start=str(now - 3600), end=str(now), step="5"
    )["result"]
    failed = [float(t) for s in series for t, v in s["values"] if float(v) == 0]
    return max(failed, default=None)


def unexplained(firing: list[dict]) -> list[dict]:
    """Alerts a healthy, converged site must not have. An availability burn alert is
    explained only when every failed probe it counts predates the verifier, i.e. the
    converge, during which CI's two cores also run the other scenarios and readiness
    probes time out; any failure since (or a 5-minute ratio above 0) leaves it unexplained."""
    if not {a["labels"]["alertname"] for a in firing} & BURN_ALERTS:
        return firing
    last = last_failed_probe_before(time.time())
    recent = monitoring.query("horilla:availability_errors:ratio_5m > 0")
    if (last is not None and last >= VERIFY_STARTED) or recent:
        return firing
    return [a for a in firing if a["labels"]["alertname"] not in BURN_ALERTS]


def test_no_alert_fires_but_the_watchdog():
    deadline = time.monotonic() + SETTLE_TIMEOUT
    firing = unexplained(monitoring.firing_alerts())
    while firing and time.monotonic() < deadline:
        time.sleep(5)
        firing = unexplained(monitoring.firing_alerts())
    assert firing == [], [(a["labels"]["alertname"], a["labels"].get("instance")) for a in firing]
    alerts = monitoring.alertmanager("/api/v2/alerts")
    assert "Watchdog" in {a["labels"]["alertname"] for a in alerts}
