"""The database tier: Patroni's REST API, the app's database through HAProxy, and a
writer that commits numbered rows and remembers which commits were acknowledged."""

from __future__ import annotations

import functools
import json
import math
import ssl
import time
import urllib.request

import psycopg2

from lab import testing
from lab.load import WRITE, Attempt, SteadyLoad, Summary

PRIMARY_PORT = 5000
REPLICA_PORT = 5001
PATRONI_PORT = 8008
DATABASE = "horilla"
APP_USER = "horilla"


def hosts() -> list[str]:
    return testing.names("postgres")


def balancer() -> str:
    return testing.address(testing.names("loadbalancers")[0])


@functools.cache
def _patroni_tls() -> ssl.SSLContext:
    """Patroni's certificates checked against the internal CA; the tests' own client
    certificate shown (verify_client: required)."""
    context = ssl.create_default_context(cafile=testing.internal_ca_file())
    context.load_cert_chain(*testing.internal_client_cert())
    return context


def patroni(path: str, host: str | None = None, timeout: float = 2) -> dict:
    """GET a Patroni REST endpoint of one node, or of the first node that answers."""
    last: Exception | None = None
    for name in [host] if host else hosts():
        try:
            url = f"https://{testing.address(name)}:{PATRONI_PORT}{path}"
            with urllib.request.urlopen(url, timeout=timeout, context=_patroni_tls()) as r:
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
    """Every member of the `postgres` group running: one leader, one synchronous standby
    (Patroni's synchronous_node_count is 1) and any others streaming replicas."""
    try:
        ms = members()
    except ConnectionError:
        return False
    expected = len(hosts())
    roles = sorted(m["role"] for m in ms.values())
    states = {m["state"] for m in ms.values()}
    return (
        sorted(ms) == sorted(hosts())
        and roles == sorted(["leader"] + ["sync_standby"] * min(1, expected - 1) + ["replica"] * max(0, expected - 2))
        and states <= {"running", "streaming"}
    )


def wait_healthy(timeout: float = 180) -> None:
    testing.wait_for(healthy, timeout, "a Patroni leader with synchronous streaming replicas")


# --- etcd, Patroni's DCS -------------------------------------------------------------

# etcdctl on a member as root, with the settings its login shells get (roles/etcd:
# https on loopback, the member's certificate of the internal CA).
ETCDCTL = ". /etc/profile.d/etcdctl.sh && etcdctl"


def etcd_members(ask: str | None = None) -> dict[str, dict]:
    """`etcdctl member list` by member name, as one etcd host sees it (the first by default)."""
    out = testing.host(ask or testing.names("etcd")[0]).check_output(f"{ETCDCTL} member list -w json")
    return {m.get("name", ""): m for m in json.loads(out)["members"]}


def etcd_leader(exclude: str | None = None) -> str | None:
    """The etcd member that leads, as a member other than `exclude` sees it (None: no
    leader, or no member answered)."""
    for name in testing.names("etcd"):
        if name == exclude:
            continue
        host = testing.host(name)
        status, members = host.run(f"{ETCDCTL} endpoint status -w json"), host.run(f"{ETCDCTL} member list -w json")
        if status.rc != 0 or members.rc != 0:
            continue
        leader = json.loads(status.stdout)[0]["Status"]["leader"]
        return next((m["name"] for m in json.loads(members.stdout)["members"] if m["ID"] == leader), None)
    return None


# A drop-in in /run (gone at the next boot) keeps systemd from restarting etcd at once
# (Restart=on-abnormal), so a killed member stays dead for the drill.
_NO_RESTART = "/run/systemd/system/etcd.service.d/drill-no-restart.conf"


def kill_etcd(name: str) -> None:
    """SIGKILL of one host's etcd member, which stays down until start_etcd()."""
    testing.host(name).run_expect(
        [0],
        f"mkdir -p {_NO_RESTART.rsplit('/', 1)[0]} && printf '[Service]\\nRestart=no\\n' > {_NO_RESTART}"
        " && systemctl daemon-reload && systemctl kill --signal=SIGKILL etcd",
    )


