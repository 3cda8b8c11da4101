"""The Prometheus rules keep their promises: every alert is unit-tested, classed, explained.

promtool itself runs in `make lint` (python -m lab rules); this checks what promtool
cannot: that no alert lacks a firing test case, and that the SLO alerts use the SRE
workbook's windows and burn-rate factors.
"""

import math
import re
from pathlib import Path

import pytest
import yaml

from horilla_ops.monitoring.maintenance import parse_duration
from horilla_ops.monitoring.settings import Settings
from lab import rules

FILES = Path(__file__).resolve().parent.parent / "roles" / "prometheus" / "files"
# The rule files as the role installs them, the thresholds templated with their defaults.
RULE_TEXTS = rules.rule_texts()
TEST_FILES = sorted((FILES / "rules-tests").glob("*.yml"))


def alerts(texts: dict[str, str] = RULE_TEXTS) -> list[dict]:
    return [
        rule
        for text in texts.values()
        for group in yaml.safe_load(text)["groups"]
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
    assert len(RULE_TEXTS) >= 4 and len(TEST_FILES) >= 4


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
    """Test files name ../rules/<name>: the rules directory as lab.rules.render writes it."""
    for path in TEST_FILES:
        for rule_file in yaml.safe_load(path.read_text())["rule_files"]:
            assert Path(rule_file).parent == Path("../rules"), f"{path.name}: {rule_file}"
            assert Path(rule_file).name in RULE_TEXTS, f"{path.name}: {rule_file}"


def test_the_thresholds_are_the_monitor_settings():
    """One place for thresholds: the role's defaults are the CLI's, and a MONITOR_* setting
    moves the alert that judges the same thing (CONTRIBUTING.md, "Thresholds")."""
    cli = Settings()
    assert rules.threshold_defaults() == {
        "MONITOR_MAX_RESPONSE_TIME": cli.max_response_time_ms,
        "MONITOR_MIN_DISK_SPACE": cli.min_disk_space,
        "MONITOR_MAX_CPU_USAGE": cli.max_cpu_usage,
        "MONITOR_MAX_MEMORY_USAGE": cli.max_memory_usage,
    }
    settings = {
        "MONITOR_MAX_RESPONSE_TIME": "1500",
        "MONITOR_MIN_DISK_SPACE": 15,
        "MONITOR_MAX_CPU_USAGE": 92.5,
        "MONITOR_MAX_MEMORY_USAGE": "90",
    }
    changed = {a["alert"]: a for a in alerts(rules.rule_texts(settings))}
    default = {a["alert"]: a for a in alerts()}
    expected = {
        "HorillaSlowResponses": ("> 2", "> 1.5"),
        "HostDiskSpaceLow": ("< 10", "< 15"),
        "HostDiskSpaceCritical": ("< 5", "< 7.5"),
        "HostHighCpuUsage": ("> 80", "> 92.5"),
        "HostHighMemoryUsage": ("> 85", "> 90"),
    }
    for name, (before, after) in expected.items():
        assert default[name]["expr"].rstrip().endswith(before), (name, default[name]["expr"])
        assert changed[name]["expr"].rstrip().endswith(after), (name, changed[name]["expr"])
    assert "1.5 s" in changed["HorillaSlowResponses"]["annotations"]["summary"]
    # Nothing else moves.
    others = sorted(set(default) - set(expected))
    assert [default[n] for n in others] == [changed[n] for n in others]


def _seconds(duration: str) -> float:
    return parse_duration(str(duration)).total_seconds()


def test_a_dead_host_is_alerted_within_a_minute_with_the_defaults():
    """Issue 21, item 5: the worst case the defaults allow, from a host's death to
    HostDown leaving Alertmanager. The death comes just after a scrape; the next scrape
    fails only at its timeout (a host that hangs rather than refuses); the evaluation
    that sees it comes a whole interval later; `for` is rounded up to evaluations; then
    the HostDown route's group_wait. The whole-site drill measures the real figure."""
    roles = FILES.parent.parent
    prometheus = yaml.safe_load((roles / "prometheus" / "defaults" / "main.yml").read_text())
    alertmanager = yaml.safe_load((roles / "alertmanager" / "defaults" / "main.yml").read_text())
    evaluation = _seconds(prometheus["prometheus_evaluation_interval"])
    host_down = {a["alert"]: a for a in alerts()}["HostDown"]
    fired = (
        _seconds(prometheus["prometheus_scrape_interval"])
        + _seconds(prometheus["prometheus_scrape_timeout"])
        + evaluation
        + math.ceil(_seconds(host_down["for"]) / evaluation) * evaluation
    )
    worst = fired + _seconds(alertmanager["alertmanager_host_down_group_wait"])
    assert worst <= 60, f"a dead host may wait {worst} s for its alert with the defaults"
