"""horilla-dashboard (the operators' page on :8080) against the fake Prometheus API:
the login, what each API answer holds, and the settings it refuses to start with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from horilla_ops.dashboard import app as dashboard
from horilla_ops.envfile import SettingsError
from horilla_ops.monitoring.promapi import Prometheus
from horilla_ops.monitoring.settings import Settings

from .conftest import FakeApi, matrix, vector
from .test_status import healthy

PASSWORD = "correct-horse-battery-staple"  # noqa: S105 (a test's own)
MONITORING = Settings(prometheus_url="http://prometheus.test:9090", alertmanager_url="http://am.test:9093")
AM_ALERTS = [
    {"labels": {"alertname": "Watchdog"}, "status": {"state": "active", "silencedBy": []}},
    {
        "labels": {"alertname": "HostDown", "instance": "app2", "severity": "critical"},
        "status": {"state": "active", "silencedBy": []},
        "startsAt": "2026-12-06T10:00:00Z",
        "annotations": {"summary": "app2 is down"},
    },
    {
        "labels": {"alertname": "PatroniReplicaDown", "instance": "db2", "severity": "warning"},
        "status": {"state": "suppressed", "silencedBy": ["a-maintenance-silence"]},
        "startsAt": "2026-12-06T09:00:00Z",
    },
]


class Both:
    """fetch() for the app: Prometheus' API from FakeApi, Alertmanager's alerts list."""

    def __init__(self, api: FakeApi, am_alerts: list[dict[str, Any]] | Exception) -> None:
        self.api = api
        self.am_alerts = am_alerts

    def __call__(self, url: str) -> Any:
        if url.startswith("http://am.test:9093"):
            if isinstance(self.am_alerts, Exception):
                raise self.am_alerts
            return self.am_alerts
        return self.api(url)


@pytest.fixture
def client(api: FakeApi, tmp_path: Path):
    healthy(api)
    settings = dashboard.DashboardSettings(user="operator", chart_js=tmp_path / "chart.js")
    (tmp_path / "chart.js").write_text("/* Chart.js */")
    app = dashboard.create_app(settings, MONITORING, PASSWORD, fetch=Both(api, AM_ALERTS))
    app.testing = True
    return app.test_client()


def log_in(client: Any, password: str = PASSWORD) -> Any:
    return client.post("/login", data={"user": "operator", "password": password})


def test_nothing_but_the_login_page_answers_before_a_login(client):
    assert client.get("/").status_code == 302
    assert client.get("/").headers["Location"].endswith("/login")
    assert client.get("/api/status").status_code == 401
    assert client.get("/api/history").status_code == 401
    assert client.get("/vendor/chart.js").status_code == 302
    page = client.get("/login")
    assert page.status_code == 200
    assert b'name="password"' in page.data


def test_a_wrong_password_is_refused_and_the_next_try_must_wait(client):
    refused = log_in(client, "wrong-password-of-enough-length")
    assert refused.status_code == 401
    assert b"Wrong user or password." in refused.data
    # The second try within a second of the first waits, even with the right password.
    assert log_in(client).status_code == 429
    assert client.get("/api/status").status_code == 401


def test_the_session_cookie_is_secure_and_the_page_loads_nothing_from_elsewhere(client):
    response = log_in(client)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert b"http://" not in page.data
    assert b"https://" not in page.data
    assert b"/vendor/chart.js" in page.data
    assert client.get("/vendor/chart.js").data == b"/* Chart.js */"
    assert client.post("/logout").status_code == 302
    assert client.get("/api/status").status_code == 401


def test_status_has_every_tier_and_alertmanager_with_the_silenced_ones_marked(client, api: FakeApi):
    api.instant["up"] += vector(({"job": "node", "instance": "app2"}, 0))
    log_in(client)
    state = client.get("/api/status").get_json()
    assert state["ok"] is False
    hosts = {h["instance"]: h["up"] for h in state["hosts"]}
    assert hosts == {"app1": True, "app2": False, "mon1": True}
    assert "node on app2 is down" in state["problems"]
    assert state["postgres_leader"] == ["db1"]
    alerts = state["alertmanager"]["alerts"]
    assert [(a["name"], a["silenced"]) for a in alerts] == [("HostDown", False), ("PatroniReplicaDown", True)]


def test_status_says_when_alertmanager_cannot_be_reached(api: FakeApi, tmp_path: Path):
    from horilla_ops.monitoring.promapi import PrometheusError

    healthy(api)
    settings = dashboard.DashboardSettings(user="operator")
    broken = Both(api, PrometheusError("cannot reach http://am.test:9093: refused"))
    app = dashboard.create_app(settings, MONITORING, PASSWORD, fetch=broken)
    client = app.test_client()
    log_in(client)
    state = client.get("/api/status").get_json()
    assert state["ok"] is True  # Prometheus' view stands
    assert state["alertmanager"] == {"error": "cannot reach http://am.test:9093: refused", "alerts": []}


def test_history_has_each_graph_and_the_alerts_periods(client, api: FakeApi):
    api.ranges[dashboard.status.Q_CPU] = matrix(({"instance": "app1"}, [(100.0, 20.0), (115.0, 30.0)]))
    api.ranges[dashboard.Q_ALERT_HISTORY] = matrix(
        # Fired twice: 100-130, then again from 400 (a gap of more than a step).
        (
            {"alertname": "HostDown", "instance": "app2", "severity": "critical"},
            [(100, 1), (115, 1), (130, 1), (400, 1)],
        ),
    )
    log_in(client)
    data = client.get("/api/history").get_json()
    assert set(data["graphs"]) == set(dashboard.HISTORY_QUERIES)
    assert data["graphs"]["cpu_percent"] == [{"instance": "app1", "points": [[100.0, 20.0], [115.0, 30.0]]}]
    assert data["end"] - data["start"] == 3 * 3600
    assert data["step"] == 45.0  # 3 h in at most 240 points
    assert [(a["started"], a["last_seen"]) for a in data["alerts"]] == [(400.0, 400.0), (100.0, 130.0)]
    assert data["maintenance"] == []


def test_history_has_the_announced_maintenance_periods(client, api: FakeApi):
    """horilla_maintenance_active is 1 while a maintenance runs and 0 after its end."""
    api.ranges[dashboard.Q_MAINTENANCE_HISTORY] = matrix(
        ({"reason": "rolling deploy"}, [(100, 0), (145, 1), (190, 1), (235, 0), (280, 0)]),
        ({"reason": "os update"}, [(1000, 1), (1045, 1), (1500, 1)]),  # 1090-1455: no sample
    )
    log_in(client)
    data = strict_json(client.get("/api/history"))
    assert [(m["reason"], m["started"], m["last_seen"]) for m in data["maintenance"]] == [
        ("rolling deploy", 145.0, 190.0),
        ("os update", 1000.0, 1045.0),
        ("os update", 1500.0, 1500.0),
    ]


def strict_json(response: Any) -> Any:
    """The body as a browser's JSON.parse reads it: NaN and Infinity are errors."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(response.data, parse_constant=refuse)


