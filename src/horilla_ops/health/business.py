"""Business gauges from Horilla's own tables: active employees, today's check-ins,
pending leave requests, this month's payslips by status.

Cheap by construction:
- only the node whose horilla-scheduler holds the cluster-wide lock exports them (the
  others export nothing, so ``sum()`` across app nodes counts each figure once);
- the queries run at most once per ``HORILLA_OPS_BUSINESS_METRICS_SECONDS`` (60 s) for
  the whole node: the snapshot is kept in Django's cache (Redis, shared by every gunicorn
  worker), and in the worker's memory when the cache does not answer;
- each query's last duration is exported (``horilla_business_query_seconds``) and every
  run counted (``horilla_business_queries_total``), so their cost is watched, not assumed.

Models are looked up by app label (``django.apps.apps.get_model``), never by table name,
and through the plain ``_base_manager``: upstream's HorillaCompanyManager filters by the
session's company and runs two extra COUNTs per queryset. A Horilla without one of the
apps (payroll is optional) exports no series for it; a query that fails is logged and
skipped for this round.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Model, QuerySet
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

CACHE_KEY = "horilla_ops:business_metrics"
PREFIX = "horilla_business_"

# Counted in every worker, summed across workers by the multiprocess collector.
QUERIES = Counter(
    "horilla_business_queries",
    "Business metric queries run on this node, by metric and result (ok, error)",
    ["metric", "result"],
)

Labels = tuple[str, ...]
Samples = list[tuple[Labels, float]]


@dataclass(frozen=True)
class BusinessMetric:
    name: str  # the gauge is horilla_business_<name>
    model: str  # "app_label.ModelName"
    help: str
    count: Callable[[type[Model], date], Samples]
    labels: tuple[str, ...] = ()


def _rows(model: type[Model]) -> QuerySet:
    """Every row that is not archived (upstream's HorillaModel.is_active), without the
    company filter of upstream's default manager."""
    rows = model._base_manager.all()
    if any(f.name == "is_active" for f in model._meta.get_fields()):
        rows = rows.filter(is_active=True)
    return rows


def _active_employees(model: type[Model], today: date) -> Samples:
    return [((), float(_rows(model).count()))]


def _checkins_today(model: type[Model], today: date) -> Samples:
    return [((), float(_rows(model).filter(attendance_date=today, attendance_clock_in__isnull=False).count()))]


def _leave_requests_pending(model: type[Model], today: date) -> Samples:
    return [((), float(_rows(model).filter(status="requested").count()))]


def _payslips_this_month(model: type[Model], today: date) -> Samples:
    """This month's payroll run: payslips whose pay period ends in the current month, by
    status. Every status of the model's choices is exported, 0 when it has none."""
    first = today.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    rows = _rows(model).filter(end_date__gte=first, end_date__lt=following)
    counts = {row["status"]: row["n"] for row in rows.order_by().values("status").annotate(n=Count("pk"))}
    statuses = [str(value) for value, _ in model._meta.get_field("status").choices or []]
    statuses += sorted(str(s) for s in counts if s is not None and str(s) not in statuses)
    return [((status,), float(counts.get(status, 0))) for status in statuses]


METRICS = (
    BusinessMetric(
        "active_employees",
        "employee.Employee",
        "Employees not archived (Employee.is_active)",
        _active_employees,
    ),
    BusinessMetric(
        "attendance_checkins_today",
        "attendance.Attendance",
        "Attendance records of today (the app's time zone) with a check-in time",
        _checkins_today,
    ),
    BusinessMetric(
        "leave_requests_pending",
        "leave.LeaveRequest",
        "Leave requests waiting for a decision (status requested)",
        _leave_requests_pending,
    ),
    BusinessMetric(
        "payslips_this_month",
        "payroll.Payslip",
        "This month's payroll run: payslips whose period ends in the current month, by status",
        _payslips_this_month,
        labels=("status",),
    ),
)


@dataclass
class Snapshot:
    taken_at: float  # time.time(): compared across processes
    samples: dict[str, Samples]
    seconds: dict[str, float]

    def as_cached(self) -> dict[str, Any]:
        return {"taken_at": self.taken_at, "samples": self.samples, "seconds": self.seconds}

    @classmethod
    def from_cached(cls, value: object) -> Snapshot | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(float(value["taken_at"]), dict(value["samples"]), dict(value["seconds"]))
        except (KeyError, TypeError, ValueError):
            return None


_local: Snapshot | None = None


def _today() -> date:
    return timezone.localdate() if settings.USE_TZ else date.today()


def measure(metrics: tuple[BusinessMetric, ...] = METRICS) -> Snapshot:
    """Run every query whose model is installed; time each one."""
    today = _today()
    snapshot = Snapshot(time.time(), {}, {})
    for metric in metrics:
        try:
            model = apps.get_model(metric.model)
        except (LookupError, ValueError):
            continue  # this Horilla has no such app or model: no series
        started = time.perf_counter()
        try:
            samples = metric.count(model, today)
        except Exception:
            QUERIES.labels(metric.name, "error").inc()
            log.warning("business metric %s failed", metric.name, exc_info=True)
            continue
        snapshot.seconds[metric.name] = time.perf_counter() - started
        snapshot.samples[metric.name] = samples
        QUERIES.labels(metric.name, "ok").inc()
    return snapshot


def _cached() -> Snapshot | None:
    try:
        return Snapshot.from_cached(cache.get(CACHE_KEY))
    except Exception:  # the cache is down: this worker's own copy
        return _local


def _store(snapshot: Snapshot, seconds: float) -> None:
    global _local
    _local = snapshot
    try:
        cache.set(CACHE_KEY, snapshot.as_cached(), timeout=max(1, int(seconds)))
    except Exception:
        log.debug("business metrics not cached", exc_info=True)


def snapshot(leader: bool, now: float | None = None) -> Snapshot | None:
    """The figures to export, or None: not the leader, or turned off (interval 0)."""
    interval = settings.HORILLA_OPS.business_metrics_seconds
    if not leader or interval <= 0:
        return None
    now = time.time() if now is None else now
    current = _cached()
    if current is not None and 0 <= now - current.taken_at < interval:
        return current
    fresh = measure()
    _store(fresh, interval)
    return fresh


def families(current: Snapshot | None) -> Iterator[Metric]:
    if current is None:
        return
    cost = GaugeMetricFamily(
        PREFIX + "query_seconds", "Duration of the last run of each business metric query", labels=["metric"]
    )
    for metric in METRICS:
        samples = current.samples.get(metric.name)
        if samples is None:
            continue
        family = GaugeMetricFamily(PREFIX + metric.name, metric.help, labels=list(metric.labels))
        for labels, value in samples:
            family.add_metric(list(labels), value)
        yield family
        cost.add_metric([metric.name], current.seconds.get(metric.name, 0.0))
    age = GaugeMetricFamily(PREFIX + "snapshot_timestamp_seconds", "When the business metrics were computed")
    age.add_metric([], current.taken_at)
    yield cost
    yield age


def reset() -> None:
    """Forget every cached snapshot (tests)."""
    global _local
    _local = None
    with contextlib.suppress(Exception):
        cache.delete(CACHE_KEY)
