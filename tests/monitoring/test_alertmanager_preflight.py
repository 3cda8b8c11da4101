"""A site whose alerts would go nowhere, or whose thresholds make no sense, is refused
before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab import playbook

SINK = "https://hooks.example.com/alerts"
# What every monitoring host's preflight asks beside the alerting (the API's TLS and users).
WEB = {
    "metrics_scrape_password": "m" * 32,
    "monitoring_api_password": "a" * 32,
    "metrics_tls_ca_dir": "/nonexistent/internal-ca",
}


def preflight(
    tmp_path: Path,
    settings: dict,
    role: str = "alertmanager",
    monitoring: dict[str, str] | None = None,
    host_vars: dict[str, dict] | None = None,
) -> playbook.PlaybookRun:
    """The role's preflight on the monitoring hosts (mon1 alone unless named)."""
    hosts = playbook.local_inventory(
        tmp_path / "hosts.yml", {"monitoring": monitoring or {"mon1": "192.0.2.61"}}, host_vars=host_vars
    )
    play = {
        "name": f"Preflight of the {role} role",
        "hosts": "monitoring",
        "gather_facts": False,
        "vars": {**WEB, **settings},
        "tasks": [
            {
                "name": f"Preflight {role}",
                "ansible.builtin.include_role": {"name": role, "tasks_from": "preflight.yml"},
            }
        ],
    }
    (tmp_path / "play.yml").write_text(yaml.safe_dump([play], sort_keys=False))
    return playbook.run(tmp_path / "play.yml", inventories=[hosts], timeout=120)


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({}, "set now: none"),
        ({"alertmanager_watchdog_webhook_url": SINK}, "set now: none"),
        ({"alertmanager_slack_webhook_url": SINK}, "alertmanager_watchdog_webhook_url (set now: False)"),
    ],
    ids=["nothing", "only-the-dead-mans-switch", "no-dead-mans-switch"],
)
def test_alerts_that_go_nowhere_are_refused(tmp_path, settings, missing):
    run = preflight(tmp_path, settings)
    assert not run.ok
    output = " ".join(run.stdout.split())
    assert "mon1: alerts would go nowhere" in output, run.tail()
    assert missing in output, run.tail()


def test_a_channel_and_a_dead_mans_switch_pass(tmp_path):
    run = preflight(
        tmp_path,
        {
            "alertmanager_email_to": ["ops@example.com"],
            "alertmanager_email_from": "am@example.com",
            "alertmanager_smtp_smarthost": "smtp.example.com:587",
            "alertmanager_watchdog_webhook_url": SINK,
        },
    )
    assert run.ok, run.tail()


def test_a_lab_may_opt_out(tmp_path):
    run = preflight(tmp_path, {"alertmanager_require_receivers": False})
    assert run.ok, run.tail()


RECEIVERS = {"alertmanager_require_receivers": False}


@pytest.mark.parametrize(
    ("role", "settings", "message"),
    [
        ("alertmanager", {"MONITOR_ALERT_COOLDOWN": 60}, "MONITOR_ALERT_COOLDOWN (alertmanager_alert_cooldown) must"),
        ("alertmanager", {"MONITOR_ALERT_COOLDOWN": "5m"}, "got 5m"),
        ("prometheus", {"MONITOR_MAX_CPU_USAGE": 180}, "MONITOR_MAX_CPU_USAGE (prometheus_monitor_settings) must"),
        ("prometheus", {"MONITOR_MIN_DISK_SPACE": "ten"}, "got ten"),
        ("prometheus", {"MONITOR_MAX_RESPONSE_TIME": 0}, "must be milliseconds above 0"),
    ],
    ids=["cooldown-below-group-interval", "cooldown-not-seconds", "cpu-over-100", "disk-not-a-number", "no-response"],
)
def test_thresholds_that_make_no_sense_are_refused(tmp_path, role, settings, message):
    run = preflight(tmp_path, {**RECEIVERS, "monitoring_cli_settings": settings}, role)
    assert not run.ok
    output = " ".join(run.stdout.split())
    assert "mon1: MONITOR_" in output and message in output, run.tail()


def test_the_default_thresholds_pass(tmp_path):
    assert preflight(tmp_path, RECEIVERS, "prometheus").ok


PAGERDUTY = {"alertmanager_pagerduty_routing_key": "a" * 32, "alertmanager_watchdog_webhook_url": SINK}


@pytest.mark.parametrize("url", ["https://events.pagerduty.com/v2/enqueue", "http://192.0.2.254:9099/pagerduty"])
def test_pagerduty_events_go_to_an_http_url(tmp_path, url):
    run = preflight(tmp_path, {**PAGERDUTY, "alertmanager_pagerduty_url": url})
    assert run.ok, run.tail()


def test_a_pagerduty_url_that_is_not_http_is_refused(tmp_path):
    run = preflight(tmp_path, {**PAGERDUTY, "alertmanager_pagerduty_url": "events.pagerduty.com/v2/enqueue"})
    assert not run.ok
    output = " ".join(run.stdout.split())
    assert "alertmanager_pagerduty_url must be an http(s) URL" in output, run.tail()


def test_a_pair_of_prometheus_with_different_external_labels_is_refused(tmp_path):
    """Two Prometheus whose alerts differ by an external label would each page: the
    Alertmanager cluster deduplicates identical alerts only."""
    run = preflight(
        tmp_path,
        RECEIVERS,
        "prometheus",
        monitoring={"mon1": "192.0.2.61", "mon2": "192.0.2.62"},
        host_vars={"mon2": {"prometheus_external_labels": {"replica": "b"}}},
    )
    assert not run.ok
    output = " ".join(run.stdout.split())
    assert "mon1: prometheus_external_labels must be the same on every monitoring host" in output, run.tail()
    assert "different on mon2." in output, run.tail()
