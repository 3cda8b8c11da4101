"""The five required Grafana dashboards (CONTRIBUTING.md, Requirements), generated as JSON into
roles/grafana/files/dashboards/.

Every dashboard, panel, query, variable, link and annotation is built with Grafana's own
builders (grafana-foundation-sdk, requirements.txt) and serialised with its JSON encoder,
so the files follow Grafana's dashboard schema instead of a shape written here by hand.
The SDK's newest Grafana line is 11.6; Grafana 12 (grafana_version) reads that
dashboard JSON as it is.

`python -m lab dashboards` writes them; `python -m lab dashboards --check` (run by the
unit tests) fails when the committed JSON differs from what this module generates, so
the repository stays the one source of truth and nobody edits the JSON by hand.

Every query reads the series of CONTRIBUTING.md ("Metrics other tiers rely on") and
names the scrape job it expects (`job="redis"`), so lab/panel_queries.py can tell which
component a panel is about. Every panel uses the Prometheus datasource through the
`datasource` variable, whose default is the datasource the grafana role provisions
(DATASOURCE_UID); with two Prometheus servers, or one per environment, the variable
switches between them. Every dashboard marks planned maintenance (`horilla-maintenance
start`) with the "Maintenance" annotation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple, Self, TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import gauge, prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as prometheus_models

from lab.state import PROJECT_DIR

DASHBOARDS_DIR = PROJECT_DIR / "roles" / "grafana" / "files" / "dashboards"
# The uid the grafana role gives the first provisioned Prometheus datasource
# (roles/grafana/vars/main.yml, _grafana_datasource_uid); the unit tests check both agree.
DATASOURCE_UID = "horilla-prometheus"
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["horilla"]

# Objectives (CONTRIBUTING.md, Architecture): availability 99.99 %, p95 < 2 s, errors < 0.1 %.
AVAILABILITY_OBJECTIVE = 0.9999
LATENCY_OBJECTIVE_S = 2
ERROR_RATE_OBJECTIVE = 0.001
SLA_WINDOW = "30d"

# Filters reused by many queries. `instance=~"$instance"` follows the instance variable.
INST = 'instance=~"$instance"'
NODE = f'job="node", {INST}'
FS = 'fstype!~"tmpfs|ramfs|devtmpfs|squashfs|nsfs|overlay|fuse.*", mountpoint!~"/(run|sys|proc|dev)($|/.*)"'
DJANGO_RESPONSES = "django_http_responses_total_by_status_view_method_total"
DJANGO_LATENCY = "django_http_requests_latency_seconds_by_view_method_bucket"
HAPROXY = 'job="haproxy", proxy!~".*stats.*"'
ES = 'job="elasticsearch"'
# Critical and warning alerts firing now by severity; 0 (not "no data") when none fires.
ALERTS_FIRING = 'count by (severity) (ALERTS{alertstate="firing", severity=~"critical|warning"}) or on () vector(0)'
# Planned maintenance: `horilla-maintenance start` sets horilla_maintenance_active{reason=...}
# to 1 through node_exporter's textfile collector (src/horilla_ops/monitoring/maintenance.py).
# An annotation, not a panel: outside maintenance it has no series, and that is right.
MAINTENANCE_EXPR = "max by (reason) (horilla_maintenance_active) == 1"

Thresholds = list[tuple[float | None, str]]
# The panel builders this module uses; each has the same common methods (title, unit...).
PanelBuilder = timeseries.Panel | stat.Panel | gauge.Panel | table.Panel | statetimeline.Panel
P = TypeVar("P", timeseries.Panel, stat.Panel, gauge.Panel, table.Panel, statetimeline.Panel)


class Row(NamedTuple):
    title: str
    panels: list[PanelBuilder]


def query(expr: str, legend: str = "") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").datasource(DATASOURCE)


def value_map(values: dict[int, tuple[str, str]]) -> list[dm.ValueMapping]:
    """Display text and colour per value: {0: ("DOWN", "red"), 1: ("UP", "green")}."""
    options = {str(value): dm.ValueMappingResult(text=text, color=color) for value, (text, color) in values.items()}
    return [dm.ValueMap(options=options)]


def _panel(
    builder: P,
    title: str,
    targets: list[prometheus.Dataquery],
    *,
    instant: bool,
    unit: str = "short",
    description: str = "",
    width: int = 12,
    height: int = 8,
    thresholds: Thresholds | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    mappings: list[dm.ValueMapping] | None = None,
) -> P:
    """What every panel shares: its queries (refId A, B...), datasource, size, unit, thresholds."""
    steps = [dm.Threshold(value=value, color=color) for value, color in thresholds or [(None, "green")]]
    builder.title(title).description(description).datasource(DATASOURCE).span(width).height(height)
    builder.unit(unit).thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps))
    if minimum is not None:
        builder.min(minimum)
    if maximum is not None:
        builder.max(maximum)
    if mappings:
        builder.mappings(mappings)
    for index, target in enumerate(targets):
        target.ref_id(chr(ord("A") + index))
        # Numbers of now (stat, gauge, table) ask for the last value; graphs for the range.
        builder.with_target(target.instant() if instant else target.range())
    return builder


def _last_value() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)


def timeseries_panel(title: str, targets: list[prometheus.Dataquery], **kwargs: Any) -> timeseries.Panel:
    legend = (
        common_builders.VizLegendOptions()
        .display_mode(common_models.LegendDisplayMode.LIST)
        .placement(common_models.LegendPlacement.BOTTOM)
        .show_legend(True)
    )
    panel = _panel(timeseries.Panel(), title, targets, instant=False, **kwargs).legend(legend)
    if kwargs.get("thresholds"):
        # The objective as a line across the graph.
        style = common_builders.GraphThresholdsStyleConfig().mode(common_models.GraphThresholdsStyleMode.LINE)
        panel.thresholds_style(style)
    return panel


def state_timeline_panel(title: str, targets: list[prometheus.Dataquery], **kwargs: Any) -> statetimeline.Panel:
    return _panel(statetimeline.Panel(), title, targets, instant=False, **kwargs)


def stat_panel(title: str, targets: list[prometheus.Dataquery], **kwargs: Any) -> stat.Panel:
    return _panel(stat.Panel(), title, targets, instant=True, **kwargs).reduce_options(_last_value())


def gauge_panel(title: str, targets: list[prometheus.Dataquery], **kwargs: Any) -> gauge.Panel:
    return _panel(gauge.Panel(), title, targets, instant=True, **kwargs).reduce_options(_last_value())


def table_panel(title: str, targets: list[prometheus.Dataquery], **kwargs: Any) -> table.Panel:
    for target in targets:
        target.format(prometheus_models.PromQueryFormat.TABLE)
    return _panel(table.Panel(), title, targets, instant=True, **kwargs)


class _PrometheusAnnotationQuery(dm.AnnotationQuery):
    """The SDK's annotation model, plus the fields Grafana's Prometheus datasource reads.

    grafana-foundation-sdk's AnnotationQuery (dashboard schema v1) knows name, datasource,
    expr, iconColor...; the Prometheus datasource also reads `step`, `titleFormat` and
    `textFormat` from the annotation itself, which the SDK has no field for.
    """

    def __init__(self) -> None:
        super().__init__()
        self.step = ""
        self.title_format = ""
        self.text_format = ""

    def to_json(self) -> dict[str, object]:
        return super().to_json() | {"step": self.step, "titleFormat": self.title_format, "textFormat": self.text_format}


class PrometheusAnnotation(db.AnnotationQuery):
    """db.AnnotationQuery with the Prometheus datasource's step, title and text."""

    _internal: _PrometheusAnnotationQuery

    def __init__(self) -> None:
        super().__init__()
        self._internal = _PrometheusAnnotationQuery()

    def step(self, step: str) -> Self:
        self._internal.step = step
        return self

    def title_format(self, title_format: str) -> Self:
        self._internal.title_format = title_format
        return self

    def text_format(self, text_format: str) -> Self:
        self._internal.text_format = text_format
        return self


