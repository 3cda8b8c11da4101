"""The one load generator and recorder of every drill: logged-in users of Horilla.

`SteadyLoad` runs `workers` clients at a fixed total `rate` and records every request:
when it started, how long it took, which step of the journey it was, read or write,
the HTTP status, and whether the user would have seen a failure. Nothing is sampled, so
a drill can say exactly how many requests failed during an event, how long the service
was unavailable (from the first failed request to the next success) and the latency
percentiles, for the whole run or any window of it.

`horilla_users()` makes each worker a real user of upstream Horilla through the VIP:
it logs in through the login form (a session cookie, so HAProxy keeps it on one app
node) and uses a JWT for the REST API, then repeats the journey: the employee list, an
employee's page, a static asset, an API read, and a write (an API department created,
then deleted). The JWT is one an operator issued for the user, as for an integration:
upstream's own API login (POST /api/auth/login/) refuses anonymous callers at the
pinned commit (the API's default permission is IsAuthenticated and LoginAPIView does
not lift it), so no client can obtain a token there. A failure
is what a user would see as one: an answer of 5xx or any status the step does not
expect, a timeout, a connection error, or being sent back to the login page (a lost
session). The worker then logs in again, and that attempt is recorded too.

`http_probe()` is the same for one URL (a simpler client, e.g. a health endpoint), and
the tiers' writers are clients too (lab.cluster.postgres.Writer commits rows,
lab.cluster.cache.Writer sets keys): every operation of every drill, HTTP, SQL or
Redis, is recorded here as an `Outcome` and summed up by `summarize()`.
Only the standard library and `requests` are used.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import requests
import urllib3

READ, WRITE = "read", "write"
# What one attempt of a client gives back: step, kind, ok, status, error.
Attempt = tuple[str, str, bool, int, str]
Client = Callable[[], Attempt]


@dataclass(frozen=True)
class Outcome:
    started: float  # time.monotonic() when the request was sent
    seconds: float  # until the answer (or the error)
    ok: bool
    status: int  # HTTP status, 0 when there was no answer
    error: str = ""
    step: str = ""
    kind: str = READ


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
    writes: int = 0
    failed_writes: int = 0
    steps: dict[str, dict] = field(default_factory=dict)
    # The longest time between two answered requests (a user's longest wait for the
    # site, whatever the requests in between did); 0 with fewer than two answers.
    longest_gap_seconds: float = 0.0
    # The slowest answered read: a read held through an outage is slow, not failed,
    # and this says how slow (0 without answered reads).
    slowest_read_seconds: float = 0.0

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
            "writes": self.writes,
            "failed_writes": self.failed_writes,
            "failed_reads": self.failed - self.failed_writes,
            "longest_gap_s": round(self.longest_gap_seconds, 2),
            "slowest_read_s": round(self.slowest_read_seconds, 2),
            "error_rate": round(self.error_rate, 6),
            "availability_percent": round(100 * self.availability, 4),
            "seconds_unavailable": round(self.unavailable_seconds, 2),
            "outages": [{"seconds": round(o.seconds, 2), "failed_requests": o.failed_requests} for o in self.outages],
            "latency_p50_ms": _ms(self.p50_seconds),
            "latency_p95_ms": _ms(self.p95_seconds),
            "latency_p99_ms": _ms(self.p99_seconds),
            "errors": dict(sorted(self.errors.items(), key=lambda kv: -kv[1])[:5]),
            "steps": self.steps,
        }


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(1000 * seconds, 1)


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
    steps: dict[str, dict] = {}
    for name in sorted({o.step for o in outcomes if o.step}):
        mine = [o for o in outcomes if o.step == name]
        steps[name] = {
            "requests": len(mine),
            "failed": sum(1 for o in mine if not o.ok),
            "latency_p95_ms": _ms(percentile([o.seconds for o in mine if o.ok], 95)),
        }
    writes = [o for o in outcomes if o.kind == WRITE]
    answered = sorted(o.started + o.seconds for o in outcomes if o.ok)
    return Summary(
        requests=len(outcomes),
        failed=sum(1 for o in outcomes if not o.ok),
        unavailable_seconds=sum(o.seconds for o in outages),
        outages=outages,
        p50_seconds=percentile(latencies, 50),
        p95_seconds=percentile(latencies, 95),
        p99_seconds=percentile(latencies, 99),
        errors=errors,
        writes=len(writes),
        failed_writes=sum(1 for o in writes if not o.ok),
        steps=steps,
        longest_gap_seconds=max((b - a for a, b in itertools.pairwise(answered)), default=0.0),
        slowest_read_seconds=max((o.seconds for o in outcomes if o.ok and o.kind == READ), default=0.0),
    )


def _no_insecure_warnings(verify: bool | str) -> None:
    if verify is False:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def http_probe(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    verify: bool | str = True,
    timeout: float = 5.0,
    expect: Callable[[requests.Response], bool] = lambda r: r.status_code == 200,
) -> Callable[[int], Client]:
    """Clients that GET one URL, each on its own keep-alive session; success by `expect`."""
    _no_insecure_warnings(verify)

    def client(_n: int) -> Client:
        session = requests.Session()

        def attempt() -> Attempt:
            nonlocal session
            try:
                response = session.get(url, headers=headers, verify=verify, timeout=timeout, allow_redirects=False)
            except requests.RequestException as exc:
                # A failed connection may leave a dead keep-alive socket behind.
                session.close()
                session = requests.Session()
                return "GET", READ, False, 0, type(exc).__name__
            return "GET", READ, expect(response), response.status_code, ""

        return attempt

    return client


class HorillaUser:
    """One user of upstream Horilla, logged in through the VIP, walking the journey."""

    JOURNEY = ("employee list", "employee page", "static asset", "api read", "api create", "api delete")
    WRITES = frozenset({"api create", "api delete"})

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        api: tuple[str, int],
        *,
        verify: bool | str,
        timeout: float,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.username, self.password = username, password
        self.verify, self.timeout = verify, timeout
        self.session = requests.Session()
        # The user's JWT for the REST API and their Employee id (horilla_users()).
        self.token, self.employee_id = api
        self.created = 0  # the department created by the last "api create", deleted next
        self.position = -1  # -1: log in first

    def __call__(self) -> Attempt:
        if self.position < 0:
            return self._login()
        step = self.JOURNEY[self.position]
        self.position = (self.position + 1) % len(self.JOURNEY)
        try:
            return self._step(step)
        except requests.RequestException as exc:
            self._reset()
            return step, WRITE if step in self.WRITES else READ, False, 0, type(exc).__name__

    def _reset(self) -> None:
        """After a connection error: a fresh connection; the session cookie is kept."""
        cookies = self.session.cookies
        self.session.close()
        self.session = requests.Session()
        self.session.cookies = cookies

    def _get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(
            self.base + path, verify=self.verify, timeout=self.timeout, allow_redirects=False, **kwargs
        )

    def _login(self) -> Attempt:
        """The login form: a session cookie that the pages below must honour."""
        try:
            form = self._get("/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
            if form.status_code != 200 or token is None:
                return "login", READ, False, form.status_code, "" if form.status_code != 200 else "no login form"
            answer = self.session.post(
                f"{self.base}/login/",
                data={"csrfmiddlewaretoken": token.group(1), "username": self.username, "password": self.password},
                headers={"Referer": f"{self.base}/login/"},
                verify=self.verify,
                timeout=self.timeout,
                allow_redirects=False,
            )
            if answer.status_code != 302 or "/login" in answer.headers.get("Location", ""):
                return "login", READ, False, answer.status_code, "login refused"
        except requests.RequestException as exc:
            self._reset()
            return "login", READ, False, 0, type(exc).__name__
        self.position = 0
        return "login", READ, True, 302, ""

    def _page(self, step: str, path: str) -> Attempt:
        response = self._get(path)
        if response.status_code in (301, 302) and "/login" in response.headers.get("Location", ""):
            self.position = -1  # the session is gone: log in again
            return step, READ, False, response.status_code, "sent to the login page"
        return step, READ, response.status_code == 200, response.status_code, ""

    def _step(self, step: str) -> Attempt:
        api = {"Authorization": f"Bearer {self.token}"}
        if step == "employee list":
            return self._page(step, "/employee/employee-view/")
        if step == "employee page":
            return self._page(step, f"/employee/employee-view/{self.employee_id}/")
        if step == "static asset":
            return self._page(step, "/static/build/css/style.min.css")
        if step == "api read":
            response = self._get("/api/base/departments/", headers=api)
            return step, READ, response.status_code == 200, response.status_code, ""
        if step == "api create":
            response = self.session.post(
                f"{self.base}/api/base/departments/",
                json={"department": f"drill-{uuid.uuid4().hex[:12]}"},
                headers=api,
                verify=self.verify,
                timeout=self.timeout,
            )
            self.created = response.json().get("id", 0) if response.status_code == 201 else 0
            return step, WRITE, response.status_code == 201, response.status_code, ""
        if not self.created:  # nothing was created: nothing to delete this round
            return step, WRITE, True, 0, "skipped"
        response = self.session.delete(
            f"{self.base}/api/base/departments/{self.created}/", headers=api, verify=self.verify, timeout=self.timeout
        )
        self.created = 0
        return step, WRITE, response.status_code in (200, 204), response.status_code, ""


def horilla_users(
    base_url: str,
    username: str,
    password: str,
    api: tuple[str, int],
    *,
    verify: bool | str = True,
    timeout: float = 10.0,
) -> Callable[[int], Client]:
    """Clients that are each a logged-in Horilla user walking the journey (HorillaUser);
    `api` is the user's JWT and Employee id."""
    _no_insecure_warnings(verify)
    return lambda _n: HorillaUser(base_url, username, password, api, verify=verify, timeout=timeout)


