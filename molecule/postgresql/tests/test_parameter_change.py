"""A PostgreSQL setting changed in the inventory reaches the running cluster through
Patroni: a reload for a reloadable setting, and for one that needs a restart, a
rolling restart with the replica first and the leader last, without a failover.

The backup tier's hook rides along: WAL archiving switched on through
postgresql_parameters_extra (archive_mode needs the restart) must archive segments,
and postgresql_recovery_conf must reach the replica's restore_command."""

import json
import os
import subprocess
from pathlib import Path

import pgcluster as cluster
import pytest
import yaml

from lab import testing
from lab.state import PROJECT_DIR

SCENARIO = Path(__file__).resolve().parent.parent
# A stand-in archive: a directory on each node (the backup tier points it at pgBackRest).
ARCHIVE_DIR = "/var/lib/postgresql/wal-archive-test"
ARCHIVING = {
    "archive_mode": "on",
    "archive_command": f"mkdir -p {ARCHIVE_DIR} && test ! -f {ARCHIVE_DIR}/%f && cp %p {ARCHIVE_DIR}/%f",
}
RECOVERY = {"restore_command": f"cp {ARCHIVE_DIR}/%f %p"}


def postmaster_started(name: str) -> str:
    return cluster.patroni("/patroni", host=name)["postmaster_start_time"]


def show(name: str, setting: str) -> str:
    return testing.host(name).check_output(f"psql -U postgres -h /var/run/postgresql -Atc 'SHOW {setting}'")


@pytest.fixture(scope="module")
def changed_parameters():
    defaults = yaml.safe_load((PROJECT_DIR / "roles" / "postgresql" / "defaults" / "main.yml").read_text())
    current = cluster.patroni("/config")["postgresql"]["parameters"]
    parameters = dict(defaults["postgresql_parameters"])
    # Up from whatever runs now (a replica may not have fewer connections than its primary).
    parameters["max_connections"] = int(current["max_connections"]) + 10
    parameters["work_mem"] = f"{int(str(current.get('work_mem', '4MB')).removesuffix('MB')) + 1}MB"
    return parameters


def test_setting_changes_roll_through_patroni(changed_parameters):
    cluster.wait_for(cluster.healthy, 120, "a healthy cluster")
    leader = cluster.leader()
    replica = next(h for h in cluster.postgres_hosts() if h != leader)
    before = {h: postmaster_started(h) for h in (leader, replica)}

    prefix = cluster.address(leader).rsplit(".", 1)[0]
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"), LAB_SUBNET_PREFIX=prefix)
    env.setdefault("LAB_NAME", testing.lab().name)
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(SCENARIO / "inventory"),
            str(PROJECT_DIR / "playbooks" / "database.yml"),
            "--tags",
            "postgresql",
            "-e",
            json.dumps(
                {
                    "postgresql_parameters": changed_parameters,
                    "postgresql_parameters_extra": ARCHIVING,
                    "postgresql_recovery_conf": RECOVERY,
                }
            ),
        ],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]

    config = cluster.patroni("/config")["postgresql"]["parameters"]
    assert config["max_connections"] == changed_parameters["max_connections"]
    assert config["work_mem"] == changed_parameters["work_mem"]
    after = {h: postmaster_started(h) for h in (leader, replica)}
    # Both restarted, the replica first; the leader kept the lock (no failover).
    assert after[replica] != before[replica]
    assert after[leader] != before[leader]
    assert after[replica] < after[leader]
    assert cluster.leader() == leader
    for name in (leader, replica):
        assert show(name, "max_connections") == str(changed_parameters["max_connections"])
        assert show(name, "work_mem") == changed_parameters["work_mem"]
        assert not cluster.patroni("/patroni", host=name).get("pending_restart")
    cluster.wait_for(cluster.healthy, 120, "the replica synchronous again")
    assert show(leader, "archive_mode") == "on"
    assert show(replica, "restore_command") == RECOVERY["restore_command"]


def archiver(name: str) -> tuple[int, str]:
    query = "SELECT archived_count, last_archived_wal FROM pg_stat_archiver"
    count, last = testing.host(name).check_output(f'psql -U postgres -h /var/run/postgresql -Atc "{query}"').split("|")
    return int(count), last


def test_archiving_through_the_extra_parameters_archives_wal():
    leader = cluster.leader()
    assert leader
    before, _ = archiver(leader)
    testing.host(leader).check_output(
        "psql -U postgres -h /var/run/postgresql -Atc "
        '"CREATE TABLE IF NOT EXISTS archive_probe (at timestamptz); INSERT INTO archive_probe VALUES (now());'
        ' SELECT pg_switch_wal()"'
    )
    cluster.wait_for(lambda: archiver(leader)[0] > before, 60, "the switched WAL segment archived")
    _, last = archiver(leader)
    assert testing.host(leader).file(f"{ARCHIVE_DIR}/{last}").is_file
