"""The APScheduler guard: web processes never start schedulers; the scheduler service starts
them only once it leads, and jobs stop when the lease is not confirmed."""

from __future__ import annotations

import threading

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from horilla_ops.scheduler import guard


@pytest.fixture
def restore_web_mode():
    yield
    guard.fence_all()
    guard.install("web")
    guard.set_lease_check(lambda: False)


def test_upstream_import_time_scheduler_is_blocked_in_web_processes(django_app):
    """The stand-in starts a BackgroundScheduler when its app loads, like upstream; here it must not run."""
    import jobs.scheduler

    assert guard.mode() == "web"
    assert jobs.scheduler.scheduler.running is False
    assert not [t for t in threading.enumerate() if t.name == "APScheduler"]


def test_candidate_defers_and_activate_starts(restore_web_mode):
    guard.install("candidate")
    ran = threading.Event()
    scheduler = BackgroundScheduler()
    scheduler.add_job(ran.set, "interval", seconds=0.1)
    scheduler.start()
    assert scheduler.running is False
    assert guard.pending_count() == 1

    guard.set_lease_check(lambda: True)
    assert guard.activate() == 1
    assert scheduler.running is True
    assert ran.wait(5), "the deferred job runs once this process leads"

    guard.fence_all()
    assert scheduler.running is False


def test_jobs_are_fenced_when_the_lease_is_not_confirmed(restore_web_mode, caplog):
    caplog.set_level("INFO", logger="horilla_ops.scheduler.guard")
    guard.install("candidate")
    lease = threading.Event()
    lease.set()
    runs: list[int] = []
    scheduler = BackgroundScheduler()
    scheduler.add_job(lambda: runs.append(1), "interval", seconds=0.1)
    scheduler.start()
    guard.set_lease_check(lease.is_set)
    guard.activate()
    try:
        deadline = threading.Event()
        deadline.wait(0.5)
        assert runs, "jobs run while the lease is confirmed"
        # Only this test's job: a run the previous test's scheduler had already handed to its
        # thread pool before it was fenced may still log here (shutdown does not wait for it).
        ran = [r for r in caplog.records if r.getMessage() == "scheduled job ran" and r.job.endswith("<lambda>")]
        assert len(ran) >= len(runs) - 1, "every run is logged with its job (the drills read it)"
        lease.clear()
        deadline.wait(0.2)
        count = len(runs)
        deadline.wait(0.5)
        assert len(runs) == count, "no job may run once the lease lapsed"
    finally:
        scheduler.shutdown(wait=False)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="HORILLA_OPS_SCHEDULER_ROLE"):
        guard.mode_from_environ({"HORILLA_OPS_SCHEDULER_ROLE": "leader"})