class SteadyLoad:
    """Runs `workers` clients, `rate` requests per second in all, until stopped.

    Each worker keeps its own schedule and skips the slots it missed instead of
    catching up in a burst, so a stalled backend shows up as failures and latency, not
    as a silent drop in load or a flood afterwards. Use as a context manager;
    `outcomes` holds every request. `duration`: the workers stop by themselves after
    that many seconds (a bound for a recorder a failed test may leave running).
    """

    def __init__(
        self, clients: Callable[[int], Client], rate: float = 5.0, workers: int = 3, duration: float = math.inf
    ) -> None:
        if rate <= 0 or workers <= 0 or duration <= 0:
            raise ValueError("rate, workers and duration must be positive")
        self.clients = clients
        self.interval = workers / rate
        self.rate = rate
        self.workers = workers
        self.duration = duration
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Each worker's client, once made (a drill asks a user where its session lives).
        self.clients_made: list[Client] = []

    def __enter__(self) -> SteadyLoad:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SteadyLoad:
        for n in range(self.workers):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True, name=f"load-{n}")
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stops the workers and waits for them (at most `timeout` s each: a client stuck
        in a call is left to finish on its own)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, n: int) -> None:
        client = self.clients(n)
        with self._lock:
            self.clients_made.append(client)
        deadline = time.monotonic() + self.duration
        # Workers start staggered so the requests are spread evenly over time.
        next_at = time.monotonic() + n * self.interval / self.workers
        while not self._stop.is_set() and time.monotonic() < deadline:
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            started = time.monotonic()
            step, kind, ok, status, error = client()
            if error != "skipped":
                outcome = Outcome(started, time.monotonic() - started, ok, status, error, step, kind)
                with self._lock:
                    self.outcomes.append(outcome)
            next_at = max(next_at + self.interval, time.monotonic())

    def between(self, start: float, end: float) -> list[Outcome]:
        """Requests sent within [start, end) (monotonic clock)."""
        with self._lock:
            return [o for o in self.outcomes if start <= o.started < end]

    def summary(self, start: float = -math.inf, end: float = math.inf) -> Summary:
        return summarize(self.between(start, end))
