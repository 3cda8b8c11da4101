"""horilla-monitor against a fake Prometheus API with a realistic mix of healthy and broken parts."""

import json
from pathlib import Path

import pytest

from horilla_ops.monitoring import status
from horilla_ops.monitoring.promapi import Prometheus
from horilla_ops.monitoring.settings import Settings

from .conftest import FakeApi, vector

SETTINGS = Settings(prometheus_url="http://prometheus.test:9090")


def healthy(api: FakeApi) -> None:
    api.instant[status.Q_UP] = vector(
        ({"job": "node", "instance": "mon1"}, 1),
        ({"job": "node", "instance": "app1"}, 1),
        ({"job": "horilla", "instance": "app1"}, 1),
        ({"job": "patroni", "instance": "db1"}, 1),
        ({"job": "patroni", "instance": "db2"}, 1),
        ({"job": "postgres", "instance": "db2"}, 1),
        ({"job": "redis", "instance": "redis1"}, 1),
        ({"job": "haproxy", "instance": "lb1"}, 1),
    )
    api.instant[status.Q_CPU] = vector(({"instance": "mon1"}, 12.5), ({"instance": "app1"}, 40))
    api.instant[status.Q_MEMORY] = vector(({"instance": "mon1"}, 50), ({"instance": "app1"}, 60))
    api.instant[status.Q_DISK_FREE] = vector(({"instance": "mon1"}, 55.5), ({"instance": "app1"}, 70))
    api.instant[status.Q_PG_LEADER] = vector(({"__name__": "patroni_primary", "instance": "db1"}, 1))
    api.instant[status.Q_PG_LAG] = vector(({"instance": "db2"}, 0.4))
    api.instant[status.Q_REDIS_PRIMARY] = vector(({"instance": "redis1", "role": "master"}, 1))
    api.instant[status.Q_HAPROXY_BACKENDS] = vector(({"proxy": "horilla"}, 3))
    api.instant[status.Q_AVAILABILITY] = vector(({}, 0.99995))
    api.instant[status.Q_DOWN_SAMPLES] = vector(({}, 4))
    api.alerts = [{"labels": {"alertname": "Watchdog", "severity": "none"}, "state": "firing"}]


def test_healthy_cluster_is_ok(api: FakeApi, prom: Prometheus):
    healthy(api)
    result = status.collect(prom, SETTINGS, now=1700000000)
    assert result.ok, result.problems
    assert [(t.job, t.up, t.total) for t in result.tiers][:2] == [("node", 2, 2), ("horilla", 1, 1)]
    assert result.postgres_leader == ["db1"]
    assert result.redis_primary == ["redis1"]
    assert result.haproxy_backends == {"horilla": 3}
    assert result.alerts == []  # the Watchdog is the pipeline's heartbeat, not a problem
    # 4 down samples at the 15 s evaluation interval: 60 s of the 259.2 s budget.
    assert result.sla.downtime_seconds == 60
    assert result.sla.error_budget_remaining_percent == pytest.approx(100 * (1 - 60 / 259.2))
    table = status.render(result)
    assert "PostgreSQL leader: db1   replication lag: db2 0.4 s" in table
    assert "availability 99.9950 % (objective 99.99 %)" in table
    assert table.rstrip().endswith("Overall: OK")


def test_problems_are_named(api: FakeApi, prom: Prometheus):
    healthy(api)
    api.instant[status.Q_UP] += vector(({"job": "horilla", "instance": "app2"}, 0))
    api.instant[status.Q_CPU] = vector(({"instance": "mon1"}, 93), ({"instance": "app1"}, 10))
    api.instant[status.Q_DISK_FREE] = vector(({"instance": "mon1"}, 55), ({"instance": "app1"}, 7.5))
    api.instant[status.Q_PG_LEADER] = []
    api.instant[status.Q_PROBES] = vector(({"instance": "app1", "service": "horilla", "path": "/health/ready/"}, 0))
    api.alerts.append(
        {
            "labels": {"alertname": "HorillaApplicationDown", "severity": "critical"},
            "annotations": {"summary": "Horilla is down"},
            "state": "firing",
            "activeAt": "2026-11-24T03:00:00Z",
        }
    )
    api.alerts.append({"labels": {"alertname": "HostDown", "severity": "warning"}, "state": "pending"})
    result = status.collect(prom, SETTINGS, now=1700000000)
    assert not result.ok
    assert result.problems == [
        "horilla on app2 is down",
        "app1: disk 7.5 % free < 10 %",
        "app1: probe of horilla/health/ready/ fails",
        "mon1: CPU 93 % > 80 %",
        "PostgreSQL has 0 leaders (expected 1)",
        "critical alert HorillaApplicationDown",
    ]
    assert [a.name for a in result.alerts] == ["HorillaApplicationDown"]  # pending ones are not firing
    table = status.render(result)
    assert "app (gunicorn)" in table and "1/2  app2" in table
    assert "PostgreSQL leader: NONE" in table
    assert "Overall: ATTENTION (6)" in table


