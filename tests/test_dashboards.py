"""The Grafana dashboards (roles/grafana/files/dashboards/) are valid before any Grafana sees them.

They parse, are what lab/dashboards.py generates, use only the datasource the grafana
role provisions, have unique panel ids and a sane layout, and every PromQL expression
parses with promtool (Prometheus' own parser). That every query also returns data is
proven against a running Prometheus by the Molecule scenarios (lab/panel_queries.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lab import dashboards, panel_queries

ROLE = Path(dashboards.PROJECT_DIR) / "roles" / "grafana"
RULES_DIR = Path(dashboards.PROJECT_DIR) / "roles" / "prometheus" / "files" / "rules"
BOARDS = panel_queries.load()
QUERIES = panel_queries.queries()
SEED_TITLES = {
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


def test_the_five_dashboards_of_the_seed_exist():
    assert len(BOARDS) == 5
    titles = {board["title"].removeprefix("Horilla: ") for board in BOARDS.values()}
    assert titles == SEED_TITLES


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
        for path in RULES_DIR.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    used = {name for q in QUERIES for name, _ in panel_queries.selectors(q.expr) if ":" in name}
    assert used, "the SLA dashboard should use the SLI recording rules"
    assert used <= recorded, sorted(used - recorded)


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


def test_promtool_rejects_a_broken_expression(promtool, tmp_path):
    """The check above can fail: an unbalanced expression is refused."""
    path = tmp_path / "broken.rules.yml"
    broken = {"record": "x:y", "expr": "sum(rate(up[1m])"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [broken]}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
