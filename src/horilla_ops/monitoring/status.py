"""horilla-monitor: the cluster's status from Prometheus (CONTRIBUTING.md, Requirements: "Status").

  horilla-monitor --status          print the current status table (reads only)
  horilla-monitor --once            one monitoring cycle: status table + state file;
                                    exit 1 when something needs attention
  horilla-monitor --daemon          a cycle every MONITOR_CHECK_INTERVAL seconds,
                                    keeping the JSON state file fresh
  --json                            print JSON instead of the table
  --verbose                         also say what was checked and how long each check
                                    took (on stderr)

Thresholds are the MONITOR_* variables (environment, or
/etc/horilla-ops/monitoring.env). The state file is
/var/lib/horilla-ops/monitor-state.json (HORILLA_MONITOR_STATE_FILE); `jq .sla` on it
shows the SLA figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from horilla_ops.monitoring import promapi
from horilla_ops.monitoring.promapi import Prometheus, PrometheusError
from horilla_ops.monitoring.settings import AVAILABILITY_OBJECTIVE, Settings, SettingsError

# What each scrape job stands for, in the order the table lists them.
TIERS: dict[str, str] = {
    "node": "hosts (node_exporter)",
    "horilla": "app (gunicorn)",
    "haproxy": "load balancers",
    "patroni": "Patroni",
    "postgres": "PostgreSQL exporter",
    "etcd": "etcd",
    "redis": "Redis exporter",
    "elasticsearch": "Elasticsearch exporter",
    "blackbox_http": "HTTP probes",
    "blackbox_tcp": "TCP probes",
    "blackbox_external_http": "external services (HTTP)",
    "blackbox_external_tcp": "external services (TCP)",
    "prometheus": "Prometheus",
    "alertmanager": "Alertmanager",
}
SLA_WINDOW = "30d"
SLA_WINDOW_SECONDS = 30 * 86400

Q_UP = "up"
Q_PROBES = 'probe_success{scope="node"}'
Q_CPU = '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))'
Q_MEMORY = "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"
Q_DISK_FREE = (
    "min by (instance) (100 * node_filesystem_avail_bytes"
    '{fstype!~"tmpfs|ramfs|devtmpfs|squashfs|nsfs|fuse.*", mountpoint!~"/(run|sys|proc|dev)($|/.*)"}'
    " / node_filesystem_size_bytes)"
)
Q_PG_LEADER = "patroni_primary == 1"
Q_PG_LAG = "max by (instance) (pg_replication_lag_seconds or pg_replication_lag)"
Q_REDIS_PRIMARY = 'redis_instance_info{role="master"} and on (instance) redis_up == 1'
Q_HAPROXY_BACKENDS = "max by (proxy) (haproxy_backend_active_servers)"
# The recording rule the slow-response alert judges (horilla-slo.rules.yml), in seconds.
Q_RESPONSE_P95 = "max(horilla:http_request_duration_seconds:p95_rate5m)"
# The inventory's external services (monitoring_external_services: Ollama, N8N, ...).
Q_EXTERNAL = 'probe_success{scope="external"}'
Q_AVAILABILITY = f"avg_over_time(horilla:service_up:probe[{SLA_WINDOW}])"
Q_DOWN_SAMPLES = (
    f"count_over_time(horilla:service_up:probe[{SLA_WINDOW}]) - sum_over_time(horilla:service_up:probe[{SLA_WINDOW}])"
)
# What each query checks, in --verbose's words.
CHECKS: dict[str, str] = {
    Q_UP: "scrape targets up",
    Q_PROBES: "probes of each node's services",
    Q_CPU: "CPU busy per host",
    Q_MEMORY: "memory used per host",
    Q_DISK_FREE: "disk free per host",
    Q_PG_LEADER: "PostgreSQL leader",
    Q_PG_LAG: "replication lag",
    Q_REDIS_PRIMARY: "Redis primary",
    Q_HAPROXY_BACKENDS: "HAProxy backends with a server up",
    Q_RESPONSE_P95: "response time p95",
    Q_EXTERNAL: "external services",
    Q_AVAILABILITY: f"availability over {SLA_WINDOW}",
    Q_DOWN_SAMPLES: f"downtime over {SLA_WINDOW}",
}


class TimedPrometheus:
    """A Prometheus whose every request is timed, for --verbose: (check, seconds, answers)."""

    def __init__(self, prom: Prometheus) -> None:
        self._prom = prom
        self.timings: list[tuple[str, float, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._prom, name)

    def _timed(self, what: str, call: Any) -> Any:
        started = time.monotonic()
        result = call()
        self.timings.append((what, time.monotonic() - started, len(result) if isinstance(result, list) else 1))
        return result

    def query(self, expr: str, at: float | None = None) -> list[Any]:
        return self._timed(CHECKS.get(expr, expr), lambda: self._prom.query(expr, at))

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        return promapi.Prometheus.scalar(self, expr, at)  # type: ignore[arg-type]  # through self.query

    def alerts(self) -> list[dict[str, Any]]:
        return self._timed("firing alerts", self._prom.alerts)

    def evaluation_interval(self, group: str = "horilla-sli", default: float = 15.0) -> float:
        return self._timed("rule evaluation interval", lambda: self._prom.evaluation_interval(group, default))


@dataclass
class Tier:
    job: str
    name: str
    up: int
    total: int
    down: list[str]


@dataclass
class Host:
    instance: str
    up: bool
    cpu_percent: float | None = None
    memory_percent: float | None = None
    disk_free_percent: float | None = None
    failed_probes: list[str] = field(default_factory=list)


@dataclass
class Alert:
    name: str
    severity: str
    instance: str
    summary: str
    since: str


@dataclass
class Sla:
    objective_percent: float
    window: str
    availability_percent: float | None
    downtime_seconds: float | None
    error_budget_seconds: float
    error_budget_remaining_percent: float | None


@dataclass
class ClusterStatus:
    generated_at: str
    prometheus: str
    tiers: list[Tier]
    hosts: list[Host]
    postgres_leader: list[str] | None
    replication_lag_seconds: dict[str, float]
    redis_primary: list[str] | None
    haproxy_backends: dict[str, int] | None
    response_time_p95_ms: float | None
    external_services: dict[str, bool]
    alerts: list[Alert]
    sla: Sla
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def _by_instance(samples: list[Any]) -> dict[str, float]:
    return {s.labels.get("instance", "?"): s.value for s in samples}


def collect(prom: Prometheus, settings: Settings, now: float | None = None) -> ClusterStatus:
    """Ask Prometheus everything the table shows, and judge it against the thresholds."""
    now = time.time() if now is None else now
    problems: list[str] = []

    up = prom.query(Q_UP, now)
    jobs: dict[str, list[tuple[str, bool]]] = {}
    for s in up:
        jobs.setdefault(s.labels.get("job", "?"), []).append((s.labels.get("instance", "?"), s.value == 1))
    order = list(TIERS) + sorted(j for j in jobs if j not in TIERS)
    tiers = []
    for job in order:
        if job not in jobs:
            continue
        members = sorted(jobs[job])
        down = [name for name, ok in members if not ok]
        tiers.append(Tier(job, TIERS.get(job, job), len(members) - len(down), len(members), down))
        for name in down:
            problems.append(f"{job} on {name} is down")

    cpu, memory, disk = (_by_instance(prom.query(q, now)) for q in (Q_CPU, Q_MEMORY, Q_DISK_FREE))
    probes: dict[str, list[str]] = {}
    for s in prom.query(Q_PROBES, now):
        if s.value != 1:
            what = s.labels.get("service", "?") + s.labels.get("path", "")
            probes.setdefault(s.labels.get("instance", "?"), []).append(what)
    hosts = []
    for name, ok in sorted(jobs.get("node", [])):
        host = Host(name, ok, cpu.get(name), memory.get(name), disk.get(name), sorted(probes.get(name, [])))
        if host.cpu_percent is not None and host.cpu_percent > settings.max_cpu_usage:
            problems.append(f"{name}: CPU {host.cpu_percent:.0f} % > {settings.max_cpu_usage:g} %")
        if host.memory_percent is not None and host.memory_percent > settings.max_memory_usage:
            problems.append(f"{name}: memory {host.memory_percent:.0f} % > {settings.max_memory_usage:g} %")
        if host.disk_free_percent is not None and host.disk_free_percent < settings.min_disk_space:
            problems.append(f"{name}: disk {host.disk_free_percent:.1f} % free < {settings.min_disk_space:g} %")
        for what in host.failed_probes:
            problems.append(f"{name}: probe of {what} fails")
        hosts.append(host)

    postgres_leader = None
    if "patroni" in jobs:
        postgres_leader = sorted(s.labels.get("instance", "?") for s in prom.query(Q_PG_LEADER, now))
        if len(postgres_leader) != 1:
            problems.append(f"PostgreSQL has {len(postgres_leader)} leaders (expected 1)")
    lag = _by_instance(prom.query(Q_PG_LAG, now)) if "postgres" in jobs else {}

    redis_primary = None
    if "redis" in jobs:
        redis_primary = sorted(s.labels.get("instance", "?") for s in prom.query(Q_REDIS_PRIMARY, now))
        if len(redis_primary) != 1:
            problems.append(f"Redis has {len(redis_primary)} primaries (expected 1)")

    haproxy = None
    if "haproxy" in jobs:
        haproxy = {s.labels.get("proxy", "?"): int(s.value) for s in prom.query(Q_HAPROXY_BACKENDS, now)}
        problems += [f"HAProxy backend {p} has no server up" for p, n in sorted(haproxy.items()) if n == 0]

    external: dict[str, bool] = {}
    for s in prom.query(Q_EXTERNAL, now):
        name = s.labels.get("service", "?")
        external[name] = external.get(name, True) and s.value == 1
    problems += [f"external service {name} is down" for name, ok in sorted(external.items()) if not ok]

    # MONITOR_MAX_RESPONSE_TIME, the same threshold as the HorillaSlowResponses alert.
    p95 = prom.scalar(Q_RESPONSE_P95, now) if "horilla" in jobs else None
    p95_ms = None if p95 is None else 1000 * p95
    if p95_ms is not None and p95_ms > settings.max_response_time_ms:
        problems.append(f"response time p95 {p95_ms:.0f} ms > {settings.max_response_time_ms} ms")

    alerts = []
    for a in prom.alerts():
        labels = a.get("labels", {})
        if a.get("state") != "firing" or labels.get("alertname") == "Watchdog":
            continue
        alerts.append(
            Alert(
                name=labels.get("alertname", "?"),
                severity=labels.get("severity", "none"),
                instance=labels.get("instance", ""),
                summary=a.get("annotations", {}).get("summary", ""),
                since=a.get("activeAt", ""),
            )
        )
    rank = {"critical": 0, "warning": 1, "info": 2}
    alerts.sort(key=lambda a: (rank.get(a.severity, 3), a.name, a.instance))
    problems += [f"critical alert {a.name} {a.instance}".rstrip() for a in alerts if a.severity == "critical"]

    sla = _sla(prom, now)
    if sla.error_budget_remaining_percent is not None and sla.error_budget_remaining_percent <= 0:
        problems.append(f"the {SLA_WINDOW} error budget of {sla.objective_percent:g} % is spent")

    return ClusterStatus(
        generated_at=datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        prometheus=prom.base_url,
        tiers=tiers,
        hosts=hosts,
        postgres_leader=postgres_leader,
        replication_lag_seconds=lag,
        redis_primary=redis_primary,
        haproxy_backends=haproxy,
        response_time_p95_ms=p95_ms,
        external_services=external,
        alerts=alerts,
        sla=sla,
        problems=problems,
    )


def _sla(prom: Prometheus, now: float) -> Sla:
    """Availability over the last 30 days and what is left of its error budget.

    Downtime is counted in evaluated samples of horilla:service_up:probe, so a young
    Prometheus reports the downtime it saw, not an extrapolation.
    """
    budget = (1 - AVAILABILITY_OBJECTIVE) * SLA_WINDOW_SECONDS
    availability = prom.scalar(Q_AVAILABILITY, now)
    down_samples = prom.scalar(Q_DOWN_SAMPLES, now)
    downtime = None if down_samples is None else down_samples * prom.evaluation_interval()
    remaining = None if downtime is None else 100 * (1 - downtime / budget)
    return Sla(
        objective_percent=round(100 * AVAILABILITY_OBJECTIVE, 4),
        window=SLA_WINDOW,
        availability_percent=None if availability is None else 100 * availability,
        downtime_seconds=downtime,
        error_budget_seconds=budget,
        error_budget_remaining_percent=remaining,
    )


def _pct(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f} %"


def render(status: ClusterStatus) -> str:
    lines = [f"Horilla cluster status at {status.generated_at} (from {status.prometheus})", ""]
    width = max([len(t.name) for t in status.tiers] + [4])
    lines.append(f"{'TIER':<{width}}  {'JOB':<14} {'UP':>5}  DOWN")
    for t in status.tiers:
        lines.append(f"{t.name:<{width}}  {t.job:<14} {f'{t.up}/{t.total}':>5}  {', '.join(t.down) or '-'}")
    lines.append("")
    if status.hosts:
        hw = max(len(h.instance) for h in [*status.hosts, Host("HOST", True)])
        lines.append(f"{'HOST':<{hw}}  {'UP':<4} {'CPU':>6} {'MEMORY':>7} {'DISK FREE':>10}  FAILED PROBES")
        for h in status.hosts:
            lines.append(
                f"{h.instance:<{hw}}  {'yes' if h.up else 'NO':<4} {_pct(h.cpu_percent):>6} "
                f"{_pct(h.memory_percent):>7} {_pct(h.disk_free_percent, 1):>10}  {', '.join(h.failed_probes) or '-'}"
            )
        lines.append("")
    if status.postgres_leader is not None:
        lag = ", ".join(f"{i} {v:.1f} s" for i, v in sorted(status.replication_lag_seconds.items())) or "-"
        lines.append(f"PostgreSQL leader: {', '.join(status.postgres_leader) or 'NONE'}   replication lag: {lag}")
    else:
        lines.append("PostgreSQL leader: not monitored (no patroni job)")
    if status.redis_primary is not None:
        lines.append(f"Redis primary: {', '.join(status.redis_primary) or 'NONE'}")
    else:
        lines.append("Redis primary: not monitored (no redis job)")
    if status.haproxy_backends is not None:
        backends = ", ".join(f"{p} {n} up" for p, n in sorted(status.haproxy_backends.items())) or "none reported"
        lines.append(f"HAProxy backends: {backends}")
    else:
        lines.append("HAProxy backends: not monitored (no haproxy job)")
    if status.external_services:
        services = ", ".join(f"{n} {'up' if ok else 'DOWN'}" for n, ok in sorted(status.external_services.items()))
        lines.append(f"External services: {services}")
    if status.response_time_p95_ms is not None:
        lines.append(f"Response time p95 (5m): {status.response_time_p95_ms:.0f} ms")
    lines.append("")
    lines.append(f"Firing alerts: {len(status.alerts)}")
    for a in status.alerts:
        where = f" on {a.instance}" if a.instance else ""
        lines.append(f"  {a.severity:<8} {a.name}{where} since {a.since}: {a.summary}")
    lines.append("")
    sla = status.sla
    if sla.availability_percent is None:
        lines.append(f"SLA ({sla.window}): no availability data yet (recording rule horilla:service_up:probe)")
    else:
        lines.append(
            f"SLA ({sla.window}): availability {sla.availability_percent:.4f} % "
            f"(objective {sla.objective_percent:g} %), downtime {sla.downtime_seconds or 0:.0f} s "
            f"of {sla.error_budget_seconds:.0f} s allowed, error budget remaining "
            f"{_pct(sla.error_budget_remaining_percent, 1)}"
        )
    lines.append("")
    if status.ok:
        lines.append("Overall: OK")
    else:
        lines.append(f"Overall: ATTENTION ({len(status.problems)})")
        lines += [f"  - {p}" for p in status.problems]
    return "\n".join(lines)


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Atomically replace the JSON state file (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".monitor-state.", delete=False) as tmp:
        json.dump(state, tmp, indent=2, sort_keys=True)
        tmp.write("\n")
    Path(tmp.name).chmod(0o644)
    Path(tmp.name).replace(path)


def cycle(prom: Prometheus, settings: Settings) -> tuple[dict[str, Any], ClusterStatus | None]:
    try:
        status = collect(prom, settings)
    except PrometheusError as exc:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return {"ok": False, "generated_at": now, "error": str(exc)}, None
    return status.to_json(), status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="horilla-monitor", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--status", action="store_true", help="print the current status (reads only)")
    mode.add_argument("--once", action="store_true", help="run one monitoring cycle and write the state file")
    mode.add_argument("--daemon", action="store_true", help="run a cycle every MONITOR_CHECK_INTERVAL seconds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--verbose", action="store_true", help="say what was checked and how long it took")
    parser.add_argument("--prometheus-url", help="default: $HORILLA_PROMETHEUS_URL")
    parser.add_argument("--state-file", type=Path, help="default: $HORILLA_MONITOR_STATE_FILE")
    args = parser.parse_args(argv)

    try:
        settings = Settings.load().open_apis()
    except SettingsError as exc:
        print(f"horilla-monitor: {exc}", file=sys.stderr)
        return 2
    prom = Prometheus(args.prometheus_url or settings.prometheus_url)
    state_file = args.state_file or settings.state_file

    if args.daemon:
        print(
            f"horilla-monitor: every {settings.check_interval} s, {prom.base_url} -> {state_file}",
            file=sys.stderr,
            flush=True,
        )
        reported = None
        while True:
            started = time.monotonic()
            state, _ = cycle(prom, settings)
            write_state(state_file, state)
            # The journal gets a line when the verdict changes, not every cycle.
            verdict = state.get("error") or state.get("problems") or "OK"
            if verdict != reported:
                print(f"horilla-monitor: {verdict}", file=sys.stderr, flush=True)
                reported = verdict
            time.sleep(max(1.0, settings.check_interval - (time.monotonic() - started)))

    timed = TimedPrometheus(prom)
    state, status = cycle(timed if args.verbose else prom, settings)
    if args.verbose:
        for what, seconds, answers in timed.timings:
            print(f"checked {what}: {1000 * seconds:.0f} ms, {answers} answer(s)", file=sys.stderr)
        total = sum(seconds for _, seconds, _ in timed.timings)
        print(f"checked {len(timed.timings)} things in {1000 * total:.0f} ms ({prom.base_url})", file=sys.stderr)
    if args.once:
        write_state(state_file, state)
    if status is None:
        print(f"horilla-monitor: {state['error']}", file=sys.stderr)
        return 2
    print(json.dumps(state, indent=2, sort_keys=True) if args.json else render(status))
    return 0 if status.ok else 1


if __name__ == "__main__":
    sys.exit(main())
