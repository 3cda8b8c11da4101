"""What the cluster scenario's tests share: the tiers' own helpers pointed at this lab
(inventory/lab's secrets), Prometheus' API on mon1, the health of every tier, a webhook
sink for Alertmanager on the machine that runs the tests, and the steady load through
the VIP (lab/load.py)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import lbdrill
import pgcluster
import redis
import redis_lab
import requests

from lab import testing
from lab.load import SteadyLoad, http_probe
from lab.state import PROJECT_DIR

SCENARIO = Path(__file__).resolve().parent.parent
# The scenario converges inventory/lab itself, so its secrets are the lab's.
SECRETS = PROJECT_DIR / "inventory" / "lab" / ".secrets"
INVENTORIES = (PROJECT_DIR / "inventory" / "lab", SCENARIO / "drill-settings")
# Alertmanager on mon1 posts every alert here (drill-settings/hosts.yml).
SINK_PORT = 9099
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


def secret(name: str) -> str:
    return (SECRETS / name).read_text().split()[0]


# The tiers' helpers read their own scenario's secrets; here they are the lab's.
pgcluster.secret = secret
redis_lab.password = lambda: secret("redis_password")

wait_for = lbdrill.wait_for
vip_holders = lbdrill.vip_holders
all_up = lbdrill.all_up
server_states = lbdrill.server_states
https = lbdrill.https
ca_file = lbdrill.ca_file


def group(name: str) -> list[str]:
    return [h.name for h in testing.lab().group(name)] if name != "all" else list(testing.lab().hosts)


def address(name: str) -> str:
    return testing.lab().host(name).address


def gateway() -> str:
    """The lab network's gateway: the machine running the tests, as the containers see it."""
    return address("mon1").rsplit(".", 1)[0] + ".1"


# Prometheus and Alertmanager on mon1 ------------------------------------------------


def get_json(url: str, timeout: float = 5) -> dict | list:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (lab address)
        return json.load(response)


def prom(path: str, **params: str) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    body = get_json(f"http://{address('mon1')}:9090{path}{query}")
    assert body["status"] == "success", body
    return body["data"]


def expected_targets() -> set[tuple[str, str]]:
    return {(job, host) for job, grp in JOBS.items() for host in group(grp)}


def targets_down() -> list[str] | None:
    """Scrape targets not up (job/instance); None when an expected target is missing."""
    active = prom("/api/v1/targets", state="active")["activeTargets"]
    seen = {(t["labels"]["job"], t["labels"]["instance"]) for t in active}
    if not expected_targets() <= seen:
        return None
    return sorted(f"{t['labels']['job']}/{t['labels']['instance']}" for t in active if t["health"] != "up")


def firing_alerts() -> list[dict]:
    """Alerts firing in Prometheus, except the always-on Watchdog."""
    alerts = prom("/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["state"] == "firing" and a["labels"]["alertname"] != "Watchdog"]


# The health of each tier ---------------------------------------------------------------


def postgres_healthy() -> bool:
    """One running leader and every other member streaming from it."""
    try:
        members = pgcluster.members()
    except ConnectionError:
        return False
    roles = [m["role"] for m in members.values()]
    return (
        len(members) == len(group("postgres"))
        and roles.count("leader") == 1
        and all(m["state"] in ("running", "streaming") for m in members.values())
    )


def redis_primary() -> str | None:
    try:
        return redis_lab.primary()
    except AssertionError:
        return None


def redis_healthy() -> bool:
    primary = redis_primary()
    if primary is None or any(v != primary for v in redis_lab.sentinel_views().values()):
        return False
    try:
        return redis_lab.server(primary).info("replication")["connected_slaves"] == len(group("redis")) - 1
    except (redis.RedisError, OSError):
        return False


def es(path: str, node: str | None = None, timeout: float = 10) -> dict | list:
    """GET from the first Elasticsearch node that answers, as the `elastic` user."""
    last: Exception | None = None
    for name in [node] if node else group("elasticsearch"):
        try:
            response = requests.get(
                f"https://{address(name)}:9200/{path}",
                auth=("elastic", secret("elasticsearch_elastic_password")),
                verify=str(SECRETS / "elasticsearch-ca" / "ca.crt"),
                timeout=timeout,
            )
            response.raise_for_status()
            return response.json()
        except requests.RequestException as exc:
            last = exc
    raise ConnectionError(f"no Elasticsearch node answered {path}: {last}")


def es_master() -> str | None:
    try:
        return es("_cat/master?format=json")[0]["node"]
    except (ConnectionError, IndexError, KeyError):
        return None


def es_green() -> bool:
    try:
        health = es("_cluster/health")
    except ConnectionError:
        return False
    return health["status"] == "green" and health["number_of_nodes"] == len(group("elasticsearch"))


def lbs_healthy() -> bool:
    return len(vip_holders()) == 1 and all(all_up(lb) for lb in group("loadbalancers"))


def monitoring_healthy() -> bool:
    try:
        return targets_down() == []
    except OSError:
        return False


CHECKS: dict[str, Callable[[], bool]] = {
    "load balancers (one VIP holder, every app node UP)": lbs_healthy,
    "postgres (a leader, replicas streaming)": postgres_healthy,
    "redis (a primary, replicas, Sentinels agree)": redis_healthy,
    "elasticsearch (green, every node)": es_green,
    "monitoring (every target up)": monitoring_healthy,
}


def unhealthy() -> list[str]:
    """The tiers not (yet) healthy; an empty list when the whole site is."""
    out = []
    for what, check in CHECKS.items():
        try:
            ok = check()
        except Exception:  # a container mid-restart
            ok = False
        if not ok:
            out.append(what)
    return out


def wait_until_healthy(timeout: float) -> float:
    """Seconds until every tier is healthy; fails naming the tiers that are not."""
    started = time.monotonic()
    last: list[str] = []
    while time.monotonic() - started < timeout:
        last = unhealthy()
        if not last:
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"not healthy within {timeout:.0f} s: {last}")


# Alertmanager's webhook sink -------------------------------------------------------------


@dataclass
class Notification:
    received_at: float  # time.time()
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
                    sink.received.append(Notification(received_at, payload))
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

    def alerts(self, after: float) -> list[tuple[float, dict]]:
        """(received_at, alert) of every alert in every notification received after a time."""
        with self._lock:
            return [
                (n.received_at, a) for n in self.received if n.received_at >= after for a in n.payload.get("alerts", [])
            ]

    def heartbeats(self, alertname: str = "Watchdog") -> list[float]:
        """When each notification carrying alertname (firing) arrived: the dead man's switch."""
        with self._lock:
            return [
                n.received_at
                for n in self.received
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


# Load and operations ------------------------------------------------------------------------


def steady_load(rate: float = 10.0, workers: int = 4) -> SteadyLoad:
    """GET /health/ready/ through the VIP: HTTPS to HAProxy, an app node, and from it the
    database through :5000 and the cache through Sentinel. Only a 200 counts as served."""
    probe = http_probe(
        https("/health/ready/"), verify=ca_file(), timeout=10, expect=lambda response: response.status_code == 200
    )
    return SteadyLoad(probe, rate=rate, workers=workers)


def ansible_playbook(playbook: str, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """One of the project's playbooks against this lab, with the scenario's inventories."""
    return lbdrill.ansible_playbook(playbook, *args, timeout=timeout, inventories=INVENTORIES)
