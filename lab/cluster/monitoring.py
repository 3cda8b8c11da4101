"""The monitoring tier: Prometheus' and Alertmanager's APIs on the monitoring host, and
a webhook sink on the machine running the tests (at the lab network's gateway) that
keeps every notification Alertmanager delivers to it."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from horilla_ops.monitoring.promapi import Prometheus, PrometheusError
from lab import testing

SINK_PORT = 9099


def host() -> str:
    return testing.names("monitoring")[0]


def get_json(url: str, timeout: float = 10) -> dict | list:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (a lab address)
        return json.load(response)


def post_json(url: str, payload: object, timeout: float = 10) -> None:
    request = urllib.request.Request(  # noqa: S310 (a lab address)
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    urllib.request.urlopen(request, timeout=timeout).close()  # noqa: S310 (a lab address)


def prometheus() -> Prometheus:
    """The monitoring host's Prometheus, through the project's one client."""
    return Prometheus(f"http://{testing.address(host())}:9090")


def prom(path: str, **params: str) -> dict:
    """The `data` of a Prometheus API path (PrometheusError when refused or unreachable)."""
    return prometheus().api(path, params or None)


def alertmanager(path: str) -> dict | list:
    return get_json(f"http://{testing.address(host())}:9093{path}")


def query(expr: str) -> list[dict]:
    return prom("/api/v1/query", query=expr)["result"]


# Prometheus jobs with one target per host of an inventory group (roles/prometheus).
JOBS = {
    "node": "all",
    "postgres": "postgres",
    "patroni": "postgres",
    "etcd": "etcd",
    "redis": "redis",
    "haproxy": "loadbalancers",
    "horilla": "app",
    "elasticsearch": "elasticsearch",
    "alertmanager": "monitoring",
    "prometheus": "monitoring",
}


def expected_targets() -> set[tuple[str, str]]:
    return {(job, name) for job, group in JOBS.items() for name in testing.names(group)}


def targets_down() -> list[str] | None:
    """Scrape targets not up (job/instance); None while an expected target is missing."""
    active = prom("/api/v1/targets", state="active")["activeTargets"]
    seen = {(t["labels"]["job"], t["labels"]["instance"]) for t in active}
    if not expected_targets() <= seen:
        return None
    return sorted(f"{t['labels']['job']}/{t['labels']['instance']}" for t in active if t["health"] != "up")


def healthy() -> bool:
    try:
        return targets_down() == []
    except (OSError, PrometheusError):
        return False


def firing_alerts() -> list[dict]:
    """Alerts firing in Prometheus, except the always-on Watchdog."""
    alerts = prom("/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["state"] == "firing" and a["labels"]["alertname"] != "Watchdog"]


@dataclass
class Notification:
    received_at: float  # time.time()
    path: str  # /alerts, /watchdog, /teams...
    payload: dict


@dataclass
class Sink:
    """An HTTP server on the lab network's gateway that keeps every webhook notification."""

    host: str
    port: int = SINK_PORT
    received: list[Notification] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Sink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received_at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body)
                except ValueError:
                    self.send_error(400)
                    return
                with sink._lock:
                    sink.received.append(Notification(received_at, self.path, payload))
                self.send_response(200)
                self.end_headers()

            def log_message(self, fmt: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="webhook-sink").start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def notifications(self, after: float = 0.0, path: str | None = None) -> list[Notification]:
        with self._lock:
            return [n for n in self.received if n.received_at >= after and (path is None or n.path == path)]

    def alerts(self, after: float) -> list[tuple[float, dict]]:
        """(received_at, alert) of every alert in every notification received after a time."""
        return [(n.received_at, a) for n in self.notifications(after) for a in n.payload.get("alerts", [])]

    def heartbeats(self, alertname: str = "Watchdog") -> list[float]:
        """When each notification carrying alertname (firing) arrived: the dead man's switch."""
        return [
            n.received_at
            for n in self.notifications()
            if any(
                a["labels"].get("alertname") == alertname and a["status"] == "firing"
                for a in n.payload.get("alerts", [])
            )
        ]

    def first(self, alertname: str, status: str, after: float, instance: str | None = None) -> float | None:
        """When the first notification of alertname in status (for instance) arrived after a time."""
        for received_at, alert in self.alerts(after):
            labels = alert["labels"]
            if (
                labels.get("alertname") == alertname
                and alert["status"] == status
                and (instance is None or labels.get("instance") == instance)
            ):
                return received_at
        return None


def gateway() -> str:
    """The lab network's gateway: the machine running the tests, as the containers see it."""
    return testing.address(host()).rsplit(".", 1)[0] + ".1"
