"""The Grafana dashboards (roles/grafana/files/dashboards/) are valid before any Grafana sees them.

They parse, are what lab/dashboards.py generates, use only the datasource the grafana
role provisions, have unique panel ids and a sane layout, and every PromQL expression
parses with promtool (Prometheus' own parser). That every query also returns data is
proven against a running Prometheus by the Molecule scenarios (lab/panel_queries.py);
that check itself is tested here against recorded Prometheus answers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from horilla_ops.monitoring import maintenance
from horilla_ops.monitoring.promapi import Prometheus, PrometheusError
from lab import dashboards, panel_queries, rules

ROLE = Path(dashboards.PROJECT_DIR) / "roles" / "grafana"
BOARDS = panel_queries.load()
QUERIES = panel_queries.queries()
REQUIRED_TITLES = {  # the five dashboards of CONTRIBUTING.md, "Requirements the project answers"
    "System Overview",
    "Application Performance",
    "Database Metrics",
    "Infrastructure Health",
    "SLA Tracking",
}


def all_panels(board: dict) -> list[dict]:
    return panel_queries._panels(board["panels"])


def test_the_committed_json_is_what_the_generator_writes():
    assert dashboards.stale() == [], "run `python -m lab dashboards` and commit the result"


def test_the_five_required_dashboards_exist():
    assert len(BOARDS) == 5
    titles = {board["title"].removeprefix("Horilla: ") for board in BOARDS.values()}
    assert titles == REQUIRED_TITLES
    text = (Path(dashboards.PROJECT_DIR) / "CONTRIBUTING.md").read_text()
    requirements = " ".join(text.split("## Requirements", 1)[1].split("\n## ", 1)[0].split())
    assert all(title in requirements for title in REQUIRED_TITLES)


def test_every_file_is_json_with_a_unique_uid():
    uids = []
    for path in dashboards.DASHBOARDS_DIR.glob("*.json"):
        board = json.loads(path.read_text())
        assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"]), board["uid"]
        assert board["panels"], path.name
        uids.append(board["uid"])
    assert len(uids) == len(set(uids))


def test_datasource_is_the_provisioned_one():
    """Every panel and query names the datasource variable, whose default is the provisioned uid."""
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert role_vars["_grafana_datasource_uid"] == dashboards.DATASOURCE_UID
    for name, board in BOARDS.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        source = variables["datasource"]
        assert (source["type"], source["query"]) == ("datasource", "prometheus"), name
        assert source["current"]["value"] == dashboards.DATASOURCE_UID, name
        seen = [v["datasource"] for v in board["templating"]["list"] if "datasource" in v]
        for panel in all_panels(board):
            if panel["type"] == "row":
                continue
            seen.append(panel["datasource"])
            seen += [t["datasource"] for t in panel["targets"]]
        assert seen and all(s == {"type": "prometheus", "uid": "${datasource}"} for s in seen), name


def test_panel_ids_are_unique_and_panels_fit_the_grid():
    for name, board in BOARDS.items():
        panels = all_panels(board)
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, (name, panel["title"])
            if panel["type"] != "row":
                assert panel["targets"], (name, panel["title"])
                ref_ids = [t["refId"] for t in panel["targets"]]
                assert len(ref_ids) == len(set(ref_ids)), (name, panel["title"])


def test_instance_variable_exists_on_every_dashboard():
    for name, board in BOARDS.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["instance"]["includeAll"] and variables["instance"]["multi"], name


def test_every_query_is_about_known_components():
    for query in QUERIES:
        assert query.components, query.id
        assert query.components <= panel_queries.COMPONENTS, (query.id, sorted(query.components))


def test_component_detection():
    assert panel_queries.components('sum(rate(redis_commands_processed_total{job="redis"}[5m]))') == {"redis"}
    assert panel_queries.components('sum by (job) (up{job=~"postgres|patroni"})') == {"postgres", "patroni"}
    assert panel_queries.components("count(up) - sum(up)") == {"prometheus"}
    assert panel_queries.components('time() - max(horilla_backup_last_result{job="node"})') == {"backup"}
    assert panel_queries.components("histogram_quantile(0.9, sum by (le, instance) (rate(x_bucket[1m])))") == {
        "unknown:x_bucket"
    }


def test_recording_rules_used_by_the_dashboards_exist():
    recorded = {
        rule["record"]
        for text in rules.rule_texts().values()
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    used = {name for q in QUERIES for name, _ in panel_queries.selectors(q.expr) if ":" in name}
    assert used, "the SLA dashboard should use the SLI recording rules"
    assert used <= recorded, sorted(used - recorded)


class FakePrometheus:
    """fetch(url) for promapi's Prometheus: instant-query answers by PromQL text."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]] | None = None, refuse: bool = False) -> None:
        self.answers = answers or {}
        self.refuse = refuse
        self.asked: list[str] = []

    def __call__(self, url: str) -> dict[str, Any]:
        parsed = urllib.parse.urlparse(url)
        assert parsed.path == "/api/v1/query", url
        expr = dict(urllib.parse.parse_qsl(parsed.query))["query"]
        self.asked.append(expr)
        if self.refuse:
            return {"status": "error", "errorType": "bad_data", "error": "parse error"}
        return {"status": "success", "data": {"resultType": "vector", "result": self.answers.get(expr, [])}}


