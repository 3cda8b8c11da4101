"""Prometheus scrapes HAProxy's authenticated /metrics with a password file, never the
password itself in its world-readable configuration."""

from __future__ import annotations

from pathlib import Path

import yaml

from lab.playbook import render_role_template

SECRET = "s3cret-for-the-prometheus-test"  # noqa: S105 (a test value)


def render(tmp_path: Path, password: str) -> dict:
    groups = {
        "monitoring": {"mon1": "192.0.2.61"},
        "loadbalancers": {"lb1": "192.0.2.11", "lb2": "192.0.2.12"},
        "app": {"app1": "192.0.2.21"},
    }
    settings = {"prometheus_haproxy_stats_password": password, "horilla_vip": "192.0.2.100"}
    text = render_role_template(tmp_path, "prometheus", "prometheus.yml.j2", "mon1", groups, settings)
    assert SECRET not in text
    return yaml.safe_load(text)


def haproxy_job(config: dict) -> dict:
    return next(job for job in config["scrape_configs"] if job["job_name"] == "haproxy")


def test_haproxy_is_scraped_with_a_password_file(tmp_path) -> None:
    job = haproxy_job(render(tmp_path, SECRET))
    assert job["basic_auth"] == {"username": "monitor", "password_file": "/etc/prometheus/haproxy-stats.password"}
    assert len(job["static_configs"]) == 2


def test_without_a_password_haproxy_is_scraped_without_auth(tmp_path) -> None:
    job = haproxy_job(render(tmp_path, ""))
    assert "basic_auth" not in job
