"""Prometheus scrapes HAProxy's authenticated /metrics with a password file, never the
password itself in its world-readable configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]
ROLE = PROJECT / "roles" / "prometheus"
SECRET = "s3cret-for-the-prometheus-test"  # noqa: S105 (a test value)


def render(tmp_path: Path, password: str) -> dict:
    hosts = {"mon1": "192.0.2.61", "lb1": "192.0.2.11", "lb2": "192.0.2.12", "app1": "192.0.2.21"}
    groups = {"monitoring": ["mon1"], "loadbalancers": ["lb1", "lb2"], "app": ["app1"]}
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {
                name: {"hosts": {h: {"internal_address": hosts[h]} for h in members}}
                for name, members in groups.items()
            },
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    settings = tmp_path / "settings.yml"
    settings.write_text(yaml.safe_dump({"prometheus_haproxy_stats_password": password, "horilla_vip": "192.0.2.100"}))
    out = tmp_path / "prometheus.yml"
    playbook = [
        {
            "name": "Render the prometheus role's configuration",
            "hosts": "mon1",
            "gather_facts": False,
            "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml"), str(settings)],
            "tasks": [
                {
                    "name": "Render",
                    "ansible.builtin.template": {
                        "src": str(ROLE / "templates" / "prometheus.yml.j2"),
                        "dest": str(out),
                        "mode": "0644",
                    },
                }
            ],
        }
    ]
    (tmp_path / "render.yml").write_text(yaml.safe_dump(playbook))
    result = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "render.yml")],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = out.read_text()
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
