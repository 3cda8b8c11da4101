"""A tier grown by one node and shrunk again while logged-in users work through the VIP
(issue 25, item 1), the way an operator does it, for the app tier, the PostgreSQL
cluster and Redis with its Sentinels:

- grow: a new host in the inventory's `app`, `postgres`, or `redis` and `sentinel`
  groups (an inventory source of its own here, as an operator's edit of hosts.yml), a
  bare container made for it by lab/create.yml, then `site.yml`. Every other host learns
  it (the firewalls, HAProxy's backends, Prometheus' targets; GlusterFS' auth.allow for
  an app node; pg_hba, the replication slot and pgBackRest's hosts for a Postgres
  member; the Sentinels' view and the app's list of Sentinels for Redis). A second
  `site.yml` changes nothing.
- shrink: `playbooks/retire-node.yml -e retire_nodes=<node>` (announced; an app node
  drained and in maintenance on every load balancer, its app stopped; a Postgres member
  in maintenance in HAProxy's Postgres backends, its Patroni stopped; a Redis server's
  Sentinel and Redis stopped, then SENTINEL RESET on each other Sentinel in turn), the
  host out of the inventory, `site.yml`: every other host forgets it.

The tiers run in turn, each grown then shrunk (a module-scoped parametrized fixture).
Figures: reports/drills/day2.json, events `<tier>_node_added` and `<tier>_node_removed`.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
import yaml

from lab import testing
from lab.cluster import app, balancer, cache, health, monitoring, postgres, report, run_playbook
from lab.state import STATE_DIR

# Each playbook's whole output, for a failure's first error (an assert shows the tail).
LOGS = STATE_DIR.parent / "reports" / "logs"


@dataclass(frozen=True)
class Tier:
    """A tier the drill grows by `node` (in `groups`, at the lab address ending in `octet`)."""

    name: str
    groups: tuple[str, ...]
    node: str
    octet: int
    # A directory the tier's role makes: absent on a bare host.
    config_dir: str
    # Hosts whose firewall must let the new node in (the services it uses).
    clients_served: Callable[[], set[str]]
    # The tier's own checks once the node has joined, once retire-node.yml has taken it
    # out (before the inventory forgets it), and once it has left.
    joined: Callable[[str], None]
    stopped: Callable[[str], None]
    left: Callable[[str], None]


def _served_by(node: str) -> requests.Response:
    """A request through the VIP pinned to node by HAProxy's persistence cookie."""
    return requests.get(balancer.https("/login/"), cookies={app.COOKIE: node}, timeout=30, verify=balancer.ca_file())


def _app_joined(node: str) -> None:
    pinned = _served_by(node)
    assert pinned.status_code == 200 and app.COOKIE not in pinned.headers.get("Set-Cookie", ""), "served by it"


def _app_stopped(node: str) -> None:
    assert all(balancer.server_states(lb).get(node, "").startswith("MAINT") for lb in balancer.lbs())
    assert testing.host(node).run("systemctl is-active horilla-gunicorn").rc != 0


def _app_left(node: str) -> None:
    pass  # its backends, firewalls and targets: the checks every tier shares


def _postgres_slots() -> str:
    return postgres.psql(postgres.leader(), "SELECT string_agg(slot_name, ' ') FROM pg_replication_slots")


def _postgres_hba() -> str:
    return postgres.psql(postgres.leader(), "SELECT string_agg(address, ' ') FROM pg_hba_file_rules")


def _postgres_strict() -> bool:
    return bool(postgres.patroni("/config").get("synchronous_mode_strict"))


def _postgres_joined(node: str) -> None:
    member = postgres.members()[node]
    assert member["role"] in ("replica", "sync_standby") and member["state"] == "streaming", member
    assert node in _postgres_slots().split(), "the leader keeps a replication slot for it"
    assert _names(_postgres_hba(), testing.address(node)), "pg_hba lets it replicate"
    assert _postgres_strict(), "three members: strict synchronous mode (roles/postgresql, README)"
    for lb in balancer.lbs():
        replicas = {r["svname"]: r["status"] for r in balancer.stats(lb) if r["pxname"] == "postgres_replicas"}
        assert replicas.get(node, "").startswith("UP"), (lb, replicas)


def _postgres_stopped(node: str) -> None:
    assert testing.host(node).run("systemctl is-active patroni").rc != 0
    assert node not in postgres.members()


def _postgres_left(node: str) -> None:
    assert node not in postgres.members()
    assert node not in (_postgres_slots() or "").split(), "its replication slot is dropped"
    assert not _names(_postgres_hba(), testing.address(node)), "pg_hba forgets it"
    assert not _postgres_strict(), "two members again: strict synchronous mode off"


