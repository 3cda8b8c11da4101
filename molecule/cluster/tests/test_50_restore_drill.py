"""Disaster-recovery drill: restore the cluster to a point in time T and the app's files.

Load rows, take a full backup, back up the app's files, write rows "before" T, note T,
write rows "after" T, damage the files; then run playbooks/restore.yml to T exactly as
an operator would. Afterwards every row up to T is there and none after it, the cluster
has its leader and replica again, and the files are byte-identical to the backup.

The routine run loads a small data set (BACKUP_DRILL_MB, default 24); `make
drill-backup` runs this same drill with 1 GiB and writes reports/drills/backup-1gb.json.
Runs last (file name): it replaces the database cluster of the whole site, with the app
stopped while it does (the playbook stops and starts the app's writers). The other
scopes (one backup by its id, the database alone, the files alone) are drilled by
test_55_restore_scopes.py.
"""

from __future__ import annotations

import json
import os
import time

from lab import testing
from lab.cluster import backup as lab
from lab.cluster import postgres, report

DRILL_MB = int(os.environ.get("BACKUP_DRILL_MB", "24"))
REPORT = "backup" if DRILL_MB < 1024 else "backup-1gb"
# The recovery objective is 5 minutes (CONTRIBUTING.md); the ceilings are generous for a shared
# 2-core machine and only catch a restore that has gone badly wrong.
RESTORE_CEILING = 300.0 if DRILL_MB < 1024 else 900.0
ROWS_PER_MB = 1000  # ~1 KB of random hex per row
MEDIA = "/var/lib/horilla/media/drill"


def test_restore_to_a_point_in_time():
    postgres.wait_healthy()
    app = lab.app_host()
    figures: dict = {}

    # 1. Data set: random hex (compresses about as badly as real data).
    lab.sql("CREATE TABLE drill_rows (id bigserial PRIMARY KEY, phase text NOT NULL, payload text NOT NULL)")
    rows = DRILL_MB * ROWS_PER_MB
    # `rows` is an int computed above, never outside input.
    random_kb = "(SELECT string_agg(md5(random()::text || g::text || i::text), '') FROM generate_series(1, 30) i)"
    load = f"INSERT INTO drill_rows (phase, payload) SELECT 'base', {random_kb} FROM generate_series(1, {rows:d}) g"  # noqa: S608
    load_s, _ = lab.timed(lambda: lab.sql(load))
    db_bytes = int(lab.sql("SELECT pg_database_size(current_database())"))
    figures["data"] = {"rows": rows, "database_bytes": db_bytes, "load_seconds": round(load_s, 1)}

    # 2. A full backup of it.
    backup_s, label = lab.timed(lab.full_backup)
    info = json.loads(
        lab.sh(
            lab.backup_host(), f"runuser -u postgres -- pgbackrest --stanza=horilla --set={label} info --output=json"
        ).stdout
    )
    backup = next(b for b in info[0]["backup"] if b["label"] == label)
    figures["full_backup"] = {
        "label": label,
        "seconds": round(backup_s, 1),
        "database_bytes": backup["info"]["size"],
        "repository_bytes": backup["info"]["repository"]["delta"],
    }

    # 3. The app's files, backed up before T.
    lab.sh(app, f"mkdir -p {MEDIA} && for i in $(seq 1 20); do head -c 262144 /dev/urandom > {MEDIA}/f$i.bin; done")
    before_files = lab.sh(app, f"cd {MEDIA} && sha256sum f*.bin | sort").stdout
    files_s, _ = lab.timed(lambda: lab.sh(app, "horilla-backup --job files"))
    figures["files_backup"] = {"files": 20, "bytes": 20 * 262144, "seconds": round(files_s, 1)}

    # 4. Rows before T, T, rows after T, all archived.
    lab.sql("INSERT INTO drill_rows (phase, payload) SELECT 'before', md5(g::text) FROM generate_series(1, 1000) g")
    target = lab.now_on_the_leader()
    time.sleep(1.5)
    lab.sql("INSERT INTO drill_rows (phase, payload) SELECT 'after', md5(g::text) FROM generate_series(1, 1000) g")
    lab.archive_check()

    # 5. The files are damaged after T.
    lab.sh(app, f"rm {MEDIA}/f1.bin && head -c 1000 /dev/zero > {MEDIA}/f2.bin")
    assert lab.sh(app, f"cd {MEDIA} && sha256sum f*.bin | sort").stdout != before_files

    # 6. Restore the cluster and the files to T.
    restore_s = lab.restore(
        restore_confirm=True,
        restore_target_time=target,
        restore_files_include=[MEDIA],
        # The media volume is shared: one app node's snapshot restores it for all.
        restore_files_group=app,
    )
    rejoin_s, _ = lab.timed(lambda: postgres.wait_healthy(180))
    figures["restore"] = {
        "target_time": target,
        "playbook_seconds": round(restore_s, 1),
        "until_cluster_healthy_seconds": round(restore_s + rejoin_s, 1),
        "leader_after": lab.leader(),
    }

    counts = dict(
        line.split("|") for line in lab.sql("SELECT phase, count(*) FROM drill_rows GROUP BY phase").splitlines()
    )
    figures["restore"]["rows_after_restore"] = counts
    after_files = lab.sh(app, f"cd {MEDIA} && sha256sum f*.bin | sort").stdout
    figures["restore"]["files_identical"] = after_files == before_files

    # 7. The restored cluster takes writes and archives them again.
    lab.sql("INSERT INTO drill_rows (phase, payload) VALUES ('post-restore', 'x')")
    lab.archive_check()

    _report(figures)
    assert counts.get("base") == str(rows)
    assert counts.get("before") == "1000", "rows committed before T are missing"
    assert "after" not in counts, "rows committed after T came back"
    assert after_files == before_files, "restored files differ from the backup"
    assert restore_s < RESTORE_CEILING, f"restore took {restore_s:.0f} s (ceiling {RESTORE_CEILING:.0f} s)"


def _report(figures: dict) -> None:
    """The drill's steps (data, full_backup, files_backup, restore) are its events."""
    host = testing.host(lab.backup_host())
    path = report.write(
        REPORT,
        settings={
            "pgbackrest": host.check_output("pgbackrest version"),
            "restic": host.check_output("restic version").split(" compiled")[0],
            "drill_megabytes": DRILL_MB,
            "targets": {"recovery_seconds": 300},
            "ceilings": {"restore_playbook_seconds": RESTORE_CEILING},
        },
        events=[{"name": step, **values} for step, values in figures.items()],
        totals={},
    )
    print(f"\ndrill report: {path}\n{json.dumps(figures, indent=2)}")