def test_a_nan_from_prometheus_is_a_gap_not_an_answer_the_browser_refuses(client, api: FakeApi):
    """A p95 or an error ratio over no requests is NaN in Prometheus' answers."""
    api.ranges[dashboard.status.Q_RESPONSE_P95] = matrix(({}, [(100.0, 0.5), (145.0, float("nan")), (190.0, 0.7)]))
    api.instant[dashboard.status.Q_CPU] = vector(({"instance": "mon1"}, float("nan")), ({"instance": "app1"}, 40))
    log_in(client)
    data = strict_json(client.get("/api/history"))
    assert data["graphs"]["response_p95_seconds"] == [{"instance": "", "points": [[100.0, 0.5], [190.0, 0.7]]}]
    state = strict_json(client.get("/api/status"))
    assert {h["instance"]: h["cpu_percent"] for h in state["hosts"]} == {"app1": 40.0, "mon1": None}


def test_the_budget_burn_rate_is_relative_to_the_objective():
    assert dashboard.HISTORY_QUERIES["budget_burn_rate_1h"] == "max(horilla:availability_errors:ratio_1h) / 0.0001"


def write_settings(tmp_path: Path, **values: str) -> dict[str, str]:
    path = tmp_path / "dashboard.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return {"HORILLA_DASHBOARD_SETTINGS": str(path)}


def test_settings_come_from_the_file_and_the_password_from_its_own_file(tmp_path: Path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    environ = write_settings(
        tmp_path,
        HORILLA_DASHBOARD_BIND="10.0.0.61:8080",
        HORILLA_DASHBOARD_PASSWORD_FILE=str(secret),
        HORILLA_DASHBOARD_REFRESH="10",
    )
    settings = dashboard.DashboardSettings.load(environ)
    assert settings.bind == "10.0.0.61:8080"
    assert settings.refresh_seconds == 10
    assert settings.history_hours == 3
    assert settings.password() == PASSWORD


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read the password file"), ("short", "fewer than 16 characters")],
)
def test_it_never_serves_without_a_good_password(tmp_path: Path, content: str | None, message: str):
    secret = tmp_path / "password"
    if content is not None:
        secret.write_text(content)
    settings = dashboard.DashboardSettings.load(write_settings(tmp_path, HORILLA_DASHBOARD_PASSWORD_FILE=str(secret)))
    with pytest.raises(SettingsError, match=message):
        settings.password()
    with pytest.raises(SettingsError, match="HORILLA_DASHBOARD_PASSWORD_FILE is not set"):
        dashboard.DashboardSettings.load(write_settings(tmp_path)).password()


def test_a_refresh_of_zero_is_refused_by_name(tmp_path: Path):
    with pytest.raises(SettingsError, match="HORILLA_DASHBOARD_REFRESH must be a whole number"):
        dashboard.DashboardSettings.load(write_settings(tmp_path, HORILLA_DASHBOARD_REFRESH="0"))


def test_main_refuses_to_start_without_tls(tmp_path: Path, monkeypatch, capsys):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    environ = write_settings(tmp_path, HORILLA_DASHBOARD_PASSWORD_FILE=str(secret))
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HORILLA_MONITORING_SETTINGS", str(tmp_path / "none.env"))
    assert dashboard.main(["--check"]) == 2
    assert "HORILLA_DASHBOARD_CERT must name a readable file (TLS only)" in capsys.readouterr().err


def test_prometheus_is_asked_through_the_given_fetch(api: FakeApi):
    prom = Prometheus("http://prometheus.test:9090", fetch=api)
    assert dashboard.history(prom, 1, now=7200.0)["start"] == 3600.0
