"""The operator commands `horilla-backup` and `horilla-restore`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime

from horilla_ops.backup import catalog, jobs, restore
from horilla_ops.backup.settings import Settings, SettingsError
from horilla_ops.backup.tools import PgBackRest, Restic, ToolError

log = logging.getLogger("horilla_ops.backup")

BACKUP_HELP = """\
Back up this host's share of the Horilla stack now, or verify the backups.

What a host does is set by the backup role (HORILLA_BACKUP_JOBS in
/etc/horilla-ops/backup.env): the backup host makes pgBackRest backups (pgBackRest
picks the primary) and prunes restic; the Patroni leader dumps the database (a
replica says so and does nothing); every host backs up its files with restic.
The same jobs run from systemd timers (systemctl list-timers 'horilla-backup-*').

examples:
  horilla-backup                      every job of this host
  horilla-backup --job pgbackrest --type full
  horilla-backup --verify             pgBackRest verify, restic check, test restore of the latest dump
"""

RESTORE_HELP = """\
List the backups, or restore this host's share of them.

A database restore replaces the whole cluster: run it through
`ansible-playbook playbooks/restore.yml` (it stops the app's writes and Patroni on
every node, restores one node with this command, rebuilds the replicas from it and
starts the app again). On its own, this command restores the database only on a node
whose Patroni is stopped, and files on any host.

examples:
  horilla-restore --list
  horilla-restore --check --to "2026-11-24 10:15:00+00:00" --files-host app1   is there a backup for it?
  horilla-restore --files-only --yes                        newest file snapshot of this host
  horilla-restore --files-only --to "2026-11-24 10:15:00" --target /var/tmp/restore --yes
  horilla-restore --database-only --backup-id 20261124-010000F --yes   (Patroni stopped)
  horilla-restore --database-only --to "2026-11-24 10:15:00+00:00" --yes
"""


def parse_time(raw: str) -> datetime:
    """A point in time; without a zone it is taken as UTC (the hosts' clock zone)."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a time: {raw!r} (use e.g. "2026-11-24 10:15:00")') from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def setup_logging(settings: Settings, verbose: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(settings.log_dir / "backup.log"))
    except OSError:
        pass  # not root: the journal (stderr) is enough
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )


def confirm(question: str, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        print(f"{question}\nRefusing without a terminal to ask on: add --yes.", file=sys.stderr)
        return False
    return input(f"{question} Type 'yes' to go on: ").strip() == "yes"


def backup_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="horilla-backup", description=BACKUP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verify", action="store_true", help="check the backups instead of making one")
    parser.add_argument(
        "--job",
        action="append",
        choices=("pgbackrest", "dump", "files", "maintenance"),
        help="run only this job (repeatable); default: every job of this host",
    )
    parser.add_argument(
        "--type",
        choices=jobs.PGBACKREST_TYPES,
        default="diff",
        help="pgBackRest backup type (default diff; the first backup is always full)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"horilla-backup: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings, args.verbose)

    try:
        if args.verify:
            for line in jobs.verify(settings):
                print(line)
            print("verify: all backups check out")
            return 0
        wanted = args.job or list(settings.jobs)
        if not wanted:
            print("horilla-backup: this host has no backup jobs (HORILLA_BACKUP_JOBS is empty)", file=sys.stderr)
            return 2
        for job in wanted:
            if job not in settings.jobs:
                print(
                    f"horilla-backup: job {job} is not one of this host's jobs ({', '.join(settings.jobs)})",
                    file=sys.stderr,
                )
                return 2
        for job in wanted:
            log.info("job %s: starting", job)
            if job == "pgbackrest":
                result = jobs.pgbackrest_backup(settings, args.type)
            elif job == "dump":
                result = jobs.dump(settings)
            elif job == "files":
                result = jobs.files(settings)
            else:
                result = jobs.maintenance(settings)
            print(f"{job}: {result.message}")
    except (ToolError, SettingsError, OSError) as exc:
        log.error("%s", exc)
        print(f"horilla-backup: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def list_backups(settings: Settings) -> list[catalog.Entry]:
    entries: list[catalog.Entry] = []
    if "pgbackrest" in settings.jobs or settings.pg_data_dir:
        entries += catalog.from_pgbackrest(PgBackRest(settings).info())
    if settings.restic_repository:
        entries += catalog.from_restic(Restic(settings).snapshots())
    return entries


def restore_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="horilla-restore", description=RESTORE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--list", action="store_true", help="list every backup (id, tool, type, time, size)")
    parser.add_argument("--json", action="store_true", help="with --list: JSON lines instead of a table")
    parser.add_argument("--backup-id", help="pgBackRest label (database) or restic snapshot id (files)")
    parser.add_argument("--to", type=parse_time, metavar="TIME", help="point in time to restore to")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--database-only", action="store_true", help="restore the database only")
    scope.add_argument("--files-only", action="store_true", help="restore this host's files only")
    parser.add_argument("--target", default="/", help="directory files are restored into (default /, in place)")
    parser.add_argument("--include", action="append", default=[], help="restore only this path (repeatable)")
    parser.add_argument("--host", help="whose file snapshots to restore (default: this host)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that the backups this restore needs exist (the database's, and the files of each"
        " --files-host) and say which it would use; changes nothing",
    )
    parser.add_argument(
        "--files-host", action="append", default=[], help="with --check: a host whose files are restored (repeatable)"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"horilla-restore: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings, args.verbose)

    try:
        if args.list:
            entries = list_backups(settings)
            if args.json:
                for e in entries:
                    print(json.dumps(e.as_json()))
            else:
                print(catalog.table(entries))
            return 0
        if args.check:
            if args.backup_id and not catalog.PGBACKREST_LABEL.match(args.backup_id):
                parser.error("--check takes a pgBackRest label as --backup-id (the playbook's restore_backup_id)")
            plan = restore.check_target(
                list_backups(settings),
                database=not args.files_only,
                files_hosts=() if args.database_only else tuple(args.files_host),
                backup_id=args.backup_id,
                target_time=args.to,
                now=datetime.now(UTC),
            )
            for line in plan:
                print(line)
            return 0

        db_id = files_id = None
        if args.backup_id:
            try:
                kind = catalog.backup_id_kind(args.backup_id)
            except ValueError as exc:
                parser.error(str(exc))
            if kind == "pgbackrest":
                db_id = args.backup_id
            else:
                files_id = args.backup_id
            if args.database_only and files_id:
                parser.error("--database-only needs a pgBackRest label, not a restic snapshot id")
            if args.files_only and db_id:
                parser.error("--files-only needs a restic snapshot id (or --to), not a pgBackRest label")
        do_db = not args.files_only and settings.pg_data_dir is not None
        do_files = not args.database_only and bool(settings.restic_repository) and "files" in settings.jobs
        if args.database_only and settings.pg_data_dir is None:
            parser.error("this host has no PostgreSQL data directory (HORILLA_BACKUP_PG_DATA_DIR): not a Postgres node")
        if not (do_db or do_files):
            parser.error("nothing to restore on this host; see --help")

        what = " and ".join(w for w, on in (("the database", do_db), ("this host's files", do_files)) if on)
        point = args.to.isoformat(sep=" ") if args.to else (args.backup_id or "the newest backup")
        if not confirm(f"This overwrites {what} with {point}.", args.yes):
            return 1
        if do_db:
            print(restore.restore_database(settings, db_id, args.to))
        if do_files:
            print(restore.restore_files(settings, files_id, args.to, args.target, tuple(args.include), host=args.host))
    except (ToolError, SettingsError, OSError) as exc:
        log.error("%s", exc)
        print(f"horilla-restore: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0