def start_etcd(name: str) -> None:
    testing.host(name).run_expect([0], f"rm -f {_NO_RESTART} && systemctl daemon-reload && systemctl start etcd")


def psql(name: str, sql: str, database: str = "postgres") -> str:
    """SQL as postgres on a node's own socket (the superuser, for checks only), in
    `database` (the app's: DATABASE)."""
    return (
        testing.host(name)
        .check_output(f"psql -U postgres -h /var/run/postgresql -d {database} -Atc {json.dumps(sql)}")
        .strip()
    )


def ca_file() -> str:
    """The lab CA that signs every Postgres node's certificate (postgresql_tls_ca_dir)."""
    return testing.internal_ca_file()


def connect(port: int = PRIMARY_PORT, host: str | None = None, **kwargs):
    """The app's database as the app's user through HAProxy (a first load balancer's :5000),
    over TLS with the server's certificate checked as the app checks it (verify-full)."""
    settings = {
        "dbname": DATABASE,
        "user": APP_USER,
        "password": testing.secret("postgresql_app_password"),
        "connect_timeout": 3,
        "sslmode": "verify-full",
        "sslrootcert": ca_file(),
    }
    return psycopg2.connect(host=host or balancer(), port=port, **(settings | kwargs))


def query(sql: str, params: tuple = (), port: int = PRIMARY_PORT) -> list[tuple]:
    with connect(port) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


class Commits:
    """A client of lab.load.SteadyLoad: each call commits the next numbered row through
    HAProxy's primary listener on one kept connection (opened again after a failure),
    and remembers the acknowledged ones with their time. A commit whose outcome the
    client never learnt is a failed attempt, never counted as acknowledged."""

    STEP = "sql commit"

    def __init__(self, run: str) -> None:
        self.run = run
        self.seq = 0
        self.acked: list[tuple[int, float]] = []
        self._conn = None
        with connect() as conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS drill_writes (run text NOT NULL, seq bigint NOT NULL,"
                " at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, seq))"
            )
        conn.close()

    def __call__(self) -> Attempt:
        self.seq += 1
        try:
            if self._conn is None:
                self._conn = connect(keepalives=1, keepalives_idle=2, keepalives_interval=1, keepalives_count=2)
                self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute("INSERT INTO drill_writes (run, seq) VALUES (%s, %s)", (self.run, self.seq))
        except psycopg2.Error as exc:
            self.close()
            return self.STEP, WRITE, False, 0, type(exc).__name__
        self.acked.append((self.seq, time.monotonic()))
        return self.STEP, WRITE, True, 0, ""

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


class Writer:
    """Commits numbered rows through HAProxy's primary listener until stopped (`rate`
    per second, recorded by lab.load.SteadyLoad like every drill operation), and tells
    which acknowledged commits are lost. Bounded: it stops by itself after max_seconds.
    """

    def __init__(self, run: str, rate: float = 15.0, max_seconds: float = 900) -> None:
        self.run = run
        self.commits = Commits(run)
        self.load = SteadyLoad(lambda _n: self.commits, rate=rate, workers=1, duration=max_seconds)

    @property
    def acked(self) -> list[tuple[int, float]]:
        return self.commits.acked

    def start(self) -> Writer:
        self.load.start()
        return self

    def stop(self) -> None:
        self.load.stop(timeout=30)
        self.commits.close()

    def summary(self, start: float = -math.inf, end: float = math.inf) -> Summary:
        """The commits' outcomes in a window: attempts, failures, the longest outage."""
        return self.load.summary(start, end)

    def first_ack_after(self, t: float) -> float | None:
        return next((at for _, at in self.acked if at > t), None)

    def wait_for_ack_after(self, t: float, timeout: float) -> float:
        return testing.wait_for(lambda: self.first_ack_after(t), timeout, "a commit acknowledged through HAProxy", 0.05)

    def lost(self) -> list[int]:
        """Acknowledged sequence numbers that are not in the table now."""
        stored = {seq for (seq,) in query("SELECT seq FROM drill_writes WHERE run = %s", (self.run,))}
        return [seq for seq, _ in self.acked if seq not in stored]
