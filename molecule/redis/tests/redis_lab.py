"""What the redis scenario's tests share: the lab's addresses, the password, clients."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lab import testing

SCENARIO_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = SCENARIO_DIR.parent.parent
MASTER_NAME = "horilla"
REDIS_PORT = 6379
SENTINEL_PORT = 26379
# Client timeouts: short, so a dead host costs the drill's writer half a second, not
# the operating system's TCP timeout.
TIMEOUT = 0.5

T = TypeVar("T")


def password() -> str:
    """The scenario's generated redis_password (inventory/.secrets, written by converge)."""
    return (SCENARIO_DIR / "inventory" / ".secrets" / "redis_password").read_text().strip()


def address(name: str) -> str:
    return testing.lab().host(name).address


def redis_hosts() -> list[str]:
    return [h.name for h in testing.lab().group("redis")]


def sentinel_hosts() -> list[str]:
    return [h.name for h in testing.lab().group("sentinel")]


def host_by_address(addr: str) -> str:
    return next(h.name for h in testing.lab().hosts.values() if h.address == addr)


def no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def server(name: str, **kwargs) -> redis.Redis:
    """A client of one Redis server, authenticated, with short timeouts."""
    return redis.Redis(
        host=address(name),
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
        host=address(name),
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
        except (redis.RedisError, OSError, TypeError):
            views[name] = None
    return views


def primary() -> str:
    """The host a majority of the Sentinels names as primary."""
    views = sentinel_views()
    (name, votes), *_ = Counter(v for v in views.values() if v).most_common(1) or [(None, 0)]
    assert name and votes * 2 > len(views), f"no Sentinel majority on the primary: {views}"
    return name


def flags(state: dict) -> set[str]:
    """The flags of a SENTINEL MASTER / REPLICAS entry ("slave,s_down") as a set."""
    return set(str(state["flags"]).split(","))


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T:
    """Poll until probe() returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (redis.RedisError, OSError) as exc:
            last = exc
        if last:
            return last  # type: ignore[return-value]
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached within {timeout:.0f} s (last: {last!r})")


def run_cache_playbook(*args: str) -> dict:
    """Run playbooks/cache.yml on the scenario (the roles, as site.yml runs them).

    Returns the PLAY RECAP figures per host and the run's wall time.
    """
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"),
        LAB_NAME=testing.lab().name,
        # Molecule forces colours; the recap is parsed below.
        ANSIBLE_FORCE_COLOR="false",
        ANSIBLE_NOCOLOR="true",
    )
    # The scenario inventory's addresses come from the lab subnet; Molecule sets it.
    env.setdefault("LAB_SUBNET_PREFIX", address(redis_hosts()[0]).rsplit(".", 1)[0])
    started = time.monotonic()
    run = subprocess.run(
        ["ansible-playbook", "-i", str(SCENARIO_DIR / "inventory"), str(PROJECT_DIR / "playbooks/cache.yml"), *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    output = f"{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    recap = {
        m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"} for m in RECAP_LINE.finditer(run.stdout)
    }
    assert run.returncode == 0 and recap, f"cache.yml failed (rc {run.returncode}):\n{output}"
    return {"stats": recap, "seconds": round(seconds, 1), "output": output}


RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failures>\d+)",
    re.MULTILINE,
)
