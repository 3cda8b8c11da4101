"""SLA figures of a period, computed from Prometheus data (the SLA report of CONTRIBUTING.md, Requirements).

Availability is the recording rule horilla:service_up:probe (1 when the readiness
probe through the VIP, or of any app node, succeeds); latency and error rate come
from the app's and the load balancers' request metrics; alerts from Prometheus'
ALERTS series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from horilla_ops.monitoring.promapi import Prometheus, Series
from horilla_ops.monitoring.settings import (
    AVAILABILITY_OBJECTIVE,
    ERROR_RATE_OBJECTIVE,
    LATENCY_P95_OBJECTIVE_SECONDS,
)

SLI = "horilla:service_up:probe"
RECOVERY_OBJECTIVE_SECONDS = 300.0
# Prometheus answers at most 11,000 points per series; stay well below.
MAX_POINTS = 10_000
PLOT_POINTS = 240

Q_P95 = (
    "histogram_quantile(0.95, sum by (le) (increase(django_http_requests_latency_seconds_by_view_method_bucket[{d}s])))"
)
Q_ERRORS = (
    '(sum(increase(haproxy_frontend_http_responses_total{{code="5xx", proxy!~".*stats.*"}}[{d}s]))'
    ' / sum(increase(haproxy_frontend_http_requests_total{{proxy!~".*stats.*"}}[{d}s])))'
    ' or (sum(increase(django_http_responses_total_by_status_view_method_total{{status=~"5.."}}[{d}s]))'
    " / sum(increase(django_http_responses_total_by_status_view_method_total[{d}s])))"
)
Q_REQUESTS = (
    'sum(increase(haproxy_frontend_http_requests_total{{proxy!~".*stats.*"}}[{d}s]))'
    " or sum(increase(django_http_responses_total_by_status_view_method_total[{d}s]))"
)
Q_ALERTS = 'count by (alertname, severity) (ALERTS{alertstate="firing", severity!="none"})'
# Planned maintenance (horilla-maintenance), 1 while it runs; max_over_time sees a short
# window between two steps.
Q_MAINTENANCE = "max(max_over_time(horilla_maintenance_active[{b}s]))"
Q_LATENCY_PLOT = "max_over_time(horilla:http_request_duration_seconds:p95_rate5m[{b}s])"


@dataclass
class Incident:
    start: float
    end: float | None  # None: still down at the end of the period
    planned: bool = False  # inside announced maintenance (horilla-maintenance)

    def duration(self, period_end: float) -> float:
        return (self.end if self.end is not None else period_end) - self.start


@dataclass
class AlertSummary:
    alertname: str
    severity: str
    episodes: int
    firing_seconds: float


@dataclass
class SlaReport:
    start: float
    end: float
    availability: float | None  # ratio, None without data
    coverage: float  # share of the period with SLI samples
    downtime_seconds: float | None
    incidents: list[Incident]
    p95_seconds: float | None
    error_rate: float | None
    requests: float | None
    alerts: list[AlertSummary]
    availability_points: list[tuple[float, float]] = field(default_factory=list)
    latency_points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def longest_incident_seconds(self) -> float:
        return max((i.duration(self.end) for i in self.incidents), default=0.0)

    def objectives(self) -> list[tuple[str, str, str, bool | None]]:
        """(objective, target, measured, met) rows; met is None without data."""

        def row(name: str, target: str, value: float | None, shown: str, met: bool) -> tuple:
            return (name, target, shown if value is not None else "no data", met if value is not None else None)

        a, p, e = self.availability, self.p95_seconds, self.error_rate
        return [
            row(
                "Availability",
                f">= {100 * AVAILABILITY_OBJECTIVE:g} %",
                a,
                f"{100 * (a or 0):.4f} %",
                (a or 0) >= AVAILABILITY_OBJECTIVE,
            ),
            row("Response time (p95)", f"< {LATENCY_P95_OBJECTIVE_SECONDS:g} s", p, f"{p or 0:.3f} s", (p or 0) < 2),
            row(
                "Error rate",
                f"< {100 * ERROR_RATE_OBJECTIVE:g} %",
                e,
                f"{100 * (e or 0):.3f} %",
                (e or 0) < ERROR_RATE_OBJECTIVE,
            ),
            row(
                "Recovery time (longest incident)",
                f"< {RECOVERY_OBJECTIVE_SECONDS / 60:g} min",
                self.longest_incident_seconds if self.availability is not None else None,
                f"{self.longest_incident_seconds:.0f} s",
                self.longest_incident_seconds < RECOVERY_OBJECTIVE_SECONDS,
            ),
        ]

    def recommendations(self) -> list[str]:
        out = []
        rows = {name: met for name, _, _, met in self.objectives()}
        if self.availability is None:
            out.append("No availability data for this period: check that Prometheus and the probes ran.")
        elif self.coverage < 0.99:
            out.append(
                f"Data covers only {100 * self.coverage:.1f} % of the period (Prometheus retention or downtime);"
                " the figures describe the covered part."
            )
        if rows["Availability"] is False:
            out.append(
                f"Availability missed the objective over {len(self.incidents)} incident(s): write a post-incident"
                " review for each and remove their causes."
            )
        if rows["Recovery time (longest incident)"] is False:
            out.append("An outage lasted over 5 minutes: rehearse failover and check the paging path.")
        if rows["Response time (p95)"] is False:
            out.append("p95 latency is above 2 s: look at slow views, database queries and worker saturation.")
        if rows["Error rate"] is False:
            out.append("Error rate is above 0.1 %: look at the 5xx answers by view and at the load balancers.")
        critical = sum(a.episodes for a in self.alerts if a.severity == "critical")
        if critical:
            out.append(f"{critical} critical alert episode(s): confirm each has a runbook and an owner.")
        if not out:
            out.append("Every objective was met; keep testing failover and restores monthly.")
        return out


def _step(duration: float, interval: float, points: int = MAX_POINTS) -> int:
    """Whole seconds: PromQL durations take no fractions ("5.0s" is a parse error)."""
    return max(1, math.ceil(interval), math.ceil(duration / points))


def down_periods(points: list[tuple[float, float]], step: float, period_end: float) -> list[Incident]:
    """Contiguous runs of 0 in (time, value) points; a gap in the data ends a run."""
    incidents: list[Incident] = []
    current: Incident | None = None
    last_t: float | None = None
    for t, v in points:
        if current is not None and last_t is not None and t - last_t > 2 * step:
            current.end = last_t + step
            incidents.append(current)
            current = None
        if v < 1 and current is None:
            current = Incident(start=t, end=None)
        elif v >= 1 and current is not None:
            current.end = t
            incidents.append(current)
            current = None
        last_t = t
    if current is not None:
        if last_t is not None and period_end - last_t > 2 * step:
            current.end = last_t + step
        incidents.append(current)
    return incidents


def _alerts(series: list[Series], step: float) -> list[AlertSummary]:
    out = []
    for s in series:
        episodes, last = 0, None
        for t, _ in s.points:
            if last is None or t - last > step * 1.5:
                episodes += 1
            last = t
        out.append(
            AlertSummary(s.labels.get("alertname", "?"), s.labels.get("severity", "?"), episodes, len(s.points) * step)
        )
    rank = {"critical": 0, "warning": 1, "info": 2}
    out.sort(key=lambda a: (rank.get(a.severity, 3), -a.firing_seconds, a.alertname))
    return out


def _incidents(prom: Prometheus, start: float, end: float, step: float, interval: float) -> list[Incident]:
    """Down periods at the evaluation interval's resolution.

    A long period is first scanned coarsely with min_over_time (which still sees a
    blip shorter than the step); each window found is then read sample by sample.
    """
    if step <= interval:
        sli = prom.query_range(SLI, start, end, interval)
        return down_periods(sli[0].points, interval, end) if sli else []
    coarse = prom.query_range(f"min_over_time({SLI}[{step:g}s])", start, end, step)
    found: list[Incident] = []
    for rough in down_periods(coarse[0].points, step, end) if coarse else []:
        lo, hi = rough.start - step, min(end, (rough.end or end) + step)
        fine = prom.query_range(SLI, lo, hi, _step(hi - lo, interval))
        found += down_periods(fine[0].points, interval, end) if fine else [rough]
    return found


def maintenance_windows(prom: Prometheus, start: float, end: float, step: float) -> list[Incident]:
    """When horilla_maintenance_active was 1: the runs of 1 (as down_periods finds runs of 0)."""
    series = prom.query_range(Q_MAINTENANCE.format(b=max(1, round(step))), start, end, step)
    points = [(t, 0.0 if v >= 1 else 1.0) for t, v in series[0].points] if series else []
    return down_periods(points, step, end)


def compute(prom: Prometheus, start: float, end: float) -> SlaReport:
    if end <= start:
        raise ValueError("the period must end after it starts")
    duration = end - start
    d = max(1, round(duration))
    interval = prom.evaluation_interval()

    availability = prom.scalar(f"avg_over_time({SLI}[{d}s])", end)
    samples = prom.scalar(f"count_over_time({SLI}[{d}s])", end) or 0.0
    coverage = min(1.0, samples * interval / duration)
    downtime = None if availability is None else (1 - availability) * samples * interval

    step = _step(duration, interval)
    incidents = _incidents(prom, start, end, step, interval)
    for window in maintenance_windows(prom, start, end, step):
        for incident in incidents:
            if incident.start < (window.end or end) and window.start <= (incident.end or end):
                incident.planned = True

    alert_series = prom.query_range(Q_ALERTS, start, end, step)

    plot_step = _step(duration, interval, PLOT_POINTS)
    avail_plot = prom.query_range(f"avg_over_time({SLI}[{plot_step}s])", start + plot_step, end, plot_step)
    latency_plot = prom.query_range(Q_LATENCY_PLOT.format(b=plot_step), start + plot_step, end, plot_step)

    return SlaReport(
        start=start,
        end=end,
        availability=availability,
        coverage=coverage,
        downtime_seconds=downtime,
        incidents=incidents,
        p95_seconds=prom.scalar(Q_P95.format(d=d), end),
        error_rate=prom.scalar(Q_ERRORS.format(d=d), end),
        requests=prom.scalar(Q_REQUESTS.format(d=d), end),
        alerts=_alerts(alert_series, step),
        availability_points=[(t, 100 * v) for t, v in avail_plot[0].points] if avail_plot else [],
        latency_points=latency_plot[0].points if latency_plot else [],
    )
