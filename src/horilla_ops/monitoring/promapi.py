"""A small client of the Prometheus HTTP API (instant and range queries, rules, alerts)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Fetches a URL and returns the decoded JSON body; tests pass recorded answers instead.
Fetch = Callable[[str], Any]


class PrometheusError(RuntimeError):
    """Prometheus could not be reached or refused the query."""


def http_get_json(url: str, timeout: float = 10.0) -> Any:
    if not url.startswith(("http://", "https://")):
        raise PrometheusError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return json.load(response)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        try:
            return json.loads(body)
        except ValueError:
            raise PrometheusError(f"{url}: HTTP {exc.code}: {body[:200]}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise PrometheusError(f"cannot reach {url.split('/api/')[0]}: {exc}") from None


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]


class Prometheus:
    def __init__(self, base_url: str, fetch: Fetch = http_get_json) -> None:
        self.base_url = base_url.rstrip("/")
        self._fetch = fetch

    def api(self, path: str, params: dict[str, str] | None = None) -> Any:
        """The `data` of any API path (`/api/v1/targets`, ...); PrometheusError otherwise."""
        return self._get(path, params)

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = f"{self.base_url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        body = self._fetch(url)
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else body
            raise PrometheusError(f"Prometheus refused {path}: {error}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        return [Sample(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._get("/api/v1/query_range", params)
        return [Series(dict(r["metric"]), [(float(t), float(v)) for t, v in r["values"]]) for r in data["result"]]

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        """The value of a query with at most one result, or None when it has none (or NaN)."""
        samples = self.query(expr, at)
        if not samples:
            return None
        value = samples[0].value
        return None if value != value else value  # NaN: no data in the window

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/alerts")["alerts"])

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/rules")["groups"])

    def evaluation_interval(self, group: str = "horilla-sli", default: float = 15.0) -> float:
        for g in self.rule_groups():
            if g.get("name") == group and g.get("interval"):
                return float(g["interval"])
        return default
