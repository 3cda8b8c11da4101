"""horilla-sla-report: the SLA report of a month or any period, from Prometheus data.

  horilla-sla-report                          the last 30 days, Markdown on stdout
  horilla-sla-report --month 2026-10          one calendar month (UTC)
  horilla-sla-report --from 2026-10-01 --to 2026-10-15T12:00
  horilla-sla-report --month 2026-10 --format html --output /srv/reports/2026-10.html
  horilla-sla-report --month last --format html --output-dir /var/lib/horilla-ops/reports --send
                                              last month's, kept as sla-YYYY-MM.html and
                                              announced to the info channels (the monthly
                                              timer's command)

Contents (CONTRIBUTING.md, Requirements): uptime percentage, downtime incidents with start
and end, p95 response time, error rate, alert summary, improvement recommendations,
and plots of availability and latency over time. With --output, Markdown reports
keep their plots in SVG files beside the report; HTML reports embed them.

--send posts the summary to Alertmanager as one info alert, HorillaSlaReport, so it
goes wherever the site's info alerts go (the channels of alertmanager_channel_severities).
"""

from __future__ import annotations

import argparse
import base64
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

from horilla_ops.monitoring.charts import line_chart
from horilla_ops.monitoring.promapi import Prometheus, PrometheusError
from horilla_ops.monitoring.settings import (
    AVAILABILITY_OBJECTIVE,
    LATENCY_P95_OBJECTIVE_SECONDS,
    Settings,
    SettingsError,
)
from horilla_ops.monitoring.sla import SlaReport, compute
from horilla_ops.monitoring.test_alerts import Alertmanager, AlertmanagerError


def parse_time(text: str) -> datetime:
    """An ISO date or date-time; naive values are UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def month_range(month: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The calendar month YYYY-MM, or "last": the one before now's (UTC)."""
    if month == "last":
        today = (now or datetime.now(UTC)).astimezone(UTC)
        month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    try:
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--month takes YYYY-MM or last, got {month!r}") from None
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def charts(report: SlaReport) -> dict[str, str]:
    return {
        "availability": line_chart(
            "Availability over time",
            report.availability_points,
            "available %",
            y_max=100,
            threshold=100 * AVAILABILITY_OBJECTIVE,
            threshold_label=f"objective {100 * AVAILABILITY_OBJECTIVE:g} %",
            y_format="{:.2f}",
        ),
        "latency": line_chart(
            "Response time, p95",
            report.latency_points,
            "seconds",
            y_min=0,
            threshold=LATENCY_P95_OBJECTIVE_SECONDS,
            threshold_label=f"objective {LATENCY_P95_OBJECTIVE_SECONDS:g} s",
        ),
    }


def _sections(report: SlaReport) -> dict[str, list[list[str]]]:
    """The report's tables as rows of cells (first row: header)."""
    objectives = [["Objective", "Target", "Measured", "Met"]] + [
        [name, target, measured, {True: "yes", False: "NO", None: "-"}[met]]
        for name, target, measured, met in report.objectives()
    ]
    incidents = [["#", "Start", "End", "Duration", "Kind"]] + [
        [
            str(n),
            _when(i.start),
            _when(i.end) if i.end is not None else "ongoing",
            _duration(i.duration(report.end)),
            "planned maintenance" if i.planned else "incident",
        ]
        for n, i in enumerate(report.incidents, 1)
    ]
    alerts = [["Alert", "Severity", "Episodes", "Firing for"]] + [
        [a.alertname, a.severity, str(a.episodes), _duration(a.firing_seconds)] for a in report.alerts
    ]
    return {"objectives": objectives, "incidents": incidents, "alerts": alerts}


def _summary(report: SlaReport) -> list[str]:
    uptime = "no data" if report.availability is None else f"{100 * report.availability:.4f} %"
    downtime = "-" if report.downtime_seconds is None else _duration(report.downtime_seconds)
    requests = "-" if report.requests is None else f"{report.requests:,.0f}"
    return [
        f"Period: {_when(report.start)} to {_when(report.end)} ({_duration(report.duration)})",
        f"Uptime: {uptime} (objective {100 * AVAILABILITY_OBJECTIVE:g} %); downtime {downtime}; "
        f"{sum(not i.planned for i in report.incidents)} incident(s), "
        f"{sum(i.planned for i in report.incidents)} during planned maintenance; "
        f"data coverage {100 * report.coverage:.1f} %",
        f"Requests served: {requests}",
    ]


def _md_table(rows: list[list[str]]) -> list[str]:
    if len(rows) == 1:
        return ["None."]
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return out


def render_markdown(report: SlaReport, images: dict[str, str]) -> str:
    """images: chart name -> what the Markdown image points at (a file or a data URI)."""
    sections = _sections(report)
    lines = ["# Horilla HR SLA report", ""]
    lines += [f"- {s}" for s in _summary(report)]
    lines += ["", "## Objectives", "", *_md_table(sections["objectives"])]
    lines += ["", "## Downtime incidents", "", *_md_table(sections["incidents"])]
    lines += ["", "## Alert summary", "", *_md_table(sections["alerts"])]
    lines += ["", "## Availability and latency over time", ""]
    lines += [f"![{name}]({target})" for name, target in images.items()]
    lines += ["", "## Recommendations", ""]
    lines += [f"- {r}" for r in report.recommendations()]
    return "\n".join(lines) + "\n"