def _annotations() -> list[db.AnnotationQuery]:
    built_in = (
        db.AnnotationQuery()
        .name("Annotations & Alerts")
        .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .built_in(1)
        .type("dashboard")
        .enable(True)
        .hide(True)
        .icon_color("rgba(0, 211, 255, 1)")
    )
    maintenance = (
        PrometheusAnnotation()
        .name("Maintenance")
        .datasource(DATASOURCE)
        .expr(MAINTENANCE_EXPR)
        .enable(True)
        .icon_color("orange")
        .step("30s")
        .title_format("Maintenance")
        .text_format("{{reason}}")
    )
    return [built_in, maintenance]


def _variables() -> list[Builder[dm.VariableModel]]:
    instances = 'label_values(up{job="node"}, instance)'
    return [
        db.DatasourceVariable("datasource")
        .label("Environment (Prometheus)")
        .type("prometheus")
        .current(dm.VariableOption(selected=True, text="Prometheus", value=DATASOURCE_UID))
        .hide(dm.VariableHide.DONT_HIDE)
        .regex("")
        .include_all(False)
        .multi(False),
        db.QueryVariable("instance")
        .label("Instance")
        .datasource(DATASOURCE)
        .query({"qryType": 1, "query": instances, "refId": "instance"})
        .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .include_all(True)
        .all_value(".*")
        .multi(True)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .hide(dm.VariableHide.DONT_HIDE)
        .regex("")
        .options([]),
    ]


