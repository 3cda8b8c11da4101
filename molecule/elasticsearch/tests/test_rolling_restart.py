"""A configuration change restarts the nodes one at a time and the cluster never goes red.

Runs the search tier's playbook, as an operator would, with one more elasticsearch.yml
setting for every node, while this test watches the cluster from outside: never more
than one node missing, never red, every node restarted exactly once, one after the other.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from lab import testing
from lab.state import PROJECT_DIR

SCENARIO = Path(__file__).resolve().parent.parent
CHANGE = {"elasticsearch_extra_config": {"indices.memory.index_buffer_size": "15%"}}


def _jvm_start_times(cluster) -> dict[str, int]:
    nodes = cluster.get("es1", "_nodes/jvm").json()["nodes"].values()
    return {n["name"]: n["jvm"]["start_time_in_millis"] for n in nodes}


def test_config_change_restarts_one_node_at_a_time(cluster, tmp_path):
    cluster.wait_for_green()
    before = _jvm_start_times(cluster)
    address = testing.lab().host("es1").address
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"),
        LAB_NAME=testing.lab().name,
        LAB_SUBNET_PREFIX=address.rsplit(".", 1)[0],
    )
    log = (tmp_path / "ansible-playbook.log").open("w+")
    playbook = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "--inventory",
            str(SCENARIO / "inventory"),
            "--tags",
            "elasticsearch",
            "--extra-vars",
            json.dumps(CHANGE),
            str(PROJECT_DIR / "playbooks" / "search.yml"),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
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
    assert all(after[n] > before[n] for n in cluster.nodes), "every node's JVM must have restarted"
    assert fewest_nodes == 2, "exactly one node at a time may be away"
    assert "red" not in statuses
    restarted = sorted(cluster.nodes, key=after.get)
    # Each node restarted only after the one before it was back and the cluster green,
    # which takes seconds: the JVM start times are well apart.
    gaps = [(after[b] - after[a]) / 1000 for a, b in itertools.pairwise(restarted)]
    assert min(gaps) > 5, gaps
    print(f"rolling restart order {restarted}, seconds between JVM starts {gaps}")
