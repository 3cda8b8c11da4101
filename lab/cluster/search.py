"""The search tier: Elasticsearch over HTTPS, verified against the CA the role made, as
any of the role's users (the lab's generated passwords)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from lab import testing

USERS = {
    "elastic": "elasticsearch_elastic_password",
    "horilla_monitoring": "elasticsearch_monitoring_password",
    "horilla_healthcheck": "elasticsearch_healthcheck_password",
}


def nodes() -> tuple[str, ...]:
    return tuple(testing.names("elasticsearch"))


def password(user: str) -> str:
    return testing.secret(USERS[user])


@dataclass
class Cluster:
    """Talks to any node of the cluster as any of its users."""

    # Above Elasticsearch's own waits (index creation waits up to 30 s for its
    # primaries): on a loaded 2-core machine a shorter client timeout fails a request
    # the cluster would have answered.
    timeout: float = 75.0
    nodes: tuple[str, ...] = field(default_factory=nodes)

    @property
    def ca(self) -> Path:
        return testing.secrets_dir() / "elasticsearch-ca" / "ca.crt"

    def address(self, node: str) -> str:
        return testing.address(node)

    def url(self, node: str, path: str) -> str:
        return f"https://{self.address(node)}:9200/{path.lstrip('/')}"

    def request(self, method: str, node: str, path: str, user: str | None = "elastic", **kwargs) -> requests.Response:
        auth = (user, password(user)) if user else None
        timeout = kwargs.pop("timeout", self.timeout)
        return requests.request(method, self.url(node, path), auth=auth, verify=str(self.ca), timeout=timeout, **kwargs)

    def get(self, node: str, path: str, **kwargs) -> requests.Response:
        return self.request("GET", node, path, **kwargs)

    def any(self, path: str, timeout: float = 10) -> dict | list:
        """GET from the first node that answers, as `elastic`."""
        last: Exception | None = None
        for node in self.nodes:
            try:
                response = self.get(node, path, timeout=timeout)
                response.raise_for_status()
                return response.json()
            except requests.RequestException as exc:
                last = exc
        raise ConnectionError(f"no Elasticsearch node answered {path}: {last}")

    def health(self, node: str, user: str = "horilla_healthcheck", timeout: float = 10, **params) -> dict:
        """_cluster/health as `user`; `timeout` is this client's (ES wants units in its own)."""
        response = self.get(node, "_cluster/health", user=user, params=params, timeout=timeout)
        response.raise_for_status()
        return response.json()

    def wait_for_green(self, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                try:
                    last = self.health(node, timeout=10)
                except requests.RequestException as exc:
                    last = exc
                    continue
                if last["status"] == "green" and last["number_of_nodes"] == len(self.nodes):
                    return last
                break
            time.sleep(1)
        raise AssertionError(f"cluster not green with {len(self.nodes)} nodes within {timeout:.0f} s: {last}")


def master() -> str | None:
    try:
        return Cluster().any("_cat/master?format=json")[0]["node"]
    except (ConnectionError, IndexError, KeyError):
        return None


def green() -> bool:
    """Green, with every node of the group in the cluster."""
    try:
        health = Cluster().any("_cluster/health")
    except ConnectionError:
        return False
    return health["status"] == "green" and health["number_of_nodes"] == len(nodes())
