"""A steady load generator for drills: every request counted, every failure kept.

Drills (losing an app node, the active load balancer, the database leader...) run while
`SteadyLoad` sends requests at a fixed rate from a few threads and records each one:
when it started, how long it took, and whether it succeeded. Nothing is sampled, so a
drill can say exactly how many requests failed during an event, how long the service
was unavailable (from the first failed request to the next success), and the latency
percentiles over the whole run.

Only the standard library and `requests` are used, so a scenario's tests can import it
from the project directory (`from lab.load import SteadyLoad`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import requests
import urllib3


@dataclass(frozen=True)
class Outcome:
    started: float  # time.monotonic() when the request was sent
    seconds: float  # until the answer (or the error)
    ok: bool
    status: int  # HTTP status, 0 when there was no answer
    error: str = ""


@dataclass(frozen=True)
class Outage:
    """Consecutive failed requests: from the first failure to the next success."""

    started: float
    ended: float
    failed_requests: int

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def percentile(values: Iterable[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which pct % of the values lie)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Summary:
    requests: int
    failed: int
    unavailable_seconds: float
    outages: list[Outage]
    p50_seconds: float
    p95_seconds: float
    p99_seconds: float
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    @property
    def availability(self) -> float:
        return 1.0 - self.error_rate

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "failed_requests": self.failed,
            "error_rate": round(self.error_rate, 6),
            "availability_percent": round(100 * self.availability, 4),
            "seconds_unavailable": round(self.unavailable_seconds, 2),
            "outages": [{"seconds": round(o.seconds, 2), "failed_requests": o.failed_requests} for o in self.outages],
            "latency_p50_ms": round(1000 * self.p50_seconds, 1),
            "latency_p95_ms": round(1000 * self.p95_seconds, 1),
            "latency_p99_ms": round(1000 * self.p99_seconds, 1),
            "errors": dict(sorted(self.errors.items(), key=lambda kv: -kv[1])[:5]),
        }


def summarize(outcomes: list[Outcome]) -> Summary:
    """Counts, outages and latency percentiles of outcomes ordered by start time."""
    outcomes = sorted(outcomes, key=lambda o: o.started)
    outages: list[Outage] = []
    first_failure: Outcome | None = None
    failed_in_row = 0
    errors: dict[str, int] = {}
    for outcome in outcomes:
        if not outcome.ok:
            reason = outcome.error or f"HTTP {outcome.status}"
            errors[reason] = errors.get(reason, 0) + 1
            if first_failure is None:
                first_failure = outcome
            failed_in_row += 1
        elif first_failure is not None:
            outages.append(Outage(first_failure.started, outcome.started, failed_in_row))
            first_failure, failed_in_row = None, 0
    if first_failure is not None:  # still failing at the end of the window
        last = outcomes[-1]
        outages.append(Outage(first_failure.started, last.started + last.seconds, failed_in_row))
    latencies = [o.seconds for o in outcomes if o.ok]
    return Summary(
        requests=len(outcomes),
        failed=sum(1 for o in outcomes if not o.ok),
        unavailable_seconds=sum(o.seconds for o in outages),
        outages=outages,
        p50_seconds=percentile(latencies, 50),
        p95_seconds=percentile(latencies, 95),
        p99_seconds=percentile(latencies, 99),
        errors=errors,
    )


def http_probe(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    verify: bool | str = True,
    timeout: float = 5.0,
    expect: Callable[[requests.Response], bool] = lambda r: r.status_code < 500,
) -> Callable[[requests.Session], tuple[bool, int, str]]:
    """A request function for SteadyLoad: GET url, success decided by `expect`.

    The default treats any answer below 500 as served (a 429 from the rate limiter or a
    302 to the login page is the application answering); pass `expect` to be stricter.
    """
    if verify is False:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def probe(session: requests.Session) -> tuple[bool, int, str]:
        try:
            response = session.get(url, headers=headers, verify=verify, timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            return False, 0, type(exc).__name__
        return expect(response), response.status_code, ""

    return probe


class SteadyLoad:
    """Sends `rate` requests per second, spread over `workers` threads, until stopped.

    Each worker keeps its own schedule (no burst to catch up after a slow request), so
    a stalled backend shows up as failures and latency, not as a silent drop in load.
    Use as a context manager; `outcomes` holds every request.
    """

    def __init__(
        self,
        probe: Callable[[requests.Session], tuple[bool, int, str]],
        rate: float = 20.0,
        workers: int = 4,
    ) -> None:
        if rate <= 0 or workers <= 0:
            raise ValueError("rate and workers must be positive")
        self.probe = probe
        self.interval = workers / rate
        self.workers = workers
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> SteadyLoad:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for n in range(self.workers):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True, name=f"load-{n}")
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, n: int) -> None:
        session = requests.Session()
        # Workers start staggered so the requests are spread evenly over time.
        next_at = time.monotonic() + n * self.interval / self.workers
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            started = time.monotonic()
            ok, status, error = self.probe(session)
            outcome = Outcome(started, time.monotonic() - started, ok, status, error)
            with self._lock:
                self.outcomes.append(outcome)
            if not ok:
                # A failed connection may leave a dead keep-alive socket behind.
                session.close()
                session = requests.Session()
            next_at = max(next_at + self.interval, time.monotonic())

    def between(self, start: float, end: float) -> list[Outcome]:
        """Requests sent within [start, end) (monotonic clock)."""
        with self._lock:
            return [o for o in self.outcomes if start <= o.started < end]

    def summary(self, start: float = -math.inf, end: float = math.inf) -> Summary:
        return summarize(self.between(start, end))
