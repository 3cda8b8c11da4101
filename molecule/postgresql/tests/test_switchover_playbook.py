"""The operators' switchover playbook moves the leader to the synchronous replica
through Patroni's REST API, and the old leader follows as a synchronous replica."""

import os
import subprocess
from pathlib import Path

import pgcluster as cluster

from lab import testing
from lab.state import PROJECT_DIR

SCENARIO = Path(__file__).resolve().parent.parent


def test_switchover_playbook_moves_the_leader():
    cluster.wait_for(cluster.healthy, 120, "a healthy cluster")
    old_leader = cluster.leader()
    candidate = next(h for h in cluster.postgres_hosts() if h != old_leader)
    prefix = cluster.address(candidate).rsplit(".", 1)[0]
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"), LAB_SUBNET_PREFIX=prefix)
    env.setdefault("LAB_NAME", testing.lab().name)
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(SCENARIO / "inventory"),
            str(PROJECT_DIR / "playbooks" / "postgresql-switchover.yml"),
        ],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert cluster.leader() == candidate
    cluster.wait_for(cluster.healthy, 120, f"{old_leader} synchronous again")
    assert cluster.members()[old_leader]["role"] == "sync_standby"
