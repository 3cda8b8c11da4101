"""The drills' load generator: counting, outages and percentiles, against a real server."""

from __future__ import annotations

import collections
import http.server
import threading
import time
from typing import ClassVar

import pytest

from lab.load import WRITE, Outcome, SteadyLoad, http_probe, percentile, summarize


def outcome(at: float, ok: bool = True, seconds: float = 0.01) -> Outcome:
    return Outcome(started=at, seconds=seconds, ok=ok, status=200 if ok else 503)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 95) == 3.0


def test_outage_runs_from_first_failure_to_next_success() -> None:
    outcomes = [outcome(0.0), outcome(1.0, ok=False), outcome(1.5, ok=False), outcome(3.0), outcome(4.0)]
    summary = summarize(outcomes)
    assert summary.requests == 5
    assert summary.failed == 2
    assert [(o.started, o.ended, o.failed_requests) for o in summary.outages] == [(1.0, 3.0, 2)]
    assert summary.unavailable_seconds == pytest.approx(2.0)
    assert summary.error_rate == pytest.approx(0.4)
    assert summary.errors == {"HTTP 503": 2}


def test_the_longest_gap_is_between_answers_and_failed_reads_exclude_writes() -> None:
    """A slow answer is a gap too: the user waited, though nothing failed."""
    write_failed = Outcome(started=1.0, seconds=0.01, ok=False, status=503, kind=WRITE)
    outcomes = [outcome(0.0), write_failed, outcome(1.5, ok=False), outcome(2.0, seconds=6.0), outcome(9.0)]
    summary = summarize(outcomes).as_dict()
    assert summary["longest_gap_s"] == pytest.approx(7.99)  # 0.01 -> 8.0 (the slow answer)
    assert (summary["failed_requests"], summary["failed_writes"], summary["failed_reads"]) == (2, 1, 1)
    assert summarize([outcome(0.0)]).longest_gap_seconds == 0.0


def test_the_slowest_read_counts_answered_reads_only() -> None:
    """A read held through a database failover is slow, not failed: its wait is reported."""
    slow_write = Outcome(started=0.5, seconds=20.0, ok=True, status=201, kind=WRITE)
    failed_read = Outcome(started=1.0, seconds=30.0, ok=False, status=0, error="ReadTimeout")
    outcomes = [outcome(0.0), slow_write, failed_read, outcome(2.0, seconds=12.5), outcome(3.0)]
    assert summarize(outcomes).as_dict()["slowest_read_s"] == pytest.approx(12.5)
    assert summarize([]).slowest_read_seconds == 0.0


def test_outage_still_open_at_the_end_counts_until_the_last_answer() -> None:
    summary = summarize([outcome(0.0), outcome(1.0, ok=False), outcome(2.0, ok=False, seconds=0.5)])
    assert len(summary.outages) == 1
    assert summary.unavailable_seconds == pytest.approx(1.5)


def test_latency_percentiles_use_successful_requests_only() -> None:
    outcomes = [outcome(float(i), seconds=0.1) for i in range(19)] + [outcome(19.0, ok=False, seconds=9.0)]
    summary = summarize(outcomes)
    assert summary.p95_seconds == pytest.approx(0.1)
    assert summary.as_dict()["latency_p95_ms"] == pytest.approx(100.0)


class _Handler(http.server.BaseHTTPRequestHandler):
    failing = threading.Event()
    answered: ClassVar[collections.Counter] = collections.Counter()  # status -> answers sent

    def do_GET(self) -> None:
        status = 503 if self.failing.is_set() else 200
        self.answered[status] += 1
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.failing.clear()
    _Handler.answered.clear()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def wait_for_answers(status: int, count: int, ceiling: float = 20.0) -> None:
    """Until the server has sent `count` answers of `status`: the outage and the recovery
    last a number of requests, not a number of seconds, so a busy machine (CI runs this
    beside the whole-site scenario) slows the test down instead of failing it."""
    deadline = time.monotonic() + ceiling
    while _Handler.answered[status] < count:
        assert time.monotonic() < deadline, f"{count} answers {status} not sent within {ceiling} s"
        time.sleep(0.02)


