"""horilla-test-alerts: one test alert of each severity to every configured channel.

Every alert channel must be testable on demand (CONTRIBUTING.md, Requirements). The
alerts go through Alertmanager's own routing (so the test proves the routing too),
labelled alertname=HorillaTestAlert, test=true. For each channel (Slack, Discord,
e-mail, PagerDuty, Teams, webhooks) the report says whether Alertmanager accepted the
alerts and whether the channel's notifications went out or failed, from
Alertmanager's notification counters. --resolve sends the matching "resolved"
notifications afterwards.

A second run within the cooldown (group_interval, 5 minutes) waits for it: the
test alerts of one severity form one group.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from horilla_ops.monitoring.settings import Settings, SettingsError

SEVERITIES = ("critical", "warning", "info")
# Alertmanager's receiver keys and the channel names the report uses.
INTEGRATIONS = {
    "slack_configs": "slack",
    "discord_configs": "discord",
    "email_configs": "email",
    "pagerduty_configs": "pagerduty",
    "msteams_configs": "msteams",
    "msteamsv2_configs": "msteamsv2",
    "webhook_configs": "webhook",
}
_COUNTER = re.compile(r"^(alertmanager_notifications(?:_failed)?_total)\{([^}]*)\}\s+(\S+)", re.MULTILINE)


class AlertmanagerError(RuntimeError):
    pass


def _request(url: str, data: bytes | None = None, timeout: float = 10.0) -> bytes:
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if not url.startswith(("http://", "https://")):
        raise AlertmanagerError(f"not an http(s) URL: {url}")
    method = "POST" if data is not None else "GET"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked)
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise AlertmanagerError(f"{url}: HTTP {exc.code} {exc.read().decode(errors='replace')[:200]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AlertmanagerError(f"cannot reach {url}: {exc}") from None


class Alertmanager:
    def __init__(self, base_url: str, request: Callable[..., bytes] = _request) -> None:
        self.base_url = base_url.rstrip("/")
        self._request = request

    def config(self) -> dict[str, Any]:
        status = json.loads(self._request(f"{self.base_url}/api/v2/status"))
        return yaml.safe_load(status["config"]["original"]) or {}

    def counters(self) -> dict[str, tuple[float, float]]:
        """integration -> (notifications attempted, notifications failed), summed over labels."""
        text = self._request(f"{self.base_url}/metrics").decode()
        totals: dict[str, list[float]] = {}
        for name, labels, value in _COUNTER.findall(text):
            match = re.search(r'integration="([^"]+)"', labels)
            if not match:
                continue
            entry = totals.setdefault(match.group(1), [0.0, 0.0])
            entry[1 if name.endswith("_failed_total") else 0] += float(value)
        return {k: (v[0], v[1]) for k, v in totals.items()}

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        self._request(f"{self.base_url}/api/v2/alerts", json.dumps(alerts).encode())


def channels_by_severity(config: dict[str, Any]) -> dict[str, list[str]]:
    """severity -> channels of the receiver its route sends to (first matching route)."""
    route = config.get("route") or {}
    receivers = {r.get("name"): r for r in config.get("receivers") or []}

    def receiver_for(severity: str) -> str | None:
        for child in route.get("routes") or []:
            matchers = [str(m).replace(" ", "") for m in child.get("matchers") or []]
            legacy = child.get("match") or {}
            if f'severity="{severity}"' in matchers or f"severity={severity}" in matchers:
                return child.get("receiver")
            if legacy.get("severity") == severity:
                return child.get("receiver")
        return route.get("receiver")

    out = {}
    for severity in SEVERITIES:
        receiver = receivers.get(receiver_for(severity)) or {}
        out[severity] = sorted(INTEGRATIONS[k] for k, v in receiver.items() if k in INTEGRATIONS and v)
    return out


def build_alerts(run: str, now: datetime, minutes: int = 10) -> list[dict[str, Any]]:
    host = socket.gethostname()
    return [
        {
            "labels": {
                "alertname": "HorillaTestAlert",
                "severity": severity,
                "test": "true",
                "run": run,
                "instance": host,
            },
            "annotations": {
                "summary": f"Test alert ({severity}) from horilla-test-alerts on {host}",
                "description": "A test of the alerting channels; no action needed.",
            },
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=minutes)).isoformat(),
        }
        for severity in SEVERITIES
    ]


@dataclass
class ChannelResult:
    channel: str
    severities: list[str]
    sent: float
    failed: float

    @property
    def verdict(self) -> str:
        if self.failed > 0:
            return "FAILED"
        return "delivered" if self.sent > 0 else "not sent yet"


def run_test(
    am: Alertmanager,
    timeout: float,
    resolve: bool,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[list[ChannelResult], str]:
    config = am.config()
    by_severity = channels_by_severity(config)
    expected: dict[str, list[str]] = {}
    for severity, channels in by_severity.items():
        for channel in channels:
            expected.setdefault(channel, []).append(severity)
    if not expected:
        return [], ""

    before = am.counters()
    run = uuid.uuid4().hex[:8]
    alerts = build_alerts(run, datetime.now(UTC))
    am.post_alerts(alerts)

    def results() -> list[ChannelResult]:
        now = am.counters()
        out = []
        for channel, severities in sorted(expected.items()):
            sent0, failed0 = before.get(channel, (0.0, 0.0))
            sent1, failed1 = now.get(channel, (0.0, 0.0))
            out.append(ChannelResult(channel, severities, sent1 - sent0, failed1 - failed0))
        return out

    deadline = clock() + timeout
    current = results()
    while clock() < deadline and any(r.verdict == "not sent yet" for r in current):
        sleep(2)
        current = results()
    if resolve:
        resolved_at = datetime.now(UTC).isoformat()
        am.post_alerts([{**a, "endsAt": resolved_at} for a in alerts])
    return current, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="horilla-test-alerts", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alertmanager-url", help="default: $HORILLA_ALERTMANAGER_URL")
    parser.add_argument("--timeout", type=float, default=90, help="seconds to wait for every channel (default 90)")
    parser.add_argument("--resolve", action="store_true", help="resolve the test alerts afterwards")
    args = parser.parse_args(argv)

    try:
        settings = Settings.load().open_apis()
    except SettingsError as exc:
        print(f"horilla-test-alerts: {exc}", file=sys.stderr)
        return 2
    am = Alertmanager(args.alertmanager_url or settings.alertmanager_url)
    try:
        results, run = run_test(am, args.timeout, args.resolve)
    except AlertmanagerError as exc:
        print(f"horilla-test-alerts: {exc}", file=sys.stderr)
        return 2
    if not results:
        print("horilla-test-alerts: no channel is configured (set the alertmanager_* secrets); nothing to test.")
        return 1
    print(f"Alertmanager {am.base_url} accepted 3 test alerts (critical, warning, info), run {run}.")
    print(f"{'CHANNEL':<10} {'SEVERITIES':<24} {'SENT':>5} {'FAILED':>6}  RESULT")
    for r in results:
        print(f"{r.channel:<10} {','.join(r.severities):<24} {r.sent:>5.0f} {r.failed:>6.0f}  {r.verdict}")
    return 0 if all(r.verdict == "delivered" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
