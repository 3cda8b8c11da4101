"""Settings of the backup commands.

Values come from the environment, else from the settings file the backup role writes
(/etc/horilla-ops/backup.env, KEY=value lines), else from the defaults below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from horilla_ops.envfile import SettingsError, read_env_file

SETTINGS_FILE = Path("/etc/horilla-ops/backup.env")

# Jobs a host can be given (HORILLA_BACKUP_JOBS): which part of the backup it runs.
#   pgbackrest  physical backups into the repository (the backup host: pgBackRest's
#               backup command runs on the repository host and picks the primary)
#   dump        pg_dump of the app database, on the Patroni leader only
#   files       restic backup of this host's files
#   maintenance restic forget --prune (the backup host)
JOBS = ("pgbackrest", "dump", "files", "maintenance")


def _split(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    jobs: tuple[str, ...] = ()
    stanza: str = "horilla"
    # pgBackRest runs as the owner of the data directory / repository.
    pgbackrest_user: str = "postgres"
    # PostgreSQL of this host (Postgres nodes; the backup host's scratch server).
    pg_bin_dir: Path = Path("/usr/lib/postgresql/17/bin")
    pg_data_dir: Path | None = None
    pg_port: int = 5432
    pg_socket_dir: Path = Path("/var/run/postgresql")
    database: str = "horilla"
    patroni_url: str = "http://127.0.0.1:8008"
    # Over https Patroni answers only clients with a certificate of the internal CA:
    # this directory holds the node's (server.crt, server.key) and the CA's (ca.crt).
    patroni_tls_dir: Path = Path("/etc/postgresql/tls")
    patroni_service: str = "patroni"
    # restic: repository URL, password file, ssh command for the sftp backend.
    restic_repository: str = ""
    restic_password_file: Path = Path("/etc/horilla-ops/restic.password")
    restic_sftp_command: str = ""
    files_paths: tuple[str, ...] = ()
    files_excludes: tuple[str, ...] = ()
    # The restic "host" name of the dump snapshots: one name for the whole cluster, so
    # the dumps of every leader form one series with one retention.
    dump_host: str = "horilla-db"
    work_dir: Path = Path("/var/lib/horilla-backup")
    textfile_dir: Path = Path("/var/lib/prometheus/node-exporter")
    log_dir: Path = Path("/var/log/horilla/backup")
    # restic forget policies (--keep-* flags) of the file backups and of the dumps.
    files_keep: tuple[str, ...] = ("--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6")
    dump_keep: tuple[str, ...] = ("--keep-daily", "14", "--keep-weekly", "8")
    # Share of the restic pack files `--verify` reads back in full (restic check --read-data-subset).
    verify_read_data_subset: str = "5%"

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, settings_file: Path | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        path = Path(env.get("HORILLA_BACKUP_SETTINGS", str(settings_file or SETTINGS_FILE)))
        merged = {**read_env_file(path), **env}

        def get(name: str, default: str = "") -> str:
            return merged.get(f"HORILLA_BACKUP_{name}") or default

        jobs = _split(get("JOBS"))
        unknown = [j for j in jobs if j not in JOBS]
        if unknown:
            raise SettingsError(f"HORILLA_BACKUP_JOBS: unknown job(s) {', '.join(unknown)}; known: {', '.join(JOBS)}")
        port = get("PG_PORT", str(cls.pg_port))
        if not port.isdigit():
            raise SettingsError(f"HORILLA_BACKUP_PG_PORT must be a port number, got {port!r}")
        data_dir = get("PG_DATA_DIR")
        patroni_url = get("PATRONI_URL", cls.patroni_url).rstrip("/")
        if not patroni_url.startswith(("http://", "https://")):
            raise SettingsError(f"HORILLA_BACKUP_PATRONI_URL must be an http(s) URL, got {patroni_url!r}")
        return cls(
            jobs=jobs,
            stanza=get("STANZA", cls.stanza),
            pgbackrest_user=get("PGBACKREST_USER", cls.pgbackrest_user),
            pg_bin_dir=Path(get("PG_BIN_DIR", str(cls.pg_bin_dir))),
            pg_data_dir=Path(data_dir) if data_dir else None,
            pg_port=int(port),
            pg_socket_dir=Path(get("PG_SOCKET_DIR", str(cls.pg_socket_dir))),
            database=get("DATABASE", cls.database),
            patroni_url=patroni_url,
            patroni_tls_dir=Path(get("PATRONI_TLS_DIR", str(cls.patroni_tls_dir))),
            patroni_service=get("PATRONI_SERVICE", cls.patroni_service),
            restic_repository=get("RESTIC_REPOSITORY"),
            restic_password_file=Path(get("RESTIC_PASSWORD_FILE", str(cls.restic_password_file))),
            restic_sftp_command=get("RESTIC_SFTP_COMMAND"),
            files_paths=_split(get("FILES_PATHS")),
            files_excludes=_split(get("FILES_EXCLUDES")),
            dump_host=get("DUMP_HOST", cls.dump_host),
            work_dir=Path(get("WORK_DIR", str(cls.work_dir))),
            textfile_dir=Path(get("TEXTFILE_DIR", str(cls.textfile_dir))),
            log_dir=Path(get("LOG_DIR", str(cls.log_dir))),
            files_keep=tuple(get("FILES_KEEP").split()) or cls.files_keep,
            dump_keep=tuple(get("DUMP_KEEP").split()) or cls.dump_keep,
            verify_read_data_subset=get("VERIFY_READ_DATA_SUBSET", cls.verify_read_data_subset),
        )

    def require(self, *names: str) -> None:
        """Fail with the setting's name when a job needs a value that is empty."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            env_names = ", ".join(f"HORILLA_BACKUP_{n.upper()}" for n in missing)
            raise SettingsError(f"{env_names} not set (see {SETTINGS_FILE})")
