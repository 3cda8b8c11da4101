"""The backup tier: the commands on the hosts, SQL on the leader, and the restore
playbook run the way an operator runs it."""

from __future__ import annotations

import time

from lab import testing
from lab.cluster import postgres, run_playbook

DATABASE = "horilla"


def backup_host() -> str:
    return testing.names("backup")[0]


def app_host() -> str:
    return testing.names("app")[0]


def leader() -> str:
    name = postgres.leader()
    assert name, f"expected one running leader, got {postgres.members()}"
    return name


def replicas() -> list[str]:
    return [h for h in postgres.hosts() if h != leader()]


def sh(host: str, command: str):
    """A shell command on a lab host; fails with its output unless it exits 0."""
    result = testing.host(host).run(command)
    assert result.rc == 0, f"{host}: `{command}` exited {result.rc}\n{result.stdout}\n{result.stderr}"
    return result


def sql(query: str, host: str | None = None) -> str:
    """One query on the app database as the superuser through the local socket (default: the leader)."""
    escaped = query.replace("'", "'\"'\"'")
    return sh(
        host or leader(), f"runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d {DATABASE} -c '{escaped}'"
    ).stdout.strip()


def timed(fn):
    """(seconds fn took, what it returned)."""
    started = time.monotonic()
    value = fn()
    return time.monotonic() - started, value


def full_backup() -> str:
    """A full pgBackRest backup now, as the timer takes it; returns its label."""
    out = sh(backup_host(), "horilla-backup --job pgbackrest --type full").stdout
    return out.split("pgBackRest full backup ")[1].split()[0]


def archive_check() -> None:
    """pgBackRest's check: the current WAL segment is switched and reaches the repository."""
    sh(backup_host(), "runuser -u postgres -- pgbackrest --stanza=horilla check")


def now_on_the_leader() -> str:
    """The leader's clock now, in the form restore_target_time takes."""
    return sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")


def run_restore(**extra_vars):
    """playbooks/restore.yml on this lab, as an operator runs it; its run, whatever the outcome."""
    return run_playbook("playbooks/restore.yml", extra_vars=extra_vars)


def restore(**extra_vars) -> float:
    """playbooks/restore.yml on this lab; returns its wall time (fails with its output)."""
    started = time.monotonic()
    run = run_restore(**extra_vars)
    assert run.ok, f"restore playbook failed ({run.rc}):\n{run.tail(120)}"
    return time.monotonic() - started
