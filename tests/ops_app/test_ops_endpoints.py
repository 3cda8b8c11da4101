"""/health/*, /metrics/ and the request id, through the real middleware stack, against a
real PostgreSQL and Redis (stopped and started again where a test needs an outage)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest


def test_health_answers_without_touching_anything(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_live_names_node_and_process(client):
    body = client.get("/health/live/").json()
    assert body == {"status": "alive", "node": "unit-node", "pid": os.getpid()}


def test_probes_pass_any_host_header_and_plain_http(client):
    """HAProxy probes http://<node address>:8000; ALLOWED_HOSTS and the SSL redirect must not apply."""
    assert client.get("/health/ready/", HTTP_HOST="10.9.8.7:8000").status_code == 200
    # The same request to an application page meets upstream's checks as before.
    assert client.get("/", HTTP_HOST="10.9.8.7:8000", secure=True).status_code == 400
    assert client.get("/", HTTP_HOST="testserver").status_code == 301  # DEBUG=False: SSL redirect
    assert client.get("/", secure=True).status_code == 200


def test_ready_reports_every_check_with_latency(client):
    response = client.get("/health/ready/")
    assert response.status_code == 200, response.content
    checks = response.json()["checks"]
    assert set(checks) == {"database", "migrations"}
    assert all(c["ok"] and c["latency_ms"] >= 0 for c in checks.values())


def test_ready_is_503_while_the_database_is_down(client, postgres):
    postgres.stop()
    try:
        response = client.get("/health/ready/")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"]["ok"] is False
        assert "error" in body["checks"]["database"]
        assert client.get("/health/live/").status_code == 200, "liveness must not depend on the database"
    finally:
        postgres.start()
    assert client.get("/health/ready/").status_code == 200


def test_without_its_cache_the_app_stays_ready_serves_and_says_so(client, redis_sentinel):
    """A Redis that does not answer (every node shares it) takes no node out of rotation:
    pages are served as cache misses; /health/detailed/ and /metrics/ report the cache."""
    from django.core.cache import cache

    primary = redis_sentinel.processes[0]
    primary.send_signal(signal.SIGSTOP)  # a hung Redis: connections time out
    try:
        started = time.monotonic()
        assert cache.get("anything") is None  # swallowed, not raised
        cache.set("anything", "value", 30)
        assert time.monotonic() - started < 5, "a cache call must fail fast"
        response = client.get("/health/ready/")
        assert response.status_code == 200, response.content
        assert "cache" not in response.json()["checks"]
        assert client.get("/", secure=True).status_code == 200
        detailed = client.get("/health/detailed/").json()
        assert detailed["checks"]["cache"]["ok"] is False and detailed["status"] == "ready"
        assert 'horilla_health_check_up{check="cache"} 0.0' in client.get("/metrics/").content.decode()
    finally:
        primary.send_signal(signal.SIGCONT)
    assert client.get("/health/ready/").status_code == 200


def test_the_cache_check_of_concurrent_probes_never_fails(django_app, redis_sentinel):
    """Every app node's probes (HAProxy's, Prometheus') run the cache check at once: each
    must round-trip its own key. With one key for the site they overwrote each other."""
    from concurrent.futures import ThreadPoolExecutor

    from horilla_ops.health import checks

    def probe(_):
        failures = 0
        for _ in range(100):
            try:
                checks.check_cache()
            except checks.CheckFailed:
                failures += 1
        return failures

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(probe, range(8))) == 0


def test_ready_is_503_with_unapplied_migrations(client):
    from django.core.management import call_command

    from horilla_ops.health import checks

    call_command("migrate", "jobs", "zero", verbosity=0)
    checks.reset_caches()
    try:
        response = client.get("/health/ready/")
        assert response.status_code == 503
        assert "unapplied migration" in response.json()["checks"]["migrations"]["error"]
    finally:
        call_command("migrate", verbosity=0)
    assert client.get("/health/ready/").status_code == 200


