"""horilla-test-alerts against the real alertmanager.yml template and a fake Alertmanager API."""

import contextlib
import json
from pathlib import Path

import jinja2
import pytest
import yaml

from horilla_ops.monitoring import test_alerts

ROLE = Path(__file__).resolve().parents[2] / "roles" / "alertmanager"


def render_config(**overrides) -> str:
    """roles/alertmanager/templates/alertmanager.yml.j2 with the role's defaults."""
    # YAML, not HTML: no autoescape, exactly as Ansible renders it.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True)  # noqa: S701
    env.filters["comment"] = lambda text: "#\n# " + text + "\n#"
    env.filters["to_json"] = json.dumps
    env.filters["bool"] = bool
    variables = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    variables.update({k: v for k, v in internal.items() if not str(v).startswith("{{")})
    variables.update(
        ansible_managed="Ansible managed",
        _alertmanager_native_msteams=True,
        _alertmanager_msteams_relayed=False,
        _alertmanager_msteams_relay_url="http://127.0.0.1:9095/alerts",
    )
    variables.update(overrides)
    # Defaults that derive from others (the repeat intervals from the cooldown), resolved
    # as Ansible would; those that need a host's facts are not used by the template.
    for _ in range(3):
        for name, value in variables.items():
            if isinstance(value, str) and "{{" in value:
                with contextlib.suppress(jinja2.UndefinedError):
                    variables[name] = env.from_string(value).render(**variables)
    return env.from_string((ROLE / "templates" / "alertmanager.yml.j2").read_text()).render(**variables)


def test_channels_follow_the_severity_routing():
    config = yaml.safe_load(
        render_config(
            alertmanager_slack_webhook_url="https://hooks.slack.test/x",
            alertmanager_pagerduty_routing_key="a" * 32,
            alertmanager_email_to=["ops@example.com"],
            alertmanager_email_from="am@example.com",
            alertmanager_smtp_smarthost="smtp.example.com:587",
            alertmanager_webhook_urls=["http://10.0.0.61:9099/alerts"],
        )
    )
    assert test_alerts.channels_by_severity(config) == {
        "critical": ["email", "pagerduty", "slack", "webhook"],
        "warning": ["email", "slack", "webhook"],
        "info": ["slack", "webhook"],
    }
    assert config["route"]["group_interval"] == "5m"  # the 5-minute cooldown


def test_each_dead_host_is_a_group_of_its_own_sent_within_seconds():
    """Grouped by name like the others, a second host dying within group_interval (5m)
    of the first would wait for that group's next tick."""
    config = yaml.safe_load(render_config(alertmanager_webhook_urls=["http://10.0.0.61:9099/alerts"]))
    [route] = [r for r in config["route"]["routes"] if 'alertname="HostDown"' in r.get("matchers", [])]
    assert route["receiver"] == "warning"
    assert route["group_by"] == ["alertname", "instance"]
    assert route["group_wait"] == "5s"
    assert config["route"]["group_wait"] == "30s"  # every other warning still waits for companions


def test_pagerduty_pages_as_critical_at_the_configured_events_api():
    def pagerduty(**overrides) -> list[dict]:
        config = yaml.safe_load(render_config(alertmanager_pagerduty_routing_key="a" * 32, **overrides))
        return [c for r in config["receivers"] for c in r.get("pagerduty_configs", [])]

    assert pagerduty() == [
        {
            "routing_key": "a" * 32,
            "url": "https://events.pagerduty.com/v2/enqueue",  # Alertmanager's own default
            "severity": "critical",
            "send_resolved": True,
        }
    ]
    assert pagerduty(alertmanager_pagerduty_url="http://192.0.2.254:9099/pagerduty")[0]["url"] == (
        "http://192.0.2.254:9099/pagerduty"
    )


def test_no_secret_no_channel():
    config = yaml.safe_load(render_config())
    assert test_alerts.channels_by_severity(config) == {"critical": [], "warning": [], "info": []}


def test_teams_on_alertmanager_025_goes_through_the_relay():
    relayed = yaml.safe_load(
        render_config(
            alertmanager_msteams_webhook_url="https://teams.test/hook",
            _alertmanager_native_msteams=False,
            _alertmanager_msteams_relayed=True,
        )
    )
    critical = next(r for r in relayed["receivers"] if r["name"] == "critical")
    assert "msteams_configs" not in critical
    assert critical["webhook_configs"] == [{"url": "http://127.0.0.1:9095/alerts", "send_resolved": True}]


