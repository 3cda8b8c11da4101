"""Prometheus shows Patroni its host's certificate and checks HAProxy's stats frontend:
a site whose Patroni or load balancers use another CA than the monitoring plane's is
refused before anything changes, naming the host and the variable."""

from __future__ import annotations

from pathlib import Path

import yaml

from lab import playbook

CA = "/nonexistent/internal-ca"


def preflight(tmp_path: Path, host_vars: dict[str, dict]) -> playbook.PlaybookRun:
    groups = {
        "monitoring": {"mon1": "192.0.2.61"},
        "postgres": {"db1": "192.0.2.31", "db2": "192.0.2.32"},
        "loadbalancers": {"lb1": "192.0.2.11"},
    }
    hosts = playbook.local_inventory(tmp_path / "hosts.yml", groups, host_vars=host_vars)
    play = {
        "name": "Preflight of the prometheus role",
        "hosts": "monitoring",
        "gather_facts": False,
        "vars": {
            "metrics_tls_ca_dir": CA,
            "metrics_scrape_password": "m" * 32,
            "monitoring_api_password": "a" * 32,
            "prometheus_alertmanager_targets": ["192.0.2.61:9093"],
        },
        "tasks": [
            {"name": "Preflight", "ansible.builtin.include_role": {"name": "prometheus", "tasks_from": "preflight.yml"}}
        ],
    }
    (tmp_path / "play.yml").write_text(yaml.safe_dump([play], sort_keys=False))
    return playbook.run(tmp_path / "play.yml", inventories=[hosts], timeout=120)


def test_one_internal_ca_passes(tmp_path):
    run = preflight(tmp_path, {h: {"postgresql_tls_ca_dir": CA} for h in ("db1", "db2", "lb1")})
    assert run.ok, run.tail()


def test_patroni_of_another_ca_is_refused(tmp_path):
    run = preflight(
        tmp_path,
        {
            "db1": {"postgresql_tls_ca_dir": CA},
            "db2": {"postgresql_tls_ca_dir": "/other-ca"},
            "lb1": {"postgresql_tls_ca_dir": CA},
        },
    )
    assert not run.ok
    output = " ".join(run.stdout.split())
    assert "db2's postgresql_tls_ca_dir (/other-ca) is not metrics_tls_ca_dir of mon1" in output, run.tail()


def test_a_load_balancers_internal_ca_of_its_own_is_refused(tmp_path):
    settings = {h: {"postgresql_tls_ca_dir": CA} for h in ("db1", "db2", "lb1")}
    settings["lb1"]["haproxy_internal_tls_ca_dir"] = "/lb-ca"
    run = preflight(tmp_path, settings)
    assert not run.ok
    assert "lb1's haproxy_internal_tls_ca_dir (/lb-ca)" in " ".join(run.stdout.split()), run.tail()
