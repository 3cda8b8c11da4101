"""Restores of one scope, as an operator runs them with playbooks/restore.yml: the
database alone to one backup by its id (the app's files untouched), then the files
alone to a point in time (the database and Patroni untouched).

After test_50_restore_drill.py (file order): each replaces data of the whole site. In
the full suite only (make test-all; conftest.py's FULL_SUITE_ONLY): together about 5
minutes, which CI's hour has no room for; test_26_backup.py keeps the refusal of a
missing backup in every run. Figures: reports/drills/backup-scopes.json.
"""

from __future__ import annotations

import json

from lab import testing
from lab.cluster import backup as lab
from lab.cluster import postgres, report

RESTORE_CEILING = 300.0  # generous: only catches a restore gone badly wrong
MEDIA = "/var/lib/horilla/media/drill"

# Each test adds its event and rewrites the report.
figures: dict = {}


def test_restore_one_backup_of_the_database_only():
    """restore_scope=database with restore_backup_id: the database as that backup left it
    (nothing after it); the app's files are not touched."""
    postgres.wait_healthy()
    app = lab.app_host()
    lab.sql("DROP TABLE IF EXISTS drill_by_id")  # a drill run before on this lab
    lab.sql("CREATE TABLE drill_by_id (phase text NOT NULL)")
    lab.sql("INSERT INTO drill_by_id VALUES ('in-backup')")
    label = lab.full_backup()
    lab.sql("INSERT INTO drill_by_id VALUES ('after-backup')")
    lab.archive_check()
    # A file written after the backup: a database-only restore leaves it alone.
    lab.sh(app, f"mkdir -p {MEDIA} && echo kept > {MEDIA}/after-backup.txt")

    restore_s = lab.restore(restore_confirm=True, restore_scope="database", restore_backup_id=label)
    rejoin_s, _ = lab.timed(lambda: postgres.wait_healthy(180))
    phases = lab.sql("SELECT string_agg(phase, ',' ORDER BY phase) FROM drill_by_id")
    kept = lab.sh(app, f"cat {MEDIA}/after-backup.txt").stdout.strip()
    figures["restore_backup_id_database_only"] = {
        "backup_id": label,
        "playbook_seconds": round(restore_s, 1),
        "until_cluster_healthy_seconds": round(restore_s + rejoin_s, 1),
        "rows_after_restore": phases,
        "files_untouched": kept == "kept",
    }
    lab.sql("INSERT INTO drill_by_id VALUES ('post-restore')")
    lab.archive_check()
    _report()
    assert phases == "in-backup", f"expected only the backup's row, got {phases}"
    assert kept == "kept", "a database-only restore touched the app's files"
    assert restore_s < RESTORE_CEILING


def test_restore_the_files_only():
    """restore_scope=files to a time: the app's files as they were; the database keeps
    every write, and Patroni is not touched."""
    postgres.wait_healthy()
    app = lab.app_host()
    lab.sh(app, f"mkdir -p {MEDIA}/files-only && head -c 65536 /dev/urandom > {MEDIA}/files-only/a.bin")
    before = lab.sh(app, f"sha256sum {MEDIA}/files-only/a.bin").stdout
    lab.sh(app, "horilla-backup --job files")
    target = lab.now_on_the_leader()
    lab.sh(app, f"head -c 100 /dev/zero > {MEDIA}/files-only/a.bin")
    lab.sql("DROP TABLE IF EXISTS drill_files_only")
    lab.sql("CREATE TABLE drill_files_only AS SELECT 'after-target' AS phase")
    leader = lab.leader()
    timeline = lab.sql("SELECT timeline_id FROM pg_control_checkpoint()")

    restore_s = lab.restore(
        restore_confirm=True,
        restore_scope="files",
        restore_target_time=target,
        restore_files_include=[f"{MEDIA}/files-only"],
        restore_files_group=app,
    )
    after = lab.sh(app, f"sha256sum {MEDIA}/files-only/a.bin").stdout
    figures["restore_files_only"] = {
        "target_time": target,
        "playbook_seconds": round(restore_s, 1),
        "files_identical": after == before,
        "database_untouched": lab.sql("SELECT phase FROM drill_files_only") == "after-target",
    }
    _report()
    assert after == before, "the restored file differs from its snapshot"
    assert figures["restore_files_only"]["database_untouched"], "a files-only restore changed the database"
    assert lab.leader() == leader
    assert lab.sql("SELECT timeline_id FROM pg_control_checkpoint()") == timeline
    assert restore_s < RESTORE_CEILING


def _report() -> None:
    host = testing.host(lab.backup_host())
    path = report.write(
        "backup-scopes",
        settings={
            "pgbackrest": host.check_output("pgbackrest version"),
            "restic": host.check_output("restic version").split(" compiled")[0],
            "ceilings": {"restore_playbook_seconds": RESTORE_CEILING},
        },
        events=[{"name": step, **values} for step, values in figures.items()],
        totals={},
    )
    print(f"\ndrill report: {path}\n{json.dumps(figures, indent=2)}")
