"""The backup jobs a host runs (HORILLA_BACKUP_JOBS) and the verification."""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from horilla_ops.backup import metrics
from horilla_ops.backup.settings import Settings
from horilla_ops.backup.tools import PgBackRest, Restic, ToolError, psql, run

log = logging.getLogger("horilla_ops.backup")

DUMP_CUSTOM = "horilla.dump"
DUMP_SQL = "horilla.sql"
PGBACKREST_TYPES = ("full", "diff", "incr")


@dataclass(frozen=True)
class JobResult:
    job: str
    ran: bool
    message: str
    size_bytes: float | None = None


def timed(settings: Settings, kind: str, body: Callable[[], JobResult]) -> JobResult:
    """Run a job body, publish its metrics (unless it had nothing to do) and return its result."""
    started = time.monotonic()
    try:
        result = body()
    except (ToolError, OSError):
        metrics.write(settings.textfile_dir, metrics.Outcome(kind, False, time.monotonic() - started))
        raise
    if result.ran:
        metrics.write(settings.textfile_dir, metrics.Outcome(kind, True, time.monotonic() - started, result.size_bytes))
    return result


def patroni_tls(settings: Settings) -> ssl.SSLContext | None:
    """For an https URL: Patroni's certificate checked against the internal CA, and the
    node's own certificate shown (the REST API answers no one without one)."""
    if not settings.patroni_url.startswith("https://"):
        return None
    tls = settings.patroni_tls_dir
    context = ssl.create_default_context(cafile=str(tls / "ca.crt"))
    context.load_cert_chain(tls / "server.crt", tls / "server.key")
    return context


def patroni_role(settings: Settings, timeout: float = 3) -> str:
    """'leader' when this node's Patroni holds the leader lock, else 'replica' (or 'unknown')."""
    try:
        context = patroni_tls(settings)
        # The URL is http(s) only: Settings.load checks HORILLA_BACKUP_PATRONI_URL.
        with urllib.request.urlopen(f"{settings.patroni_url}/leader", timeout=timeout, context=context) as resp:  # noqa: S310
            return "leader" if resp.status == 200 else "replica"
    except urllib.error.HTTPError as exc:
        # Patroni answers 503 on every member that is not the leader.
        return "replica" if exc.code == 503 else "unknown"
    except OSError:
        return "unknown"


def pgbackrest_backup(settings: Settings, backup_type: str) -> JobResult:
    if backup_type not in PGBACKREST_TYPES:
        raise ValueError(f"backup type must be one of {', '.join(PGBACKREST_TYPES)}, got {backup_type!r}")
    pgbr = PgBackRest(settings)

    def body() -> JobResult:
        pgbr("backup", f"--type={backup_type}")
        latest = pgbr.info()[-1]
        size = latest.get("info", {}).get("size")
        return JobResult("pgbackrest", True, f"pgBackRest {latest['type']} backup {latest['label']}", size)

    # pgBackRest makes a full backup when a diff is asked for and none exists yet; the
    # metric's kind follows what was actually made.
    result = timed(settings, f"pgbackrest_{backup_type}", body)
    made = result.message.split()[1]
    if made != backup_type:
        metrics.write(settings.textfile_dir, metrics.Outcome(f"pgbackrest_{made}", True, 0.0, result.size_bytes))
    return result


def dump(settings: Settings) -> JobResult:
    """pg_dump of the app database in custom format and plain SQL into restic, on the leader only."""
    role = patroni_role(settings)
    if role != "leader":
        return JobResult(
            "dump",
            False,
            f"{socket.gethostname()} is not the Patroni leader ({role}):"
            " the dump runs on the leader, nothing to do here",
        )

    def body() -> JobResult:
        restic = Restic(settings)
        out_dir = settings.work_dir / "dump"
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(out_dir, "postgres", "postgres")
        out_dir.chmod(0o700)
        common = ["-h", str(settings.pg_socket_dir), "-p", str(settings.pg_port), "-d", settings.database]
        for fmt, name in (("custom", DUMP_CUSTOM), ("plain", DUMP_SQL)):
            target = out_dir / name
            partial = out_dir / f".{name}.partial"
            run([str(settings.pg_bin_dir / "pg_dump"), *common, f"--format={fmt}", "-f", str(partial)], user="postgres")
            partial.replace(target)
        size = sum((out_dir / n).stat().st_size for n in (DUMP_CUSTOM, DUMP_SQL))
        summary = _restic_backup(restic, [str(out_dir)], "pg_dump", host=settings.dump_host)
        return JobResult("dump", True, f"pg_dump of {settings.database} in snapshot {summary.get('snapshot_id')}", size)

    return timed(settings, "pg_dump", body)


