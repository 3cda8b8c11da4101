"""The app tier on three nodes: endpoints, readiness with the database down, shared media,
JSON logs and their rotation, one scheduler cluster-wide and its takeover.

The drills (database outage, killing and freezing the scheduler leader) write their
measured figures to reports/drills/horilla.json; they assert only generous ceilings.
The test functions run in file order: the drills come last.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime

import requests

from lab import testing
from lab.state import PROJECT_DIR

testinfra_hosts = testing.hosts("app")

APP_NODES = [h.name for h in testing.lab().group("app")]
PORT = 8000
LEASE_SECONDS = 10  # horilla_scheduler_lease_seconds (the role's default)
REPORT = PROJECT_DIR / "reports" / "drills" / "horilla.json"
PUBLIC = {"X-Forwarded-Proto": "https", "Host": testing.lab().vars["vip"]}


def address(name: str) -> str:
    return testing.lab().host(name).address


def node_name(host) -> str:
    return host.check_output("hostname")


def url(name: str, path: str) -> str:
    return f"http://{address(name)}:{PORT}{path}"


def record(**figures) -> None:
    """Merge figures into the drill report (several tests contribute)."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report.update(figures)
    report.update(
        scenario="horilla",
        debian_release=os.environ.get("LAB_DEBIAN_RELEASE") or "trixie",
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def psql(sql: str) -> str:
    db = testing.host("db1")
    return db.check_output(f"runuser -u postgres -- psql -d horilla -Atc {json.dumps(sql)}")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached within {timeout:.0f} s (last: {last!r})")


def status(name: str, path: str, **kwargs) -> int:
    try:
        return requests.get(url(name, path), timeout=5, **kwargs).status_code
    except requests.RequestException:
        return 0


# --- every node -------------------------------------------------------------------------


def test_gunicorn_and_scheduler_run_and_start_at_boot(host):
    for unit in ("horilla-gunicorn", "horilla-scheduler"):
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit


def test_gunicorn_listens_on_the_internal_address_only(host):
    me = address(node_name(host))
    assert host.socket(f"tcp://{me}:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    assert not host.socket(f"tcp://127.0.0.1:{PORT}").is_listening


def test_every_endpoint_answers_on_every_node(host):
    """From the node itself (an internal address): all five endpoints."""
    me = address(node_name(host))
    for path in ("/health/", "/health/live/", "/health/ready/", "/health/detailed/", "/metrics/"):
        code = host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' http://{me}:{PORT}{path}")
        assert code == "200", path
    ready = json.loads(host.check_output(f"curl -s http://{me}:{PORT}/health/ready/"))
    assert ready["status"] == "ready"
    assert {name for name, check in ready["checks"].items() if check["ok"]} == {"database", "cache", "migrations"}
    detailed = json.loads(host.check_output(f"curl -s http://{me}:{PORT}/health/detailed/"))
    assert detailed["node"] == node_name(host)
    assert detailed["checks"]["storage"]["ok"] is True, "the shared media volume takes a write"
    metrics = host.check_output(f"curl -s http://{me}:{PORT}/metrics/")
    for series in (
        'horilla_health_check_up{check="database"} 1.0',
        'horilla_health_check_up{check="cache"} 1.0',
        "horilla_scheduler_leader ",
        "horilla_build_info{",
    ):
        assert series in metrics, series


def test_internal_endpoints_refuse_clients_outside_the_inventory(host):
    """The test host (the lab's gateway) is no inventory host: it gets the public endpoints only."""
    name = node_name(host)
    assert status(name, "/health/") == 200
    assert status(name, "/health/ready/") == 200
    assert status(name, "/health/detailed/") == 403
    assert status(name, "/metrics/") == 403


def test_pages_keep_upstreams_https_redirect(host):
    name = node_name(host)
    plain = requests.get(url(name, "/"), timeout=5, allow_redirects=False, headers={"Host": PUBLIC["Host"]})
    assert plain.status_code == 301, "DEBUG=False: plain HTTP is redirected, as upstream does"
    assert requests.get(url(name, "/"), timeout=5, headers=PUBLIC).status_code == 200


def test_requests_are_logged_as_json_with_the_proxys_request_id(host):
    name = node_name(host)
    rid = f"molecule-{uuid.uuid4().hex[:12]}"
    response = requests.get(url(name, "/"), timeout=5, headers={**PUBLIC, "X-Request-ID": rid})
    assert response.headers["X-Request-ID"] == rid
    line = wait_until(
        lambda: host.run(f"grep -h '{rid}' /var/log/horilla/app/app.log").stdout.strip(), 10, "the request's log line"
    )
    entry = json.loads(line.splitlines()[-1])
    assert entry["request_id"] == rid
    assert entry["status"] == 200 and entry["path"] == "/" and entry["message"] == "request"


def test_logs_rotate_and_the_app_writes_to_the_new_file(host):
    name = node_name(host)
    log = "/var/log/horilla/app/app.log"
    host.run_expect([0], "logrotate --force /etc/logrotate.d/horilla-app")
    assert host.file(f"{log}.1").exists, "rotated"
    rid = f"after-rotation-{uuid.uuid4().hex[:8]}"
    requests.get(url(name, "/"), timeout=5, headers={**PUBLIC, "X-Request-ID": rid})
    wait_until(lambda: rid in host.file(log).content_string, 10, "a line in the new app.log")
    assert rid not in host.file(f"{log}.1").content_string
    # A second rotation compresses the older file (delaycompress keeps .1 plain).
    host.run_expect([0], "logrotate --force /etc/logrotate.d/horilla-app")
    assert host.file(f"{log}.2.gz").exists


# --- the cluster --------------------------------------------------------------------------


def test_an_upload_through_app1_is_served_by_app3():
    payload = f"uploaded through app1 at {time.time()}".encode()
    name = f"molecule-{uuid.uuid4().hex[:8]}.txt"
    response = requests.post(url("app1", "/upload/"), files={"file": (name, payload)}, headers=PUBLIC, timeout=10)
    assert response.status_code == 201, response.text
    stored = response.json()["name"]
    for node in ("app3", "app2"):
        served = requests.get(url(node, f"/media/{stored}"), headers=PUBLIC, timeout=10)
        assert served.status_code == 200, node
        assert served.content == payload, node
    # The bytes are on the GlusterFS volume: a brick on every server holds a replica.
    for node in APP_NODES:
        assert testing.host(node).file(f"/srv/glusterfs/horilla-media/{stored}").content == payload


def leader_nodes() -> list[str]:
    """Nodes whose /metrics/ say they hold the scheduler lock (scraped from inside each node)."""
    leaders = []
    for node in APP_NODES:
        probe = testing.host(node).run(f"curl -s --max-time 5 http://{address(node)}:{PORT}/metrics/")
        if probe.rc == 0 and "horilla_scheduler_leader 1.0" in probe.stdout:
            leaders.append(node)
    return leaders


def job_runs_since(epoch: float) -> list[tuple[str, int, float]]:
    query = (
        "SELECT node, pid, extract(epoch from ran_at) FROM standin_jobrun"
        " WHERE ran_at > to_timestamp({}) ORDER BY ran_at"
    )
    rows = psql(query.format(float(epoch)))
    return [(n, int(p), float(t)) for n, p, t in (r.split("|") for r in rows.splitlines() if r)]


def test_scheduled_jobs_run_on_exactly_one_node():
    leader = wait_until(lambda: leader_nodes() if len(leader_nodes()) == 1 else None, 60, "exactly one leader")[0]
    since = time.time()
    time.sleep(8)  # four runs of the stand-in's 2-second job
    runs = job_runs_since(since)
    assert len(runs) >= 3, runs
    assert {(node, pid) for node, pid, _ in runs} == {
        (leader, int(testing.host(leader).check_output("systemctl show -p MainPID --value horilla-scheduler")))
    }, "every run came from the leader's horilla-scheduler process, none from a gunicorn worker"
    assert leader_nodes() == [leader]


# --- drills (they disturb the cluster; they run last) -------------------------------------


def test_ready_turns_503_while_the_database_is_down_and_200_after():
    db = testing.host("db1")
    db.run_expect([0], "systemctl stop postgresql")
    stopped = time.monotonic()
    try:
        for node in APP_NODES:
            wait_until(lambda n=node: status(n, "/health/ready/") == 503, 30, f"{node} not ready")
            assert status(node, "/health/live/") == 200, "liveness does not depend on the database"
            assert status(node, "/health/") == 200
        unready_seconds = time.monotonic() - stopped
    finally:
        db.run_expect([0], "systemctl start postgresql")
    started = time.monotonic()
    for node in APP_NODES:
        wait_until(lambda n=node: status(n, "/health/ready/") == 200, 60, f"{node} ready again")
    recovery = time.monotonic() - started
    record(
        db_outage_all_nodes_unready_seconds=round(unready_seconds, 2),
        db_back_all_nodes_ready_seconds=round(recovery, 2),
    )
    assert recovery < 60


def first_run_elsewhere(since: float, old: str) -> tuple[str, float]:
    runs = [(n, t) for n, _, t in job_runs_since(since) if n != old]
    return runs[0] if runs else None


def test_killing_the_leader_moves_the_jobs_to_another_node():
    leader = wait_until(lambda: leader_nodes() if len(leader_nodes()) == 1 else None, 60, "exactly one leader")[0]
    wait_until(lambda: job_runs_since(time.time() - 5), 30, "jobs running before the drill")
    testing.kill(leader)
    # Taken once `docker kill` has returned: the node may still finish a job while the
    # kill is on its way (a busy machine takes seconds for it), and that run is no fault.
    killed_at = time.time()
    try:
        new_node, first_run = wait_until(lambda: first_run_elsewhere(killed_at, leader), 90, "a job on another node")
        takeover = first_run - killed_at
        assert not [n for n, _, t in job_runs_since(killed_at) if n == leader], "the killed node ran nothing"
        assert leader_nodes() == [new_node]
        record(kill_leader_node=leader, kill_new_leader=new_node, kill_takeover_seconds=round(takeover, 2))
        assert takeover < 60
    finally:
        testing.start(leader)
    # The killed node comes back by itself: media mounted at boot, ready, a follower.
    wait_until(lambda: status(leader, "/health/ready/") == 200, 120, f"{leader} ready after restart")
    assert testing.host(leader).file("/var/lib/horilla/media").is_directory
    assert testing.host(leader).run("findmnt -n -t fuse.glusterfs /var/lib/horilla/media").rc == 0
    assert leader_nodes() == [new_node], "the restarted node does not take the lock back"


def test_a_frozen_leader_is_evicted_after_its_lease_and_fences_itself():
    """docker pause freezes the leader: its TCP session to PostgreSQL stays open, so only
    the lease can tell. Another node must evict it and run the jobs; once thawed, the old
    leader must stop at once without running a job."""
    leader = wait_until(lambda: leader_nodes() if len(leader_nodes()) == 1 else None, 60, "exactly one leader")[0]
    container = testing.lab().host(leader).container
    frozen_at = time.time()
    testing.docker("pause", container)
    try:
        new_node, first_run = wait_until(lambda: first_run_elsewhere(frozen_at, leader), 120, "eviction")
        takeover = first_run - frozen_at
    finally:
        testing.docker("unpause", container)
    thawed_at = time.time()
    host = testing.host(leader)
    exits = f"journalctl -u horilla-scheduler --since @{int(thawed_at) - 1} -q --no-pager | grep -c 'status=75' || true"
    wait_until(lambda: int(host.check_output(exits) or 0) > 0, 60, "the thawed leader exits with status 75")
    late = [t for n, _, t in job_runs_since(first_run) if n == leader]
    assert not late, f"the evicted leader ran jobs after the takeover: {late}"
    assert leader_nodes() == [new_node]
    record(
        freeze_leader_node=leader,
        freeze_new_leader=new_node,
        freeze_takeover_seconds=round(takeover, 2),
        scheduler_lease_seconds=LEASE_SECONDS,
    )
    assert takeover < LEASE_SECONDS + 30
