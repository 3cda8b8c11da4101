"""horilla-sla-report: figures from synthetic Prometheus series, and the rendered report."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from horilla_ops.monitoring import sla, sla_report
from horilla_ops.monitoring.promapi import Prometheus

from .conftest import FakeApi, matrix, vector

START = datetime(2026, 10, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0


def test_down_periods_from_samples():
    points = [(0, 1), (15, 0), (30, 0), (45, 1), (60, 1), (75, 0)]
    found = sla.down_periods(points, 15, period_end=90)
    assert [(i.start, i.end) for i in found] == [(15, 45), (75, None)]
    assert found[0].duration(90) == 30 and found[1].duration(90) == 15


def test_a_gap_in_the_data_ends_an_incident():
    found = sla.down_periods([(0, 0), (15, 0), (600, 1)], 15, period_end=600)
    assert [(i.start, i.end) for i in found] == [(0, 30)]


def one_hour_with_a_two_minute_outage(api: FakeApi) -> tuple[float, float]:
    """An hour at 15 s evaluation, down from 10:00 to 10:02 (8 samples)."""
    start, end = START, START + HOUR
    d = 3600
    points = [(start + i * 15, 0.0 if 40 <= i < 48 else 1.0) for i in range(241)]
    api.ranges[sla.SLI] = matrix(({"__name__": sla.SLI}, points))
    api.instant[f"avg_over_time({sla.SLI}[{d}s])"] = vector(({}, 1 - 8 / 241))
    api.instant[f"count_over_time({sla.SLI}[{d}s])"] = vector(({}, 241))
    api.instant[sla.Q_P95.format(d=d)] = vector(({}, 0.84))
    api.instant[sla.Q_ERRORS.format(d=d)] = vector(({}, 0.0004))
    api.instant[sla.Q_REQUESTS.format(d=d)] = vector(({}, 125000))
    api.ranges[sla.Q_ALERTS] = matrix(
        (
            {"alertname": "HorillaApplicationDown", "severity": "critical"},
            [(start + i * 15, 1) for i in range(42, 49)],
        ),
        ({"alertname": "HostHighCpuUsage", "severity": "warning"}, [(start + i * 15, 1) for i in (100, 101, 200)]),
    )
    api.ranges["avg_over_time(horilla:service_up:probe[15s])"] = matrix(({}, points[1:]))
    return start, end


def test_figures_of_a_period(api: FakeApi, prom: Prometheus):
    start, end = one_hour_with_a_two_minute_outage(api)
    report = sla.compute(prom, start, end)
    assert report.availability == pytest.approx(1 - 8 / 241)
    assert report.downtime_seconds == pytest.approx(120)
    assert report.coverage == 1.0
    assert [(i.start - start, i.end - start) for i in report.incidents] == [(600, 720)]
    assert report.p95_seconds == 0.84 and report.error_rate == 0.0004 and report.requests == 125000
    alerts = {(a.alertname, a.severity): (a.episodes, a.firing_seconds) for a in report.alerts}
    assert alerts == {("HorillaApplicationDown", "critical"): (1, 105), ("HostHighCpuUsage", "warning"): (2, 45)}
    met = {name: ok for name, _, _, ok in report.objectives()}
    assert met == {
        "Availability": False,
        "Response time (p95)": True,
        "Error rate": True,
        "Recovery time (longest incident)": True,
    }
    assert any("post-incident review" in r for r in report.recommendations())


def test_a_long_period_is_scanned_coarsely_then_read_closely(api: FakeApi, prom: Prometheus):
    start, end = START, START + 30 * 86400
    step = 260  # ceil(30 days / 10,000 points)
    coarse = [(start + i * step, 0.0 if i == 100 else 1.0) for i in range(9969)]
    api.ranges[f"min_over_time({sla.SLI}[{step}s])"] = matrix(({}, coarse))
    blip = start + 100 * step + 30
    api.ranges[sla.SLI] = matrix(({}, [(blip - 15, 1), (blip, 0), (blip + 15, 0), (blip + 30, 1)]))
    report = sla.compute(prom, start, end)
    assert [(i.start, i.end) for i in report.incidents] == [(blip, blip + 30)]
    assert report.availability is None  # no instant answer recorded: shown as "no data"
    fine = [p for path, p in api.seen if path == "/api/v1/query_range" and p["query"] == sla.SLI]
    assert fine and float(fine[0]["step"]) == 15


def test_no_data_is_said_not_invented(api: FakeApi, prom: Prometheus):
    report = sla.compute(prom, START, START + HOUR)
    assert report.availability is None and report.incidents == []
    assert {measured for _, _, measured, _ in report.objectives()} == {"no data"}
    assert report.recommendations()[0].startswith("No availability data")


def test_markdown_report_with_plot_files(api: FakeApi, prom: Prometheus, tmp_path: Path):
    start, end = one_hour_with_a_two_minute_outage(api)
    report = sla.compute(prom, start, end)
    out = tmp_path / "2026-10.md"
    text = sla_report.write(report, "markdown", out)
    assert out.read_text() == text
    assert "| 1 | 2026-10-01 00:10:00 UTC | 2026-10-01 00:12:00 UTC | 2 min 0 s | incident |" in text
    assert "| Availability | >= 99.99 % | 96.6805 % | NO |" in text
    assert "| HorillaApplicationDown | critical | 1 | 1 min 45 s |" in text
    assert "![availability](2026-10-availability.svg)" in text
    for name in ("availability", "latency"):
        ET.fromstring((tmp_path / f"2026-10-{name}.svg").read_text())  # noqa: S314 (our own output: well-formed SVG)


def test_html_report_embeds_its_plots(api: FakeApi, prom: Prometheus):
    start, end = one_hour_with_a_two_minute_outage(api)
    html = sla_report.write(sla.compute(prom, start, end), "html", None)
    assert html.count("<svg") == 2
    assert "<td>2026-10-01 00:10:00 UTC</td>" in html
    assert "no data in this period" in html  # the latency plot had no series


def test_month_range_and_times():
    first, following = sla_report.month_range("2026-02")
    assert (first.isoformat(), following.isoformat()) == ("2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00")
    assert sla_report.parse_time("2026-10-15T12:00").tzinfo is UTC


def test_downtime_inside_announced_maintenance_is_planned_not_an_incident(api: FakeApi, prom: Prometheus):
    """horilla-maintenance announced 09:59 to 10:05 (horilla_maintenance_active): the
    10:00 outage is marked planned, apart from incidents; the uptime figure keeps it."""
    start, end = one_hour_with_a_two_minute_outage(api)
    window = [(start + i * 15, 1.0 if 36 <= i < 60 else 0.0) for i in range(241)]
    api.ranges[sla.Q_MAINTENANCE.format(b=15)] = matrix(({}, window))
    report = sla.compute(prom, start, end)
    assert [(i.start - start, i.planned) for i in report.incidents] == [(600, True)]
    text = sla_report.write(report, "markdown", None)
    assert "| 1 | 2026-10-01 00:10:00 UTC | 2026-10-01 00:12:00 UTC | 2 min 0 s | planned maintenance |" in text
    assert "0 incident(s), 1 during planned maintenance" in text


def test_last_month_and_period_labels():
    now = datetime(2027, 1, 1, 6, 0, tzinfo=UTC)
    first, following = sla_report.month_range("last", now)
    assert (first.isoformat(), following.isoformat()) == ("2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00")
    assert sla_report.period_label(first, following) == "2026-12"
    assert sla_report.period_label(first, datetime(2026, 12, 15, tzinfo=UTC)) == "2026-12-01_2026-12-15"


def test_the_monthly_timer_writes_and_announces_last_month(api: FakeApi, monkeypatch, tmp_path: Path):
    """--month last --output-dir --send: the report file, and one info alert that says
    where it is and ends before the cooldown, so it is delivered once."""
    posted = []
    monkeypatch.setattr(sla_report, "Prometheus", lambda url: Prometheus(url, fetch=api))
    monkeypatch.setattr(sla_report.Alertmanager, "post_alerts", lambda self, alerts: posted.append((self, alerts)))
    monkeypatch.setenv("HORILLA_MONITORING_SETTINGS", str(tmp_path / "none.env"))
    monkeypatch.setenv("HORILLA_ALERTMANAGER_URL", "http://am.test:9093")
    argv = ["--month", "last", "--format", "html", "--output-dir", str(tmp_path / "reports"), "--send"]
    assert sla_report.main(argv) == 0
    [report] = list((tmp_path / "reports").glob("sla-*.html"))
    label = report.stem.removeprefix("sla-")
    assert re.fullmatch(r"\d{4}-\d{2}", label)
    [(am, [alert])] = posted
    assert am.base_url == "http://am.test:9093"
    assert alert["labels"] == {**alert["labels"], "alertname": "HorillaSlaReport", "severity": "info", "period": label}
    assert alert["annotations"]["summary"] == f"SLA report {label}: uptime no data (objective 99.99 %)"
    assert f":{report}" in alert["annotations"]["description"]
    lifetime = datetime.fromisoformat(alert["endsAt"]) - datetime.fromisoformat(alert["startsAt"])
    assert 60 <= lifetime.total_seconds() < 300  # MONITOR_ALERT_COOLDOWN's default


def test_durations_in_queries_are_whole_seconds(api: FakeApi, prom: Prometheus):
    """Prometheus reports its rule interval as a float (5.0); PromQL rejects "5.0s"."""
    api.groups = [{"name": "horilla-sli", "interval": 5.0}]
    sla.compute(prom, START, START + 600)
    queries = [p["query"] for _, p in api.seen if "query" in p]
    assert queries and not any(re.search(r"\[\d+\.\d+s\]", q) for q in queries), queries