def files(settings: Settings) -> JobResult:
    def body() -> JobResult:
        paths = [p for p in settings.files_paths if Path(p).exists()]
        skipped = sorted(set(settings.files_paths) - set(paths))
        if skipped:
            log.info("not on this host, skipped: %s", ", ".join(skipped))
        if not paths:
            raise ToolError("none of HORILLA_BACKUP_FILES_PATHS exists on this host")
        summary = _restic_backup(Restic(settings), paths, "files", excludes=settings.files_excludes)
        return JobResult(
            "files",
            True,
            f"restic snapshot {summary.get('snapshot_id', '?')[:8]} of {', '.join(paths)}",
            summary.get("total_bytes_processed"),
        )

    return timed(settings, "restic", body)


def _restic_backup(
    restic: Restic, paths: list[str], tag: str, host: str | None = None, excludes: tuple[str, ...] = ()
) -> dict:
    args = ["--tag", tag, *(["--host", host] if host else [])]
    for pattern in excludes:
        args += ["--exclude", pattern]
    messages = restic.json_lines("backup", *args, *paths)
    return next((m for m in messages if m.get("message_type") == "summary"), {})


def maintenance(settings: Settings) -> JobResult:
    """Apply the retention of the file backups and of the dumps, then prune the repository."""
    restic = Restic(settings)
    restic("forget", "--tag", "files", "--group-by", "host,paths", *settings.files_keep)
    restic("forget", "--tag", "pg_dump", "--group-by", "host,paths", *settings.dump_keep)
    restic("prune")
    return JobResult("maintenance", True, "restic forget and prune done")


def verify(settings: Settings) -> list[str]:
    """pgBackRest verify, restic check and a test restore of the latest dump into a scratch database."""
    checks: list[str] = []

    def body() -> JobResult:
        pgbr = PgBackRest(settings)
        pgbr("verify")
        backups = pgbr.info()
        if not backups:
            raise ToolError(f"pgBackRest has no backup in stanza {settings.stanza}")
        checks.append(f"pgBackRest verify: ok ({len(backups)} backups, latest {backups[-1]['label']})")
        restic = Restic(settings)
        restic("check", f"--read-data-subset={settings.verify_read_data_subset}")
        checks.append(f"restic check (reading {settings.verify_read_data_subset} of the data): ok")
        tables = restore_latest_dump(settings, restic)
        checks.append(f"latest dump restored into a scratch database: ok ({tables} tables)")
        return JobResult("verify", True, "; ".join(checks))

    timed(settings, "verify", body)
    return checks


def latest_dump_snapshot(settings: Settings, restic: Restic) -> dict:
    snapshots = restic.snapshots("--tag", "pg_dump", "--host", settings.dump_host)
    if not snapshots:
        raise ToolError("the restic repository holds no pg_dump snapshot yet")
    return snapshots[-1]


def restore_latest_dump(settings: Settings, restic: Restic) -> int:
    """pg_restore the newest custom-format dump into a throw-away local server; returns its table count."""
    snapshot = latest_dump_snapshot(settings, restic)
    dumped_path = f"{snapshot['paths'][0]}/{DUMP_CUSTOM}"
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="verify-", dir=settings.work_dir))
    try:
        shutil.chown(scratch, "postgres", "postgres")
        dump_file = scratch / DUMP_CUSTOM
        with dump_file.open("wb") as fh:
            restic("dump", snapshot["id"], dumped_path, stdout=fh)
        shutil.chown(dump_file, "postgres", "postgres")
        data = scratch / "data"
        bin_dir = settings.pg_bin_dir
        run([str(bin_dir / "initdb"), "-D", str(data), "-A", "peer", "-U", "postgres", "--no-sync"], user="postgres")
        server_opts = f"-c listen_addresses='' -c unix_socket_directories={scratch} -c port=5439 -c fsync=off"
        run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(scratch / "server.log"),
                "-o",
                server_opts,
                "start",
            ],
            user="postgres",
        )
        try:
            psql(settings, "CREATE DATABASE scratch", socket_dir=scratch, port=5439)
            run(
                [
                    str(bin_dir / "pg_restore"),
                    "-h",
                    str(scratch),
                    "-p",
                    "5439",
                    "-d",
                    "scratch",
                    "--no-owner",
                    "--no-acl",
                    "--exit-on-error",
                    str(dump_file),
                ],
                user="postgres",
            )
            tables = psql(
                settings,
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                database="scratch",
                socket_dir=scratch,
                port=5439,
            )
        finally:
            run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user="postgres", check=False)
        return int(tables)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