class FakeAlertmanager:
    def __init__(self, config: str, deliveries: dict[str, tuple[int, int]]) -> None:
        self.config = config
        self.deliveries = deliveries  # integration -> (sent, failed) once alerts arrive
        self.posted: list[list[dict]] = []

    def __call__(self, url: str, data: bytes | None = None) -> bytes:
        if url.endswith("/api/v2/status"):
            return json.dumps({"config": {"original": self.config}}).encode()
        if url.endswith("/api/v2/alerts"):
            self.posted.append(json.loads(data or b"[]"))
            return b""
        if url.endswith("/metrics"):
            # Slack had sent 7 notifications before the test.
            lines = [] if self.posted else ['alertmanager_notifications_total{integration="slack"} 7']
            if self.posted:
                for name, (sent, failed) in self.deliveries.items():
                    total = sent + (7 if name == "slack" else 0)
                    lines.append(f'alertmanager_notifications_total{{integration="{name}"}} {total}')
                    lines.append(
                        f'alertmanager_notifications_failed_total{{integration="{name}",reason="other"}} {failed}'
                    )
            return "\n".join(lines).encode()
        raise AssertionError(url)


def test_each_channel_gets_a_verdict():
    config = render_config(
        alertmanager_slack_webhook_url="https://hooks.slack.test/x",
        alertmanager_discord_webhook_url="https://discord.test/api/webhooks/1",
    )
    fake = FakeAlertmanager(config, {"slack": (3, 0), "discord": (3, 3)})
    am = test_alerts.Alertmanager("http://am.test:9093", request=fake)
    results, run = test_alerts.run_test(am, timeout=10, resolve=True, sleep=lambda s: None)
    assert {r.channel: (r.sent, r.failed, r.verdict) for r in results} == {
        "discord": (3, 3, "FAILED"),
        "slack": (3, 0, "delivered"),
    }
    first, resolve = fake.posted
    assert sorted(a["labels"]["severity"] for a in first) == ["critical", "info", "warning"]
    assert {a["labels"]["run"] for a in first} == {run}
    assert all(a["endsAt"] < b["endsAt"] for a, b in zip(resolve, first, strict=True))


def test_a_channel_that_sends_nothing_is_reported_not_sent():
    config = render_config(alertmanager_webhook_urls=["http://10.0.0.61:9099/alerts"])
    fake = FakeAlertmanager(config, {})
    ticks = iter(range(100))
    am = test_alerts.Alertmanager("http://am.test:9093", request=fake)
    results, _ = test_alerts.run_test(am, timeout=5, resolve=False, sleep=lambda s: None, clock=lambda: next(ticks))
    assert [(r.channel, r.verdict) for r in results] == [("webhook", "not sent yet")]


@pytest.mark.parametrize("key", ["slack_configs", "webhook_configs"])
def test_legacy_match_routes_are_understood(key):
    config = {
        "route": {"receiver": "default", "routes": [{"match": {"severity": "critical"}, "receiver": "pager"}]},
        "receivers": [{"name": "default"}, {"name": "pager", key: [{"url": "x"}]}],
    }
    assert test_alerts.channels_by_severity(config)["critical"] == [test_alerts.INTEGRATIONS[key]]
    assert test_alerts.channels_by_severity(config)["info"] == []


@pytest.mark.parametrize(("settings", "expected"), [({}, "300s"), ({"MONITOR_ALERT_COOLDOWN": 900}, "900s")])
def test_the_cooldown_is_the_repeat_interval_of_every_class(settings, expected):
    """MONITOR_ALERT_COOLDOWN (CONTRIBUTING.md, "Cooldown"): a still-firing group is sent
    again after it, pages included; the Watchdog keeps its own heartbeat."""
    route = yaml.safe_load(render_config(monitoring_cli_settings=settings))["route"]
    assert route["repeat_interval"] == expected
    critical = [r for r in route["routes"] if r["receiver"] == "critical"]
    assert [r["repeat_interval"] for r in critical] == [expected]
