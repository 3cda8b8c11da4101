"""Every panel query of the Grafana dashboards, evaluated against a running Prometheus.

Reusable by any scenario's verifier: it takes the Prometheus URL and the components
(scrape jobs, plus `backup`) that scenario runs. A query about present components must
return at least one series; a query about an absent component is optional and reported
as such, never silently passed. Without a Grafana binary this is the proof that the
dashboards show data: Grafana only forwards these expressions to Prometheus. They go
through the project's one Prometheus client, horilla_ops.monitoring.promapi (src/ is
on the path of every test run: pyproject.toml's pytest pythonpath).

    from lab import panel_queries
    QUERIES = panel_queries.queries()
    @pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
    def test_panel_returns_data(query):
        panel_queries.check(query, lab.cluster.monitoring.prometheus(), present={"node", "horilla", ...})

Components are read from the expressions themselves: a selector's metric name says
which exporter publishes it (`redis_*` is the redis job) and `up` / `probe_success`
name theirs with a `job` matcher. lab/dashboards.py writes every query that way, and the
unit tests check that every selector resolves to a known component.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from horilla_ops.monitoring.promapi import Prometheus, Sample
from lab.state import PROJECT_DIR

DASHBOARDS_DIR = PROJECT_DIR / "roles" / "grafana" / "files" / "dashboards"

# Every component a dashboard may be about: the scrape jobs of CONTRIBUTING.md plus the
# backups (published through node_exporter's textfile collector).
COMPONENTS = frozenset(
    {
        "node",
        "postgres",
        "patroni",
        "etcd",
        "redis",
        "haproxy",
        "horilla",
        "elasticsearch",
        "blackbox_http",
        "blackbox_tcp",
        "alertmanager",
        "prometheus",
        "backup",
    }
)

# Metric name prefix -> component. The longest matching prefix wins.
PREFIXES = {
    "node_": "node",
    "horilla_inventory_group_info": "node",
    "horilla_maintenance_": "node",
    "horilla_backup_": "backup",
    "pg_": "postgres",
    "patroni_": "patroni",
    "etcd_": "etcd",
    "redis_": "redis",
    "haproxy_": "haproxy",
    "django_": "horilla",
    "horilla_health_check_": "horilla",
    "horilla_scheduler_": "horilla",
    "horilla_build_info": "horilla",
    "horilla_business_": "horilla",
    # The SLI recording rules of roles/prometheus: computed from the app's probes and
    # its own metrics, so they are about the app.
    "horilla:": "horilla",
    "elasticsearch_": "elasticsearch",
    "alertmanager_": "alertmanager",
    "prometheus_": "prometheus",
    "ALERTS": "prometheus",
}
# Series every exporter's target has; the `job` matcher says whose. Without one they are
# about Prometheus itself (`up`) or the HTTP probes (`probe_*`).
BY_JOB = {"up": "prometheus", "probe_success": "blackbox_http", "probe_duration_seconds": "blackbox_http"}

# Grafana's variables, as Grafana would expand them for "All instances" and a range
# query's step. $__rate_interval is at least four scrape intervals (Grafana's rule).
VARIABLES = {"$instance": ".*", "${instance}": ".*", "$__interval": "1m", "$__range": "1h"}

_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}|(?<![\w.:])([a-zA-Z_:][\w:]*)\b(?!\s*\()")
_JOB = re.compile(r'\bjob\s*(=~|=)\s*"([^"]*)"')


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    panel_id: int
    ref_id: str
    expr: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}#{self.panel_id}{self.ref_id} {self.panel}"

    @property
    def components(self) -> frozenset[str]:
        return components(self.expr)


def selectors(expr: str) -> list[tuple[str, str]]:
    """(metric name, label matchers) of every vector selector in a PromQL expression."""
    # Label matchers keep their strings (the job matcher is needed); elsewhere strings go.
    found: list[tuple[str, str]] = []
    text = _GROUPING.sub(" ", expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    # Protect matcher blocks, blank the other strings (label_replace arguments...).
    blocks: list[str] = []

    def keep(match: re.Match[str]) -> str:
        blocks.append(match.group(0))
        return f"{{#{len(blocks) - 1}}}"

    text = re.sub(r"\{[^}]*\}", keep, text)
    text = _STRING.sub('""', text)
    text = re.sub(r"\{#(\d+)\}", lambda m: blocks[int(m.group(1))], text)
    for match in _SELECTOR.finditer(text):
        name = match.group(1) or match.group(3) or ""
        matchers = match.group(2) or ""
        if match.group(3) and name in _KEYWORDS:
            continue
        found.append((name, matchers))
    return found


def component_of(name: str, matchers: str) -> set[str]:
    job = _JOB.search(matchers)
    if name in BY_JOB or not name:
        if job:
            return set(job.group(2).split("|")) if job.group(1) == "=~" else {job.group(2)}
        return {BY_JOB.get(name, "prometheus")}
    prefixes = [p for p in PREFIXES if name.startswith(p)]
    if not prefixes:
        return {f"unknown:{name}"}
    return {PREFIXES[max(prefixes, key=len)]}


def components(expr: str) -> frozenset[str]:
    out: set[str] = set()
    for name, matchers in selectors(expr):
        out |= component_of(name, matchers)
    return frozenset(out)


def load(directory: Path = DASHBOARDS_DIR) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def _panels(panels: list[dict]) -> list[dict]:
    out = []
    for panel in panels:
        out.append(panel)
        out += _panels(panel.get("panels", []))
    return out


def queries(directory: Path = DASHBOARDS_DIR) -> list[Query]:
    """Every Prometheus query of every panel, plus the template variables' queries.

    Annotations are left out: the "Maintenance" one has series only during planned
    maintenance, so it cannot be asked to return data.
    """
    out: list[Query] = []
    for name, board in load(directory).items():
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                out.append(Query(name, panel.get("title", ""), panel["id"], target["refId"], target["expr"]))
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                # The query Grafana runs: a string, or the Prometheus editor's object holding it.
                text = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
                match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", text)
                expr = match.group(1) if match else text
                out.append(Query(name, f"variable {variable['name']}", 0, variable["name"], expr))
    return out


def expand(expr: str, rate_interval: str = "1m") -> str:
    """The expression as Grafana sends it, for all instances and the given $__rate_interval."""
    for variable, value in {"$__rate_interval": rate_interval, **VARIABLES}.items():
        expr = expr.replace(variable, value)
    return expr


def check(
    query: Query,
    prometheus: str | Prometheus,
    present: set[str] | frozenset[str],
    rate_interval: str = "1m",
    wait: float = 0,
) -> list[Sample]:
    """Assert that a query about present components returns data (retrying up to `wait` s).

    `prometheus`: its URL, or a client of the project's Prometheus API (promapi).
    Returns the series of the instant query. For a query about an absent component it
    evaluates the query (it must still be accepted by Prometheus: PrometheusError when
    not) and raises Optional with the reason.
    """
    unknown = query.components - COMPONENTS
    assert not unknown, f"{query.id}: cannot tell which component {sorted(unknown)} belongs to"
    client = Prometheus(prometheus) if isinstance(prometheus, str) else prometheus
    expr = expand(query.expr, rate_interval)
    missing = query.components - set(present)
    deadline = time.monotonic() + wait
    while True:
        series = client.query(expr)
        if series or missing or time.monotonic() >= deadline:
            break
        time.sleep(2)
    if missing:
        raise Optional(f"{query.id}: about {', '.join(sorted(missing))}, absent here ({len(series)} series)")
    assert series, f"{query.id}: no series for {expr}"
    return series


class Optional(Exception):
    """The panel is about a component this scenario does not run."""