def _sentinels_know(replicas: int, sentinels: int, but: str = "") -> dict[str, tuple[int, int]]:
    """Each Sentinel of the lab's group (but one) that does not know exactly that many
    replicas and other Sentinels: (replicas, other Sentinels) as it sees them."""
    wrong = {}
    for name in (h for h in cache.sentinel_hosts() if h != but):
        state = cache.sentinel(name).sentinel_master(cache.MASTER_NAME)
        seen = (int(state["num-slaves"]), int(state["num-other-sentinels"]))
        if seen != (replicas, sentinels):
            wrong[name] = seen
    return wrong


def _min_replicas_to_write() -> int:
    return int(cache.server(cache.primary()).config_get("min-replicas-to-write")["min-replicas-to-write"])


def _redis_joined(node: str) -> None:
    replication = cache.server(node).info("replication")
    assert replication["role"] == "slave" and replication["master_link_status"] == "up", replication
    servers, sentinels = len(cache.redis_hosts()), len(cache.sentinel_hosts())
    assert _sentinels_know(servers - 1, sentinels - 1) == {}, "every Sentinel knows every replica and peer"
    assert _min_replicas_to_write() == 1, "three servers: the primary needs a replica's acknowledgement"


def _redis_stopped(node: str) -> None:
    for service in ("redis-server", "redis-sentinel"):
        assert testing.host(node).run(f"systemctl is-active {service}").rc != 0, service
    # The lab's groups still hold the node: the others must know one fewer of each.
    servers, sentinels = len(cache.redis_hosts()) - 1, len(cache.sentinel_hosts()) - 1
    wrong = _sentinels_know(servers - 1, sentinels - 1, but=node)
    assert wrong == {}, f"SENTINEL RESET left these knowing the retired node: {wrong}"


def _redis_left(node: str) -> None:
    _redis_stopped(node)
    assert _min_replicas_to_write() == 0, "two servers again: a lone primary keeps taking writes"


TIERS = [
    Tier(
        name="app",
        groups=("app",),
        node="app4",
        octet=24,
        config_dir="/etc/horilla",
        # The load balancers' Postgres ports, Redis, the Sentinels, and GlusterFS' servers.
        clients_served=lambda: {
            *testing.names("loadbalancers"),
            *testing.names("redis"),
            *testing.names("sentinel"),
            *testing.names("app")[:3],
        },
        joined=_app_joined,
        stopped=_app_stopped,
        left=_app_left,
    ),
    Tier(
        name="postgres",
        groups=("postgres",),
        node="db3",
        octet=33,
        config_dir="/etc/patroni",
        # etcd (Patroni's DCS), the other members (replication, Patroni's REST API), the
        # backup host's pgBackRest server (WAL archive).
        clients_served=lambda: {*testing.names("etcd"), *testing.names("postgres"), *testing.names("backup")},
        joined=_postgres_joined,
        stopped=_postgres_stopped,
        left=_postgres_left,
    ),
    Tier(
        name="redis",
        groups=("redis", "sentinel"),
        node="redis3",
        octet=43,
        config_dir="/etc/redis",
        # The other Redis servers (replication; the Sentinels ask them) and the Sentinels
        # (their peers).
        clients_served=lambda: {*testing.names("redis"), *testing.names("sentinel")},
        joined=_redis_joined,
        stopped=_redis_stopped,
        left=_redis_left,
    ),
]


def converge(path: str, name: str, inventories, **kwargs):
    LOGS.mkdir(parents=True, exist_ok=True)
    return run_playbook(path, inventories=inventories, timeout=2400, log=LOGS / f"test_46-{name}.log", **kwargs)


def make_lab(inventories) -> None:
    """lab/create.yml with these inventory sources: a container for each host that has
    none, and the lab's state (hosts, groups, sources) as the tests read it."""
    created = run_playbook("lab/create.yml", inventories=inventories)
    testing.lab.cache_clear()
    assert created.ok, created.tail(40)


@pytest.fixture(scope="module", params=TIERS, ids=[t.name for t in TIERS])
def grown(request):
    """(the tier, the lab's inventory sources, the same with the new node's source); the
    lab is put back as it was (the new node's container gone, the state without it) at
    the end."""
    tier: Tier = request.param
    lab = testing.lab()
    assert tier.node not in lab.hosts, f"{tier.node} is in the lab already"
    container = lab.host(lab.group(tier.groups[0])[0].name).container.rsplit("-", 1)[0] + f"-{tier.node}"
    source = STATE_DIR / f"{lab.name}-grown" / "hosts.yml"
    source.parent.mkdir(parents=True, exist_ok=True)
    # What inventory/lab/lab-containers.yml composes for its hosts, which it composes
    # before this later source is read (connection as the other hosts': docker exec), and
    # the lab's secrets, found from the inventory's directory (inventory_dir), which for
    # a host of this source is another one than an edit of hosts.yml would give it.
    host = {
        "lab_host_octet": tier.octet,
        "lab_secrets_dir": f"{lab.inventory}/.secrets",
        "lab_container": container,
        "ansible_connection": "docker",
        "ansible_host": container,
        "ansible_user": "root",
    }
    source.write_text(
        yaml.safe_dump(
            {"all": {"children": {"lab": {"children": {g: {"hosts": {tier.node: host}} for g in tier.groups}}}}}
        )
    )
    original = lab.inventories
    try:
        yield tier, original, (*original, str(source))
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # gone already when the drill ended
            testing.docker("rm", "-f", container)
        make_lab(original)


