"""Dependency checks behind /health/ready/, /health/detailed/ and horilla_health_check_up.

Written here rather than taken from django-health-check: its 4.x line needs Django 5.2
(Horilla pins 4.2), and in its last 3.x releases the migrations check is deprecated and the
database check writes a row per probe, too much for HAProxy probing every node every 2 s.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


class CheckFailed(Exception):
    """A dependency answered, but not as it should."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    seconds: float
    error: str = ""

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": self.ok, "latency_ms": round(self.seconds * 1000, 1)}
        if self.error:
            out["error"] = self.error
        return out


def check_database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise CheckFailed("SELECT 1 returned something else")


def check_cache() -> None:
    # django-redis may be told to swallow errors (IGNORE_EXCEPTIONS); a round trip of a
    # unique value catches that case too. One key per node, worker process and thread:
    # with one key for the whole site, a probe elsewhere could write between this one's
    # set and get, and the check failed with every dependency healthy (the lab's
    # readiness probes flapped about once a minute).
    key = f"horilla_ops:health:{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    value = uuid.uuid4().hex
    cache = caches["default"]
    cache.set(key, value, timeout=30)
    if cache.get(key) != value:
        raise CheckFailed("the cache did not return the value just written")


_migrations_lock = threading.Lock()
_migrations_ok_until = 0.0


def check_migrations() -> None:
    """No unapplied migrations. A success is remembered for a while: loading the
    migration graph of a large project costs far more than a probe should."""
    global _migrations_ok_until
    if time.monotonic() < _migrations_ok_until:
        return
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise CheckFailed(f"{len(plan)} unapplied migration(s), first {plan[0][0].app_label}.{plan[0][0].name}")
    with _migrations_lock:
        _migrations_ok_until = time.monotonic() + settings.HORILLA_OPS.migrations_cache_seconds


def check_storage() -> None:
    """The media store (the shared volume, or S3) takes a write, a read and a delete."""
    payload = uuid.uuid4().hex.encode()
    name = default_storage.save(f"horilla_ops_health/{uuid.uuid4().hex}.txt", ContentFile(payload))
    try:
        with default_storage.open(name) as handle:
            if handle.read() != payload:
                raise CheckFailed("the media store returned other bytes than were written")
    finally:
        default_storage.delete(name)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "migrations": check_migrations,
    "storage": check_storage,
}


def reset_caches() -> None:
    global _migrations_ok_until
    _migrations_ok_until = 0.0


def run(names: Iterable[str]) -> list[CheckResult]:
    results = []
    for name in names:
        started = time.perf_counter()
        try:
            CHECKS[name]()
        except Exception as exc:  # a health check reports every failure, it never raises
            error = f"{type(exc).__name__}: {exc}".strip()[:300]
            results.append(CheckResult(name, False, time.perf_counter() - started, error))
            # A connection broken by an outage is dropped now, so the next probe
            # reconnects instead of failing on it until the request cycle cleans up.
            connections[DEFAULT_DB_ALIAS].close_if_unusable_or_obsolete()
        else:
            results.append(CheckResult(name, True, time.perf_counter() - started))
    return results