def _html_table(rows: list[list[str]]) -> str:
    if len(rows) == 1:
        return "<p>None.</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: SlaReport, svgs: dict[str, str]) -> str:
    sections = _sections(report)
    summary = "".join(f"<li>{escape(s)}</li>" for s in _summary(report))
    recs = "".join(f"<li>{escape(r)}</li>" for r in report.recommendations())
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
        "th{background:#f3f3f3}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Horilla HR SLA report</title>'
        f"<style>{style}</style></head><body>\n<h1>Horilla HR SLA report</h1>\n<ul>{summary}</ul>\n"
        f"<h2>Objectives</h2>\n{_html_table(sections['objectives'])}\n"
        f"<h2>Downtime incidents</h2>\n{_html_table(sections['incidents'])}\n"
        f"<h2>Alert summary</h2>\n{_html_table(sections['alerts'])}\n"
        f"<h2>Availability and latency over time</h2>\n{''.join(svgs.values())}\n"
        f"<h2>Recommendations</h2>\n<ul>{recs}</ul>\n</body></html>\n"
    )


def write(report: SlaReport, fmt: str, output: Path | None) -> str:
    """Render the report; with an output path write it (and Markdown's plots) there."""
    svgs = charts(report)
    if fmt == "html":
        text = render_html(report, svgs)
    elif output is not None:
        images = {}
        for name, svg in svgs.items():
            image = output.with_name(f"{output.stem}-{name}.svg")
            image.write_text(svg)
            images[name] = image.name
        text = render_markdown(report, images)
    else:
        images = {n: "data:image/svg+xml;base64," + base64.b64encode(s.encode()).decode() for n, s in svgs.items()}
        text = render_markdown(report, images)
    if output is not None:
        output.write_text(text)
    return text


def period_label(start: datetime, end: datetime) -> str:
    """2026-10 for a calendar month, else 2026-10-01_2026-10-15."""
    month = start.strftime("%Y-%m")
    if (start, end) == month_range(month):
        return month
    return f"{start:%Y-%m-%d}_{end:%Y-%m-%d}"


def announcement(report: SlaReport, label: str, where: str | None, now: datetime, lifetime: int) -> dict:
    """The info alert --send posts. It ends before the cooldown (Alertmanager's repeat
    interval) is over, so each channel gets it once (and, as every alert, its resolution)."""
    uptime = "no data" if report.availability is None else f"{100 * report.availability:.4f} %"
    lines = _summary(report) + [f"Recommendation: {r}" for r in report.recommendations()]
    if where:
        lines.append(f"Full report: {where}")
    return {
        "labels": {
            "alertname": "HorillaSlaReport",
            "severity": "info",
            "period": label,
            "instance": socket.gethostname(),
        },
        "annotations": {
            "summary": f"SLA report {label}: uptime {uptime} (objective {100 * AVAILABILITY_OBJECTIVE:g} %)",
            "description": "\n".join(lines),
        },
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(seconds=lifetime)).isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="horilla-sla-report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    period = parser.add_mutually_exclusive_group()
    period.add_argument("--month", help="a calendar month, YYYY-MM (UTC), or last (the previous one)")
    period.add_argument("--from", dest="start", type=parse_time, help="start of the period (ISO date or date-time)")
    parser.add_argument("--to", dest="end", type=parse_time, help="end of the period (default: now)")
    parser.add_argument("--format", choices=("markdown", "html"), default="markdown")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--output", type=Path, help="write the report here instead of stdout")
    target.add_argument("--output-dir", type=Path, help="write it here as sla-<period>.md or .html")
    parser.add_argument("--send", action="store_true", help="announce the summary to Alertmanager (info)")
    parser.add_argument("--prometheus-url", help="default: $HORILLA_PROMETHEUS_URL")
    args = parser.parse_args(argv)

    now = datetime.now(UTC)
    if args.month:
        try:
            start, end = month_range(args.month, now)
        except argparse.ArgumentTypeError as exc:
            parser.error(str(exc))
    else:
        end = args.end or now
        start = args.start or end - timedelta(days=30)
    end = min(end, now)
    if end <= start:
        parser.error("the period must end after it starts (and start in the past)")

    try:
        settings = Settings.load().open_apis()
    except SettingsError as exc:
        print(f"horilla-sla-report: {exc}", file=sys.stderr)
        return 2
    prom = Prometheus(args.prometheus_url or settings.prometheus_url)
    try:
        report = compute(prom, start.timestamp(), end.timestamp())
    except PrometheusError as exc:
        print(f"horilla-sla-report: {exc}", file=sys.stderr)
        return 2
    label = period_label(start, end)
    output = args.output
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        output = args.output_dir / f"sla-{label}.{'html' if args.format == 'html' else 'md'}"
    text = write(report, args.format, output)
    if output is None:
        sys.stdout.write(text)
    else:
        print(f"horilla-sla-report: wrote {output} ({time.strftime('%H:%M:%S')})", file=sys.stderr)
    if args.send:
        where = None if output is None else f"{socket.gethostname()}:{output}"
        alert = announcement(report, label, where, now, lifetime=max(60, settings.alert_cooldown - 60))
        try:
            Alertmanager(settings.alertmanager_url).post_alerts([alert])
        except AlertmanagerError as exc:
            print(f"horilla-sla-report: not sent: {exc}", file=sys.stderr)
            return 1
        print(f"horilla-sla-report: sent to {settings.alertmanager_url} as HorillaSlaReport", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
