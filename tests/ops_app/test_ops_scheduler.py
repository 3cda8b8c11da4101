"""Leader election on a real PostgreSQL, and the horilla-scheduler service end to end:
two services on one stand-in project, exactly one runs the jobs, takeover on kill and on freeze."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psycopg2
import pytest

from horilla_ops.scheduler.lock import AdvisoryLock
from tests.ops_app.services import subprocess_env

# Each test takes a lock of its own: a closed session's lock is released when its
# backend exits, which a busy machine may not have finished when the next test starts.
EVICTION_LOCK_ID = 4242
CONFIRMING_LOCK_ID = 4243


def connector(postgres, name):
    def connect():
        conn = psycopg2.connect(postgres.url, application_name=f"horilla-scheduler/{name}")
        conn.autocommit = True
        return conn

    return connect


def test_one_holder_and_eviction_after_the_lease(postgres):
    a = AdvisoryLock(connector(postgres, "a"), EVICTION_LOCK_ID, lease_seconds=1.0)
    b = AdvisoryLock(connector(postgres, "b"), EVICTION_LOCK_ID, lease_seconds=1.0)
    try:
        assert a.try_acquire() is True
        assert b.try_acquire() is False
        assert b.holder().node == "a"
        assert a.confirm() is True
        # a stops confirming (a frozen node): after the lease b evicts it and leads.
        time.sleep(1.3)
        assert b.try_acquire() is True
        assert b.holder().node == "b"
        with pytest.raises(psycopg2.Error):
            a.confirm()
    finally:
        a.close()
        b.close()


def test_a_confirming_leader_is_never_evicted(postgres):
    # Confirmed every 0.3 s, for longer than the lease: the lease is long enough (3 s)
    # that a test process held up for a second on a busy machine does not look frozen.
    a = AdvisoryLock(connector(postgres, "a"), CONFIRMING_LOCK_ID, lease_seconds=3.0)
    b = AdvisoryLock(connector(postgres, "b"), CONFIRMING_LOCK_ID, lease_seconds=3.0)
    try:
        assert a.try_acquire()
        for _ in range(15):
            time.sleep(0.3)
            assert a.confirm()
            assert not b.try_acquire()
    finally:
        a.close()
        b.close()


def job_runs(postgres, since: float) -> list[tuple[int, float]]:
    query = "SELECT pid, extract(epoch from ran_at) FROM jobs_jobrun WHERE ran_at > to_timestamp({}) ORDER BY ran_at"
    rows = postgres.psql(query.format(float(since)), database="horilla")
    return [(int(p), float(t)) for p, t in (line.split("|") for line in rows.splitlines() if line)]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def services(django_app, ops_env, postgres):
    """Two horilla-scheduler services (nodes a and b) on the stand-in project."""
    started: dict[str, subprocess.Popen] = {}

    def start(node: str) -> subprocess.Popen:
        env = subprocess_env(
            django_app,
            ops_env,
            HORILLA_OPS_NODE_NAME=node,
            HORILLA_OPS_SCHEDULER_LEASE_SECONDS="2",
            HORILLA_OPS_SCHEDULER_RETRY_SECONDS="0.3",
            JOBS_INTERVAL_SECONDS="0.3",
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "horilla_ops.scheduler"], cwd=django_app, env=env, stderr=subprocess.PIPE
        )
        started[node] = process
        return process

    yield start
    for process in started.values():
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            process.wait(timeout=10)


def leader_node(postgres) -> str:
    return postgres.psql(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted",
        database="horilla",
    ).removeprefix("horilla-scheduler/")


def test_exactly_one_service_runs_jobs_and_another_takes_over(services, postgres):
    since = time.time()
    processes = {"a": services("a"), "b": services("b")}
    leader = wait_for(lambda: leader_node(postgres), 30, "a scheduler leader")
    follower = "b" if leader == "a" else "a"
    wait_for(lambda: len(job_runs(postgres, since)) >= 5, 15, "five job runs")
    assert {pid for pid, _ in job_runs(postgres, since)} == {processes[leader].pid}, "jobs ran on one process only"

    # Kill the leader outright: its session closes and the follower takes over at once.
    killed_at = time.time()
    processes[leader].kill()
    processes[leader].wait()
    wait_for(lambda: any(p == processes[follower].pid for p, _ in job_runs(postgres, killed_at)), 10, "takeover")
    assert leader_node(postgres) == follower


def test_a_frozen_leader_is_evicted_and_fences_itself(services, postgres):
    since = time.time()
    processes = {"a": services("a"), "b": services("b")}
    leader = wait_for(lambda: leader_node(postgres), 30, "a scheduler leader")
    follower = "b" if leader == "a" else "a"
    wait_for(lambda: job_runs(postgres, since), 15, "a job run")

    # Freeze the leader: its TCP session stays open, only the lease can tell.
    frozen_at = time.time()
    processes[leader].send_signal(signal.SIGSTOP)
    wait_for(lambda: any(p == processes[follower].pid for p, _ in job_runs(postgres, frozen_at)), 15, "eviction")
    taken_over_at = min(t for p, t in job_runs(postgres, frozen_at) if p == processes[follower].pid)
    assert taken_over_at - frozen_at < 2 + 5 + 1, "lease (2 s) + eviction wait + retry"

    # Wake it up: it must notice it lost the lock and exit without running another job.
    processes[leader].send_signal(signal.SIGCONT)
    assert processes[leader].wait(timeout=15) == 75
    assert not [t for p, t in job_runs(postgres, taken_over_at) if p == processes[leader].pid]
    assert leader_node(postgres) == follower
