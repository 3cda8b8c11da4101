"""The horilla-scheduler service: one per app node, exactly one of them runs the jobs.

Startup loads Django like a web worker would (apps, then the URLconf, which imports the
modules that create upstream's schedulers); the guard holds every scheduler back. Then
the process competes for the advisory lock: the winner starts the deferred schedulers and
confirms its lock every ``heartbeat`` seconds; the others retry every ``retry`` seconds.

A leader that cannot confirm its lock stops its schedulers and exits with status 75
(EX_TEMPFAIL): systemd starts it again as a fresh candidate, with no state left behind.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from horilla_ops.scheduler import guard
from horilla_ops.scheduler.lock import APPLICATION_NAME_PREFIX, AdvisoryLock

logger = logging.getLogger("horilla_ops.scheduler")

EXIT_LOST_LEADERSHIP = 75


def _connect_factory(node: str, lease_seconds: float) -> Any:
    """New raw connections with Django's settings for the default database."""
    from django.db import connections

    wrapper = connections["default"]

    def connect() -> Any:
        params = dict(wrapper.get_connection_params())
        params.update(
            application_name=f"{APPLICATION_NAME_PREFIX}{node}",
            connect_timeout=max(1, int(lease_seconds / 3)),
            # A network that silently drops the session fails the heartbeat within
            # a fraction of the lease instead of hanging on TCP retransmissions.
            keepalives=1,
            keepalives_idle=max(1, int(lease_seconds / 3)),
            keepalives_interval=1,
            keepalives_count=2,
            tcp_user_timeout=int(lease_seconds * 1000 / 2),
        )
        params.pop("cursor_factory", None)  # instrumented cursors are for Django's own connections
        conn = wrapper.Database.connect(**params)
        conn.autocommit = True
        return conn

    return connect


def _load_upstream() -> None:
    """Import what a web worker imports, so every import-time scheduler is created now."""
    import django
    from django.urls import get_resolver

    django.setup()
    get_resolver().url_patterns  # noqa: B018 (imports every view module)


class Runner:
    def __init__(self, lock: AdvisoryLock, retry_seconds: float, heartbeat_seconds: float) -> None:
        self.lock = lock
        self.retry_seconds = retry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.stopping = threading.Event()
        self._confirmed_at = 0.0

    def lease_valid(self) -> bool:
        # Jobs may run only within the lease counted from the last confirmation, minus
        # one heartbeat of margin, on this process's monotonic clock.
        margin = self.lock.lease_seconds - self.heartbeat_seconds
        return time.monotonic() - self._confirmed_at < margin

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("stopping", extra={"signal": signal.Signals(signum).name})
        self.stopping.set()

    def campaign(self) -> bool:
        """Wait until this node leads (True) or the service is stopped (False)."""
        while not self.stopping.is_set():
            try:
                if self.lock.try_acquire():
                    self._confirmed_at = time.monotonic()
                    return True
            except Exception as exc:  # the database is away: keep trying
                logger.warning("cannot reach the database for the scheduler lock", extra={"error": str(exc)})
                self.lock.close()
            self.stopping.wait(self.retry_seconds)
        return False

    def lead(self) -> int:
        guard.set_lease_check(self.lease_valid)
        started = guard.activate()
        logger.info("this node now runs the scheduled jobs", extra={"schedulers": started})
        while not self.stopping.wait(self.heartbeat_seconds):
            try:
                if self.lock.confirm():
                    self._confirmed_at = time.monotonic()
                    continue
                reason = "the lock is no longer held by this session"
            except Exception as exc:
                reason = f"cannot confirm the lock: {exc}"
            logger.error("lost the scheduler leadership; stopping jobs", extra={"reason": reason})
            guard.fence_all()
            self.lock.close()
            return EXIT_LOST_LEADERSHIP
        guard.fence_all()
        self.lock.close()
        logger.info("released the scheduler leadership")
        return 0

    def run(self) -> int:
        if not self.campaign():
            self.lock.close()
            return 0
        return self.lead()


def main() -> int:
    os.environ[guard.ENV] = "candidate"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "horilla_ops.settings")
    guard.install("candidate")
    _load_upstream()

    from django.conf import settings

    config = settings.HORILLA_OPS
    heartbeat = max(0.5, config.scheduler_lease_seconds / 5)
    lock = AdvisoryLock(
        _connect_factory(config.node_name, config.scheduler_lease_seconds),
        config.scheduler_lock_id,
        config.scheduler_lease_seconds,
    )
    runner = Runner(lock, config.scheduler_retry_seconds, heartbeat)
    signal.signal(signal.SIGTERM, runner.stop)
    signal.signal(signal.SIGINT, runner.stop)
    logger.info(
        "scheduler candidate ready",
        extra={"node": config.node_name, "deferred_schedulers": guard.pending_count(), "lock_id": lock.lock_id},
    )
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
