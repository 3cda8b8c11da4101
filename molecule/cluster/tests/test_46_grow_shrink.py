"""The app tier grown by one node and shrunk again while logged-in users work through the
VIP (issue 25, item 1), the way an operator does it:

- grow: a new host in the inventory's `app` group (an inventory source of its own here,
  as an operator's edit of hosts.yml), a bare container made for it by lab/create.yml,
  then `site.yml`. Every other host learns it (the firewalls of the services the app
  uses, HAProxy's backends, Prometheus' targets, GlusterFS' auth.allow) and the load
  balancers add it only after its own play made it ready. A second `site.yml` changes
  nothing. (The database tier needs no change: the app reaches Postgres through HAProxy,
  so pg_hba and the database hosts' firewalls name the load balancers, not app nodes.)
- shrink: `playbooks/retire-app-node.yml -e retire_app_nodes=<node>` (announced, drained,
  in maintenance on every load balancer, its app stopped), the host out of the inventory,
  `site.yml`: every other host forgets it.

Figures: reports/drills/day2.json, events `app_node_added` and `app_node_removed`.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time

import pytest
import requests
import yaml

from lab import testing
from lab.cluster import app, balancer, health, monitoring, report, run_playbook
from lab.state import STATE_DIR

NEW_NODE = "app4"
NEW_OCTET = 24
# Each playbook's whole output, for a failure's first error (an assert shows the tail).
LOGS = STATE_DIR.parent / "reports" / "logs"


def converge(path: str, name: str, inventories, **kwargs):
    LOGS.mkdir(parents=True, exist_ok=True)
    return run_playbook(path, inventories=inventories, timeout=2400, log=LOGS / f"test_46-{name}.log", **kwargs)


@pytest.fixture(scope="module")
def inventories():
    """(the lab's inventory sources, the same with the new node's source); the lab is
    put back as it was (the new node's container gone, the state without it) at the end."""
    lab = testing.lab()
    assert NEW_NODE not in lab.hosts, f"{NEW_NODE} is in the lab already"
    container = lab.host(lab.group("app")[0].name).container.rsplit("-", 1)[0] + f"-{NEW_NODE}"
    source = STATE_DIR / f"{lab.name}-grown" / "hosts.yml"
    source.parent.mkdir(parents=True, exist_ok=True)
    # What inventory/lab/lab-containers.yml composes for its hosts, which it composes
    # before this later source is read (connection as the other hosts': docker exec), and
    # the lab's secrets, found from the inventory's directory (inventory_dir), which for
    # a host of this source is another one than an edit of hosts.yml would give it.
    host = {
        "lab_host_octet": NEW_OCTET,
        "lab_secrets_dir": f"{lab.inventory}/.secrets",
        "lab_container": container,
        "ansible_connection": "docker",
        "ansible_host": container,
        "ansible_user": "root",
    }
    source.write_text(
        yaml.safe_dump({"all": {"children": {"lab": {"children": {"app": {"hosts": {NEW_NODE: host}}}}}}})
    )
    original = lab.inventories
    try:
        yield original, (*original, str(source))
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # gone already when the drill ended
            testing.docker("rm", "-f", container)
        make_lab(original)


def make_lab(inventories) -> None:
    """lab/create.yml with these inventory sources: a container for each host that has
    none, and the lab's state (hosts, groups, sources) as the tests read it."""
    created = run_playbook("lab/create.yml", inventories=inventories)
    testing.lab.cache_clear()
    assert created.ok, created.tail(40)


def under_load(name: str, what: str, steps) -> dict:
    """Runs steps() (a list of playbook runs) while the users work; one event of day2."""
    users = app.journeys().start()
    started = time.monotonic()
    try:
        time.sleep(5)
        runs = steps()
        time.sleep(5)
    finally:
        users.stop()
    summary = users.summary()
    event = {
        "name": name,
        "what": what,
        "seconds": round(time.monotonic() - started, 1),
        "playbook_seconds": [r.seconds for r in runs],
        "requests": summary.requests,
        "failed_requests": summary.failed,
        "errors": summary.errors,
    }
    report.add_event("day2", event)
    for run in runs:
        assert run.ok, run.tail(80)
    return event


def served_by(node: str) -> requests.Response:
    """A request through the VIP pinned to node by HAProxy's persistence cookie."""
    return requests.get(balancer.https("/login/"), cookies={app.COOKIE: node}, timeout=30, verify=balancer.ca_file())


def names(text: str, address: str) -> bool:
    """Whether text names address (not as the start of a longer one)."""
    return re.search(rf"(?<![0-9.]){re.escape(address)}(?![0-9])", text) is not None


def app_clients_served() -> list[str]:
    """The hosts whose firewall lets app nodes in: the load balancers' Postgres ports,
    Redis and the Sentinels."""
    return sorted({*testing.names("loadbalancers"), *testing.names("redis"), *testing.names("sentinel")})


def firewalls_naming(address: str) -> list[str]:
    """Those of app_clients_served() whose firewall names address."""
    return [h for h in app_clients_served() if names(testing.host(h).check_output("nft list ruleset"), address)]


def test_an_app_node_is_added_by_the_inventory_and_site_yml(inventories):
    _, grown = inventories
    health.wait_until_healthy()
    make_lab(grown)
    assert NEW_NODE in testing.names("app")
    assert testing.host(NEW_NODE).run("test -e /etc/horilla").rc == 1, "a bare host"

    event = under_load(
        "app_node_added",
        f"{NEW_NODE} added to the inventory's app group, `site.yml` (every host)",
        lambda: [converge("site.yml", "grow", grown)],
    )
    again = converge("site.yml", "grow-again", grown)
    report.add_event("day2", {**event, "second_run_changed": again.changed_hosts()})
    assert again.ok and again.changed_hosts() == {}, again.tail(80)

    # The whole site with the new node: every load balancer sees it UP, both Prometheus
    # scrape its targets (health checks every tier against the lab's groups).
    health.wait_until_healthy()
    assert firewalls_naming(testing.address(NEW_NODE)) == app_clients_served(), (
        "every firewall of a service the app uses lets the new node in"
    )
    pinned = served_by(NEW_NODE)
    assert pinned.status_code == 200 and app.COOKIE not in pinned.headers.get("Set-Cookie", ""), "served by it"
    assert event["failed_requests"] <= 0.01 * event["requests"], event


def test_the_node_is_retired_and_every_host_forgets_it(inventories):
    original, grown = inventories
    address = testing.address(NEW_NODE)
    health.wait_until_healthy()
    announced = time.time()

    def retire() -> list:
        retired = converge("playbooks/retire-app-node.yml", "retire", grown, extra_vars={"retire_app_nodes": NEW_NODE})
        if not retired.ok:
            return [retired]
        # Out of rotation and stopped, before the inventory forgets it.
        assert all(balancer.server_states(lb).get(NEW_NODE, "").startswith("MAINT") for lb in balancer.lbs())
        assert testing.host(NEW_NODE).run("systemctl is-active horilla-gunicorn").rc != 0
        return [retired, converge("site.yml", "shrink", original)]

    event = under_load(
        "app_node_removed",
        f"{NEW_NODE} retired (`playbooks/retire-app-node.yml -e retire_app_nodes={NEW_NODE}`), taken out of the"
        " inventory, `site.yml` (every host)",
        retire,
    )
    ended = run_playbook("playbooks/maintenance.yml", inventories=original, extra_vars={"maintenance_action": "end"})
    assert ended.ok, ended.tail(40)
    monitoring.assert_maintenance_announced(f"app nodes retired: {NEW_NODE}", announced)

    # Forgotten: no load balancer has it in its backends, none of the firewalls that let
    # it in after the growth names it, Prometheus no longer scrapes it.
    for lb in balancer.lbs():
        assert not any(r["svname"] == NEW_NODE for r in balancer.stats(lb)), lb
    assert firewalls_naming(address) == [], "a firewall still lets the retired node in"
    for name in testing.names("monitoring"):
        targets = monitoring.prometheus(name).api("/api/v1/targets")["activeTargets"]
        assert not [t["labels"] for t in targets if t["labels"].get("instance") == NEW_NODE], f"{name} scrapes it"
    assert event["failed_requests"] <= 0.01 * event["requests"], event

    # The lab without the node, as the site now is: healthy.
    testing.docker("rm", "-f", testing.lab().host(NEW_NODE).container)
    make_lab(original)
    health.wait_until_healthy()