def test_thresholds_come_from_the_settings(api: FakeApi, prom: Prometheus):
    healthy(api)
    api.instant[status.Q_CPU] = vector(({"instance": "mon1"}, 93))
    relaxed = Settings(max_cpu_usage=95)
    assert status.collect(prom, relaxed, now=1700000000).ok


def test_response_time_is_judged_by_monitor_max_response_time(api: FakeApi, prom: Prometheus):
    """The p95 the HorillaSlowResponses alert watches, against the same threshold."""
    healthy(api)
    api.instant[status.Q_RESPONSE_P95] = vector(({}, 2.4))
    result = status.collect(prom, SETTINGS, now=1700000000)
    assert result.problems == ["response time p95 2400 ms > 2000 ms"]
    assert "Response time p95 (5m): 2400 ms" in status.render(result)
    assert status.collect(prom, Settings(max_response_time_ms=3000), now=1700000000).ok


def test_external_services_are_shown_and_a_down_one_is_a_problem(api: FakeApi, prom: Prometheus):
    healthy(api)
    api.instant[status.Q_EXTERNAL] = vector(
        ({"service": "ollama", "scope": "external"}, 1), ({"service": "chromadb", "scope": "external"}, 0)
    )
    result = status.collect(prom, SETTINGS, now=1700000000)
    assert result.external_services == {"chromadb": False, "ollama": True}
    assert result.problems == ["external service chromadb is down"]
    assert "External services: chromadb DOWN, ollama up" in status.render(result)


def test_verbose_says_what_was_checked_and_how_long_it_took(api: FakeApi, monkeypatch, tmp_path: Path, capsys):
    healthy(api)
    monkeypatch.setattr(status, "Prometheus", lambda url: Prometheus(url, fetch=api))
    monkeypatch.setenv("HORILLA_MONITORING_SETTINGS", str(tmp_path / "none.env"))
    assert status.main(["--status", "--json", "--verbose"]) == 0
    out = capsys.readouterr()
    json.loads(out.out)  # the JSON stays clean: the report is on stderr
    checked = [line.split(":")[0] for line in out.err.splitlines()]
    for what in ("scrape targets up", "PostgreSQL leader", "Redis primary", "firing alerts", "availability over 30d"):
        assert f"checked {what}" in checked, out.err
    assert "checked Redis primary: " in out.err and " ms, 1 answer(s)" in out.err
    assert out.err.splitlines()[-1].startswith(f"checked {len(checked) - 1} things in ")


def test_tiers_that_are_not_deployed_say_so(api: FakeApi, prom: Prometheus):
    api.instant[status.Q_UP] = vector(({"job": "node", "instance": "mon1"}, 1))
    result = status.collect(prom, SETTINGS, now=1700000000)
    assert result.postgres_leader is None and result.redis_primary is None and result.haproxy_backends is None
    table = status.render(result)
    assert "Redis primary: not monitored (no redis job)" in table
    assert "SLA (30d): no availability data yet" in table


def test_once_writes_the_state_file_and_json(api: FakeApi, monkeypatch, tmp_path: Path, capsys):
    healthy(api)
    monkeypatch.setattr(status, "Prometheus", lambda url: Prometheus(url, fetch=api))
    monkeypatch.setenv("HORILLA_MONITORING_SETTINGS", str(tmp_path / "none.env"))
    state_file = tmp_path / "state" / "monitor-state.json"
    assert status.main(["--once", "--json", "--state-file", str(state_file)]) == 0
    state = json.loads(state_file.read_text())
    assert state["ok"] is True
    assert state["sla"]["objective_percent"] == 99.99
    assert json.loads(capsys.readouterr().out) == state


def test_unreachable_prometheus_is_an_error_in_the_state(monkeypatch, tmp_path: Path, capsys):
    def refuse(url):
        raise status.PrometheusError("cannot reach http://prometheus.test:9090: connection refused")

    monkeypatch.setattr(status, "Prometheus", lambda url: Prometheus(url, fetch=refuse))
    monkeypatch.setenv("HORILLA_MONITORING_SETTINGS", str(tmp_path / "none.env"))
    state_file = tmp_path / "s.json"
    assert status.main(["--once", "--state-file", str(state_file)]) == 2
    assert json.loads(state_file.read_text())["ok"] is False
    assert "connection refused" in capsys.readouterr().err
