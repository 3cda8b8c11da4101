"""The monitoring tier: Prometheus' and Alertmanager's APIs on the monitoring host, and
the webhook sink (lab/webhook_sink.py, a container of its own on the lab network) that
keeps every notification Alertmanager delivers to it, over HTTP and SMTP."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime

import requests
import yaml

from horilla_ops.monitoring.promapi import Prometheus, PrometheusError
from lab import testing
from lab.state import PROJECT_DIR

SINK_PORT = 9099
SINK_OCTET = 254  # molecule/cluster/drill-settings: lab_webhook_sink_octet

# Where each webhook channel's notification carries its title, by the sink's path
# (drill-settings/hosts.yml), as Alertmanager sends it (prometheus/alertmanager,
# notify/slack/slack.go, notify/discord/discord.go, notify/pagerduty/pagerduty.go).
TITLES = {
    "/slack": lambda payload: [a["title"] for a in payload["attachments"]],
    "/discord": lambda payload: [e["title"] for e in payload["embeds"]],
    "/pagerduty": lambda payload: [payload["payload"]["summary"]],
}


def host() -> str:
    return testing.names("monitoring")[0]


# Prometheus and Alertmanager serve https to authenticated users only (issue 23): the
# tests ask as the operators' commands do, the user monitoring_api_user (its default).
API_USER = "horilla-ops"


def _request(method: str, url: str, timeout: float, payload: object = None) -> requests.Response:
    """https (Prometheus, Alertmanager): the internal CA checked, the API user's basic
    auth; http (the webhook sink): as it is."""
    secure = url.startswith("https://")
    return requests.request(
        method,
        url,
        json=payload,
        timeout=timeout,
        auth=(API_USER, testing.secret("monitoring_api_password")) if secure else None,
        verify=testing.internal_ca_file() if secure else True,
    )


def get_json(url: str, timeout: float = 10) -> dict | list:
    response = _request("GET", url, timeout)
    response.raise_for_status()
    return response.json()


def post_json(url: str, payload: object, timeout: float = 10) -> None:
    _request("POST", url, timeout, payload).raise_for_status()


def fetch_json(url: str) -> object:
    """promapi's fetch over _request: Prometheus' JSON answer, its errors' included."""
    try:
        response = _request("GET", url, 10)
    except requests.RequestException as exc:
        raise PrometheusError(f"cannot reach {url.split('/api/')[0]}: {exc}") from None
    try:
        return response.json()
    except ValueError:
        raise PrometheusError(f"{url}: HTTP {response.status_code}: {response.text[:200]}") from None


def prometheus_url(name: str | None = None) -> str:
    return f"https://{testing.address(name or host())}:9090"


def alertmanager_url(name: str | None = None) -> str:
    return f"https://{testing.address(name or host())}:9093"


def prometheus(name: str | None = None) -> Prometheus:
    """A monitoring host's Prometheus (the first's unless named), through the project's
    one client."""
    return Prometheus(prometheus_url(name), fetch=fetch_json)


def prom(path: str, **params: str) -> dict:
    """The `data` of a Prometheus API path (PrometheusError when refused or unreachable)."""
    return prometheus().api(path, params or None)


def alertmanager(path: str, name: str | None = None) -> dict | list:
    return get_json(f"{alertmanager_url(name)}{path}")


def query(expr: str) -> list[dict]:
    return prom("/api/v1/query", query=expr)["result"]


def assert_maintenance_announced(reason: str, since: float) -> None:
    """A playbook announced its work (playbooks/maintenance.yml) and ended it: its silence
    was made and has expired, and horilla_maintenance_active was 1 and is 0 again."""
    silences = [
        s
        for s in alertmanager("/api/v2/silences")
        if s["createdBy"] == "horilla-maintenance"
        and s["comment"] == f"Planned maintenance: {reason}"
        and datetime.fromisoformat(s["startsAt"]).timestamp() >= since - 5
    ]
    assert [s["status"]["state"] for s in silences] == ["expired"], silences
    seconds = max(1, round(time.time() - since))
    series = f'horilla_maintenance_active{{reason="{reason}"}}'
    testing.wait_for(lambda: [r["value"][1] for r in query(series)] == ["0"], 30, "the announcement ended")
    assert [r["value"][1] for r in query(f"max_over_time({series}[{seconds}s])")] == ["1"]


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
    """Scrape targets down (job/instance); None while an expected target is missing.

    Down: never scraped yet, or no scrape of the last three succeeded. One failed scrape
    is not a target down: on a busy 2-core machine a scrape now and then passes its
    timeout while the target serves (Prometheus' own HostDown waits for a minute), and
    with some sixty targets, requiring every last scrape to have succeeded at one
    instant made "the site is healthy" rare on a slow CI machine. A drill's victim is
    down for longer than that window, so once it is back it has been scraped since."""
    active = prom("/api/v1/targets", state="active")["activeTargets"]
    seen = {(t["labels"]["job"], t["labels"]["instance"]) for t in active}
    if not expected_targets() <= seen:
        return None
    interval = max((_seconds(t.get("scrapeInterval", "")) for t in active), default=0.0) or 15.0
    window = f"{round(3 * interval)}s"
    failing = {
        (r["metric"].get("job", ""), r["metric"].get("instance", ""))
        for r in prom("/api/v1/query", query=f"max_over_time(up[{window}]) == 0")["result"]
    }
    down = [t for t in active if t["health"] == "unknown" or (t["labels"]["job"], t["labels"]["instance"]) in failing]
    return sorted(f"{t['labels']['job']}/{t['labels']['instance']}" for t in down)


