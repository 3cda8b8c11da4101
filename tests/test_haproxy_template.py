"""The haproxy role's file is assembled from per-concern sections; the Postgres
listeners exist only when the inventory has a `postgres` group."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent
ROLE = PROJECT / "roles" / "haproxy"


def render(tmp_path: Path, groups: dict[str, list[str]], extra: dict | None = None) -> str:
    hosts = sorted({h for members in groups.values() for h in members} | {"lb1"})
    octet = {h: 10 + i for i, h in enumerate(hosts)}
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {
                name: {"hosts": {h: {"internal_address": f"192.0.2.{octet[h]}"} for h in members}}
                for name, members in {**groups, "loadbalancers": ["lb1"]}.items()
            },
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    out = tmp_path / "haproxy.cfg"
    playbook = [
        {
            "name": "Render the haproxy role's configuration",
            "hosts": "lb1",
            "gather_facts": False,
            "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
            "vars": extra or {},
            "tasks": [
                {
                    "name": "Render",
                    "ansible.builtin.template": {
                        "src": str(ROLE / "templates" / "haproxy.cfg.j2"),
                        "dest": str(out),
                        "mode": "0644",
                    },
                }
            ],
        }
    ]
    (tmp_path / "render.yml").write_text(yaml.safe_dump(playbook))
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"))
    result = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "render.yml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return out.read_text()


def test_postgres_listeners_follow_the_patroni_nodes(tmp_path):
    cfg = render(tmp_path, {"postgres": ["db1", "db2"]})
    assert "listen postgres_primary" in cfg
    assert "listen postgres_replicas" in cfg
    assert "http-check send meth GET uri /primary" in cfg
    assert "http-check send meth GET uri /replica?lag=16MB" in cfg
    default_servers = [line for line in cfg.splitlines() if line.strip().startswith("default-server")]
    assert len(default_servers) == 2
    assert all("on-marked-down shutdown-sessions" in line for line in default_servers)
    assert cfg.count("check port 8008") == 4
    assert "bind 192.0.2.12:5000\n" in cfg  # lb1's internal address, not every interface
    assert "*:5000" not in cfg and "0.0.0.0" not in cfg  # noqa: S104 (asserting its absence)


def test_vip_bound_when_the_inventory_has_one(tmp_path):
    cfg = render(tmp_path, {"postgres": ["db1", "db2"]}, {"horilla_vip": "192.0.2.100"})
    assert "bind 192.0.2.100:5000 transparent" in cfg
    assert "bind 192.0.2.100:5001 transparent" in cfg


@pytest.mark.parametrize("groups", [{}, {"app": ["app1"]}])
def test_no_postgres_group_no_postgres_listeners(tmp_path, groups):
    cfg = render(tmp_path, groups)
    assert "postgres" not in cfg
    assert cfg.startswith("#")
    assert "\nglobal\n" in cfg and "\ndefaults\n" in cfg