def dashboard(uid: str, title: str, description: str, rows: list[Row]) -> db.Dashboard:
    board = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone("browser")
        .readonly()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .version(1)
        .time("now-6h", "now")
        .fiscal_year_start_month(0)
        .live_now(False)
        .link(db.DashboardLink("Horilla dashboards").type(dm.DashboardLinkType.DASHBOARDS).tags(TAGS).as_dropdown(True))
        .annotations(_annotations())
        .variables(_variables())
    )
    next_id = 1
    # Rows stay expanded: their panels follow them at the top level, which the SDK lays
    # out left to right, starting a new line once the 24 columns are filled (so a line's
    # widths must add up to 24: the unit tests check that every panel fits the grid).
    for row in rows:
        board.with_row(db.Row(row.title).id(next_id))
        for panel in row.panels:
            next_id += 1
            board.with_panel(panel.id(next_id))
        next_id += 1
    return board


# ---------------------------------------------------------------------------- pieces


def rate(metric: str, selector: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{{{selector}}}[$__rate_interval]))"


def error_ratio(selector: str, by: str = "") -> str:
    """Share of 5xx answers; 0 (not "no data") while no request ever failed."""
    errors = rate(DJANGO_RESPONSES, f'{selector}, status=~"5.."', by)
    total = rate(DJANGO_RESPONSES, selector, by)
    return f"({errors} or {total} * 0) / {total}"


def latency_quantile(q: float, selector: str, by: str = "") -> str:
    keep = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({keep}) (rate({DJANGO_LATENCY}{{{selector}}}[$__rate_interval])))"


PERCENT_0_100 = {"unit": "percent", "minimum": 0, "maximum": 100}
UP_DOWN = value_map({0: ("DOWN", "red"), 1: ("UP", "green")})
RED_GREEN: Thresholds = [(None, "red"), (1, "green")]


def host_panels() -> list[PanelBuilder]:
    return [
        timeseries_panel(
            "CPU busy per host",
            [
                query(
                    "100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{"
                    + NODE
                    + ', mode="idle"}[$__rate_interval])))',
                    "{{instance}}",
                )
            ],
            thresholds=[(None, "green"), (80, "red")],
            description="Threshold MONITOR_MAX_CPU_USAGE: 80 % (HostHighCpuUsage).",
            **PERCENT_0_100,
        ),
        timeseries_panel(
            "Memory used per host",
            [
                query(
                    f"100 * (1 - node_memory_MemAvailable_bytes{{{NODE}}} / node_memory_MemTotal_bytes{{{NODE}}})",
                    "{{instance}}",
                )
            ],
            thresholds=[(None, "green"), (85, "red")],
            description="Threshold MONITOR_MAX_MEMORY_USAGE: 85 % (HostHighMemoryUsage).",
            **PERCENT_0_100,
        ),
        timeseries_panel(
            "Disk space free per host and mount",
            [
                query(
                    f"100 * node_filesystem_avail_bytes{{{NODE}, {FS}}} / node_filesystem_size_bytes{{{NODE}, {FS}}}",
                    "{{instance}} {{mountpoint}}",
                )
            ],
            thresholds=[(None, "red"), (10, "green")],
            description="Warning under 10 % free (HostDiskSpaceLow), page under 5 %.",
            **PERCENT_0_100,
        ),
        timeseries_panel(
            "Network traffic per host",
            [
                query(
                    rate("node_network_receive_bytes_total", NODE + ', device!="lo"', "instance"),
                    "{{instance}} received",
                ),
                query(
                    rate("node_network_transmit_bytes_total", NODE + ', device!="lo"', "instance"),
                    "{{instance}} sent",
                ),
            ],
            unit="Bps",
        ),
    ]


