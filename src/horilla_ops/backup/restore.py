"""The local steps of a restore: the database on one stopped Patroni node, files on any host.

A database restore is cluster-wide (playbooks/restore.yml stops the app's writes and
Patroni everywhere, clears the cluster's state in etcd, runs the database step here on
one node, starts Patroni on it and re-creates the replicas). This module refuses to
touch a data directory while Patroni runs.
"""

from __future__ import annotations

import logging
import subprocess
import time
from datetime import datetime

from horilla_ops.backup.catalog import Entry
from horilla_ops.backup.settings import Settings
from horilla_ops.backup.tools import PgBackRest, Restic, ToolError, psql, run

log = logging.getLogger("horilla_ops.backup")

# Recovery settings pgBackRest writes to postgresql.auto.conf; once the restored server
# is promoted they must go, or a later standby start would stop at the old target.
RECOVERY_SETTINGS = (
    "restore_command",
    "recovery_target",
    "recovery_target_action",
    "recovery_target_inclusive",
    "recovery_target_lsn",
    "recovery_target_name",
    "recovery_target_time",
    "recovery_target_timeline",
    "recovery_target_xid",
)


def restore_options(backup_id: str | None, target_time: datetime | None) -> list[str]:
    """pgBackRest restore options for a backup set, a point in time, both, or neither (latest)."""
    opts = ["--delta"]
    if backup_id:
        opts.append(f"--set={backup_id}")
    if target_time is not None:
        opts += ["--type=time", f"--target={target_time.isoformat(sep=' ')}", "--target-action=promote"]
    elif backup_id:
        # Only this backup: stop as soon as it is consistent.
        opts += ["--type=immediate", "--target-action=promote"]
    return opts


def patroni_running(settings: Settings) -> bool:
    probe = subprocess.run(
        ["systemctl", "is-active", "--quiet", settings.patroni_service], check=False, capture_output=True
    )
    return probe.returncode == 0


def restore_database(
    settings: Settings, backup_id: str | None, target_time: datetime | None, timeout: float = 1800
) -> str:
    """Restore this node's data directory and let Postgres recover and promote; leaves it stopped."""
    settings.require("pg_data_dir")
    if patroni_running(settings):
        raise ToolError(
            f"{settings.patroni_service} runs on this node: a database restore is cluster-wide."
            " Run playbooks/restore.yml, which stops Patroni everywhere and calls this step on one node."
        )
    data = str(settings.pg_data_dir)
    pg_ctl = str(settings.pg_bin_dir / "pg_ctl")
    if run([pg_ctl, "-D", data, "status"], user="postgres", check=False).returncode == 0:
        raise ToolError(f"a PostgreSQL server runs on {data}; stop it first")
    PgBackRest(settings)("restore", *restore_options(backup_id, target_time))
    log.info("restored %s; recovering (socket only, no network clients)", data)
    # Socket only: nothing but this command can connect until the cluster is handed
    # back to Patroni.
    server_opts = f"-c listen_addresses='' -c port={settings.pg_port}"
    logfile = settings.log_dir / "restore-postgres.log"
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    logfile.touch()
    run(["chown", "postgres:postgres", str(logfile)])
    run(
        [pg_ctl, "-D", data, "-w", "-t", str(int(timeout)), "-l", str(logfile), "-o", server_opts, "start"],
        user="postgres",
    )
    try:
        deadline = time.monotonic() + timeout
        while psql(settings, "SELECT pg_is_in_recovery()") != "f":
            if time.monotonic() > deadline:
                raise ToolError(f"recovery did not finish within {timeout:.0f} s; see {logfile}")
            time.sleep(1)
        reached = psql(settings, "SELECT now()::text || ' on timeline ' || (pg_control_checkpoint()).timeline_id")
        for name in RECOVERY_SETTINGS:
            psql(settings, f"ALTER SYSTEM RESET {name}")
        psql(settings, "CHECKPOINT")
    except ToolError as exc:
        tail = logfile.read_text(errors="replace").strip().splitlines()[-10:]
        raise ToolError(f"{exc}\n{logfile}:\n" + "\n".join(tail)) from exc
    finally:
        run([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], user="postgres", check=False)
    return f"database restored and promoted at {reached}; start Patroni on this node to hand it back"


