"""Keeps upstream's import-time APScheduler instances from running outside the leader.

Modes (``HORILLA_OPS_SCHEDULER_ROLE``):

- ``web`` (default, every process that does not say otherwise): ``start()`` is a no-op.
- ``candidate`` (the horilla-scheduler service): ``start()`` calls are recorded and
  replayed by :func:`activate` once this process holds the leader lock.
- ``active``: set by :func:`activate`; schedulers start normally.

Every job is also fenced: it runs only while the leader's lease is confirmed
(:func:`set_lease_check`), so a leader that was frozen and wakes up after being evicted
does not run one more round of jobs before it notices.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

MODES = ("web", "candidate", "active")
ENV = "HORILLA_OPS_SCHEDULER_ROLE"

_state_lock = threading.Lock()
_mode = "web"
_installed = False
_pending: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []
_started: list[Any] = []
_lease_valid: Callable[[], bool] = lambda: False  # noqa: E731
_originals: dict[type, Callable[..., Any]] = {}


def mode_from_environ(env: Mapping[str, str]) -> str:
    mode = env.get(ENV, "web") or "web"
    if mode not in ("web", "candidate"):
        raise ValueError(f"{ENV}={mode!r}: expected 'web' or 'candidate'")
    return mode


def mode() -> str:
    return _mode


def pending_count() -> int:
    return len(_pending)


def started() -> list[Any]:
    return list(_started)


def may_run_jobs() -> bool:
    return _mode == "active" and _lease_valid()


def _guarded_start(cls: type) -> Callable[..., Any]:
    original = _originals[cls]

    @functools.wraps(original)
    def start(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _state_lock:
            current = _mode
            if current == "candidate":
                if not any(s is self for s, _, _ in _pending):
                    _pending.append((self, args, kwargs))
                logger.info("scheduler start deferred until this node leads", extra={"jobs": _job_count(self)})
                return None
        if current == "web":
            logger.debug("scheduler start blocked: the horilla-scheduler service runs scheduled jobs")
            return None
        result = original(self, *args, **kwargs)
        if not any(s is self for s in _started):
            _started.append(self)
        return result

    start.__horilla_ops_guard__ = True  # type: ignore[attr-defined]
    return start


def _fence(func: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(func, "__horilla_ops_fenced__", False):
        return func

    @functools.wraps(func)
    def fenced(*args: Any, **kwargs: Any) -> Any:
        if not may_run_jobs():
            logger.warning("scheduled job skipped: leadership not confirmed", extra={"job": _name(func)})
            return None
        started = time.monotonic()
        try:
            result = func(*args, **kwargs)
        except Exception:
            logger.exception("scheduled job failed", extra={"job": _name(func)})
            raise
        # One line per run: which node ran which job is on record (and the drills read it).
        logger.info("scheduled job ran", extra={"job": _name(func), "duration_ms": _ms_since(started)})
        return result

    fenced.__horilla_ops_fenced__ = True  # type: ignore[attr-defined]
    return fenced


def _ms_since(started: float) -> float:
    return round(1000 * (time.monotonic() - started), 1)


def _name(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _job_count(scheduler: Any) -> int:
    try:
        return len(scheduler.get_jobs())
    except Exception:  # a scheduler that cannot list its jobs yet is still deferred
        return -1


def install(new_mode: str) -> None:
    """Patch APScheduler's schedulers (idempotent) and set this process's mode."""
    global _installed, _mode
    if new_mode not in ("web", "candidate"):
        raise ValueError(f"guard mode must be 'web' or 'candidate', not {new_mode!r}")
    with _state_lock:
        _mode = new_mode
        if _installed:
            return
        try:
            from apscheduler.schedulers.background import BackgroundScheduler
            from apscheduler.schedulers.base import BaseScheduler
            from apscheduler.schedulers.blocking import BlockingScheduler
        except ImportError:  # no APScheduler in this project: nothing can start one
            _installed = True
            return
        for cls in (BaseScheduler, BackgroundScheduler, BlockingScheduler):
            if "start" in vars(cls):
                _originals[cls] = vars(cls)["start"]
                cls.start = _guarded_start(cls)  # type: ignore[method-assign]
        original_add_job = BaseScheduler.add_job

        @functools.wraps(original_add_job)
        def add_job(self: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
            return original_add_job(self, _fence(func) if callable(func) else func, *args, **kwargs)

        BaseScheduler.add_job = add_job  # type: ignore[method-assign]
        _installed = True


def set_lease_check(check: Callable[[], bool]) -> None:
    global _lease_valid
    _lease_valid = check


def activate() -> int:
    """This process leads: start every deferred scheduler. Returns how many started."""
    global _mode
    with _state_lock:
        _mode = "active"
        waiting = list(_pending)
        _pending.clear()
    for scheduler, args, kwargs in waiting:
        scheduler.start(*args, **kwargs)
    return len(waiting)


def fence_all() -> None:
    """Leadership lost: stop every running scheduler at once (running jobs are not waited for)."""
    global _mode
    with _state_lock:
        _mode = "candidate"
    for scheduler in started():
        try:
            scheduler.shutdown(wait=False)
        except Exception:  # already stopped
            logger.debug("scheduler already stopped", exc_info=True)