def _seconds(duration: str) -> float:
    """A Prometheus duration of one unit ("5s", "1m") in seconds; 0 when it is not one."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in sorted(units, key=len, reverse=True):
        if duration.endswith(unit) and duration[: -len(unit)].isdigit():
            return int(duration[: -len(unit)]) * units[unit]
    return 0.0


def alerting_settings() -> dict[str, object]:
    """The timings between a host's death and its HostDown notification, as the running
    site has them: read from Prometheus' and Alertmanager's own configuration and
    Prometheus' loaded rule, not from the inventory. `production_defaults` says whether
    each of them is the roles' default (issue 21, item 5: measured with those); the
    other Alertmanager timings (group_wait of other alerts, group_interval) are
    reported beside them, since the lab shortens them."""
    config = yaml.safe_load(prom("/api/v1/status/config")["yaml"])
    node_job = next(j for j in config["scrape_configs"] if j["job_name"] == "node")
    rules = prom("/api/v1/rules", type="alert")["groups"]
    host_down = next(r for g in rules for r in g["rules"] if r["name"] == "HostDown")
    am = yaml.safe_load(alertmanager("/api/v2/status")["config"]["original"])["route"]
    route = next(r for r in am.get("routes", []) if 'alertname="HostDown"' in r.get("matchers", []))
    critical = next(r for r in am.get("routes", []) if 'severity="critical"' in r.get("matchers", []))
    path = {
        "scrape_interval": node_job.get("scrape_interval", config["global"]["scrape_interval"]),
        "evaluation_interval": config["global"]["evaluation_interval"],
        "host_down_for": f"{host_down['duration']:g}s",
        "host_down_group_wait": route.get("group_wait", am.get("group_wait")),
    }
    roles = PROJECT_DIR / "roles"
    prometheus_defaults = yaml.safe_load((roles / "prometheus" / "defaults" / "main.yml").read_text())
    alertmanager_defaults = yaml.safe_load((roles / "alertmanager" / "defaults" / "main.yml").read_text())
    defaults = {
        "scrape_interval": prometheus_defaults["prometheus_scrape_interval"],
        "evaluation_interval": prometheus_defaults["prometheus_evaluation_interval"],
        "host_down_group_wait": alertmanager_defaults["alertmanager_host_down_group_wait"],
    }
    return {
        **path,
        "production_defaults": all(_seconds(path[k]) == _seconds(v) for k, v in defaults.items()),
        "other_group_wait": am.get("group_wait"),
        "critical_group_wait": critical.get("group_wait", am.get("group_wait")),
        "group_interval": am.get("group_interval"),
    }


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
    sender: str  # the address of the Alertmanager that sent it
    payload: dict


@dataclass
class Sink:
    """The webhook sink's notifications, read over HTTP from its container."""

    host: str
    port: int = SINK_PORT

    def start(self) -> Sink:
        """Waits until the sink answers (lab/create.yml runs it)."""
        testing.wait_for(lambda: get_json(f"http://{self.host}:{self.port}/?after={time.time()}") == [], 30, "the sink")
        return self

    def notifications(self, after: float = 0.0, path: str | None = None) -> list[Notification]:
        received = get_json(f"http://{self.host}:{self.port}/?after={after}", timeout=30)
        return [Notification(**n) for n in received if path is None or n["path"] == path]

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

    def titles(self, after: float, path: str, containing: str) -> list[str]:
        """The titles (TITLES) of the notifications to a channel's path that contain a text."""
        return [t for n in self.notifications(after, path) for t in TITLES[path](n.payload) if containing in t]

    def set_service(self, state: str) -> None:
        """Takes the lab's external service (GET /service) "down" or brings it "up"."""
        request = urllib.request.Request(f"http://{self.host}:{self.port}/service", data=state.encode(), method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the lab's own sink)
            assert response.read().decode() == state

    def mails(self, after: float = 0.0) -> list[dict]:
        """The e-mails the sink's SMTP server kept after a time: from, to, subject, body."""
        return get_json(f"http://{self.host}:{self.port}/smtp?after={after}", timeout=30)

    def senders(self, alertname: str, status: str, after: float, instance: str, path: str) -> list[str]:
        """The sender's address of each notification to one channel's path that carried
        alertname in status for instance after a time: one address when clustered
        Alertmanagers deduplicate."""
        return [
            n.sender
            for n in self.notifications(after, path)
            if any(
                a["labels"].get("alertname") == alertname
                and a["status"] == status
                and a["labels"].get("instance") == instance
                for a in n.payload.get("alerts", [])
            )
        ]

    def count(self, alertname: str, status: str, after: float, instance: str, path: str) -> int:
        """How many such notifications (senders) arrived: 1 when the Alertmanagers deduplicate."""
        return len(self.senders(alertname, status, after, instance, path))

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


def sink_address() -> str:
    """The webhook sink's address on the lab network."""
    return testing.address(host()).rsplit(".", 1)[0] + f".{SINK_OCTET}"
