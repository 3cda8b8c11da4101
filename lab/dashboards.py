"""The five required Grafana dashboards (CONTRIBUTING.md, Requirements), generated as JSON into
roles/grafana/files/dashboards/.

`python -m lab dashboards` writes them; `python -m lab dashboards --check` (run by the
unit tests) fails when the committed JSON differs from what this module generates, so
the repository stays the one source of truth and nobody edits the JSON by hand.

Every query reads the series of CONTRIBUTING.md ("Metrics other tiers rely on") and
names the scrape job it expects (`job="redis"`), so lab/panel_queries.py can tell which
component a panel is about. Every panel uses the Prometheus datasource through the
`datasource` variable, whose default is the datasource the grafana role provisions
(DATASOURCE_UID); with two Prometheus servers, or one per environment, the variable
switches between them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.state import PROJECT_DIR

DASHBOARDS_DIR = PROJECT_DIR / "roles" / "grafana" / "files" / "dashboards"
# The uid the grafana role gives the first provisioned Prometheus datasource
# (roles/grafana/vars/main.yml, _grafana_datasource_uid); the unit tests check both agree.
DATASOURCE_UID = "horilla-prometheus"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39
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


@dataclass
class Target:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass
class Panel:
    title: str
    kind: str  # timeseries, stat, gauge, table, state-timeline
    targets: list[Target]
    unit: str = "short"
    description: str = ""
    width: int = 12
    height: int = 8
    thresholds: list[tuple[float | None, str]] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    mappings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Row:
    title: str
    panels: list[Panel]


def _threshold_steps(steps: list[tuple[float | None, str]]) -> dict[str, Any]:
    steps = steps or [(None, "green")]
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit, "thresholds": _threshold_steps(panel.thresholds)}
    if panel.minimum is not None:
        defaults["min"] = panel.minimum
    if panel.maximum is not None:
        defaults["max"] = panel.maximum
    if panel.mappings:
        defaults["mappings"] = panel.mappings
    if panel.kind == "timeseries" and panel.thresholds:
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    options: dict[str, Any] = {}
    if panel.kind in ("stat", "gauge"):
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    elif panel.kind == "timeseries":
        options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
    targets = []
    for index, target in enumerate(panel.targets):
        query: dict[str, Any] = {
            "datasource": DATASOURCE,
            "refId": chr(ord("A") + index),
            "expr": target.expr,
            "legendFormat": target.legend or "__auto",
            "range": not target.instant,
            "instant": target.instant,
        }
        if panel.kind == "table":
            query["format"] = "table"
        targets.append(query)
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
    }


def _variables() -> dict[str, Any]:
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Environment (Prometheus)",
                "type": "datasource",
                "query": "prometheus",
                "current": {"selected": True, "text": "Prometheus", "value": DATASOURCE_UID},
                "hide": 0,
                "refresh": 1,
                "regex": "",
                "includeAll": False,
                "multi": False,
                "options": [],
            },
            {
                "name": "instance",
                "label": "Instance",
                "type": "query",
                "datasource": DATASOURCE,
                "definition": 'label_values(up{job="node"}, instance)',
                "query": {"qryType": 1, "query": 'label_values(up{job="node"}, instance)', "refId": "instance"},
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                "includeAll": True,
                "allValue": ".*",
                "multi": True,
                "refresh": 2,
                "sort": 1,
                "hide": 0,
                "regex": "",
                "options": [],
            },
        ]
    }


def dashboard(uid: str, title: str, description: str, rows: list[Row]) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    next_id, y = 1, 0
    for row in rows:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id, y, x, row_height = next_id + 1, y + 1, 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(_panel_json(panel, next_id, x, y))
            next_id, x, row_height = next_id + 1, x + panel.width, max(row_height, panel.height)
        y += row_height
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": TAGS,
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [{"type": "dashboards", "tags": TAGS, "asDropdown": True, "title": "Horilla dashboards"}],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": _variables(),
        "panels": panels,
    }


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
UP_DOWN = [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}}}]
RED_GREEN = [(None, "red"), (1, "green")]


def host_panels() -> list[Panel]:
    return [
        Panel(
            "CPU busy per host",
            "timeseries",
            [
                Target(
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
        Panel(
            "Memory used per host",
            "timeseries",
            [
                Target(
                    f"100 * (1 - node_memory_MemAvailable_bytes{{{NODE}}} / node_memory_MemTotal_bytes{{{NODE}}})",
                    "{{instance}}",
                )
            ],
            thresholds=[(None, "green"), (85, "red")],
            description="Threshold MONITOR_MAX_MEMORY_USAGE: 85 % (HostHighMemoryUsage).",
            **PERCENT_0_100,
        ),
        Panel(
            "Disk space free per host and mount",
            "timeseries",
            [
                Target(
                    f"100 * node_filesystem_avail_bytes{{{NODE}, {FS}}} / node_filesystem_size_bytes{{{NODE}, {FS}}}",
                    "{{instance}} {{mountpoint}}",
                )
            ],
            thresholds=[(None, "red"), (10, "green")],
            description="Warning under 10 % free (HostDiskSpaceLow), page under 5 %.",
            **PERCENT_0_100,
        ),
        Panel(
            "Network traffic per host",
            "timeseries",
            [
                Target(
                    rate("node_network_receive_bytes_total", NODE + ', device!="lo"', "instance"),
                    "{{instance}} received",
                ),
                Target(
                    rate("node_network_transmit_bytes_total", NODE + ', device!="lo"', "instance"),
                    "{{instance}} sent",
                ),
            ],
            unit="Bps",
        ),
    ]


def system_overview() -> dict[str, Any]:
    return dashboard(
        "horilla-system-overview",
        "Horilla: System Overview",
        "Is Horilla up, which tiers are whole, and what is firing.",
        [
            Row(
                "Service",
                [
                    Panel(
                        "Horilla reachable",
                        "stat",
                        [Target("horilla:service_up:probe", "reachable", instant=True)],
                        description="/health/ready/ through the VIP (or any app node): the availability SLI.",
                        width=6,
                        height=5,
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    Panel(
                        "p95 latency",
                        "stat",
                        [Target("horilla:http_request_duration_seconds:p95_rate5m", "p95", instant=True)],
                        unit="s",
                        width=6,
                        height=5,
                        thresholds=[(None, "green"), (LATENCY_OBJECTIVE_S, "red")],
                    ),
                    Panel(
                        "Error rate (5xx)",
                        "stat",
                        [Target(error_ratio('job="horilla"'), "5xx", instant=True)],
                        unit="percentunit",
                        width=6,
                        height=5,
                        thresholds=[(None, "green"), (ERROR_RATE_OBJECTIVE, "red")],
                    ),
                    Panel(
                        "Alerts firing",
                        "stat",
                        [
                            Target(
                                ALERTS_FIRING,
                                "{{severity}}",
                                instant=True,
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
                    Panel(
                        "Members up per tier (scrape job)",
                        "timeseries",
                        [Target('sum by (job) (up{job!~"blackbox_.*"})', "{{job}}")],
                        description="Members whose exporter answers, per scrape job.",
                    ),
                    Panel(
                        "Targets down",
                        "stat",
                        [Target("count(up) - sum(up)", "down", instant=True)],
                        width=6,
                        thresholds=[(None, "green"), (1, "red")],
                    ),
                    Panel(
                        "Probes failing",
                        "stat",
                        [Target("count(probe_success) - sum(probe_success)", "failing", instant=True)],
                        description="blackbox_exporter's HTTP and TCP probes that fail now.",
                        width=6,
                        thresholds=[(None, "green"), (1, "red")],
                    ),
                ],
            ),
            Row("Hosts", host_panels()[:3]),
        ],
    )


def application_performance() -> dict[str, Any]:
    app = f'job="horilla", {INST}'
    return dashboard(
        "horilla-application-performance",
        "Horilla: Application Performance",
        "Requests, errors and latency per app node (django-prometheus) and through HAProxy.",
        [
            Row(
                "Per app node",
                [
                    Panel(
                        "Request rate per node",
                        "timeseries",
                        [Target(rate(DJANGO_RESPONSES, app, "instance"), "{{instance}}")],
                        unit="reqps",
                    ),
                    Panel(
                        "Error rate (5xx) per node",
                        "timeseries",
                        [Target(error_ratio(app, "instance"), "{{instance}}")],
                        unit="percentunit",
                        thresholds=[(None, "green"), (ERROR_RATE_OBJECTIVE, "red")],
                    ),
                    Panel(
                        "Latency p50 / p95 / p99 per node",
                        "timeseries",
                        [
                            Target(latency_quantile(0.5, app, "instance"), "{{instance}} p50"),
                            Target(latency_quantile(0.95, app, "instance"), "{{instance}} p95"),
                            Target(latency_quantile(0.99, app, "instance"), "{{instance}} p99"),
                        ],
                        unit="s",
                        thresholds=[(None, "green"), (LATENCY_OBJECTIVE_S, "red")],
                        width=24,
                    ),
                    Panel(
                        "Responses by status code",
                        "timeseries",
                        [Target(rate(DJANGO_RESPONSES, app, "status"), "{{status}}")],
                        unit="reqps",
                    ),
                    Panel(
                        "Dependency checks per node",
                        "state-timeline",
                        [Target(f"horilla_health_check_up{{{app}}}", "{{instance}} {{check}}")],
                        description="The /health/ready/ checks (database, cache, ...) as each node sees them.",
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    Panel(
                        "Scheduler leader",
                        "stat",
                        [Target('sum(horilla_scheduler_leader{job="horilla"})', "leaders", instant=True)],
                        description="Exactly one process in the cluster runs Horilla's scheduled jobs.",
                        width=6,
                        thresholds=[(None, "red"), (1, "green"), (2, "red")],
                    ),
                    Panel(
                        "App nodes answering /health/ready/",
                        "stat",
                        [
                            Target(
                                'sum(probe_success{job="blackbox_http", scope="node", path="/health/ready/"})',
                                "ready",
                                instant=True,
                            )
                        ],
                        width=6,
                    ),
                ],
            ),
            Row(
                "Business",
                [
                    Panel(
                        "Active employees",
                        "stat",
                        [Target('sum(horilla_business_active_employees{job="horilla"})', "employees", instant=True)],
                        description="Employees not archived. Only the scheduler leader exports the business "
                        "figures, so the sum counts each once.",
                        width=6,
                    ),
                    Panel(
                        "Check-ins today",
                        "stat",
                        [
                            Target(
                                'sum(horilla_business_attendance_checkins_today{job="horilla"})',
                                "check-ins",
                                instant=True,
                            )
                        ],
                        description="Today's attendance records with a check-in time (the app's time zone).",
                        width=6,
                    ),
                    Panel(
                        "Pending leave requests",
                        "stat",
                        [
                            Target(
                                'sum(horilla_business_leave_requests_pending{job="horilla"})', "pending", instant=True
                            )
                        ],
                        description="Leave requests waiting for a decision (status requested).",
                        width=6,
                    ),
                    Panel(
                        "Payslips this month by status",
                        "stat",
                        [
                            Target(
                                'sum by (status) (horilla_business_payslips_this_month{job="horilla"})',
                                "{{status}}",
                                instant=True,
                            )
                        ],
                        description="This month's payroll run: payslips whose period ends this month, by status "
                        "(draft, review ongoing, confirmed, paid).",
                        width=6,
                    ),
                    Panel(
                        "Business query cost",
                        "timeseries",
                        [Target('max by (metric) (horilla_business_query_seconds{job="horilla"})', "{{metric}}")],
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
                    Panel(
                        "Request rate at the load balancers",
                        "timeseries",
                        [
                            Target(
                                rate("haproxy_frontend_http_requests_total", HAPROXY, "instance, proxy"),
                                "{{instance}} {{proxy}}",
                            )
                        ],
                        unit="reqps",
                    ),
                    Panel(
                        "Error rate (5xx) at the load balancers",
                        "timeseries",
                        [
                            Target(
                                rate("haproxy_frontend_http_responses_total", HAPROXY + ', code="5xx"')
                                + " / "
                                + rate("haproxy_frontend_http_requests_total", HAPROXY),
                                "5xx",
                            )
                        ],
                        unit="percentunit",
                        thresholds=[(None, "green"), (ERROR_RATE_OBJECTIVE, "red")],
                    ),
                    Panel(
                        "Backend response time (average of the last 1024 requests)",
                        "timeseries",
                        [
                            Target(
                                'haproxy_backend_response_time_average_seconds{job="haproxy", proxy!~".*stats.*"}',
                                "{{instance}} {{proxy}}",
                            )
                        ],
                        unit="s",
                        thresholds=[(None, "green"), (LATENCY_OBJECTIVE_S, "red")],
                    ),
                    Panel(
                        "Servers in service per backend",
                        "timeseries",
                        [
                            Target(
                                'haproxy_backend_active_servers{job="haproxy", proxy!~".*stats.*"}',
                                "{{instance}} {{proxy}}",
                            )
                        ],
                    ),
                ],
            ),
        ],
    )


def database_metrics() -> dict[str, Any]:
    pg = 'job="postgres"'
    return dashboard(
        "horilla-database-metrics",
        "Horilla: Database Metrics",
        "PostgreSQL under Patroni: leader, replication, connections, throughput; etcd (Patroni's DCS).",
        [
            Row(
                "Cluster",
                [
                    Panel(
                        "Leader (Patroni primary)",
                        "state-timeline",
                        [Target('patroni_primary{job="patroni"}', "{{instance}}")],
                        description="1 on the member holding the leader lock.",
                        mappings=[
                            {
                                "type": "value",
                                "options": {
                                    "0": {"text": "replica", "color": "blue"},
                                    "1": {"text": "LEADER", "color": "green"},
                                },
                            }
                        ],
                    ),
                    Panel(
                        "PostgreSQL running (Patroni)",
                        "state-timeline",
                        [Target('patroni_postgres_running{job="patroni"}', "{{instance}}")],
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    Panel(
                        "Exporter reaches PostgreSQL",
                        "stat",
                        [Target(f"pg_up{{{pg}}}", "{{instance}}", instant=True)],
                        width=8,
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    Panel(
                        "Timeline (changes at every failover)",
                        "stat",
                        [Target('max(patroni_postgres_timeline{job="patroni"})', "timeline", instant=True)],
                        width=8,
                    ),
                    Panel(
                        "Members up (Patroni REST API)",
                        "stat",
                        [Target('sum(up{job="patroni"})', "members", instant=True)],
                        width=8,
                    ),
                ],
            ),
            Row(
                "Replication",
                [
                    Panel(
                        "Replication lag (replicas)",
                        "timeseries",
                        [
                            Target(
                                f"max by (instance) (pg_replication_lag_seconds{{{pg}}} or pg_replication_lag{{{pg}}})",
                                "{{instance}}",
                            )
                        ],
                        unit="s",
                        description="Seconds since the last replayed transaction; 0 on the leader. Alert at 30 s.",
                        thresholds=[(None, "green"), (30, "red")],
                    ),
                    Panel(
                        "Replay lag in bytes (seen from the leader)",
                        "timeseries",
                        [
                            Target(
                                f"pg_stat_replication_pg_wal_lsn_diff{{{pg}}}", "{{instance}} to {{application_name}}"
                            )
                        ],
                        unit="bytes",
                    ),
                ],
            ),
            Row(
                "Load",
                [
                    Panel(
                        "Connections per node",
                        "timeseries",
                        [
                            Target(
                                f"sum by (instance) (pg_stat_database_numbackends{{{pg}}})", "{{instance}} connections"
                            ),
                            Target(f"max by (instance) (pg_settings_max_connections{{{pg}}})", "{{instance}} max"),
                        ],
                        width=8,
                    ),
                    Panel(
                        "Transactions per second",
                        "timeseries",
                        [
                            Target(
                                rate("pg_stat_database_xact_commit", pg, "instance")
                                + " + "
                                + rate("pg_stat_database_xact_rollback", pg, "instance"),
                                "{{instance}}",
                            )
                        ],
                        unit="ops",
                        width=8,
                    ),
                    Panel(
                        "Cache hit ratio (since statistics reset)",
                        "timeseries",
                        [
                            Target(
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
                    Panel(
                        "Members with a leader",
                        "stat",
                        [Target('sum(etcd_server_has_leader{job="etcd"})', "with leader", instant=True)],
                        width=8,
                        description="Every member should see a leader; without quorum no failover can happen.",
                    ),
                    Panel(
                        "Leader changes (1 h)",
                        "stat",
                        [
                            Target(
                                'max(increase(etcd_server_leader_changes_seen_total{job="etcd"}[1h]))',
                                "changes",
                                instant=True,
                            )
                        ],
                        width=8,
                    ),
                    Panel(
                        "Patroni's last contact with the DCS",
                        "timeseries",
                        [Target('time() - patroni_dcs_last_seen{job="patroni"}', "{{instance}}")],
                        unit="s",
                        width=8,
                    ),
                ],
            ),
        ],
    )


def infrastructure_health() -> dict[str, Any]:
    return dashboard(
        "horilla-infrastructure-health",
        "Horilla: Infrastructure Health",
        "Hosts, Redis, Elasticsearch, probes and backups.",
        [
            Row(
                "Hosts",
                [
                    Panel(
                        "Hosts up",
                        "state-timeline",
                        [Target(f"up{{{NODE}}}", "{{instance}}")],
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
                    Panel(
                        "Role per server",
                        "table",
                        [Target('max by (instance, role) (redis_instance_info{job="redis"})', instant=True)],
                        description="Exactly one master; Sentinel promotes a replica when it fails.",
                        width=8,
                    ),
                    Panel(
                        "Replicas connected to the primary",
                        "stat",
                        [
                            Target(
                                'max(redis_connected_slaves{job="redis"}'
                                ' and on (instance) redis_instance_info{job="redis", role="master"})',
                                "replicas",
                                instant=True,
                            )
                        ],
                        width=8,
                    ),
                    Panel(
                        "Redis up",
                        "state-timeline",
                        [Target('redis_up{job="redis"}', "{{instance}}")],
                        width=8,
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    Panel(
                        "Memory used",
                        "timeseries",
                        [Target('redis_memory_used_bytes{job="redis"}', "{{instance}}")],
                        unit="bytes",
                    ),
                    Panel(
                        "Commands per second",
                        "timeseries",
                        [
                            Target(
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
                    Panel(
                        "Cluster status",
                        "stat",
                        [
                            Target(
                                f"max by (cluster, color) (elasticsearch_cluster_health_status{{{ES}}}) == 1",
                                "{{cluster}}",
                                instant=True,
                            )
                        ],
                        description="The color whose series is 1.",
                        width=8,
                    ),
                    Panel(
                        "Nodes in the cluster",
                        "stat",
                        [
                            Target(
                                f"max by (cluster) (elasticsearch_cluster_health_number_of_nodes{{{ES}}})",
                                "{{cluster}}",
                                instant=True,
                            )
                        ],
                        width=8,
                    ),
                    Panel(
                        "Unassigned shards",
                        "stat",
                        [
                            Target(
                                f"max by (cluster) (elasticsearch_cluster_health_unassigned_shards{{{ES}}})",
                                "{{cluster}}",
                                instant=True,
                            )
                        ],
                        width=8,
                        thresholds=[(None, "green"), (1, "red")],
                    ),
                    Panel(
                        "JVM heap used per node",
                        "timeseries",
                        [
                            Target(
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
                    Panel(
                        "HTTP probes",
                        "state-timeline",
                        [Target('probe_success{job="blackbox_http"}', "{{instance}} {{path}}")],
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    Panel(
                        "TCP probes",
                        "state-timeline",
                        [Target('probe_success{job="blackbox_tcp"}', "{{instance}} {{service}}")],
                        thresholds=RED_GREEN,
                        mappings=UP_DOWN,
                    ),
                    Panel(
                        "External services",
                        "state-timeline",
                        [Target('probe_success{scope="external"}', "{{service}}")],
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
                    Panel(
                        "Age of the last successful backup",
                        "timeseries",
                        [
                            Target(
                                'time() - max by (kind) (horilla_backup_last_success_timestamp_seconds{job="node"})',
                                "{{kind}}",
                            )
                        ],
                        unit="s",
                        description="Page when no database or file backup succeeded for 26 hours.",
                        thresholds=[(None, "green"), (26 * 3600, "red")],
                        width=8,
                    ),
                    Panel(
                        "Last result",
                        "stat",
                        [Target('horilla_backup_last_result{job="node"}', "{{kind}}", instant=True)],
                        width=8,
                        thresholds=RED_GREEN,
                        mappings=[
                            {
                                "type": "value",
                                "options": {
                                    "0": {"text": "FAILED", "color": "red"},
                                    "1": {"text": "ok", "color": "green"},
                                },
                            }
                        ],
                    ),
                    Panel(
                        "Size of the last backup",
                        "stat",
                        [Target('horilla_backup_last_size_bytes{job="node"}', "{{kind}}", instant=True)],
                        unit="bytes",
                        width=8,
                    ),
                ],
            ),
        ],
    )


def sla_tracking() -> dict[str, Any]:
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
                    Panel(
                        f"Availability ({SLA_WINDOW})",
                        "stat",
                        [Target(available, "availability", instant=True)],
                        unit="percentunit",
                        description="Share of the window in which /health/ready/ answered (objective 99.99 %).",
                        width=6,
                        thresholds=[(None, "red"), (AVAILABILITY_OBJECTIVE, "green")],
                    ),
                    Panel(
                        "Error budget remaining",
                        "gauge",
                        [Target(f"1 - (1 - {available}) / {budget:g}", "remaining", instant=True)],
                        unit="percentunit",
                        description="1 = no downtime yet; 0 = the 4.32 minutes of 30 days are used up.",
                        width=6,
                        minimum=0,
                        maximum=1,
                        thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
                    ),
                    Panel(
                        f"Downtime ({SLA_WINDOW})",
                        "stat",
                        [Target(f"(1 - {available}) * 30 * 24 * 60", "minutes", instant=True)],
                        unit="m",
                        description="Allowed: 4.32 minutes per 30 days.",
                        width=6,
                        thresholds=[(None, "green"), (4.32, "red")],
                    ),
                    Panel(
                        f"Outages ({SLA_WINDOW})",
                        "stat",
                        [
                            Target(
                                f"ceil(changes(horilla:service_up:probe[{SLA_WINDOW}]) / 2)",
                                "outages",
                                instant=True,
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
                    Panel(
                        "Availability budget burn rate",
                        "timeseries",
                        [
                            Target(f"horilla:availability_errors:ratio_{window} / {budget:g}", window)
                            for window in ("5m", "1h", "6h", "1d", "3d")
                        ],
                        description="Page at 14.4 (1h and 5m) or 6 (6h and 30m); ticket at 3 (1d) or 1 (3d).",
                        thresholds=[(None, "green"), (1, "orange"), (14.4, "red")],
                    ),
                    Panel(
                        "Latency budget burn rate (requests over 2 s)",
                        "timeseries",
                        [
                            Target(f"horilla:latency_slow:ratio_rate{window} / {latency_budget:g}", window)
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
                    Panel(
                        "p95 latency against 2 s",
                        "timeseries",
                        [Target("horilla:http_request_duration_seconds:p95_rate5m", "p95")],
                        unit="s",
                        thresholds=[(None, "green"), (LATENCY_OBJECTIVE_S, "red")],
                    ),
                    Panel(
                        "Error rate against 0.1 %",
                        "timeseries",
                        [Target(error_ratio('job="horilla"'), "5xx share")],
                        unit="percentunit",
                        thresholds=[(None, "green"), (ERROR_RATE_OBJECTIVE, "red")],
                    ),
                ],
            ),
            Row(
                "Incidents",
                [
                    Panel(
                        "Alerts firing by severity",
                        "timeseries",
                        [
                            Target(
                                ALERTS_FIRING,
                                "{{severity}}",
                            )
                        ],
                        description="0 when nothing fires; critical alerts page somebody.",
                    ),
                    Panel(
                        "Service reachable",
                        "state-timeline",
                        [Target("horilla:service_up:probe", "Horilla")],
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
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


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
