"""The backups run on their timers' hosts, show in the list, verify, and publish metrics.
The point-in-time restore drill is test_50_restore_drill.py (last: it replaces the cluster)."""

import io
import json
import re
import shlex
import subprocess
import tarfile
import time
from datetime import datetime

import pytest

from lab import testing
from lab.cluster import backup as lab

# Imported before any test runs: a backup older than this was taken by the converge.
VERIFY_STARTED = time.time()


def timer_next(host: str, timer: str) -> str:
    out = lab.sh(host, f"systemctl show -p ActiveState -p NextElapseUSecRealtime {timer}").stdout
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert props["ActiveState"] == "active", f"{host}: {timer} is {props['ActiveState']}"
    return props["NextElapseUSecRealtime"]


@pytest.mark.parametrize(
    ("group", "timers"),
    [
        (
            "backup",
            ["horilla-backup-full", "horilla-backup-diff", "horilla-backup-maintenance", "horilla-backup-verify"],
        ),
        ("postgres", ["horilla-backup-dump", "horilla-backup-files"]),
        ("app", ["horilla-backup-files"]),
    ],
)
def test_timers_are_scheduled(group, timers):
    for host in testing.names(group):
        for timer in timers:
            assert timer_next(host, f"{timer}.timer"), f"{host}: {timer}.timer has no next run"
        persistent = lab.sh(host, f"systemctl show -p Persistent --value {timers[0]}.timer").stdout.strip()
        assert persistent == "yes"


def test_pgbackrest_servers_listen_on_internal_addresses_only():
    for host in [lab.backup_host(), *testing.names("postgres")]:
        listeners = lab.sh(host, "ss -Hltn 'sport = :8432'").stdout.split()
        assert f"{testing.address(host)}:8432" in listeners, f"{host}: {listeners}"
        assert "0.0.0.0:8432" not in listeners and "*:8432" not in listeners


def test_wal_archiving_reaches_the_repository():
    out = lab.sh(lab.backup_host(), "runuser -u postgres -- pgbackrest --stanza=horilla check 2>&1").stdout
    assert "completed successfully" in out


def catalog() -> list[dict]:
    out = lab.sh(lab.backup_host(), "horilla-restore --list --json").stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_the_first_converge_took_a_full_backup_and_a_dump():
    """A fresh site can be restored to any point in time from its first converge on."""
    # The oldest of each kind (the list is oldest first).
    taken = {(e["tool"], e["type"]): datetime.fromisoformat(e["time"]).timestamp() for e in reversed(catalog())}
    assert ("pgbackrest", "full") in taken, f"the converge took no full backup: {sorted(taken)}"
    assert ("restic", "pg_dump") in taken, f"the converge took no dump: {sorted(taken)}"
    assert taken[("pgbackrest", "full")] < VERIFY_STARTED
    assert taken[("restic", "pg_dump")] < VERIFY_STARTED


# Right after the converge, before any test adds a backup: `--verify` passes on a fresh site.
def test_verify_checks_every_backup():
    out = lab.sh(lab.backup_host(), "horilla-backup --verify").stdout
    assert "pgBackRest verify: ok" in out
    assert "restic check" in out
    assert "latest dump restored into a scratch database: ok" in out


def test_the_leader_dumps_the_database():
    out = lab.sh(lab.leader(), "horilla-backup --job dump").stdout
    assert "pg_dump of horilla in snapshot" in out


def test_a_replica_dumps_nothing_and_says_so():
    # A replica that led before (the converge's first dump, a failover) keeps that run's
    # metrics file: what matters is that this run leaves it as it was.
    metrics = "/var/lib/prometheus/node-exporter/horilla_backup_pg_dump.prom"
    for replica in lab.replicas():
        before = lab.sh(replica, f"cat {metrics} 2>/dev/null || echo absent").stdout
        out = lab.sh(replica, "horilla-backup --job dump").stdout
        assert "not the Patroni leader" in out
        assert lab.sh(replica, f"cat {metrics} 2>/dev/null || echo absent").stdout == before


def test_files_are_backed_up():
    app = lab.app_host()
    probe = "/var/lib/horilla/media/site-probe"
    lab.sh(app, f"mkdir -p {probe} && head -c 65536 /dev/urandom > {probe}/a.bin")
    out = lab.sh(app, "horilla-backup --job files").stdout
    assert "restic snapshot" in out and "/var/lib/horilla/media" in out


def secret_values() -> list[bytes]:
    """Every lab secret's value (the generated files at the top of the secrets directory)."""
    return [
        value
        for path in sorted(testing.secrets_dir().iterdir())
        if path.is_file() and len(value := path.read_bytes().strip()) >= 8
    ]


def files_holding_secrets(host: str, roots: list[str]) -> set[str]:
    """Paths under `roots` on a host whose content holds a lab secret or a private key,
    read on the controller (a tar of the host's files), so no secret is put on the host."""
    tar = subprocess.run(
        [
            "docker",
            "exec",
            testing.lab().host(host).container,
            "tar",
            "-C",
            "/",
            "-cf",
            "-",
            "--ignore-failed-read",
            *(r.lstrip("/") for r in roots),
        ],
        capture_output=True,
        check=False,
    ).stdout
    secrets = secret_values()
    found = set()
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        for member in archive:
            if member.isfile():
                content = archive.extractfile(member).read()
                if b"PRIVATE KEY-----" in content or any(s in content for s in secrets):
                    found.add("/" + member.name)
    return found


