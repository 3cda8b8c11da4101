"""Failover drill: kill the primary's machine while a client writes through Sentinel.

Three rounds. In each, a writer thread discovers the primary through the Sentinels (as
the app does) and writes a new key every 10 ms, noting which server acknowledged it.
The drill kills the primary's container (SIGKILL: a power cut, its Sentinel dies too)
and measures how long until a write is acknowledged by the new primary. Once the writer
has stopped, every acknowledged key is looked up on the new primary: with asynchronous
replication the last writes before the cut can be lost, and the count is reported, not
hidden. The old primary's container is started again and must rejoin as a replica; then
the cache playbook re-runs and must change nothing: same primary, the Sentinels' learned
state (IDs, epoch, peers) intact, changed=0.

A last test stops every Sentinel and re-runs the redis role: it must find the promoted
primary by asking the servers, and still change nothing.

Figures go to reports/drills/redis.json. Asserted ceilings are generous (30 s to write
again, per the issue); the target is 10 s.
"""

from __future__ import annotations

import datetime
import json
import statistics
import threading
import time
from dataclasses import dataclass

import redis
import redis_lab
from redis.sentinel import Sentinel

from lab import testing

ROUNDS = 3
WRITE_INTERVAL = 0.01
CEILING_SECONDS = 30.0
TARGET_SECONDS = 10.0
# Writes acknowledged but lost may not exceed about one second of writes: more would
# mean the replica lagged far behind, which Redis on a quiet LAN does not.
LOST_WRITES_CEILING = int(1 / WRITE_INTERVAL)
REPORT = redis_lab.PROJECT_DIR / "reports" / "drills" / "redis.json"


@dataclass
class Ack:
    key: str
    at: float
    server: str


class Writer(threading.Thread):
    """Writes drill:<round>:<n> through Sentinel discovery until stopped."""

    def __init__(self, round_no: int) -> None:
        super().__init__(daemon=True)
        self.round_no = round_no
        self.acks: list[Ack] = []
        self.failures = 0
        self.last_error = ""
        self.stopped = threading.Event()

    def run(self) -> None:
        sentinels = Sentinel(
            [(redis_lab.address(n), redis_lab.SENTINEL_PORT) for n in redis_lab.sentinel_hosts()],
            sentinel_kwargs={
                "password": redis_lab.password(),
                "socket_timeout": redis_lab.TIMEOUT,
                "socket_connect_timeout": redis_lab.TIMEOUT,
                "retry": redis_lab.no_retry(),
            },
        )
        pool = sentinels.master_for(
            redis_lab.MASTER_NAME,
            password=redis_lab.password(),
            socket_timeout=redis_lab.TIMEOUT,
            socket_connect_timeout=redis_lab.TIMEOUT,
            retry=redis_lab.no_retry(),
        ).connection_pool
        n = 0
        while not self.stopped.is_set():
            n += 1
            key = f"drill:{self.round_no}:{n}"
            conn = None
            try:
                # One connection per write, so each acknowledgement names its server.
                conn = pool.get_connection()
                conn.send_command("SET", key, n)
                if conn.read_response() in (b"OK", "OK", True):
                    self.acks.append(Ack(key, time.monotonic(), redis_lab.host_by_address(conn.host)))
            except (redis.RedisError, OSError) as exc:
                self.failures += 1
                self.last_error = repr(exc)
                if conn is not None:
                    conn.disconnect()
            finally:
                if conn is not None:
                    pool.release(conn)
            time.sleep(WRITE_INTERVAL)
        pool.disconnect()


def sentinel_state(names: list[str]) -> dict[str, dict]:
    """What each Sentinel has learned: its ID, the primary, the epoch, its peers."""
    state = {}
    for name in names:
        client = redis_lab.sentinel(name)
        master = client.sentinel_master(redis_lab.MASTER_NAME)
        state[name] = {
            "myid": client.execute_command("SENTINEL", "MYID"),
            "primary": redis_lab.host_by_address(master["ip"]),
            "config_epoch": master["config-epoch"],
            "other_sentinels": master["num-other-sentinels"],
            "replicas": master["num-slaves"],
        }
    return state


def settled(new_primary: str, old_primary: str) -> dict[str, dict] | None:
    """Every Sentinel agrees, knows its two peers, and sees the old primary as a healthy replica."""
    names = redis_lab.sentinel_hosts()
    state = sentinel_state(names)
    if any(s["primary"] != new_primary or s["other_sentinels"] != len(names) - 1 for s in state.values()):
        return None
    if len({s["config_epoch"] for s in state.values()}) != 1:
        return None
    for name in names:
        replicas = redis_lab.sentinel(name).sentinel_slaves(redis_lab.MASTER_NAME)
        healthy = [
            r
            for r in replicas
            if r["ip"] == redis_lab.address(old_primary)
            and redis_lab.flags(r) == {"slave"}
            and r["master-link-status"] == "ok"
        ]
        if not healthy:
            return None
    return state


