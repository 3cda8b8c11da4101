"""The monitoring tier, checked on mon1 with real targets, and the end-to-end alert drill.

Drill: the app (stand-in) on app1 stops; HorillaApplicationDown must reach the HTTP
sink on mon1 through Alertmanager, and its resolved notification must follow once
the app is back. The measured seconds go to reports/drills/monitoring.json.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from lab import testing
from lab.state import PROJECT_DIR

# One host: every test runs once, in this file's order (each takes `host`, which keeps
# pytest from regrouping them), so the drill comes last.
testinfra_hosts = testing.hosts("monitoring")

RULES_DIR = PROJECT_DIR / "roles" / "prometheus" / "files" / "rules"
TESTS_DIR = PROJECT_DIR / "roles" / "prometheus" / "files" / "rules-tests"
REPORT = PROJECT_DIR / "reports" / "drills" / "monitoring.json"
# Generous ceilings; the target with the scenario's 5 s intervals is 60 s.
DELIVERY_CEILING_S = 120
RESOLVED_CEILING_S = 120
# What the drill did, for the SLA report test after it.
DRILL: dict[str, float] = {}


def mon() -> str:
    return testing.lab().host("mon1").address


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (lab address)
        return json.load(response)


def prom(path: str, **params: str) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    body = get_json(f"http://{mon()}:9090{path}{query}")
    assert body["status"] == "success", body
    return body["data"]


def wait_for(what: str, check, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def expected_targets() -> set[tuple[str, str]]:
    lab = testing.lab()
    out = {("node", h) for h in lab.hosts}
    out |= {("horilla", h.name) for h in lab.group("app")}
    out |= {(job, h.name) for h in lab.group("monitoring") for job in ("prometheus", "alertmanager")}
    out |= {("blackbox_http", h.name) for h in lab.group("app")}
    return out


@pytest.fixture(scope="module")
def targets_up() -> list[dict]:
    """Every target the inventory implies, scraped and up."""

    def all_up():
        active = prom("/api/v1/targets", state="active")["activeTargets"]
        up = [t for t in active if t["health"] == "up"]
        return (
            active
            if len(up) == len(active)
            and {(t["labels"]["job"], t["labels"]["instance"]) for t in active} >= expected_targets()
            else None
        )

    return wait_for("every scrape target up", all_up, timeout=90)


def test_listeners_on_the_internal_address_only(host):
    address = mon()
    for port in (9090, 9093, 9115):
        assert host.socket(f"tcp://{address}:{port}").is_listening, port
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, port
    # A single Alertmanager runs without its gossip port.
    assert not host.socket("tcp://0.0.0.0:9094").is_listening
    assert not host.socket(f"tcp://{address}:9094").is_listening


def test_every_target_is_scraped_and_up(host, targets_up):
    jobs = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets_up}
    assert jobs == expected_targets()
    assert all(t["health"] == "up" for t in targets_up)
    probes = prom("/api/v1/query", query='probe_success{job="blackbox_http"}')["result"]
    assert {(r["metric"]["instance"], r["metric"]["path"], r["value"][1]) for r in probes} == {
        ("app1", "/health/", "1"),
        ("app1", "/health/ready/", "1"),
    }


def test_rules_are_loaded_and_evaluate_cleanly(host, targets_up):
    shipped = {
        rule.get("alert") or rule.get("record")
        for path in RULES_DIR.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    }
    groups = prom("/api/v1/rules")["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"]}
    assert loaded == shipped
    unhealthy = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] == "err"]
    assert unhealthy == []
    sli = prom("/api/v1/query", query="horilla:service_up:probe")["result"]
    assert [s["value"][1] for s in sli] == ["1"]


def test_promtool_unit_tests_pass_with_the_deployed_rules_and_promtool(host):
    """The shipped unit tests, run by the host's own promtool against the installed rules."""
    # /tmp is a tmpfs on Debian 13, which `docker cp` cannot write into.
    workdir = host.check_output("mktemp -d -p /var/tmp")
    host.run_expect([0], f"ln -s /etc/prometheus/rules {workdir}/rules")
    container = testing.lab().host("mon1").container
    subprocess.run(["docker", "cp", str(TESTS_DIR), f"{container}:{workdir}/rules-tests"], check=True)
    result = host.run(f"cd {workdir}/rules-tests && promtool test rules *.yml")
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(list(TESTS_DIR.glob("*.yml")))