@pytest.mark.parametrize("where", ["leader", "app"])
def test_no_file_backup_holds_a_secret(where):
    """Issue 23, item 5: every host writes its files into one repository, so a file that holds
    a secret (a password, a key) is left out; each comes back from the vault or the CA when
    site.yml converges a restored host. The host's files are searched for the lab's real
    secret values and private keys, and none of those files may be in its new snapshot."""
    host = {"leader": lab.leader, "app": lab.app_host}[where]()
    out = lab.sh(host, "horilla-backup --job files").stdout
    snapshot = re.search(r"restic snapshot ([0-9a-f]{8,})", out)
    assert snapshot, out
    # The job's own settings (a systemd EnvironmentFile: KEY=value, unquoted).
    settings = dict(
        line.split("=", 1)
        for line in testing.host(host).file("/etc/horilla-ops/backup.env").content_string.splitlines()
        if "=" in line and not line.startswith("#")
    )
    restic = [
        "restic", "--no-cache", "--json",
        "--repo", settings["HORILLA_BACKUP_RESTIC_REPOSITORY"],
        "--password-file", settings["HORILLA_BACKUP_RESTIC_PASSWORD_FILE"],
        "--option", f"sftp.command={settings['HORILLA_BACKUP_RESTIC_SFTP_COMMAND']}",
    ]  # fmt: skip
    listing = lab.sh(host, shlex.join([*restic, "ls", snapshot.group(1)])).stdout
    saved = {n["path"] for line in listing.splitlines() if (n := json.loads(line)).get("type") == "file"}
    holding = files_holding_secrets(host, settings["HORILLA_BACKUP_FILES_PATHS"].split(","))
    # Not vacuous: the host's own secret files are found, and the snapshot holds its /etc.
    expected = {"leader": "/etc/patroni/config.yml", "app": "/etc/horilla/horilla.env"}[where]
    assert expected in holding, sorted(holding)
    assert "/etc/hostname" in saved
    assert sorted(holding & saved) == []


def test_restore_list_shows_both_tools():
    entries = catalog()
    kinds = {(e["tool"], e["type"]) for e in entries}
    assert ("pgbackrest", "full") in kinds
    assert ("restic", "pg_dump") in kinds
    assert any(e["tool"] == "restic" and e["where"].startswith(f"{lab.app_host()}:") for e in entries)
    table = lab.sh(lab.backup_host(), "horilla-restore --list").stdout
    assert table.splitlines()[0].split()[:5] == ["ID", "TOOL", "TYPE", "TIME", "(UTC)"]


def metrics_of(host: str) -> str:
    return testing.metrics(host, 9100)


@pytest.mark.parametrize(
    ("where", "kind"),
    [("backup", "pgbackrest_full"), ("backup", "verify"), ("leader", "pg_dump"), ("app", "restic")],
)
def test_metrics_are_published(where, kind):
    host = {"backup": lab.backup_host, "leader": lab.leader, "app": lab.app_host}[where]()
    text = metrics_of(host)
    assert f'horilla_backup_last_result{{kind="{kind}"}} 1' in text
    stamp = next(
        line
        for line in text.splitlines()
        if line.startswith(f'horilla_backup_last_success_timestamp_seconds{{kind="{kind}"}}')
    )
    assert float(stamp.split()[-1]) > 1.7e9


def test_the_restic_account_can_only_sftp():
    app = lab.app_host()
    result = testing.host(app).run(
        "ssh -i /etc/horilla-ops/backup-ssh/id_ed25519 -o UserKnownHostsFile=/etc/horilla-ops/backup-ssh/known_hosts"
        f" -o BatchMode=yes restic@{testing.address(lab.backup_host())} id"
    )
    assert "uid=" not in result.stdout
    assert result.rc != 0


def test_a_restore_without_confirmation_is_refused():
    result = testing.host(lab.app_host()).run("horilla-restore --files-only < /dev/null")
    assert result.rc == 1
    assert "--yes" in result.stderr


def test_a_restore_to_a_backup_that_does_not_exist_stops_before_anything():
    """The playbook checks its target on the backup host first: nothing is stopped."""
    from lab.cluster import postgres

    leader = lab.leader()
    started = time.monotonic()
    run = lab.run_restore(restore_confirm=True, restore_backup_id="20200101-000000F")
    assert not run.ok, "a restore to a backup that does not exist must fail"
    output = " ".join(run.tail(60).split())  # Ansible wraps long messages
    assert "pgBackRest backup 20200101-000000F does not exist" in output, output
    assert "Nothing was stopped or changed" in output
    print(f"refused after {time.monotonic() - started:.0f} s")
    # Still the same leader, every member running, the app's services up.
    assert postgres.healthy() and lab.leader() == leader
    for host in testing.names("app"):
        assert testing.host(host).service("horilla-gunicorn").is_running, host