def under_load(name: str, what: str, steps) -> dict:
    """Runs steps() (a list of playbook runs) while the users work; one event of day2."""
    runs, summary, seconds = app.while_users_work(steps)
    event = {
        "name": name,
        "what": what,
        "seconds": round(seconds, 1),
        "playbook_seconds": [r.seconds for r in runs],
        "requests": summary.requests,
        "failed_requests": summary.failed,
        "errors": summary.errors,
    }
    report.add_event("day2", event)
    for run in runs:
        assert run.ok, run.tail(80)
    return event


def _names(text: str, address: str) -> bool:
    """Whether text names address (not as the start of a longer one)."""
    return re.search(rf"(?<![0-9.]){re.escape(address)}(?![0-9])", text) is not None


def firewalls_naming(address: str, node: str) -> set[str]:
    """The lab's hosts, but node, whose firewall names address."""
    others = [h for h in testing.lab().hosts if h != node]
    return {h for h in others if _names(testing.host(h).check_output("nft list ruleset"), address)}


def scraped_by(node: str) -> dict[str, list[str]]:
    """Each Prometheus' targets of node: job and health."""
    found = {}
    for name in testing.names("monitoring"):
        targets = monitoring.prometheus(name).api("/api/v1/targets")["activeTargets"]
        found[name] = sorted(
            f"{t['labels']['job']}:{t['health']}" for t in targets if t["labels"].get("instance") == node
        )
    return found


def test_a_node_is_added_by_the_inventory_and_site_yml(grown):
    tier, _, inventories = grown
    health.wait_until_healthy()
    make_lab(inventories)
    assert all(tier.node in testing.names(g) for g in tier.groups)
    assert testing.host(tier.node).run(f"test -e {tier.config_dir}").rc == 1, "a bare host"

    event = under_load(
        f"{tier.name}_node_added",
        f"{tier.node} added to the inventory's {' and '.join(tier.groups)} group, `site.yml` (every host)",
        lambda: [converge("site.yml", f"{tier.name}-grow", inventories)],
    )
    again = converge("site.yml", f"{tier.name}-grow-again", inventories)
    report.add_event("day2", {**event, "second_run_changed": again.changed_hosts()})
    assert again.ok and again.changed_hosts() == {}, again.tail(80)

    # The whole site with the new node (health checks every tier against the lab's
    # groups), every firewall of a service it uses lets it in, both Prometheus scrape
    # every target of it, and the tier's own checks.
    health.wait_until_healthy()
    naming = firewalls_naming(testing.address(tier.node), tier.node)
    assert tier.clients_served() - {tier.node} <= naming, naming
    scraped = scraped_by(tier.node)
    assert all(jobs and all(j.endswith(":up") for j in jobs) for jobs in scraped.values()), scraped
    tier.joined(tier.node)
    assert event["failed_requests"] <= 0.01 * event["requests"], event


def test_the_node_is_retired_and_every_host_forgets_it(grown):
    tier, original, inventories = grown
    address = testing.address(tier.node)
    health.wait_until_healthy()
    announced = time.time()

    def retire() -> list:
        retired = converge(
            "playbooks/retire-node.yml", f"{tier.name}-retire", inventories, extra_vars={"retire_nodes": tier.node}
        )
        if not retired.ok:
            return [retired]
        # Out of rotation and stopped, before the inventory forgets it.
        tier.stopped(tier.node)
        return [retired, converge("site.yml", f"{tier.name}-shrink", original)]

    event = under_load(
        f"{tier.name}_node_removed",
        f"{tier.node} retired (`playbooks/retire-node.yml -e retire_nodes={tier.node}`), taken out of the"
        " inventory, `site.yml` (every host)",
        retire,
    )
    ended = run_playbook("playbooks/maintenance.yml", inventories=original, extra_vars={"maintenance_action": "end"})
    assert ended.ok, ended.tail(40)
    monitoring.assert_maintenance_announced(f"nodes retired: {tier.node}", announced)

    # Forgotten: no load balancer has it in a backend, no firewall names it, no
    # Prometheus scrapes it, and the tier's own checks.
    for lb in balancer.lbs():
        assert not any(r["svname"] == tier.node for r in balancer.stats(lb)), lb
    assert firewalls_naming(address, tier.node) == set(), "a firewall still lets the retired node in"
    assert scraped_by(tier.node) == {name: [] for name in testing.names("monitoring")}
    tier.left(tier.node)
    assert event["failed_requests"] <= 0.01 * event["requests"], event

    # The lab without the node, as the site now is: healthy.
    testing.docker("rm", "-f", testing.lab().host(tier.node).container)
    make_lab(original)
    health.wait_until_healthy()
