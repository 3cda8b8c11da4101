"""The business gauges (horilla_ops.health.business) against the unit-test project's
stand-ins of upstream's models, in a real PostgreSQL with the Redis cache: what they
count, that only the scheduler leader exports them, at most once per interval, and that
an app this Horilla lacks (payroll) yields no series."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from collections.abc import Iterator
from unittest import mock

import prometheus_client
import pytest

_serial = itertools.count()


@pytest.fixture
def business(django_app) -> Iterator:
    from horilla_ops.health import business

    business.reset()
    yield business
    business.reset()


def employee(active: bool = True):
    from employee.models import Employee

    n = next(_serial)
    return Employee.objects.create(
        employee_first_name=f"Business{n}", email=f"business{n}@example.com", phone="0", is_active=active
    )


def values(snapshot) -> dict[str, object]:
    return {name: dict(samples) for name, samples in snapshot.samples.items()}


def exposition(snapshot) -> str:
    from horilla_ops.health import business

    class Collector:
        def collect(self):
            return business.families(snapshot)

    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return prometheus_client.generate_latest(registry).decode()


def test_the_gauges_count_what_their_help_says(business):
    from attendance.models import Attendance
    from leave.models import LeaveRequest

    before = values(business.measure())
    today = business._today()
    people = [employee(), employee(), employee(active=False)]
    Attendance.objects.create(employee_id=people[0], attendance_date=today, attendance_clock_in=datetime.time(9))
    Attendance.objects.create(employee_id=people[1], attendance_date=today, attendance_clock_in=None)
    Attendance.objects.create(
        employee_id=people[1], attendance_date=today - datetime.timedelta(days=1), attendance_clock_in=datetime.time(9)
    )
    Attendance.objects.create(
        employee_id=people[2], attendance_date=today, attendance_clock_in=datetime.time(9), is_active=False
    )
    for status in ("requested", "requested", "approved", "rejected"):
        LeaveRequest.objects.create(employee_id=people[0], start_date=today, status=status)

    after = values(business.measure())
    delta = {name: after[name][()] - before[name][()] for name in after}
    assert delta == {"active_employees": 2, "attendance_checkins_today": 1, "leave_requests_pending": 2}


def test_an_app_this_horilla_lacks_yields_no_series_and_no_error(business):
    """The project has no payroll app (an optional app of upstream Horilla)."""
    snapshot = business.measure()
    assert "payslips_this_month" not in snapshot.samples
    text = exposition(snapshot)
    assert "horilla_business_payslips_this_month" not in text
    assert 'horilla_business_query_seconds{metric="payslips_this_month"}' not in text
    assert 'horilla_business_query_seconds{metric="active_employees"}' in text

    missing = dataclasses.replace(business.METRICS[0], name="nothing", model="nosuchapp.Model")
    assert business.measure((missing,)).samples == {}


def test_a_failing_query_is_skipped_and_counted(business):
    def count(model, today):
        return [((), float(model._base_manager.filter(no_such_field=1).count()))]

    broken = dataclasses.replace(business.METRICS[0], name="broken", count=count)
    before = business.QUERIES.labels("broken", "error")._value.get()
    snapshot = business.measure((broken, business.METRICS[0]))
    assert set(snapshot.samples) == {"active_employees"}
    assert business.QUERIES.labels("broken", "error")._value.get() == before + 1


def test_the_exposition_names_each_series(business):
    text = exposition(business.measure())
    for line in (
        "# TYPE horilla_business_active_employees gauge",
        "horilla_business_active_employees ",
        "horilla_business_attendance_checkins_today ",
        "horilla_business_leave_requests_pending ",
        'horilla_business_query_seconds{metric="leave_requests_pending"} ',
        "horilla_business_snapshot_timestamp_seconds ",
    ):
        assert line in text, line


def test_payslips_are_counted_by_status_of_this_month(business):
    """Upstream's payroll.Payslip, faked: its status choices and the current month only."""
    today = datetime.date(2026, 12, 6)
    rows = mock.MagicMock()
    rows.filter.return_value.order_by.return_value.values.return_value.annotate.return_value = [
        {"status": "paid", "n": 3},
        {"status": "draft", "n": 1},
    ]
    model = mock.MagicMock()
    model._meta.get_fields.return_value = []
    model._base_manager.all.return_value = rows
    statuses = ("draft", "review_ongoing", "confirmed", "paid")
    model._meta.get_field.return_value.choices = [(status, status.title()) for status in statuses]
    samples = business._payslips_this_month(model, today)
    assert samples == [(("draft",), 1.0), (("review_ongoing",), 0.0), (("confirmed",), 0.0), (("paid",), 3.0)]
    period = rows.filter.call_args.kwargs
    assert period == {"end_date__gte": datetime.date(2026, 12, 1), "end_date__lt": datetime.date(2027, 1, 1)}


def test_only_the_leader_exports_and_at_most_once_per_interval(business):
    from django.conf import settings

    assert settings.HORILLA_OPS.business_metrics_seconds == 60
    with mock.patch.object(business, "measure", wraps=business.measure) as measure:
        assert business.snapshot(leader=False) is None
        assert measure.call_count == 0, "a node without the scheduler lock queries nothing"

        first = business.snapshot(leader=True)
        assert first is not None and measure.call_count == 1
        assert business.snapshot(leader=True, now=first.taken_at + 59).taken_at == first.taken_at
        assert measure.call_count == 1

        # Another gunicorn worker of the same node: its memory is empty, Redis has the snapshot.
        business._local = None
        assert business.snapshot(leader=True, now=first.taken_at + 30).taken_at == first.taken_at
        assert measure.call_count == 1

        business.snapshot(leader=True, now=first.taken_at + 61)
        assert measure.call_count == 2, "a snapshot older than the interval is taken again"


def test_without_the_cache_a_worker_keeps_its_own_snapshot(business):
    with (
        mock.patch.object(business.cache, "get", side_effect=ConnectionError),
        mock.patch.object(business.cache, "set", side_effect=ConnectionError),
        mock.patch.object(business, "measure", wraps=business.measure) as measure,
    ):
        first = business.snapshot(leader=True)
        assert business.snapshot(leader=True, now=first.taken_at + 10) is first
        assert measure.call_count == 1


def test_an_interval_of_zero_turns_them_off(business):
    from django.conf import settings

    off = dataclasses.replace(settings.HORILLA_OPS, business_metrics_seconds=0)
    with mock.patch.object(settings, "HORILLA_OPS", off):
        assert business.snapshot(leader=True) is None


def test_metrics_carry_them_on_the_leader_only(client, business):
    body = client.get("/metrics/").content.decode()
    assert "horilla_scheduler_leader 0.0" in body
    assert "horilla_business_active_employees" not in body

    with mock.patch("horilla_ops.health.views.scheduler_holder", return_value="unit-node"):
        body = client.get("/metrics/").content.decode()
    assert "horilla_scheduler_leader 1.0" in body
    assert "horilla_business_active_employees " in body
    assert 'horilla_business_query_seconds{metric="attendance_checkins_today"}' in body
    assert "horilla_business_payslips_this_month" not in body
    assert 'horilla_business_queries_total{metric="active_employees",result="ok"}' in body