def test_configs_pass_their_checkers(host):
    host.run_expect([0], "promtool check config /etc/prometheus/prometheus.yml")
    host.run_expect([0], "amtool check-config /etc/prometheus/alertmanager.yml")
    routes = host.check_output(
        "amtool config routes test --config.file=/etc/prometheus/alertmanager.yml severity=critical alertname=X"
    )
    assert routes.strip() == "critical"


def test_watchdog_reaches_alertmanager(host, targets_up):
    def watchdog():
        alerts = get_json(f"http://{mon()}:9093/api/v2/alerts")
        return [a for a in alerts if a["labels"]["alertname"] == "Watchdog"]

    assert wait_for("Watchdog in Alertmanager", watchdog, timeout=30)


def test_a_down_host_inhibits_its_own_warnings(host):
    """Alertmanager's real inhibition: HostDown silences the same instance's warnings, not others'."""
    now = datetime.now(UTC)
    ends = now.replace(year=now.year + 1).isoformat()

    def alert(name: str, instance: str, severity: str = "warning") -> dict:
        labels = {"alertname": name, "instance": instance, "severity": severity, "drill": "inhibition"}
        return {"labels": labels, "startsAt": now.isoformat(), "endsAt": ends}

    posted = [alert("HostDown", "ghost1"), alert("HostHighCpuUsage", "ghost1"), alert("HostHighCpuUsage", "ghost2")]
    request = urllib.request.Request(
        f"http://{mon()}:9093/api/v2/alerts",
        data=json.dumps(posted).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
    try:
        expected = {
            ("HostDown", "ghost1"): "active",
            ("HostHighCpuUsage", "ghost1"): "suppressed",
            ("HostHighCpuUsage", "ghost2"): "active",
        }
        seen: list[dict] = []

        def states():
            alerts = get_json(f"http://{mon()}:9093/api/v2/alerts?filter=drill%3D%22inhibition%22")
            seen.append({(a["labels"]["alertname"], a["labels"]["instance"]): a["status"]["state"] for a in alerts})
            return seen[-1] == expected

        # The inhibitor learns of a new source alert asynchronously: give it seconds.
        assert wait_for("HostDown suppressing the warnings of its own instance", states, timeout=20), seen[-1]
        assert seen[-1] == expected
    finally:
        resolve = [{**a, "endsAt": datetime.now(UTC).isoformat()} for a in posted]
        request = urllib.request.Request(
            f"http://{mon()}:9093/api/v2/alerts",
            data=json.dumps(resolve).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310


def status_json(host) -> dict:
    result = host.run("horilla-monitor --status --json")
    assert result.rc in (0, 1), result.stderr
    return json.loads(result.stdout)


def firing_alerts() -> list[dict]:
    alerts = prom("/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["state"] == "firing" and a["labels"]["alertname"] != "Watchdog"]


def test_status_cli_matches_prometheus(host, targets_up):
    """horilla-monitor --status against the live lab, compared with Prometheus' own answers."""
    lab = testing.lab()
    for _attempt in range(3):  # alerts may start or end between the two reads
        before = firing_alerts()
        result = host.run("horilla-monitor --status")
        state = status_json(host)
        if firing_alerts() == before:
            break
    table = result.stdout
    n = len(lab.hosts)
    assert re.search(rf"^hosts \(node_exporter\)\s+node\s+{n}/{n}\s+-$", table, re.MULTILINE), table
    assert re.search(r"^app \(gunicorn\)\s+horilla\s+1/1\s+-$", table, re.MULTILINE), table
    assert f"Firing alerts: {len(before)}" in table
    assert sorted(a["name"] for a in state["alerts"]) == sorted(a["labels"]["alertname"] for a in before)
    # Every target is up and the thresholds hold: only critical alerts may be problems.
    critical = sorted(
        f"critical alert {a['labels']['alertname']} {a['labels'].get('instance', '')}".rstrip()
        for a in before
        if a["labels"]["severity"] == "critical"
    )
    assert sorted(state["problems"]) == critical
    assert result.rc == (1 if critical else 0)
    assert ("Overall: OK" in table) == (not critical)

    up = prom("/api/v1/query", query="up")["result"]
    by_job: dict[str, int] = {}
    for r in up:
        by_job[r["metric"]["job"]] = by_job.get(r["metric"]["job"], 0) + int(r["value"][1] == "1")
    assert {t["job"]: t["up"] for t in state["tiers"]} == by_job
    assert {h["instance"] for h in state["hosts"]} == set(lab.hosts)
    assert all(h["cpu_percent"] is not None and h["memory_percent"] is not None for h in state["hosts"])
    availability = prom("/api/v1/query", query="avg_over_time(horilla:service_up:probe[30d])")["result"]
    assert state["sla"]["availability_percent"] == pytest.approx(100 * float(availability[0]["value"][1]), abs=0.01)
    assert state["postgres_leader"] is None  # no patroni job in this scenario, and it says so
    assert "PostgreSQL leader: not monitored (no patroni job)" in table


def test_daemon_keeps_the_state_file_fresh(host):
    assert host.service("horilla-monitor").is_running
    state_file = "/var/lib/horilla-ops/monitor-state.json"

    def fresh():
        age = float(host.check_output(f"echo $(( $(date +%s) - $(stat -c %Y {state_file}) ))"))
        return age if age <= 15 else None

    wait_for("a state file younger than 3 check intervals", fresh, timeout=20)
    state = json.loads(host.file(state_file).content_string)
    assert state["ok"] is True and "availability_percent" in state["sla"]


def test_test_alerts_reach_every_configured_channel(host):
    """horilla-test-alerts: here the only channel is the drill's webhook sink."""
    before = len(sink_notifications())
    result = host.run("horilla-test-alerts --timeout 60 --resolve")
    assert result.rc == 0, result.stdout + result.stderr
    assert "webhook" in result.stdout and "delivered" in result.stdout
    assert "msteams" in result.stdout if native_teams(host) else "msteams" not in result.stdout
    received = sink_notifications()[before:]
    severities = {
        a["labels"]["severity"]
        for n in received
        if n["path"] == "/alerts"
        for a in n["payload"]["alerts"]
        if a["labels"]["alertname"] == "HorillaTestAlert"
    }
    assert severities == {"critical", "warning", "info"}


def native_teams(host) -> bool:
    """Alertmanager >= 0.26 (Debian 13) has a Teams receiver; 0.25 goes through the relay."""
    return int(host.check_output("cut -d. -f1 /etc/debian_version")) >= 13


def sink_notifications() -> list[dict]:
    with urllib.request.urlopen(f"http://{mon()}:9099/", timeout=10) as response:
        return [json.loads(line) for line in response.read().decode().splitlines() if line.strip()]


def notification_of(alertname: str, status: str, after: float) -> dict | None:
    """The first Alertmanager webhook notification about alertname in status, received after a time."""
    for n in sink_notifications():
        if n["path"] != "/alerts" or n["received_at"] < after or n["payload"]["status"] != status:
            continue
        for alert in n["payload"]["alerts"]:
            if alert["labels"]["alertname"] == alertname and alert["status"] == status:
                return n
    return None


def test_alert_drill_app_down_is_delivered_and_resolved(host, targets_up):
    app1 = testing.host("app1")
    first_critical: dict[str, float] = {}
    failed_at = time.time()
    app1.run_expect([0], "systemctl stop horilla-app-standin")
    try:
        firing = wait_for(
            "HorillaApplicationDown at the sink",
            lambda: notification_of("HorillaApplicationDown", "firing", failed_at),
            timeout=DELIVERY_CEILING_S + 30,
        )
        delivered_s = firing["received_at"] - failed_at
        for n in sink_notifications():
            if n["path"] == "/alerts" and n["received_at"] >= failed_at and n["payload"]["status"] == "firing":
                for a in n["payload"]["alerts"]:
                    if a["labels"].get("severity") == "critical" and a["labels"]["alertname"] != "HorillaTestAlert":
                        first_critical.setdefault(a["labels"]["alertname"], n["received_at"] - failed_at)
        # Teams got it too: natively, or through the relay on Alertmanager 0.25.
        teams = wait_for(
            "HorillaApplicationDown in a Teams message",
            lambda: [
                n
                for n in sink_notifications()
                if n["path"] == "/teams" and n["received_at"] >= failed_at and "HorillaApplicationDown" in json.dumps(n)
            ],
            timeout=30,
        )
        # A message card: Alertmanager's own (key "type") or the relay's ("@type").
        card = teams[0]["payload"]
        assert "MessageCard" in (card.get("type"), card.get("@type")), card
        # The status command sees the outage too.
        down = host.run("horilla-monitor --status")
        assert down.rc == 1
        assert "horilla on app1 is down" in down.stdout
        assert "critical alert HorillaApplicationDown" in down.stdout
    finally:
        recovered_at = time.time()
        app1.run_expect([0], "systemctl start horilla-app-standin")
    resolved = wait_for(
        "resolved HorillaApplicationDown at the sink",
        lambda: notification_of("HorillaApplicationDown", "resolved", recovered_at),
        timeout=RESOLVED_CEILING_S + 30,
    )
    resolved_s = resolved["received_at"] - recovered_at
    DRILL.update(failed_at=failed_at, recovered_at=recovered_at)

    settings = yaml.safe_load((Path(__file__).parent.parent / "inventory" / "hosts.yml").read_text())
    mon1_vars = settings["all"]["children"]["lab"]["children"]["monitoring"]["hosts"]["mon1"]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "drill": "monitoring: app stopped on app1, HorillaApplicationDown delivered to a webhook sink",
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "debian_version": host.check_output("cat /etc/debian_version"),
                "scrape_interval": mon1_vars["prometheus_scrape_interval"],
                "evaluation_interval": mon1_vars["prometheus_evaluation_interval"],
                "alert_for": "30s",
                "critical_group_wait": mon1_vars["alertmanager_critical_group_wait"],
                "group_interval": mon1_vars["alertmanager_group_interval"],
                "seconds_failure_to_firing_notification": round(delivered_s, 1),
                "seconds_recovery_to_resolved_notification": round(resolved_s, 1),
                "seconds_to_first_notification_per_critical_alert": {
                    k: round(v, 1) for k, v in sorted(first_critical.items(), key=lambda kv: kv[1])
                },
                "target_seconds": 60,
            },
            indent=2,
        )
        + "\n"
    )
    assert delivered_s <= DELIVERY_CEILING_S
    assert resolved_s <= RESOLVED_CEILING_S