REDIS_QUERY = panel_queries.Query(
    "t", "ops", 1, "A", 'sum(rate(redis_commands_processed_total{job="redis"}[$__rate_interval]))'
)
REDIS_EXPANDED = 'sum(rate(redis_commands_processed_total{job="redis"}[1m]))'


def test_check_returns_the_series_of_a_present_component():
    fake = FakePrometheus({REDIS_EXPANDED: [{"metric": {"instance": "redis1"}, "value": [1700000000, "3"]}]})
    series = panel_queries.check(REDIS_QUERY, Prometheus("http://mon1:9090", fetch=fake), {"redis"})
    assert [(s.labels, s.value) for s in series] == [({"instance": "redis1"}, 3.0)]
    assert fake.asked == [REDIS_EXPANDED]  # Grafana's variables expanded, through promapi


def test_check_fails_a_present_component_without_series():
    fake = FakePrometheus()
    with pytest.raises(AssertionError, match="no series"):
        panel_queries.check(REDIS_QUERY, Prometheus("http://mon1:9090", fetch=fake), {"redis"})


def test_check_reports_an_absent_component_as_optional_after_asking():
    fake = FakePrometheus()
    with pytest.raises(panel_queries.Optional, match="about redis, absent here"):
        panel_queries.check(REDIS_QUERY, Prometheus("http://mon1:9090", fetch=fake), {"node"})
    assert fake.asked == [REDIS_EXPANDED]  # the query was still evaluated


def test_check_fails_when_prometheus_refuses_the_query():
    fake = FakePrometheus(refuse=True)
    with pytest.raises(PrometheusError, match="parse error"):
        panel_queries.check(REDIS_QUERY, Prometheus("http://mon1:9090", fetch=fake), {"redis"})


def test_check_takes_a_url():
    """The scenarios pass the URL: an unreachable one fails as promapi reports it."""
    with pytest.raises(PrometheusError, match=r"cannot reach http://127\.0\.0\.1:9"):
        panel_queries.check(REDIS_QUERY, "http://127.0.0.1:9", {"redis"})


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool is not installed: `python -m lab rules` (make lint) installs Debian's prometheus")
    return found


def test_every_expression_parses_with_promtool(promtool, tmp_path):
    """Each query, expanded as Grafana would, becomes a recording rule; promtool parses them all."""
    rules = [{"record": f"dashboard:query_{i}", "expr": panel_queries.expand(q.expr)} for i, q in enumerate(QUERIES)]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_every_dashboard_marks_planned_maintenance(promtool, tmp_path):
    """Besides Grafana's built-in annotation, every dashboard marks `horilla-maintenance start`."""
    expressions = set()
    for name, board in BOARDS.items():
        annotations = {a["name"]: a for a in board["annotations"]["list"]}
        assert annotations["Annotations & Alerts"]["builtIn"] == 1, name
        mark = annotations["Maintenance"]
        assert mark["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, name
        assert mark["enable"] and mark["iconColor"], name
        assert (mark["step"], mark["titleFormat"], mark["textFormat"]) == ("30s", "Maintenance", "{{reason}}"), name
        assert mark["expr"] == "max by (reason) (horilla_maintenance_active) == 1", name
        expressions.add(mark["expr"])
    # The series horilla-maintenance writes through node_exporter's textfile collector.
    assert 'horilla_maintenance_active{reason="deploy"} 1' in maintenance.metric_text(True, "deploy")
    assert {name for expr in expressions for name, _ in panel_queries.selectors(expr)} == {"horilla_maintenance_active"}
    rules = [{"record": f"dashboard:annotation_{i}", "expr": expr} for i, expr in enumerate(sorted(expressions))]
    path = tmp_path / "annotations.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "annotations", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_maintenance_annotation_is_not_a_panel_query():
    """No maintenance runs while a scenario checks the panels: the annotation must not be asked for data."""
    assert QUERIES
    assert not [q.id for q in QUERIES if "horilla_maintenance_active" in q.expr]


def test_promtool_rejects_a_broken_expression(promtool, tmp_path):
    """The check above can fail: an unbalanced expression is refused."""
    path = tmp_path / "broken.rules.yml"
    broken = {"record": "x:y", "expr": "sum(rate(up[1m])"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [broken]}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
