"""The Prometheus rules keep their promises: every alert is unit-tested, classed, explained.

promtool itself runs in `make lint` (python -m lab rules); this checks what promtool
cannot: that no alert lacks a firing test case, and that the SLO alerts use the SRE
workbook's windows and burn-rate factors.
"""

import re
from pathlib import Path

import pytest
import yaml

FILES = Path(__file__).resolve().parent.parent / "roles" / "prometheus" / "files"
RULE_FILES = sorted((FILES / "rules").glob("*.yml"))
TEST_FILES = sorted((FILES / "rules-tests").glob("*.yml"))


def alerts() -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def alerts_with_firing_cases() -> set[str]:
    """Alert names with at least one test case that expects them to fire."""
    names = set()
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    names.add(case["alertname"])
    return names


def test_there_are_rules_and_tests():
    assert len(RULE_FILES) >= 4 and len(TEST_FILES) >= 4


@pytest.mark.parametrize("name", sorted({a["alert"] for a in alerts()}))
def test_every_alert_has_a_firing_test_case(name):
    assert name in alerts_with_firing_cases(), f"{name} has no promtool test case in which it fires"


def test_every_alert_has_a_severity_and_a_summary():
    for rule in alerts():
        assert rule["labels"]["severity"] in ("critical", "warning", "info", "none"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_every_required_alert_class_is_covered():
    """The critical, warning and info classes of CONTRIBUTING.md, Requirements."""
    by_severity: dict[str, set[str]] = {}
    for rule in alerts():
        by_severity.setdefault(rule["labels"]["severity"], set()).add(rule["alert"])
    assert {"HorillaApplicationDown", "PostgresNoLeader", "RedisNoPrimary", "HorillaHighErrorRate"} <= by_severity[
        "critical"
    ]
    assert {"HostHighCpuUsage", "HostHighMemoryUsage", "HorillaSlowResponses"} <= by_severity["warning"]
    assert {"HorillaServiceRecovered", "HorillaBackupCompleted", "HorillaMaintenance"} <= by_severity["info"]
    assert by_severity["none"] == {"Watchdog"}


def test_burn_rate_alerts_use_the_sre_workbook_windows_and_factors():
    expected = {("1h", "5m", "14.4", "critical"), ("6h", "30m", "6", "critical"), ("1d", "2h", "3", "warning")}
    expected.add(("3d", "6h", "1", "warning"))
    for slo, budget in (("availability", "0.0001"), ("latency", "0.05")):
        found = set()
        for rule in alerts():
            if rule["labels"].get("slo") != slo:
                continue
            factors = set(re.findall(r"> \(([0-9.]+) \* " + re.escape(budget) + r"\)", rule["expr"]))
            assert len(factors) == 1, rule["expr"]
            labels = rule["labels"]
            found.add((labels["long_window"], labels["short_window"], factors.pop(), labels["severity"]))
            for window in (labels["long_window"], labels["short_window"]):
                assert re.search(rf":ratio_(rate)?{window} >", rule["expr"]), (window, rule["expr"])
        assert found == expected, slo


def test_test_files_point_at_existing_rule_files():
    for path in TEST_FILES:
        for rule_file in yaml.safe_load(path.read_text())["rule_files"]:
            assert (path.parent / rule_file).resolve().is_file(), f"{path.name}: {rule_file}"
