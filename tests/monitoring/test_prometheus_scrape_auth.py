"""Prometheus scrapes the exporters over TLS it verifies and HAProxy's /metrics with
basic auth, each password read from a file, never written in its world-readable
configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.playbook import render_role_template

SECRET = "s3cret-for-the-prometheus-test"  # noqa: S105 (a test value)
SCRAPE_SECRET = "scrape-s3cret-for-the-prometheus-test"  # noqa: S105 (a test value)


def render(tmp_path: Path, password: str) -> dict:
    groups = {
        "monitoring": {"mon1": "192.0.2.61"},
        "loadbalancers": {"lb1": "192.0.2.11", "lb2": "192.0.2.12"},
        "app": {"app1": "192.0.2.21"},
        "postgres": {"db1": "192.0.2.31"},
        "etcd": {"db1": "192.0.2.31", "mon1": "192.0.2.61"},
        "redis": {"redis1": "192.0.2.41"},
        "elasticsearch": {"es1": "192.0.2.51"},
    }
    settings = {
        "prometheus_haproxy_stats_password": password,
        "horilla_vip": "192.0.2.100",
        "metrics_scrape_password": SCRAPE_SECRET,
    }
    text = render_role_template(tmp_path, "prometheus", "prometheus.yml.j2", "mon1", groups, settings)
    assert SECRET not in text
    assert SCRAPE_SECRET not in text
    return yaml.safe_load(text)


def haproxy_job(config: dict) -> dict:
    return next(job for job in config["scrape_configs"] if job["job_name"] == "haproxy")


def test_haproxy_is_scraped_over_verified_tls_with_a_password_file(tmp_path) -> None:
    job = haproxy_job(render(tmp_path, SECRET))
    assert job["basic_auth"] == {"username": "monitor", "password_file": "/etc/prometheus/haproxy-stats.password"}
    assert job["scheme"] == "https"
    assert job["tls_config"] == {"ca_file": "/etc/prometheus/tls/ca.crt"}
    assert len(job["static_configs"]) == 2


@pytest.mark.parametrize(
    ("name", "targets"),
    [
        ("patroni", ["192.0.2.31:8008"]),
        ("etcd", ["192.0.2.31:2379", "192.0.2.61:2379"]),
        ("horilla", ["192.0.2.21:8000"]),
    ],
)
def test_patroni_etcd_and_gunicorn_are_scraped_over_verified_tls_with_the_hosts_certificate(
    tmp_path, name, targets
) -> None:
    """Patroni's REST API, etcd and gunicorn answer only clients with a certificate of the
    internal CA."""
    config = render(tmp_path, SECRET)
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == name]
    assert job["scheme"] == "https"
    assert job["tls_config"] == {
        "ca_file": "/etc/prometheus/tls/ca.crt",
        "cert_file": "/etc/prometheus/tls/node.crt",
        "key_file": "/etc/prometheus/tls/node.key",
    }
    assert "basic_auth" not in job
    assert [t for c in job["static_configs"] for t in c["targets"]] == targets
    # A bare TCP probe never completes the handshake; the job's `up` says they answer.
    (tcp,) = [job for job in config["scrape_configs"] if job["job_name"] == "blackbox_tcp"]
    probed = [t for c in tcp["static_configs"] for t in c["targets"]]
    assert not [t for t in probed if t in targets], probed


def test_without_a_password_haproxy_is_scraped_without_auth(tmp_path) -> None:
    job = haproxy_job(render(tmp_path, ""))
    assert "basic_auth" not in job


def test_every_exporter_is_scraped_over_verified_tls_with_the_scrape_user(tmp_path) -> None:
    """node, postgres, redis and elasticsearch exporters, Prometheus and Alertmanager
    themselves, and every blackbox probe (the probes are asked of blackbox_exporter):
    https, the internal CA, the scrape user. Alerts go to the Alertmanagers the same way."""
    config = render(tmp_path, SECRET)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    exporters = ["node", "postgres", "redis", "elasticsearch", "prometheus", "alertmanager"]
    exporters += ["blackbox_http", "blackbox_http_vip", "blackbox_tcp"]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    jobs["alerting"] = alertmanagers
    exporters.append("alerting")
    for name in exporters:
        job = jobs[name]
        assert job["scheme"] == "https", name
        assert job["tls_config"] == {"ca_file": "/etc/prometheus/tls/ca.crt"}, name
        assert job["basic_auth"] == {"username": "prometheus", "password_file": "/etc/prometheus/scrape.password"}, name
    # Every other job speaks TLS with a client certificate or HAProxy's user (above).
    assert set(jobs) - set(exporters) == {"haproxy", "patroni", "etcd", "horilla"}
    # The app nodes' probes go over https: the blackbox exporter's module (http_app)
    # checks gunicorn's certificate and shows its host's.
    assert jobs["blackbox_http"]["params"] == {"module": ["http_app"]}
    probed = [t for c in jobs["blackbox_http"]["static_configs"] for t in c["targets"]]
    assert probed and all(t.startswith("https://192.0.2.21:8000/") for t in probed), probed
