"""The database tier: Patroni's REST API, the app's database through HAProxy, and a
writer that commits numbered rows and remembers which commits were acknowledged."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import psycopg2

from lab import testing

PRIMARY_PORT = 5000
REPLICA_PORT = 5001
PATRONI_PORT = 8008
DATABASE = "horilla"
APP_USER = "horilla"


def hosts() -> list[str]:
    return testing.names("postgres")


def balancer() -> str:
    return testing.address(testing.names("loadbalancers")[0])


def patroni(path: str, host: str | None = None, timeout: float = 2) -> dict:
    """GET a Patroni REST endpoint of one node, or of the first node that answers."""
    last: Exception | None = None
    for name in [host] if host else hosts():
        try:
            with urllib.request.urlopen(f"http://{testing.address(name)}:{PATRONI_PORT}{path}", timeout=timeout) as r:
                return json.load(r)
        except OSError as exc:  # URLError, timeouts, refused: try the next node
            last = exc
    raise ConnectionError(f"no Patroni node answered {path}: {last}")


def members() -> dict[str, dict]:
    return {m["name"]: m for m in patroni("/cluster")["members"]}


def leader() -> str | None:
    try:
        found = [n for n, m in members().items() if m["role"] == "leader" and m["state"] == "running"]
    except ConnectionError:
        return None
    return found[0] if len(found) == 1 else None


def healthy() -> bool:
    """A running leader and every other member a streaming synchronous standby."""
    try:
        ms = members()
    except ConnectionError:
        return False
    expected = len(hosts())
    roles = sorted(m["role"] for m in ms.values())
    states = {m["state"] for m in ms.values()}
    return (
        len(ms) == expected
        and roles == sorted(["leader"] + ["sync_standby"] * (expected - 1))
        and states <= {"running", "streaming"}
    )


def wait_healthy(timeout: float = 180) -> None:
    testing.wait_for(healthy, timeout, "a Patroni leader with synchronous streaming replicas")


def psql(name: str, sql: str) -> str:
    """SQL as postgres on a node's own socket (the superuser, for checks only)."""
    return testing.host(name).check_output(f"psql -U postgres -h /var/run/postgresql -Atc {json.dumps(sql)}")


def connect(port: int = PRIMARY_PORT, host: str | None = None, **kwargs):
    return psycopg2.connect(
        host=host or balancer(),
        port=port,
        dbname=DATABASE,
        user=APP_USER,
        password=testing.secret("postgresql_app_password"),
        connect_timeout=3,
        **kwargs,
    )


def query(sql: str, params: tuple = (), port: int = PRIMARY_PORT) -> list[tuple]:
    with connect(port) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


@dataclass
class Writer:
    """Commits numbered rows through HAProxy's primary listener until stopped.

    Every acknowledged commit is remembered with its time, and every failed attempt
    too: a commit whose outcome the client never learnt is not counted as acknowledged.
    Bounded: it stops by itself after max_seconds.
    """

    run: str
    max_seconds: float = 900
    acked: list[tuple[int, float]] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        with connect() as conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS drill_writes (run text NOT NULL, seq bigint NOT NULL,"
                " at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, seq))"
            )
        conn.close()

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self._loop, name=f"writer-{self.run}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        conn = None
        seq = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            seq += 1
            try:
                if conn is None:
                    conn = connect(keepalives=1, keepalives_idle=2, keepalives_interval=1, keepalives_count=2)
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO drill_writes (run, seq) VALUES (%s, %s)", (self.run, seq))
                self.acked.append((seq, time.monotonic()))
            except psycopg2.Error:
                self.failures.append(time.monotonic())
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.1)
            time.sleep(0.05)
        if conn is not None:
            conn.close()

    def first_ack_after(self, t: float) -> float | None:
        return next((at for _, at in self.acked if at > t), None)

    def wait_for_ack_after(self, t: float, timeout: float) -> float:
        return testing.wait_for(lambda: self.first_ack_after(t), timeout, "a commit acknowledged through HAProxy", 0.05)

    def lost(self) -> list[int]:
        """Acknowledged sequence numbers that are not in the table now."""
        stored = {seq for (seq,) in query("SELECT seq FROM drill_writes WHERE run = %s", (self.run,))}
        return [seq for seq, _ in self.acked if seq not in stored]