def test_detailed_lists_dependencies_storage_and_scheduler(client):
    body = client.get("/health/detailed/").json()
    assert set(body["checks"]) == {"database", "cache", "migrations", "storage"}
    assert body["checks"]["storage"]["ok"] is True
    assert body["scheduler"] == {"leader": None, "this_node_leads": False}
    assert body["node"] == "unit-node"
    assert body["versions"]["django"].startswith("4.2")


@pytest.mark.parametrize("path", ["/health/detailed/", "/metrics/"])
def test_internal_endpoints_refuse_outside_clients(client, path):
    assert client.get(path, REMOTE_ADDR="203.0.113.9").status_code == 403
    # Through the load balancer (an internal peer) for an outside client: still refused.
    assert client.get(path, REMOTE_ADDR="10.0.0.11", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert client.get(path, REMOTE_ADDR="10.0.0.61").status_code == 200
    assert client.post(path, REMOTE_ADDR="10.0.0.61").status_code == 405


def test_metrics_carry_requests_checks_and_leader(client):
    client.get("/", secure=True)
    body = client.get("/metrics/").content.decode()
    assert "django_http_requests_total_by_method_total" in body
    assert 'horilla_health_check_up{check="database"} 1.0' in body
    assert 'horilla_health_check_up{check="cache"} 1.0' in body
    assert "horilla_scheduler_leader 0.0" in body
    build = next(line for line in body.splitlines() if line.startswith("horilla_build_info{"))
    assert 'app="horilla@unit-test"' in build and 'django="4.2' in build
    assert "django_db_execute_total" in body, "query metrics come from the instrumented DB backend"
    # The latency objective's boundary (horilla:latency_slow:* reads le="2.0").
    assert 'django_http_requests_latency_seconds_by_view_method_bucket{le="2.0"' in body


def log_lines(ops_env: dict[str, str]) -> list[dict]:
    log = Path(ops_env["HORILLA_OPS_LOG_DIR"]) / "app.log"
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_request_id_from_the_proxy_is_returned_and_logged(client, ops_env):
    response = client.get("/", secure=True, HTTP_X_REQUEST_ID="0A1B2C3D:4E5F_61")
    assert response["X-Request-ID"] == "0A1B2C3D:4E5F_61"
    lines = [entry for entry in log_lines(ops_env) if entry.get("request_id") == "0A1B2C3D:4E5F_61"]
    assert lines and lines[-1]["message"] == "request" and lines[-1]["status"] == 200 and lines[-1]["path"] == "/"
    assert {"time", "level", "logger", "duration_ms"} <= lines[-1].keys()


def test_an_invalid_request_id_is_replaced(client):
    response = client.get("/", secure=True, HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>"
    assert len(response["X-Request-ID"]) == 32


def test_a_rotated_log_is_reopened(client, ops_env):
    """logrotate renames the file without copytruncate or a signal: the next line goes to a new file."""
    log = Path(ops_env["HORILLA_OPS_LOG_DIR"]) / "app.log"
    rotated = log.with_name("app.log.1")
    client.get("/", secure=True, HTTP_X_REQUEST_ID="before-rotation")
    log.rename(rotated)
    size = rotated.stat().st_size
    client.get("/", secure=True, HTTP_X_REQUEST_ID="after-rotation")
    assert rotated.stat().st_size == size
    assert "after-rotation" in log.read_text()
    rotated.unlink()


def test_uploads_go_to_the_configured_media_root(django_app, ops_env):
    """The shared media volume of the app nodes (HORILLA_OPS_MEDIA_ROOT), not upstream's BASE_DIR/media."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    name = default_storage.save("uploads/unit.txt", ContentFile(b"unit test media"))
    try:
        assert (Path(ops_env["HORILLA_OPS_MEDIA_ROOT"]) / name).read_bytes() == b"unit test media"
    finally:
        default_storage.delete(name)