def abandoned_elections(names: list[str]) -> dict[str, int]:
    """How many failover elections each Sentinel has abandoned so far (split votes)."""
    return {
        name: int(
            testing.host(name)
            .run("grep -c -- -failover-abort-not-elected /var/log/redis/redis-sentinel.log")
            .stdout.strip()
            or 0
        )
        for name in names
    }


def drill_round(round_no: int) -> dict:
    old_primary = redis_lab.primary()
    survivors = [n for n in redis_lab.sentinel_hosts() if n != old_primary]
    abandoned_before = abandoned_elections(survivors)

    writer = Writer(round_no)
    writer.start()
    redis_lab.wait_for("writes acknowledged before the kill", lambda: len(writer.acks) >= 100, timeout=30)

    killed_at = time.monotonic()
    testing.kill(old_primary)
    kill_returned_at = time.monotonic()

    sentinels_switched_at = None
    new_primary_ack = None
    deadline = killed_at + CEILING_SECONDS + 30
    while time.monotonic() < deadline and new_primary_ack is None:
        if sentinels_switched_at is None:
            views = redis_lab.sentinel_views(survivors)
            if all(v and v != old_primary for v in views.values()):
                sentinels_switched_at = time.monotonic()
        new_primary_ack = next((a for a in reversed(writer.acks) if a.server != old_primary), None)
        time.sleep(0.1)
    assert new_primary_ack is not None, f"round {round_no}: no write succeeded without {old_primary}"
    first_ack = next(a for a in writer.acks if a.server != old_primary)
    new_primary = first_ack.server
    # Keep writing on the new primary for a moment, then stop.
    time.sleep(1)
    writer.stopped.set()
    writer.join(timeout=10)

    abandoned = abandoned_elections(survivors)
    split_votes = max(abandoned[n] - abandoned_before[n] for n in survivors)

    # Every acknowledged key must be on the new primary; count the ones that are not.
    acked_before = [a for a in writer.acks if a.server == old_primary]
    acked_after = [a for a in writer.acks if a.server != old_primary]
    client = redis_lab.server(new_primary)
    pipe = client.pipeline(transaction=False)
    for ack in writer.acks:
        pipe.exists(ack.key)
    present = pipe.execute()
    lost = [a.key for a, found in zip(writer.acks, present, strict=True) if not found]
    lost_after = [a.key for a, found in zip(writer.acks, present, strict=True) if not found and a.server != old_primary]

    # The old primary comes back (its machine rebooted) and must rejoin as a replica.
    started_at = time.monotonic()
    testing.start(old_primary)
    booted_at = time.monotonic()
    returning = redis_lab.server(old_primary)

    def rejoined() -> bool:
        info = returning.info("replication")
        return (
            info["role"] == "slave"
            and info["master_host"] == redis_lab.address(new_primary)
            and info["master_link_status"] == "up"
        )

    redis_lab.wait_for(f"{old_primary} rejoining as a replica of {new_primary}", rejoined, timeout=90)
    rejoined_at = time.monotonic()
    before_rerun = redis_lab.wait_for(
        "the Sentinels agreeing on the new primary with the old one as a healthy replica",
        lambda: settled(new_primary, old_primary),
        timeout=60,
    )
    settled_at = time.monotonic()

    # Re-running the roles must change nothing and must not undo the failover.
    rerun = redis_lab.run_cache_playbook()
    after_rerun = sentinel_state(redis_lab.sentinel_hosts())
    changed = {host: s["changed"] for host, s in rerun["stats"].items()}

    result = {
        "round": round_no,
        "killed": old_primary,
        "new_primary": new_primary,
        "seconds_to_first_write_on_new_primary": round(first_ack.at - killed_at, 2),
        "seconds_until_sentinels_named_new_primary": (
            round(sentinels_switched_at - killed_at, 2) if sentinels_switched_at else None
        ),
        "docker_kill_seconds": round(kill_returned_at - killed_at, 2),
        "split_votes_before_election": split_votes,
        "writes_acknowledged_by_old_primary": len(acked_before),
        "writes_acknowledged_by_new_primary": len(acked_after),
        "write_attempts_failed": writer.failures,
        "lost_acknowledged_writes": len(lost),
        "lost_acknowledged_writes_on_new_primary": len(lost_after),
        "seconds_to_boot_old_primary_host": round(booted_at - started_at, 1),
        "seconds_from_boot_to_rejoined_as_replica": round(rejoined_at - booted_at, 1),
        "seconds_until_sentinels_settled": round(settled_at - rejoined_at, 1),
        "rerun_changed": changed,
        "rerun_seconds": rerun["seconds"],
        "primary_after_rerun": redis_lab.primary(),
        "sentinel_state_intact": after_rerun == before_rerun,
    }
    print(json.dumps(result, indent=2))

    assert result["seconds_to_first_write_on_new_primary"] <= CEILING_SECONDS, result
    assert new_primary != old_primary
    assert lost_after == [], f"writes acknowledged by the new primary were lost: {lost_after[:10]}"
    assert len(lost) <= LOST_WRITES_CEILING, result
    assert all(v == 0 for v in changed.values()), f"the re-run changed something: {changed}\n{rerun['output']}"
    assert all(s["failures"] == 0 and s["unreachable"] == 0 for s in rerun["stats"].values()), rerun["stats"]
    assert result["primary_after_rerun"] == new_primary, "the re-run moved the primary"
    assert after_rerun == before_rerun, f"Sentinel state changed by the re-run:\n{before_rerun}\n{after_rerun}"
    assert rejoined(), f"{old_primary} is no longer a replica after the re-run"
    return result


