"""Every Grafana panel query, evaluated against the site's running Prometheus.

No Grafana binary can be installed here; Grafana would only forward these queries to
Prometheus, so a query that returns series here shows data in Grafana. The whole site
runs every component the dashboards are about (the backups' series come from the
backups test_26_backup.py took), so every panel must show data: none is optional.
"""

from __future__ import annotations

import time

import pytest

from lab import panel_queries
from lab.cluster import monitoring, report

PRESENT = panel_queries.COMPONENTS
QUERIES = panel_queries.queries()
# The site scrapes every 10 s (the prometheus role's default); Grafana's
# $__rate_interval would be 4 x 10 s = 40 s, 1m leaves room for a slow scrape.
RATE_INTERVAL = "1m"
# Outcome of every query, for the report written by the last test.
RESULTS: dict[str, dict] = {}


def prometheus():
    """mon1's Prometheus, as the operators' commands ask it (https, the API user)."""
    return monitoring.prometheus("mon1")


@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
def test_panel_query_returns_data(query):
    started = time.monotonic()
    result = {"components": sorted(query.components), "expr": query.expr}
    RESULTS[query.id] = {**result, "outcome": "failed"}
    # Rate and histogram queries need a few scrapes after converge: wait up to 60 s.
    series = panel_queries.check(query, prometheus(), PRESENT, RATE_INTERVAL, wait=60)
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
        panel_queries.check(query, prometheus(), PRESENT)


def test_write_the_report():
    """What every panel query returned in this run, to reports/drills/dashboards.json."""
    assert len(RESULTS) == len(QUERIES)
    outcomes = [r["outcome"] for r in RESULTS.values()]
    totals = {"queries": len(QUERIES), "with_data": outcomes.count("data"), "failed": outcomes.count("failed")}
    report.write(
        "dashboards",
        settings={"present": sorted(PRESENT)},
        events=[{"name": query_id, **result} for query_id, result in RESULTS.items()],
        totals=totals,
    )
    assert totals["failed"] == 0