def test_steady_load_counts_every_request_and_the_outage(server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    started = time.monotonic()
    with SteadyLoad(http_probe(url), rate=50, workers=2) as load:
        wait_for_answers(200, 20)
        _Handler.failing.set()
        outage_start = time.monotonic()
        wait_for_answers(503, 15)
        _Handler.failing.clear()
        outage_end = time.monotonic()
        wait_for_answers(200, _Handler.answered[200] + 20)
    elapsed = time.monotonic() - started
    summary = load.summary()
    # Every answer the server sent is counted, each failure as one, and never faster than the rate.
    assert summary.requests == sum(_Handler.answered.values())
    assert summary.failed == _Handler.answered[503] >= 15
    assert summary.requests <= 50 * elapsed + 2
    assert len(summary.outages) == 1
    assert 0 < summary.unavailable_seconds <= outage_end - outage_start + 2.0
    during = load.summary(outage_start, outage_end)
    assert during.failed == during.requests - sum(1 for o in load.between(outage_start, outage_end) if o.ok)
    assert load.summary(outage_end + 0.2).failed == 0


def test_connection_refused_is_a_failure_not_a_crash() -> None:
    with SteadyLoad(http_probe("http://127.0.0.1:9/", timeout=0.5), rate=20, workers=1) as load:
        time.sleep(0.3)
    summary = load.summary()
    assert summary.requests >= 2
    assert summary.failed == summary.requests
    assert "ConnectionError" in summary.errors


class _FakeHorilla(http.server.BaseHTTPRequestHandler):
    """Just enough of Horilla's interface for lab.load.HorillaUser: the login form, pages
    that need the session, and the API (which needs the user's JWT, "jwt" here): a read,
    a department created and deleted. `lost_sessions` makes every page send the user
    back to the login page."""

    lost_sessions = threading.Event()
    logins = 0

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refused_api(self) -> bool:
        if self.path.startswith("/api/") and self.headers.get("Authorization") != "Bearer jwt":
            self._send(403, b'{"detail": "Authentication credentials were not provided."}')
            return True
        return False

    def do_GET(self) -> None:
        if self._refused_api():
            return
        if self.path == "/login/":
            self._send(200, b'<input name="csrfmiddlewaretoken" value="tok">')
        elif self.lost_sessions.is_set() and not self.path.startswith(("/static/", "/api/")):
            self._send(302, headers={"Location": "/login/?next=" + self.path})
        else:
            self._send(200, b"{}")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self._refused_api():
            return
        if self.path == "/login/":
            type(self).logins += 1
            self.lost_sessions.clear()
            self._send(302, headers={"Location": "/"})
        else:
            self._send(201, b'{"id": 7}')

    def do_DELETE(self) -> None:
        if not self._refused_api():
            self._send(204)

    def log_message(self, *args: object) -> None:
        pass


def test_horilla_users_walk_the_journey_and_count_a_lost_session() -> None:
    from lab.load import HorillaUser, horilla_users

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHorilla)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        with SteadyLoad(horilla_users(base, "admin", "pw", ("jwt", 1), verify=False), rate=40, workers=2) as load:
            time.sleep(0.6)
            _FakeHorilla.lost_sessions.set()
            time.sleep(0.6)
    finally:
        httpd.shutdown()
        httpd.server_close()
    summary = load.summary()
    steps = summary.steps
    assert set(HorillaUser.JOURNEY) | {"login"} == set(steps)
    assert steps["api read"]["failed"] == steps["api create"]["failed"] == 0 and summary.writes >= 2
    assert all(o.kind == WRITE for o in load.outcomes if o.step in ("api create", "api delete"))
    # A page answered with the login page is a failure, and the user logs in again.
    assert summary.errors.get("sent to the login page", 0) >= 1
    assert _FakeHorilla.logins >= 3


def test_a_writer_client_is_recorded_like_requests_and_stops_by_itself() -> None:
    """The tiers' writers (lab.cluster.postgres/cache) are SteadyLoad clients: their
    failed attempts make outages like users' requests, and `duration` bounds them."""
    calls = {"n": 0}

    def commits():
        calls["n"] += 1
        ok = not 5 <= calls["n"] <= 8  # four attempts in a row fail, as in a failover
        return "sql commit", WRITE, ok, 0, "" if ok else "OperationalError"

    load = SteadyLoad(lambda _n: commits, rate=50, workers=1, duration=0.5).start()
    time.sleep(1.0)
    load.stop(timeout=5)
    summary = load.summary()
    assert 15 <= summary.requests <= 30, summary.requests  # 0.5 s at 50/s, then it stopped alone
    assert summary.failed == 4 and summary.writes == summary.requests
    assert len(summary.outages) == 1 and summary.outages[0].failed_requests == 4
    assert summary.errors == {"OperationalError": 4}
