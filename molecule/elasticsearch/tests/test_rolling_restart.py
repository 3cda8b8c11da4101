"""A configuration change restarts the nodes one at a time and the cluster never goes red.

Runs the search tier's playbook on two of the three nodes (two are enough to see "one
at a time", and a third restart would only lengthen the scenario), as an operator
would, with one more elasticsearch.yml setting, while this test watches the cluster
from outside: never more than one node missing, never red, each changed node restarted
once, one after the other, and the node outside the run left alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

SCENARIO = Path(__file__).resolve().parent.parent
CHANGE = {"elasticsearch_extra_config": {"indices.memory.index_buffer_size": "15%"}}
CHANGED = ("es1", "es2")


def _jvm_start_times(cluster) -> dict[str, int]:
    nodes = cluster.get("es1", "_nodes/jvm").json()["nodes"].values()
    return {n["name"]: n["jvm"]["start_time_in_millis"] for n in nodes}


def test_config_change_restarts_one_node_at_a_time(cluster, tmp_path, search_playbook_runner):
    cluster.wait_for_green()
    before = _jvm_start_times(cluster)
    log = (tmp_path / "ansible-playbook.log").open("w+")
    playbook = search_playbook_runner(CHANGE, log, limit=",".join(CHANGED))
    fewest_nodes, statuses = 3, set()
    deadline = time.monotonic() + 900
    while playbook.poll() is None:
        assert time.monotonic() < deadline, "the rolling restart took more than 15 minutes"
        for node in cluster.nodes:
            try:
                health = cluster.health(node, timeout="1s")
            except requests.RequestException:
                continue  # that node is the one restarting
            fewest_nodes = min(fewest_nodes, health["number_of_nodes"])
            statuses.add(health["status"])
            break
        time.sleep(0.5)
    log.seek(0)
    assert playbook.returncode == 0, log.read()[-5000:]

    after = _jvm_start_times(cluster)
    assert cluster.health("es1")["status"] == "green"
    assert all(after[n] > before[n] for n in CHANGED), "every changed node's JVM must have restarted"
    assert all(after[n] == before[n] for n in cluster.nodes if n not in CHANGED), "an unchanged node restarted"
    assert fewest_nodes == 2, "exactly one node at a time may be away"
    assert "red" not in statuses
    first, second = sorted(CHANGED, key=after.get)
    # The second node restarted only after the first was back and the cluster green.
    gap = (after[second] - after[first]) / 1000
    assert gap > 5, gap
    print(f"rolling restart: {first} then {second}, {gap:.1f} s between their JVM starts")
