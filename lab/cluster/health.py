"""Is the whole site healthy? Every tier, by what its own client can see."""

from __future__ import annotations

import time
from collections.abc import Callable

from lab.cluster import balancer, cache, monitoring, postgres, search

CHECKS: dict[str, Callable[[], bool]] = {
    "load balancers (one VIP holder, every app node UP)": balancer.healthy,
    "postgres (a leader, synchronous replicas streaming)": postgres.healthy,
    "redis (a primary, its replicas, the Sentinels agree)": cache.healthy,
    "elasticsearch (green, every node)": search.green,
    "monitoring (every target up)": monitoring.healthy,
}


def unhealthy() -> list[str]:
    """The tiers not (yet) healthy; an empty list when the whole site is."""
    out = []
    for what, check in CHECKS.items():
        try:
            ok = check()
        except Exception:  # a container mid-restart
            ok = False
        if not ok:
            out.append(what)
    return out


def wait_until_healthy(timeout: float = 420) -> float:
    """Seconds until every tier is healthy; fails naming the tiers that are not."""
    started = time.monotonic()
    last: list[str] = []
    while time.monotonic() - started < timeout:
        last = unhealthy()
        if not last:
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"not healthy within {timeout:.0f} s: {last}")