def test_sla_report_shows_the_drill_outage(host):
    """horilla-sla-report over the last hour, from the real Prometheus data of this lab."""
    if not DRILL:
        pytest.skip("the drill did not run")
    start = datetime.fromtimestamp(DRILL["failed_at"] - 600, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    workdir = host.check_output("mktemp -d -p /var/tmp")
    host.run_expect([0], f"horilla-sla-report --from {start} --output {workdir}/sla.md")
    host.run_expect([0], f"horilla-sla-report --from {start} --format html --output {workdir}/sla.html")
    markdown = host.file(f"{workdir}/sla.md").content_string
    assert "| Availability | >= 99.99 % |" in markdown and "| NO |" in markdown
    incidents = re.findall(r"^\| (\d+) \| (\S+ \S+) UTC \| (\S+ \S+) UTC \| (.+) \|$", markdown, re.MULTILINE)
    assert len(incidents) == 1, markdown
    began = datetime.strptime(incidents[0][1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    ended = datetime.strptime(incidents[0][2], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    # The SLI sees the outage within a probe and a rule evaluation (5 s each here).
    assert DRILL["failed_at"] - 1 <= began <= DRILL["failed_at"] + 20
    assert DRILL["recovered_at"] - 1 <= ended <= DRILL["recovered_at"] + 20
    assert "| HorillaApplicationDown | critical |" in markdown
    for plot in ("availability", "latency"):
        assert host.file(f"{workdir}/sla-{plot}.svg").content_string.startswith("<svg")
    html = host.file(f"{workdir}/sla.html").content_string
    assert html.count("<svg") == 2 and "HorillaApplicationDown" in html
