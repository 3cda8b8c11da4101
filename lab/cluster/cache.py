"""The cache tier: the Redis servers and the Sentinels (what clients ask for the primary),
with short client timeouts, and a writer that discovers the primary as the app does."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from lab import testing
from lab.load import WRITE, Attempt, SteadyLoad, Summary

MASTER_NAME = "horilla"
REDIS_PORT = 6379
SENTINEL_PORT = 26379
# Short, so a dead host costs a client half a second, not the kernel's TCP timeout.
TIMEOUT = 0.5


def password() -> str:
    return testing.secret("redis_password")


def redis_hosts() -> list[str]:
    return testing.names("redis")


def sentinel_hosts() -> list[str]:
    return testing.names("sentinel")


def host_by_address(addr: str) -> str:
    return next(h.name for h in testing.lab().hosts.values() if h.address == addr)


def no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def server(name: str, **kwargs) -> redis.Redis:
    """A client of one Redis server, authenticated, with short timeouts."""
    return redis.Redis(
        host=testing.address(name),
        port=REDIS_PORT,
        password=password(),
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        retry=no_retry(),
        decode_responses=True,
        **kwargs,
    )


def sentinel(name: str) -> redis.Redis:
    """A client of one Sentinel, authenticated, with short timeouts."""
    return redis.Redis(
        host=testing.address(name),
        port=SENTINEL_PORT,
        password=password(),
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        retry=no_retry(),
        decode_responses=True,
    )


def sentinel_views(names: list[str] | None = None) -> dict[str, str | None]:
    """Which host each Sentinel names as primary (None: no answer)."""
    views: dict[str, str | None] = {}
    for name in names or sentinel_hosts():
        try:
            ip, _port = sentinel(name).sentinel_get_master_addr_by_name(MASTER_NAME)
            views[name] = host_by_address(ip)
        except (redis.RedisError, OSError, TypeError, StopIteration):
            views[name] = None
    return views


def primary() -> str | None:
    """The host a majority of the Sentinels names as primary, None without a majority."""
    views = sentinel_views()
    counted = Counter(v for v in views.values() if v).most_common(1)
    if not counted or counted[0][1] * 2 <= len(views):
        return None
    return counted[0][0]


def healthy() -> bool:
    """A primary every Sentinel agrees on, streaming to every replica."""
    name = primary()
    if name is None or any(v != name for v in sentinel_views().values()):
        return False
    try:
        return server(name).info("replication")["connected_slaves"] == len(redis_hosts()) - 1
    except (redis.RedisError, OSError):
        return False


def flags(state: dict) -> set[str]:
    """The flags of a SENTINEL MASTER / REPLICAS entry ("slave,s_down") as a set."""
    return set(str(state["flags"]).split(","))


@dataclass
class Ack:
    key: str
    at: float
    server: str


class Sets:
    """A client of lab.load.SteadyLoad: each call sets the next key through Sentinel
    discovery, as the app finds its primary, on a connection of its own, so each
    acknowledgement names the server that gave it."""

    STEP = "redis set"

    def __init__(self, run: str) -> None:
        self.run = run
        self.n = 0
        self.acks: list[Ack] = []
        self._pool = None

    def _connections(self):
        if self._pool is None:
            sentinels = Sentinel(
                [(testing.address(n), SENTINEL_PORT) for n in sentinel_hosts()],
                sentinel_kwargs={
                    "password": password(),
                    "socket_timeout": TIMEOUT,
                    "socket_connect_timeout": TIMEOUT,
                    "retry": no_retry(),
                },
            )
            self._pool = sentinels.master_for(
                MASTER_NAME,
                password=password(),
                socket_timeout=TIMEOUT,
                socket_connect_timeout=TIMEOUT,
                retry=no_retry(),
            ).connection_pool
        return self._pool

    def __call__(self) -> Attempt:
        self.n += 1
        key = f"drill:{self.run}:{self.n}"
        pool = self._connections()
        conn = None
        try:
            conn = pool.get_connection()
            conn.send_command("SET", key, self.n, "EX", 3600)
            acknowledged = conn.read_response() in (b"OK", "OK", True)
        except (redis.RedisError, OSError) as exc:
            if conn is not None:
                conn.disconnect()
            return self.STEP, WRITE, False, 0, type(exc).__name__
        finally:
            if conn is not None:
                pool.release(conn)
        if not acknowledged:
            return self.STEP, WRITE, False, 0, "not acknowledged"
        self.acks.append(Ack(key, time.monotonic(), host_by_address(conn.host)))
        return self.STEP, WRITE, True, 0, ""

    def close(self) -> None:
        if self._pool is not None:
            self._pool.disconnect()


class Writer:
    """Sets keys through Sentinel discovery until stopped (`rate` per second, recorded by
    lab.load.SteadyLoad like every drill operation), noting which server acknowledged
    each; `lost()` looks every acknowledged key up on the primary."""

    def __init__(self, run: str, rate: float = 40.0, max_seconds: float = 900) -> None:
        self.sets = Sets(run)
        self.load = SteadyLoad(lambda _n: self.sets, rate=rate, workers=1, duration=max_seconds)

    @property
    def acks(self) -> list[Ack]:
        return self.sets.acks

    def start(self) -> Writer:
        self.load.start()
        return self

    def stop(self) -> None:
        self.load.stop(timeout=10)
        self.sets.close()

    def summary(self, start: float = -math.inf, end: float = math.inf) -> Summary:
        """The writes' outcomes in a window: attempts, failures, the longest outage."""
        return self.load.summary(start, end)

    def lost(self, on: str) -> list[Ack]:
        """Acknowledged writes missing on server `on` (the primary now)."""
        pipe = server(on).pipeline(transaction=False)
        for ack in self.acks:
            pipe.exists(ack.key)
        return [a for a, found in zip(self.acks, pipe.execute(), strict=True) if not found]
