"""A member that lost its disk rejoins by a converge of its host, while logged-in users
work through the VIP (issue 25 item 2): an etcd member, the Postgres replica, a Redis
replica, one at a time. In make test-all, whole hosts as well: the Postgres replica's
host (also an etcd member) and a Redis replica's (also a Sentinel) are destroyed, made
again from the bare image under the same name and address, and rebuilt by
`site.yml --limit <host>,<backup host>`.

To its tier, a rebuilt host is the same name and address with nothing on it: the test
stops the service and removes its data and its configuration (the container itself
stays: recreating a lab container is the lab's business, not the role's). The
operator's command is `ansible-playbook site.yml --limit <host> --tags <role>`:
- etcd: the role sees the cluster running on the other members, replaces the host's old
  entry (its vote could never come back) and starts the member as a joiner;
- PostgreSQL: Patroni starts on an empty data directory and clones the leader;
- Redis: the role asks the Sentinels for the primary and starts the server as its
  replica.
Before the loss a marker is written through the tier's leader; after the rejoin the
victim itself serves it (nothing lost), and a second run changes nothing. Figures:
reports/drills/day2.json, one event per member.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from lab import testing
from lab.cluster import app, cache, health, postgres, report, run_playbook
from lab.cluster.postgres import ETCDCTL

MARKER = f"replace-{int(time.time())}"


@dataclass(frozen=True)
class Member:
    name: str
    tag: str  # the role's tag in site.yml
    victim: Callable[[], str]
    # Shell, on the victim: stop the service, remove its data and configuration.
    lose_disk: str
    write: Callable[[str], None]  # the marker, through the tier's leader
    read: Callable[[str], str | None]  # the marker, from the victim itself
    rejoined: Callable[[], bool]  # the tier whole again
    clean: Callable[[], object]  # the marker removed


def _etcd_whole() -> bool:
    result = testing.host(postgres.hosts()[0]).run(f"{ETCDCTL} endpoint health --cluster")
    return (result.stdout + result.stderr).count("is healthy") == len(testing.names("etcd"))


def _pg_write(marker: str) -> None:
    leader = postgres.leader()
    create = "CREATE TABLE IF NOT EXISTS drill_replace (marker text PRIMARY KEY)"
    insert = f"INSERT INTO drill_replace VALUES ('{marker}')"  # noqa: S608 (our own marker)
    postgres.psql(leader, f"{create}; {insert}")


def _pg_read(victim: str) -> str | None:
    query = f"SELECT marker FROM drill_replace WHERE marker = '{MARKER}'"  # noqa: S608 (our own marker)
    return postgres.psql(victim, query) or None


def _redis_read(victim: str) -> str | None:
    return cache.server(victim).get("drill:replace")


MEMBERS = [
    Member(
        "etcd_member_replaced",
        "etcd",
        # mon1: an etcd member without a database, so only the DCS loses a member.
        lambda: "mon1",
        "systemctl stop etcd && rm -rf /var/lib/etcd/default /etc/default/etcd",
        lambda marker: testing.host(postgres.hosts()[0]).run_expect([0], f"{ETCDCTL} put /drill/replace {marker}"),
        lambda victim: testing.host(victim).check_output(f"{ETCDCTL} get --print-value-only /drill/replace") or None,
        _etcd_whole,
        lambda: testing.host(postgres.hosts()[0]).run_expect([0], f"{ETCDCTL} del /drill/replace"),
    ),
    Member(
        "postgres_replica_replaced",
        "postgresql",
        lambda: next(h for h in postgres.hosts() if h != postgres.leader()),
        "d=$(awk '/data_dir:/ {print $2; exit}' /etc/patroni/config.yml) && test -n \"$d\""
        ' && systemctl stop patroni && rm -rf "$d" /etc/patroni/config.yml',
        _pg_write,
        _pg_read,
        postgres.healthy,
        lambda: postgres.psql(postgres.leader(), "DROP TABLE drill_replace"),
    ),
    Member(
        "redis_replica_replaced",
        "redis",
        lambda: next(h for h in cache.redis_hosts() if h != cache.primary()),
        "systemctl stop redis-server && rm -rf /var/lib/redis/* /etc/redis/redis.conf",
        lambda marker: cache.server(cache.primary()).set("drill:replace", marker),
        _redis_read,
        cache.healthy,
        lambda: cache.server(cache.primary()).delete("drill:replace"),
    ),
]


def replace_under_load(
    name: str,
    what: str,
    victim: str,
    members: list[Member],
    lose: Callable[[], str],
    ceiling: float,
    tags: tuple[str, ...] = (),
) -> None:
    """The drill both tests run: markers written through each tier's leader, the users'
    load started, `lose()` takes the victim's members away and returns the `--limit` of
    the converge (of `tags`; all roles when empty) that brings them back; each member
    rejoins, serves its marker, and a second converge changes nothing. One event of
    reports/drills/day2.json."""
    etcd_before = postgres.etcd_members(postgres.hosts()[0])
    for member in members:
        member.write(MARKER)
    pg_leader = postgres.leader()

    users = app.journeys().start()
    started = time.monotonic()
    try:
        time.sleep(5)
        limit = lose()
        run = run_playbook("site.yml", limit=limit, tags=tags)
        assert run.ok, run.tail(80)
        for member in members:
            testing.wait_for(member.rejoined, ceiling, f"{victim} back in its tier ({member.tag})")
        time.sleep(5)
    finally:
        users.stop()
    seconds = time.monotonic() - started
    summary = users.summary()

    again = run_playbook("site.yml", limit=limit, tags=tags)
    report.add_event(
        "day2",
        {
            "name": name,
            "what": f"{what} `site.yml --limit {limit}" + (f" --tags {','.join(tags)}`" if tags else "`"),
            "seconds": round(seconds, 1),
            "converge_seconds": run.seconds,
            "requests": summary.requests,
            "failed_requests": summary.failed,
            "errors": summary.errors,
            "second_run_changed": again.changed_hosts(),
        },
    )
    for member in members:
        assert member.read(victim) == MARKER, f"the rejoined {member.tag} member serves what was written before"
    assert again.ok and again.changed_hosts() == {}, again.tail(80)
    if any(m.tag == "etcd" for m in members):
        after = postgres.etcd_members(postgres.hosts()[0])
        assert sorted(after) == sorted(testing.names("etcd")), after
        assert after[victim]["ID"] != etcd_before[victim]["ID"], "the member joined as a new one"
    # The database's leader never moved: only a replica or the DCS lost a member.
    assert postgres.leader() == pg_leader
    for member in members:
        member.clean()


@pytest.mark.parametrize("member", MEMBERS, ids=[m.tag for m in MEMBERS])
def test_a_member_that_lost_its_disk_rejoins_by_a_converge(member: Member):
    health.wait_until_healthy()
    victim = member.victim()

    def lose() -> str:
        testing.host(victim).run_expect([0], member.lose_disk)
        return victim

    what = f"{victim} lost its {member.tag} data and configuration, rejoined by"
    replace_under_load(member.name, what, victim, [member], lose, ceiling=180, tags=(member.tag,))
    if member.tag == "etcd":
        conf = testing.host(victim).file("/etc/default/etcd").content_string
        assert 'ETCD_INITIAL_CLUSTER_STATE="existing"' in conf


@dataclass(frozen=True)
class Rebuild:
    name: str
    victim: Callable[[], str]
    tags: tuple[str, ...]  # the MEMBERS the host carries, by their role's tag


REBUILDS = [
    Rebuild(
        "postgres_replica_host_rebuilt",
        lambda: next(h for h in postgres.hosts() if h != postgres.leader()),
        ("etcd", "postgresql"),
    ),
    Rebuild(
        "redis_replica_host_rebuilt", lambda: next(h for h in cache.redis_hosts() if h != cache.primary()), ("redis",)
    ),
]


@pytest.mark.parametrize("rebuild", REBUILDS, ids=[r.name for r in REBUILDS])
def test_a_destroyed_host_is_rebuilt_by_a_converge(rebuild: Rebuild):
    """The container goes, disk and all (`docker rm -f`); lab/create.yml makes a new one
    from the bare image (what a new machine is to the site); `site.yml --limit
    <host>,<backup host>` gives it every role of its groups, and each member rejoins its
    tier as in the test above."""
    health.wait_until_healthy()
    victim = rebuild.victim()

    def lose() -> str:
        testing.docker("rm", "-f", testing.lab().host(victim).container)
        created = run_playbook("lab/create.yml")
        assert created.ok, created.tail(40)
        assert testing.host(victim).run("test -e /etc/patroni || test -e /etc/redis").rc == 1, "a bare host"
        # The backup host too: it authorizes the new host's key for its repository, and the
        # new host learns the backup host's SSH host key.
        return ",".join([victim, *testing.names("backup")])

    what = f"{victim} destroyed (its container removed) and made again from the bare image, rebuilt by"
    replace_under_load(rebuild.name, what, victim, [m for m in MEMBERS if m.tag in rebuild.tags], lose, ceiling=300)