def system_overview() -> db.Dashboard:
    return dashboard(
        "horilla-system-overview",
        "Horilla: System Overview",
        "Is Horilla up, which tiers are whole, and what is firing.",
        [
            Row(
                "Service",
                [
                    stat_panel(
                        "Horilla reachable",
                        [query("horilla:service_up:probe", "reachable")],
                        description="/health/ready/ through the VIP (or any app node): the availability SLI.",
                        width=6,
                        height=5,
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    stat_panel(
                        "p95 latency",
                        [query("horilla:http_request_duration_seconds:p95_rate5m", "p95")],
                        unit="s",
                        width=6,
                        height=5,
                        thresholds=[(None, "green"), (LATENCY_OBJECTIVE_S, "red")],
                    ),
                    stat_panel(
                        "Error rate (5xx)",
                        [query(error_ratio('job="horilla"'), "5xx")],
                        unit="percentunit",
                        width=6,
                        height=5,
                        thresholds=[(None, "green"), (ERROR_RATE_OBJECTIVE, "red")],
                    ),
                    stat_panel(
                        "Alerts firing",
                        [
                            query(
                                ALERTS_FIRING,
                                "{{severity}}",
                            )
                        ],
                        description="Critical and warning alerts firing now (0 when none).",
                        width=6,
                        height=5,
                        thresholds=[(None, "green"), (1, "red")],
                    ),
                ],
            ),
            Row(
                "Tiers",
                [
                    timeseries_panel(
                        "Members up per tier (scrape job)",
                        [query('sum by (job) (up{job!~"blackbox_.*"})', "{{job}}")],
                        description="Members whose exporter answers, per scrape job.",
                    ),
                    stat_panel(
                        "Targets down",
                        [query("count(up) - sum(up)", "down")],
                        width=6,
                        thresholds=[(None, "green"), (1, "red")],
                    ),
                    stat_panel(
                        "Probes failing",
                        [query("count(probe_success) - sum(probe_success)", "failing")],
                        description="blackbox_exporter's HTTP and TCP probes that fail now.",
                        width=6,
                        thresholds=[(None, "green"), (1, "red")],
                    ),
                ],
            ),
            Row("Hosts", host_panels()[:3]),
        ],
    )


def application_performance() -> db.Dashboard:
    app = f'job="horilla", {INST}'
    return dashboard(
        "horilla-application-performance",
        "Horilla: Application Performance",
        "Requests, errors and latency per app node (django-prometheus) and through HAProxy.",
        [
            Row(
                "Per app node",
                [
                    timeseries_panel(
                        "Request rate per node",
                        [query(rate(DJANGO_RESPONSES, app, "instance"), "{{instance}}")],
                        unit="reqps",
                    ),
                    timeseries_panel(
                        "Error rate (5xx) per node",
                        [query(error_ratio(app, "instance"), "{{instance}}")],
                        unit="percentunit",
                        thresholds=[(None, "green"), (ERROR_RATE_OBJECTIVE, "red")],
                    ),
                    timeseries_panel(
                        "Latency p50 / p95 / p99 per node",
                        [
                            query(latency_quantile(0.5, app, "instance"), "{{instance}} p50"),
                            query(latency_quantile(0.95, app, "instance"), "{{instance}} p95"),
                            query(latency_quantile(0.99, app, "instance"), "{{instance}} p99"),
                        ],
                        unit="s",
                        thresholds=[(None, "green"), (LATENCY_OBJECTIVE_S, "red")],
                        width=24,
                    ),
                    timeseries_panel(
                        "Responses by status code",
                        [query(rate(DJANGO_RESPONSES, app, "status"), "{{status}}")],
                        unit="reqps",
                    ),
                    state_timeline_panel(
                        "Dependency checks per node",
                        [query(f"horilla_health_check_up{{{app}}}", "{{instance}} {{check}}")],
                        description="The /health/ready/ checks (database, cache, ...) as each node sees them.",
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    stat_panel(
                        "Scheduler leader",
                        [query('sum(horilla_scheduler_leader{job="horilla"})', "leaders")],
                        description="Exactly one process in the cluster runs Horilla's scheduled jobs.",
                        width=6,
                        thresholds=[(None, "red"), (1, "green"), (2, "red")],
                    ),
                    stat_panel(
                        "App nodes answering /health/ready/",
                        [
                            query(
                                'sum(probe_success{job="blackbox_http", scope="node", path="/health/ready/"})',
                                "ready",
                            )
                        ],
                        width=6,
                    ),
                ],
            ),
            Row(
                "Business",
                [
                    stat_panel(
                        "Active employees",
                        [query('sum(horilla_business_active_employees{job="horilla"})', "employees")],
                        description="Employees not archived. Only the scheduler leader exports the business "
                        "figures, so the sum counts each once.",
                        width=6,
                    ),
                    stat_panel(
                        "Check-ins today",
                        [
                            query(
                                'sum(horilla_business_attendance_checkins_today{job="horilla"})',
                                "check-ins",
                            )
                        ],
                        description="Today's attendance records with a check-in time (the app's time zone).",
                        width=6,
                    ),
                    stat_panel(
                        "Pending leave requests",
                        [query('sum(horilla_business_leave_requests_pending{job="horilla"})', "pending")],
                        description="Leave requests waiting for a decision (status requested).",
                        width=6,
                    ),
                    stat_panel(
                        "Payslips this month by status",
                        [
                            query(
                                'sum by (status) (horilla_business_payslips_this_month{job="horilla"})',
                                "{{status}}",
                            )
                        ],
                        description="This month's payroll run: payslips whose period ends this month, by status "
                        "(draft, review ongoing, confirmed, paid).",
                        width=6,
                    ),
                    timeseries_panel(
                        "Business query cost",
                        [query('max by (metric) (horilla_business_query_seconds{job="horilla"})', "{{metric}}")],
                        unit="s",
                        description="Duration of each business query's last run; they run at most once a minute, "
                        "on the scheduler leader only.",
                        width=24,
                    ),
                ],
            ),
            Row(
                "Through HAProxy",
                [
                    timeseries_panel(
                        "Request rate at the load balancers",
                        [
                            query(
                                rate("haproxy_frontend_http_requests_total", HAPROXY, "instance, proxy"),
                                "{{instance}} {{proxy}}",
                            )
                        ],
                        unit="reqps",
                    ),
                    timeseries_panel(
                        "Error rate (5xx) at the load balancers",
                        [
                            query(
                                rate("haproxy_frontend_http_responses_total", HAPROXY + ', code="5xx"')
                                + " / "
                                + rate("haproxy_frontend_http_requests_total", HAPROXY),
                                "5xx",
                            )
                        ],
                        unit="percentunit",
                        thresholds=[(None, "green"), (ERROR_RATE_OBJECTIVE, "red")],
                    ),
                    timeseries_panel(
                        "Backend response time (average of the last 1024 requests)",
                        [
                            query(
                                'haproxy_backend_response_time_average_seconds{job="haproxy", proxy!~".*stats.*"}',
                                "{{instance}} {{proxy}}",
                            )
                        ],
                        unit="s",
                        thresholds=[(None, "green"), (LATENCY_OBJECTIVE_S, "red")],
                    ),
                    timeseries_panel(
                        "Servers in service per backend",
                        [
                            query(
                                'haproxy_backend_active_servers{job="haproxy", proxy!~".*stats.*"}',
                                "{{instance}} {{proxy}}",
                            )
                        ],
                    ),
                ],
            ),
        ],
    )


def database_metrics() -> db.Dashboard:
    pg = 'job="postgres"'
    return dashboard(
        "horilla-database-metrics",
        "Horilla: Database Metrics",
        "PostgreSQL under Patroni: leader, replication, connections, throughput; etcd (Patroni's DCS).",
        [
            Row(
                "Cluster",
                [
                    state_timeline_panel(
                        "Leader (Patroni primary)",
                        [query('patroni_primary{job="patroni"}', "{{instance}}")],
                        description="1 on the member holding the leader lock.",
                        mappings=value_map({0: ("replica", "blue"), 1: ("LEADER", "green")}),
                    ),
                    state_timeline_panel(
                        "PostgreSQL running (Patroni)",
                        [query('patroni_postgres_running{job="patroni"}', "{{instance}}")],
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    stat_panel(
                        "Exporter reaches PostgreSQL",
                        [query(f"pg_up{{{pg}}}", "{{instance}}")],
                        width=8,
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    stat_panel(
                        "Timeline (changes at every failover)",
                        [query('max(patroni_postgres_timeline{job="patroni"})', "timeline")],
                        width=8,
                    ),
                    stat_panel(
                        "Members up (Patroni REST API)",
                        [query('sum(up{job="patroni"})', "members")],
                        width=8,
                    ),
                ],
            ),
            Row(
                "Replication",
                [
                    timeseries_panel(
                        "Replication lag (replicas)",
                        [
                            query(
                                f"max by (instance) (pg_replication_lag_seconds{{{pg}}} or pg_replication_lag{{{pg}}})",
                                "{{instance}}",
                            )
                        ],
                        unit="s",
                        description="Seconds since the last replayed transaction; 0 on the leader. Alert at 30 s.",
                        thresholds=[(None, "green"), (30, "red")],
                    ),
                    timeseries_panel(
                        "Replay lag in bytes (seen from the leader)",
                        [query(f"pg_stat_replication_pg_wal_lsn_diff{{{pg}}}", "{{instance}} to {{application_name}}")],
                        unit="bytes",
                    ),
                ],
            ),
            Row(
                "Load",
                [
                    timeseries_panel(
                        "Connections per node",
                        [
                            query(
                                f"sum by (instance) (pg_stat_database_numbackends{{{pg}}})", "{{instance}} connections"
                            ),
                            query(f"max by (instance) (pg_settings_max_connections{{{pg}}})", "{{instance}} max"),
                        ],
                        width=8,
                    ),
                    timeseries_panel(
                        "Transactions per second",
                        [
                            query(
                                rate("pg_stat_database_xact_commit", pg, "instance")
                                + " + "
                                + rate("pg_stat_database_xact_rollback", pg, "instance"),
                                "{{instance}}",
                            )
                        ],
                        unit="ops",
                        width=8,
                    ),
                    timeseries_panel(
                        "Cache hit ratio (since statistics reset)",
                        [
                            query(
                                f"sum by (instance) (pg_stat_database_blks_hit{{{pg}}})"
                                f" / (sum by (instance) (pg_stat_database_blks_hit{{{pg}}})"
                                f" + sum by (instance) (pg_stat_database_blks_read{{{pg}}}))",
                                "{{instance}}",
                            )
                        ],
                        unit="percentunit",
                        minimum=0,
                        maximum=1,
                        width=8,
                    ),
                ],
            ),
            Row(
                "etcd (Patroni's DCS)",
                [
                    stat_panel(
                        "Members with a leader",
                        [query('sum(etcd_server_has_leader{job="etcd"})', "with leader")],
                        width=8,
                        description="Every member should see a leader; without quorum no failover can happen.",
                    ),
                    stat_panel(
                        "Leader changes (1 h)",
                        [
                            query(
                                'max(increase(etcd_server_leader_changes_seen_total{job="etcd"}[1h]))',
                                "changes",
                            )
                        ],
                        width=8,
                    ),
                    timeseries_panel(
                        "Patroni's last contact with the DCS",
                        [query('time() - patroni_dcs_last_seen{job="patroni"}', "{{instance}}")],
                        unit="s",
                        width=8,
                    ),
                ],
            ),
        ],
    )


def infrastructure_health() -> db.Dashboard:
    return dashboard(
        "horilla-infrastructure-health",
        "Horilla: Infrastructure Health",
        "Hosts, Redis, Elasticsearch, probes and backups.",
        [
            Row(
                "Hosts",
                [
                    state_timeline_panel(
                        "Hosts up",
                        [query(f"up{{{NODE}}}", "{{instance}}")],
                        width=24,
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    *host_panels(),
                ],
            ),
            Row(
                "Redis",
                [
                    table_panel(
                        "Role per server",
                        [query('max by (instance, role) (redis_instance_info{job="redis"})')],
                        description="Exactly one master; Sentinel promotes a replica when it fails.",
                        width=8,
                    ),
                    stat_panel(
                        "Replicas connected to the primary",
                        [
                            query(
                                'max(redis_connected_slaves{job="redis"}'
                                ' and on (instance) redis_instance_info{job="redis", role="master"})',
                                "replicas",
                            )
                        ],
                        width=8,
                    ),
                    state_timeline_panel(
                        "Redis up",
                        [query('redis_up{job="redis"}', "{{instance}}")],
                        width=8,
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    timeseries_panel(
                        "Memory used",
                        [query('redis_memory_used_bytes{job="redis"}', "{{instance}}")],
                        unit="bytes",
                    ),
                    timeseries_panel(
                        "Commands per second",
                        [
                            query(
                                'rate(redis_commands_processed_total{job="redis"}[$__rate_interval])',
                                "{{instance}}",
                            )
                        ],
                        unit="ops",
                    ),
                ],
            ),
            Row(
                "Elasticsearch",
                [
                    stat_panel(
                        "Cluster status",
                        [
                            query(
                                f"max by (cluster, color) (elasticsearch_cluster_health_status{{{ES}}}) == 1",
                                "{{cluster}}",
                            )
                        ],
                        description="The color whose series is 1.",
                        width=8,
                    ),
                    stat_panel(
                        "Nodes in the cluster",
                        [
                            query(
                                f"max by (cluster) (elasticsearch_cluster_health_number_of_nodes{{{ES}}})",
                                "{{cluster}}",
                            )
                        ],
                        width=8,
                    ),
                    stat_panel(
                        "Unassigned shards",
                        [
                            query(
                                f"max by (cluster) (elasticsearch_cluster_health_unassigned_shards{{{ES}}})",
                                "{{cluster}}",
                            )
                        ],
                        width=8,
                        thresholds=[(None, "green"), (1, "red")],
                    ),
                    timeseries_panel(
                        "JVM heap used per node",
                        [
                            query(
                                '100 * elasticsearch_jvm_memory_used_bytes{job="elasticsearch", area="heap"}'
                                ' / elasticsearch_jvm_memory_max_bytes{job="elasticsearch", area="heap"}',
                                "{{instance}}",
                            )
                        ],
                        thresholds=[(None, "green"), (85, "red")],
                        width=24,
                        **PERCENT_0_100,
                    ),
                ],
            ),
            Row(
                "Probes",
                [
                    state_timeline_panel(
                        "HTTP probes",
                        [query('probe_success{job="blackbox_http"}', "{{instance}} {{path}}")],
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    state_timeline_panel(
                        "TCP probes",
                        [query('probe_success{job="blackbox_tcp"}', "{{instance}} {{service}}")],
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    state_timeline_panel(
                        "External services",
                        [query('probe_success{scope="external"}', "{{service}}")],
                        description="monitoring_external_services (HorillaExternalServiceDown).",
                        width=24,
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                ],
            ),
            Row(
                "Backups",
                [
                    timeseries_panel(
                        "Age of the last successful backup",
                        [
                            query(
                                'time() - max by (kind) (horilla_backup_last_success_timestamp_seconds{job="node"})',
                                "{{kind}}",
                            )
                        ],
                        unit="s",
                        description="Page when no database or file backup succeeded for 26 hours.",
                        thresholds=[(None, "green"), (26 * 3600, "red")],
                        width=8,
                    ),
                    stat_panel(
                        "Last result",
                        [query('horilla_backup_last_result{job="node"}', "{{kind}}")],
                        width=8,
                        thresholds=RED_GREEN,
                        mappings=value_map({0: ("FAILED", "red"), 1: ("ok", "green")}),
                    ),
                    stat_panel(
                        "Size of the last backup",
                        [query('horilla_backup_last_size_bytes{job="node"}', "{{kind}}")],
                        unit="bytes",
                        width=8,
                    ),
                ],
            ),
        ],
    )


def sla_tracking() -> db.Dashboard:
    budget = 1 - AVAILABILITY_OBJECTIVE
    latency_budget = 0.05
    available = f"avg_over_time(horilla:service_up:probe[{SLA_WINDOW}])"
    return dashboard(
        "horilla-sla-tracking",
        "Horilla: SLA Tracking",
        "Availability against 99.99 %, error budget, burn rates, p95 against 2 s, incidents.",
        [
            Row(
                f"Objectives over {SLA_WINDOW}",
                [
                    stat_panel(
                        f"Availability ({SLA_WINDOW})",
                        [query(available, "availability")],
                        unit="percentunit",
                        description="Share of the window in which /health/ready/ answered (objective 99.99 %).",
                        width=6,
                        thresholds=[(None, "red"), (AVAILABILITY_OBJECTIVE, "green")],
                    ),
                    gauge_panel(
                        "Error budget remaining",
                        [query(f"1 - (1 - {available}) / {budget:g}", "remaining")],
                        unit="percentunit",
                        description="1 = no downtime yet; 0 = the 4.32 minutes of 30 days are used up.",
                        width=6,
                        minimum=0,
                        maximum=1,
                        thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
                    ),
                    stat_panel(
                        f"Downtime ({SLA_WINDOW})",
                        [query(f"(1 - {available}) * 30 * 24 * 60", "minutes")],
                        unit="m",
                        description="Allowed: 4.32 minutes per 30 days.",
                        width=6,
                        thresholds=[(None, "green"), (4.32, "red")],
                    ),
                    stat_panel(
                        f"Outages ({SLA_WINDOW})",
                        [
                            query(
                                f"ceil(changes(horilla:service_up:probe[{SLA_WINDOW}]) / 2)",
                                "outages",
                            )
                        ],
                        description="Times the service went down (each outage is two changes: down, then up).",
                        width=6,
                    ),
                ],
            ),
            Row(
                "Burn rates (1 = spending the budget exactly over 30 days)",
                [
                    timeseries_panel(
                        "Availability budget burn rate",
                        [
                            query(f"horilla:availability_errors:ratio_{window} / {budget:g}", window)
                            for window in ("5m", "1h", "6h", "1d", "3d")
                        ],
                        description="Page at 14.4 (1h and 5m) or 6 (6h and 30m); ticket at 3 (1d) or 1 (3d).",
                        thresholds=[(None, "green"), (1, "orange"), (14.4, "red")],
                    ),
                    timeseries_panel(
                        "Latency budget burn rate (requests over 2 s)",
                        [
                            query(f"horilla:latency_slow:ratio_rate{window} / {latency_budget:g}", window)
                            for window in ("5m", "1h", "6h", "1d", "3d")
                        ],
                        description="Budget: 5 % of requests may take over 2 s (p95 < 2 s).",
                        thresholds=[(None, "green"), (1, "orange"), (14.4, "red")],
                    ),
                ],
            ),
            Row(
                "Latency and errors",
                [
                    timeseries_panel(
                        "p95 latency against 2 s",
                        [query("horilla:http_request_duration_seconds:p95_rate5m", "p95")],
                        unit="s",
                        thresholds=[(None, "green"), (LATENCY_OBJECTIVE_S, "red")],
                    ),
                    timeseries_panel(
                        "Error rate against 0.1 %",
                        [query(error_ratio('job="horilla"'), "5xx share")],
                        unit="percentunit",
                        thresholds=[(None, "green"), (ERROR_RATE_OBJECTIVE, "red")],
                    ),
                ],
            ),
            Row(
                "Incidents",
                [
                    timeseries_panel(
                        "Alerts firing by severity",
                        [
                            query(
                                ALERTS_FIRING,
                                "{{severity}}",
                            )
                        ],
                        description="0 when nothing fires; critical alerts page somebody.",
                    ),
                    state_timeline_panel(
                        "Service reachable",
                        [query("horilla:service_up:probe", "Horilla")],
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                ],
            ),
        ],
    )


DASHBOARDS = {
    "system-overview.json": system_overview,
    "application-performance.json": application_performance,
    "database-metrics.json": database_metrics,
    "infrastructure-health.json": infrastructure_health,
    "sla-tracking.json": sla_tracking,
}


def render() -> dict[str, str]:
    return {
        name: json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def write(directory: Path = DASHBOARDS_DIR) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in render().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(name)
    return changed


def stale(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Dashboards whose committed JSON differs from what this module generates."""
    out = [n for n, t in render().items() if not (directory / n).exists() or (directory / n).read_text() != t]
    extra = sorted(p.name for p in directory.glob("*.json") if p.name not in DASHBOARDS)
    return out + extra
