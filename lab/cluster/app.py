"""The app tier: upstream Horilla on the app nodes, through the VIP as its users reach it,
and on each node as HAProxy and Prometheus do."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import time
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import TypeVar

import requests

from lab import testing
from lab.cluster import balancer
from lab.load import SteadyLoad, Summary, horilla_users

T = TypeVar("T")

PORT = 8000
ADMIN = "admin"
COOKIE = "HORILLA_LB"  # HAProxy's persistence cookie (haproxy_app_cookie_name)


def nodes() -> list[str]:
    return testing.names("app")


def url(node: str, path: str) -> str:
    return f"https://{testing.address(node)}:{PORT}{path}"


def node_tls() -> dict:
    """What a client of gunicorn needs (requests' keyword arguments): the node's certificate
    checked against the internal CA, and a certificate of that CA shown (gunicorn answers
    no one without one)."""
    return {"verify": testing.internal_ca_file(), "cert": testing.internal_client_cert()}


# curl on an app node as the node itself, with its own certificate of the internal CA.
TLS_DIR = "/etc/horilla/tls"
CURL = f"curl --cacert {TLS_DIR}/ca.crt --cert {TLS_DIR}/node.crt --key {TLS_DIR}/node.key"


def admin_password() -> str:
    return testing.secret("horilla_admin_password")


def on_node(node: str, command: str) -> str:
    """A shell command on an app node, e.g. curl of its own internal endpoints."""
    return testing.host(node).check_output(command)


def detailed(node: str) -> dict:
    """/health/detailed/ of a node, asked from the node itself (an internal client)."""
    return json.loads(on_node(node, f"{CURL} -s --max-time 10 {url(node, '/health/detailed/')}"))


def scheduled_runs(since: float) -> list[tuple[str, int, str]]:
    """(node, pid, job) of every scheduled job each node's horilla-scheduler logged as run
    since a time (the ops app's guard logs each run: "scheduled job ran")."""
    runs = []
    for name in nodes():
        out = testing.host(name).run("grep -h '\"scheduled job ran\"' /var/log/horilla/app/scheduler.log").stdout
        for line in out.splitlines():
            entry = json.loads(line)
            if datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S%z").timestamp() >= since:
                runs.append((name, int(entry["process"]), entry["job"]))
    return runs


def scheduler_leader() -> str | None:
    """The node whose horilla-scheduler holds the cluster-wide lock (None: none or several)."""
    leaders = [n for n in nodes() if detailed(n)["scheduler"]["this_node_leads"]]
    return leaders[0] if len(leaders) == 1 else None


def session_node(users: SteadyLoad) -> str | None:
    """The app node HAProxy pins the first logged-in user of `users` to (its persistence
    cookie, haproxy_app_cookie_name, names the node)."""
    for client in list(users.clients_made):
        session = getattr(client, "session", None)
        node = session.cookies.get(COOKIE) if session is not None else None
        if node in nodes():
            return node
    return None


@cache
def label(timeout: float = 90) -> str:
    """What the app nodes run, as drill reports record it: horilla@<commit>. Asked of
    any node that answers: a drill may end while one, or all, are still starting (a
    restore restarts them)."""

    def answer() -> str | None:
        for node in nodes():
            with contextlib.suppress(Exception):  # this node is down or starting: ask the next
                return detailed(node)["app"]
        return None

    return testing.wait_for(answer, timeout, "an app node that says what it runs (/health/detailed/)")


# An operator issuing a user's API token (simplejwt's own RefreshToken, signed with the
# site's key) and finding their Employee: upstream's API login refuses anonymous callers.
_ISSUE_API_JWT_CODE = (
    "import json; from django.contrib.auth import get_user_model; "
    "from rest_framework_simplejwt.tokens import RefreshToken; "
    "user = get_user_model().objects.get(username={username!r}); "
    'print(json.dumps({{"access": str(RefreshToken.for_user(user).access_token), "employee": user.employee_get.id}}))'
)


def api_credentials(username: str = ADMIN, node: str | None = None) -> tuple[str, int]:
    """A JWT for the REST API issued on an app node for `username`, and their Employee id."""
    code = _ISSUE_API_JWT_CODE.format(username=username)
    out = on_node(node or nodes()[0], f"horilla-manage shell -c {shlex.quote(code)} 2>/dev/null")
    issued = json.loads(out.strip().splitlines()[-1])
    return issued["access"], int(issued["employee"])


USER_TIMEOUT = 40.0


def journeys(rate: float = 3.0, users: int = 3) -> SteadyLoad:
    """Logged-in users walking the journey of lab.load.HorillaUser through the VIP."""
    # A user waits as long as HAProxy does for an answer (haproxy_app_timeout_server, 35 s):
    # a read the app holds through a database failover is slow, and a failure only if
    # HAProxy gives up on it first.
    clients = horilla_users(
        balancer.https(), ADMIN, admin_password(), api_credentials(), verify=balancer.ca_file(), timeout=USER_TIMEOUT
    )
    return SteadyLoad(clients, rate=rate, workers=users)


def while_users_work(steps: Callable[[], T]) -> tuple[T, Summary, float]:
    """steps() while logged-in users walk their journeys through the VIP (5 s of their load
    before and after): what it returned, what the users saw, and the seconds it all took.
    The day-2 drills' load (test_46, test_49)."""
    users = journeys().start()
    started = time.monotonic()
    try:
        time.sleep(5)
        result = steps()
        time.sleep(5)
    finally:
        users.stop()
    return result, users.summary(), time.monotonic() - started


class Browser:
    """A user's browser with Horilla: through the VIP, or straight to one app node with the
    Host and X-Forwarded-Proto headers HAProxy sends (so upstream's DEBUG=False checks
    pass) and a certificate of the internal CA, as HAProxy shows. Cookies are kept by hand:
    one jar for the VIP and the nodes, whose addresses differ.
    """

    def __init__(self, node: str | None = None) -> None:
        self.node = node
        self.cookies: dict[str, str] = {}

    def _url(self, path: str) -> str:
        return url(self.node, path) if self.node else balancer.https(path)

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        tls = {"verify": balancer.ca_file()}
        if self.node:
            headers.update({"Host": balancer.vip(), "X-Forwarded-Proto": "https"})
            tls = node_tls()
        response = requests.request(
            method,
            self._url(path),
            headers=headers,
            cookies=self.cookies,
            **tls,
            timeout=kwargs.pop("timeout", 30),
            allow_redirects=False,
            **kwargs,
        )
        self.cookies.update(response.cookies.get_dict())
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self._send("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        """A form POST with Django's CSRF token and the Referer a browser sends."""
        headers = {"X-CSRFToken": self.cookies.get("csrftoken", ""), "Referer": balancer.https(path)}
        headers.update(kwargs.pop("headers", {}))
        return self._send("POST", path, headers=headers, **kwargs)

    def login(self, username: str = ADMIN, password: str | None = None) -> Browser:
        form = self.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert form.status_code == 200 and token, f"no login form: {form.status_code}"
        credentials = {"username": username, "password": password or admin_password()}
        answer = self.post("/login/", data={"csrfmiddlewaretoken": token.group(1), **credentials})
        location = answer.headers.get("Location", "")
        assert answer.status_code == 302 and "/login" not in location, f"login refused: {answer.status_code} {location}"
        return self

    def logged_in(self) -> bool:
        """Whether a page that needs a login is served (not a redirect to the login page)."""
        return self.get("/employee/employee-view/").status_code == 200