def test_failover_drill():
    rounds = [drill_round(n) for n in range(1, ROUNDS + 1)]
    recovery = [r["seconds_to_first_write_on_new_primary"] for r in rounds]
    info = redis_lab.server(redis_lab.primary()).info("server")
    report = {
        "drill": "redis failover: SIGKILL of the primary's host under continuous writes through Sentinel",
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "redis_version": info["redis_version"],
        "debian": testing.host(redis_lab.redis_hosts()[0]).system_info.codename,
        "sentinels": len(redis_lab.sentinel_hosts()),
        "quorum": 2,
        "down_after_milliseconds": 5000,
        "failover_timeout_milliseconds": 6000,
        "write_interval_seconds": WRITE_INTERVAL,
        "ceiling_seconds": CEILING_SECONDS,
        "target_seconds": TARGET_SECONDS,
        "rounds": rounds,
        "summary": {
            "max_seconds_to_first_write_on_new_primary": max(recovery),
            "mean_seconds_to_first_write_on_new_primary": round(statistics.mean(recovery), 2),
            "within_target": max(recovery) <= TARGET_SECONDS,
            "lost_acknowledged_writes_total": sum(r["lost_acknowledged_writes"] for r in rounds),
            "writes_acknowledged_total": sum(
                r["writes_acknowledged_by_old_primary"] + r["writes_acknowledged_by_new_primary"] for r in rounds
            ),
        },
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


def test_rerun_without_sentinels_keeps_the_promoted_primary():
    """With every Sentinel down, the redis role asks the servers and still demotes no one.

    The promoted primary must not be the first Redis host (the one a fresh cluster
    starts with), else there is nothing to get wrong: a planned SENTINEL FAILOVER
    moves it first when needed.
    """
    first, *_ = redis_lab.redis_hosts()
    if redis_lab.primary() == first:
        planner = redis_lab.sentinel(redis_lab.sentinel_hosts()[-1])
        planner.execute_command("SENTINEL", "FAILOVER", redis_lab.MASTER_NAME)
        redis_lab.wait_for(f"a planned failover away from {first}", lambda: redis_lab.primary() != first, timeout=30)
    promoted = redis_lab.primary()
    redis_lab.wait_for(
        f"{promoted} streaming to its replicas",
        lambda: redis_lab.server(promoted).info("replication")["connected_slaves"] == len(redis_lab.redis_hosts()) - 1,
        timeout=60,
    )
    sentinels = redis_lab.sentinel_hosts()
    for name in sentinels:
        testing.host(name).run_expect([0], "systemctl stop redis-sentinel")
    try:
        rerun = redis_lab.run_cache_playbook("--tags", "redis")
        assert all(s["changed"] == 0 for s in rerun["stats"].values()), rerun["output"]
        for name in redis_lab.redis_hosts():
            info = redis_lab.server(name).info("replication")
            if name == promoted:
                assert info["role"] == "master", name
            else:
                assert (info["role"], info["master_host"]) == ("slave", redis_lab.address(promoted)), name
    finally:
        for name in sentinels:
            testing.host(name).run_expect([0], "systemctl start redis-sentinel")
    redis_lab.wait_for(
        "the Sentinels agreeing again", lambda: set(redis_lab.sentinel_views().values()) == {promoted}, 60
    )