def pick_files_snapshot(snapshots: list[dict], backup_id: str | None, target_time: datetime | None) -> dict:
    """The snapshot to restore: the given id, else the newest at or before the time, else the newest."""
    from horilla_ops.backup.catalog import parse_restic_time

    if backup_id:
        found = [s for s in snapshots if s["id"].startswith(backup_id)]
        if len(found) != 1:
            raise ToolError(f"restic snapshot {backup_id} not found among this host's file snapshots")
        return found[0]
    candidates = [s for s in snapshots if target_time is None or parse_restic_time(s["time"]) <= target_time]
    if not candidates:
        raise ToolError("no file snapshot of this host at or before the requested time")
    return max(candidates, key=lambda s: parse_restic_time(s["time"]))


def restore_files(
    settings: Settings,
    backup_id: str | None,
    target_time: datetime | None,
    target_dir: str = "/",
    includes: tuple[str, ...] = (),
    host: str | None = None,
) -> str:
    import socket

    restic = Restic(settings)
    snapshots = restic.snapshots("--tag", "files", "--host", host or socket.gethostname())
    snapshot = pick_files_snapshot(snapshots, backup_id, target_time)
    args = [snapshot["id"], "--target", target_dir]
    for path in includes:
        args += ["--include", path]
    restic("restore", *args)
    what = ", ".join(includes) if includes else ", ".join(snapshot.get("paths", []))
    return f"restored {what} from restic snapshot {snapshot['id'][:8]} ({snapshot['time'][:19]}) into {target_dir}"


def check_target(
    entries: list[Entry],
    *,
    database: bool,
    files_hosts: tuple[str, ...],
    backup_id: str | None,
    target_time: datetime | None,
    now: datetime,
) -> list[str]:
    """What a restore would use, from the catalog alone; ToolError naming every missing piece.

    playbooks/restore.yml runs this before it stops anything: a restore whose backup or
    point in time does not exist must fail while the cluster still runs, not after
    Patroni is stopped and the cluster's state removed.
    """
    problems: list[str] = []
    plan: list[str] = []
    db_backups = sorted((e for e in entries if e.tool == "pgbackrest"), key=lambda e: e.time)
    chosen: Entry | None = None
    if backup_id:
        chosen = next((e for e in db_backups if e.id == backup_id), None)
        if chosen is None:
            known = ", ".join(e.id for e in db_backups) or "none"
            problems.append(f"pgBackRest backup {backup_id} does not exist (the repository holds: {known})")
    if target_time is not None and target_time > now:
        problems.append(
            f"the target time {target_time.isoformat(sep=' ')} is in the future (now {now:%Y-%m-%d %H:%M:%S} UTC)"
        )
    if database:
        if not db_backups:
            problems.append("the pgBackRest repository holds no backup: there is nothing to restore the database from")
        elif target_time is not None:
            usable = [e for e in ([chosen] if chosen else db_backups) if e.time <= target_time]
            if chosen and not usable:
                problems.append(
                    f"pgBackRest backup {chosen.id} ended at {chosen.time:%Y-%m-%d %H:%M:%S} UTC,"
                    f" after the target time {target_time.isoformat(sep=' ')}"
                )
            elif not usable:
                problems.append(
                    f"no pgBackRest backup ended before the target time {target_time.isoformat(sep=' ')}"
                    f" (the oldest ended at {db_backups[0].time:%Y-%m-%d %H:%M:%S} UTC)"
                )
            else:
                plan.append(f"database: backup {usable[-1].id}, then WAL up to {target_time.isoformat(sep=' ')}")
        elif chosen:
            plan.append(f"database: backup {chosen.id} as it was when it ended ({chosen.time:%Y-%m-%d %H:%M:%S} UTC)")
        else:
            plan.append(f"database: backup {db_backups[-1].id}, then every archived WAL (the newest state)")
    # The files match the database: the snapshot at or before the target time, or at or
    # before the end of the chosen database backup, else the newest.
    files_until = target_time if target_time is not None else (chosen.time if chosen else None)
    for host in files_hosts:
        snapshots = [e for e in entries if e.tool == "restic" and e.type == "files" and e.where.startswith(f"{host}:")]
        candidates = [e for e in snapshots if files_until is None or e.time <= files_until]
        if not candidates:
            when = f" at or before {files_until:%Y-%m-%d %H:%M:%S} UTC" if files_until else ""
            problems.append(f"no file snapshot of {host}{when} (restic holds {len(snapshots)} of {host})")
        else:
            pick = max(candidates, key=lambda e: e.time)
            plan.append(f"files of {host}: restic snapshot {pick.id} ({pick.time:%Y-%m-%d %H:%M:%S} UTC)")
    if problems:
        raise ToolError("cannot restore: " + "; ".join(problems))
    return plan
