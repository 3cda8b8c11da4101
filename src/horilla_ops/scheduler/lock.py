"""Leader election on PostgreSQL: a session advisory lock plus a lease.

The holder of ``pg_try_advisory_lock(lock_id)`` leads. A session lock alone is released
only when PostgreSQL notices the session is gone, which behind HAProxy (or with a frozen
client) can take as long as a TCP timeout. So the leader confirms its lock every few
seconds on the same session, which keeps ``pg_stat_activity.state_change`` fresh, and a
candidate that sees the holder idle for longer than the lease terminates the holder's
backend (allowed between sessions of the same role) and takes the lock. The old leader's
next confirmation then fails and it stops its jobs; jobs are also fenced on the lease
(see guard.py), so they stop even before that.

All times are measured by PostgreSQL's clock (``now() - state_change``) or by each
process's monotonic clock, never compared across machines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

APPLICATION_NAME_PREFIX = "horilla-scheduler/"

# The lock's holder: advisory locks with a bigint key show up in pg_locks as
# classid = high 32 bits, objid = low 32 bits, objsubid = 1.
_HOLDER_SQL = """
SELECT a.pid, a.application_name, a.state, EXTRACT(EPOCH FROM now() - a.state_change)::float8
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
"""


@dataclass(frozen=True)
class Holder:
    pid: int
    application_name: str
    state: str
    idle_seconds: float

    @property
    def node(self) -> str:
        name = self.application_name
        return name[len(APPLICATION_NAME_PREFIX) :] if name.startswith(APPLICATION_NAME_PREFIX) else name


def lock_key_parts(lock_id: int) -> tuple[int, int]:
    unsigned = lock_id & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def current_holder(cursor: Any, lock_id: int) -> Holder | None:
    cursor.execute(_HOLDER_SQL, lock_key_parts(lock_id))
    row = cursor.fetchone()
    return Holder(int(row[0]), row[1] or "", row[2] or "", float(row[3] or 0.0)) if row else None


class AdvisoryLock:
    """One node's side of the election, over its own dedicated connection.

    ``connect`` returns a new DB-API connection (psycopg 2 or 3) in autocommit mode whose
    application_name is ``horilla-scheduler/<node>``.
    """

    def __init__(self, connect: Callable[[], Any], lock_id: int, lease_seconds: float) -> None:
        self._connect = connect
        self.lock_id = lock_id
        self.lease_seconds = lease_seconds
        self._conn: Any = None
        self.held = False

    def _cursor(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn.cursor()

    def close(self) -> None:
        """Drop the session (and with it the lock, if held)."""
        self.held = False
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a broken connection
                logger.debug("closing the lock connection failed", exc_info=True)
            self._conn = None

    def try_acquire(self) -> bool:
        """One attempt; evicts a holder whose lease ran out. Raises on connection errors."""
        with self._cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,))
            self.held = bool(cursor.fetchone()[0])
            if self.held:
                return True
            holder = current_holder(cursor, self.lock_id)
            if holder and holder.state == "idle" and holder.idle_seconds > self.lease_seconds:
                logger.warning(
                    "evicting a scheduler leader whose lease ran out",
                    extra={"holder": holder.node, "holder_pid": holder.pid, "idle_seconds": holder.idle_seconds},
                )
                # Waits (up to 5 s) until the old session is gone and its lock released.
                cursor.execute("SELECT pg_terminate_backend(%s, 5000)", (holder.pid,))
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,))
                self.held = bool(cursor.fetchone()[0])
        return self.held

    def confirm(self) -> bool:
        """Leader heartbeat: True while this session still holds the lock. Raises on connection errors."""
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()"
                " AND objsubid = 1 AND classid = %s::bigint::oid AND objid = %s::bigint::oid",
                lock_key_parts(self.lock_id),
            )
            self.held = cursor.fetchone()[0] == 1
        return self.held

    def holder(self) -> Holder | None:
        with self._cursor() as cursor:
            return current_holder(cursor, self.lock_id)
