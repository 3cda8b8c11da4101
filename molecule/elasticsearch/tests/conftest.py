"""An HTTPS client for the scenario's Elasticsearch nodes, with the lab's generated secrets.

Requests go from the controller straight to the nodes' addresses on the scenario's
network, verified against the CA the role created, as any client would talk to them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from lab import testing
from lab.state import PROJECT_DIR

SCENARIO = Path(__file__).resolve().parent.parent
SECRETS = SCENARIO / "inventory" / ".secrets"
CA = SECRETS / "elasticsearch-ca" / "ca.crt"
NODES = ("es1", "es2", "es3")
USERS = {
    "elastic": "elasticsearch_elastic_password",
    "horilla_monitoring": "elasticsearch_monitoring_password",
    "horilla_healthcheck": "elasticsearch_healthcheck_password",
}


def password(user: str) -> str:
    return (SECRETS / USERS[user]).read_text().strip()


@dataclass
class Cluster:
    """Talks to any node of the cluster as any of its users."""

    # Above Elasticsearch's own waits (index creation waits up to 30 s for its primaries,
    # `wait_for_status` up to the 60 s the tests ask for): on a loaded 2-core machine a
    # shorter client timeout fails a request the cluster would have answered.
    timeout: float = 75.0
    ca: Path = CA
    nodes: tuple[str, ...] = NODES

    def address(self, node: str) -> str:
        return testing.lab().host(node).address

    def url(self, node: str, path: str) -> str:
        return f"https://{self.address(node)}:9200/{path.lstrip('/')}"

    def request(self, method: str, node: str, path: str, user: str | None = "elastic", **kwargs) -> requests.Response:
        auth = (user, password(user)) if user else None
        timeout = kwargs.pop("timeout", self.timeout)
        return requests.request(method, self.url(node, path), auth=auth, verify=str(self.ca), timeout=timeout, **kwargs)

    def get(self, node: str, path: str, **kwargs) -> requests.Response:
        return self.request("GET", node, path, **kwargs)

    def health(self, node: str, user: str = "horilla_healthcheck", **params) -> dict:
        response = self.get(node, "_cluster/health", user=user, params=params)
        response.raise_for_status()
        return response.json()

    def wait_for_green(self, node: str = "es1", nodes: int = 3, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                health = self.health(node)
                last = health
                if health["status"] == "green" and health["number_of_nodes"] == nodes:
                    return health
            except requests.RequestException as exc:
                last = exc
            time.sleep(1)
        raise AssertionError(f"cluster not green with {nodes} nodes within {timeout:.0f} s: {last}")


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    return Cluster()


def search_playbook(
    extra_vars: dict[str, Any], log: IO[str], tags: str = "elasticsearch", limit: str = "all"
) -> subprocess.Popen:
    """Start playbooks/search.yml on this scenario's hosts, as an operator would run it."""
    address = testing.lab().host("es1").address
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"),
        LAB_NAME=testing.lab().name,
        LAB_SUBNET_PREFIX=address.rsplit(".", 1)[0],
        ANSIBLE_NOCOLOR="1",
    )
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "--inventory",
            str(SCENARIO / "inventory"),
            "--tags",
            tags,
            "--limit",
            limit,
            "--extra-vars",
            json.dumps(extra_vars),
            str(PROJECT_DIR / "playbooks" / "search.yml"),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="session")
def search_playbook_runner():
    """search_playbook, for tests (test modules here are not a package and cannot import it)."""
    return search_playbook
