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

import pytest

from lab import panel_queries, testing

# What this scenario runs (scrape jobs of CONTRIBUTING.md).
PRESENT = frozenset({"node", "horilla", "blackbox_http", "prometheus", "alertmanager"})
# Explicitly optional here: tiers built and tested in other scenarios.
OPTIONAL = panel_queries.COMPONENTS - PRESENT
QUERIES = panel_queries.queries()
# The scenario scrapes every 5 s; Grafana's $__rate_interval would be 4 x 5 s = 20 s,
# 1m leaves room for a slow scrape.
RATE_INTERVAL = "1m"


def prometheus_url() -> str:
    return f"http://{testing.lab().host('mon1').address}:9090"


def test_the_scenario_covers_the_core_components():
    assert {"node", "horilla", "prometheus"} <= PRESENT
    assert {"postgres", "patroni", "etcd", "redis", "haproxy", "elasticsearch", "blackbox_tcp", "backup"} == OPTIONAL
    required = [q for q in QUERIES if q.components <= PRESENT]
    assert len(required) >= 40, "most panels must be proven here, not skipped"


@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
def test_panel_query_returns_data(query):
    try:
        # Rate and histogram queries need a few scrapes after converge: wait up to 60 s.
        series = panel_queries.check(query, prometheus_url(), PRESENT, RATE_INTERVAL, wait=60)
    except panel_queries.Optional as absent:
        assert query.components & OPTIONAL
        pytest.skip(f"optional here: {absent}")
    assert series


def test_a_query_without_series_fails():
    """The check above is not vacuous: a panel whose query finds nothing fails."""
    query = panel_queries.Query("probe", "no such metric", 1, "A", 'node_no_such_metric{job="node"}')
    with pytest.raises(AssertionError, match="no series"):
        panel_queries.check(query, prometheus_url(), PRESENT)
