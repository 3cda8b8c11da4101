"""Every Grafana panel query, evaluated against this scenario's running Prometheus.

No Grafana binary can be installed here; Grafana would only forward these queries to
Prometheus, so a query that returns series here shows data in Grafana. The scenario
runs node_exporter everywhere, the app (stand-in) on app1 with its HTTP probes, and
Prometheus with Alertmanager on mon1. Panels about the other tiers are OPTIONAL here:
they are evaluated (Prometheus must accept them) and reported as skipped by name. The
cluster scenario runs the same module (lab/panel_queries.py) with every component
required.
"""

from __future__ import annotations

import json
import time

import pytest

from lab import panel_queries, testing
from lab.state import PROJECT_DIR

# What this scenario runs (scrape jobs of CONTRIBUTING.md).
PRESENT = frozenset({"node", "horilla", "blackbox_http", "prometheus", "alertmanager"})
# Explicitly optional here: tiers built and tested in other scenarios.
OPTIONAL = panel_queries.COMPONENTS - PRESENT
QUERIES = panel_queries.queries()
# The scenario scrapes every 5 s; Grafana's $__rate_interval would be 4 x 5 s = 20 s,
# 1m leaves room for a slow scrape.
RATE_INTERVAL = "1m"
REPORT = PROJECT_DIR / "reports" / "drills" / "dashboards-monitoring.json"
# Outcome of every query, for the report written by the last test.
RESULTS: dict[str, dict] = {}


def prometheus_url() -> str:
    return f"http://{testing.lab().host('mon1').address}:9090"


def test_the_scenario_covers_the_core_components():
    assert {"node", "horilla", "prometheus"} <= PRESENT
    assert {"postgres", "patroni", "etcd", "redis", "haproxy", "elasticsearch", "blackbox_tcp", "backup"} == OPTIONAL
    required = [q for q in QUERIES if q.components <= PRESENT]
    assert len(required) >= 40, "most panels must be proven here, not skipped"


@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
def test_panel_query_returns_data(query):
    started = time.monotonic()
    result = {"components": sorted(query.components), "expr": query.expr}
    RESULTS[query.id] = {**result, "outcome": "failed"}
    try:
        # Rate and histogram queries need a few scrapes after converge: wait up to 60 s.
        series = panel_queries.check(query, prometheus_url(), PRESENT, RATE_INTERVAL, wait=60)
    except panel_queries.Optional as absent:
        assert query.components & OPTIONAL
        RESULTS[query.id] = {**result, "outcome": "optional, component absent"}
        pytest.skip(f"optional here: {absent}")
    RESULTS[query.id] = {
        **result,
        "outcome": "data",
        "series": len(series),
        "seconds_until_data": round(time.monotonic() - started, 1),
    }
    assert series


def test_a_query_without_series_fails():
    """The check above is not vacuous: a panel whose query finds nothing fails."""
    query = panel_queries.Query("probe", "no such metric", 1, "A", 'node_no_such_metric{job="node"}')
    with pytest.raises(AssertionError, match="no series"):
        panel_queries.check(query, prometheus_url(), PRESENT)


def test_write_the_report():
    """What every panel query returned in this run, to reports/drills/dashboards-monitoring.json."""
    assert len(RESULTS) == len(QUERIES)
    outcomes = [r["outcome"] for r in RESULTS.values()]
    summary = {
        "scenario": "monitoring",
        "prometheus": prometheus_url(),
        "present": sorted(PRESENT),
        "optional": sorted(OPTIONAL),
        "queries": len(QUERIES),
        "with_data": outcomes.count("data"),
        "optional_absent": outcomes.count("optional, component absent"),
        "failed": outcomes.count("failed"),
        "results": RESULTS,
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    assert summary["failed"] == 0
