"""A fake Prometheus HTTP API: answers recorded per query, in the API's JSON format."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from horilla_ops.monitoring.promapi import Prometheus


def vector(*samples: tuple[dict[str, str], float]) -> list[dict[str, Any]]:
    return [{"metric": labels, "value": [1700000000.0, str(value)]} for labels, value in samples]


def matrix(*series: tuple[dict[str, str], list[tuple[float, float]]]) -> list[dict[str, Any]]:
    return [{"metric": labels, "values": [[t, str(v)] for t, v in points]} for labels, points in series]


class FakeApi:
    """fetch(url) for Prometheus(): instant and range answers by exact PromQL text."""

    def __init__(self) -> None:
        self.instant: dict[str, list[dict[str, Any]]] = {}
        self.ranges: dict[str, list[dict[str, Any]]] = {}
        self.alerts: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = [{"name": "horilla-sli", "interval": 15}]
        self.seen: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str) -> dict[str, Any]:
        parsed = urllib.parse.urlparse(url)
        params = dict(urllib.parse.parse_qsl(parsed.query))
        self.seen.append((parsed.path, params))
        if parsed.path == "/api/v1/query":
            data = {"resultType": "vector", "result": self.instant.get(params["query"], [])}
        elif parsed.path == "/api/v1/query_range":
            data = {"resultType": "matrix", "result": self.ranges.get(params["query"], [])}
        elif parsed.path == "/api/v1/alerts":
            data = {"alerts": self.alerts}
        elif parsed.path == "/api/v1/rules":
            data = {"groups": self.groups}
        else:
            return {"status": "error", "error": f"unknown path {parsed.path}"}
        return {"status": "success", "data": data}


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def prom(api: FakeApi) -> Prometheus:
    return Prometheus("http://prometheus.test:9090", fetch=api)
