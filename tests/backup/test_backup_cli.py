"""Unit tests of horilla_ops.backup: settings, metrics, the catalog, restore choices, CLI input checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from horilla_ops.backup import catalog, cli, jobs, metrics, restore
from horilla_ops.backup.settings import Settings, SettingsError
from horilla_ops.backup.tools import ToolError

PGBACKREST_INFO = [
    {
        "label": "20261124-010000F",
        "type": "full",
        "timestamp": {"start": 1795482000, "stop": 1795482065},
        "info": {"size": 52428800, "delta": 52428800, "repository": {"size": 4000000, "delta": 4000000}},
        "archive": {"start": "000000010000000000000004", "stop": "000000010000000000000004"},
    },
    {
        "label": "20261124-010000F_20261125-010000D",
        "type": "diff",
        "timestamp": {"start": 1795568400, "stop": 1795568410},
        "info": {"size": 52428800, "delta": 1048576},
        "archive": {"start": "000000010000000000000009", "stop": "000000010000000000000009"},
    },
]
RESTIC_SNAPSHOTS = [
    {
        "time": "2026-11-24T02:00:03.123456789Z",
        "hostname": "app1",
        "paths": ["/etc", "/var/lib/horilla/media"],
        "tags": ["files"],
        "id": "a1b2c3d4e5f6a7b8c9d0",
        "short_id": "a1b2c3d4",
    },
    {
        "time": "2026-11-25T02:00:03.5+00:00",
        "hostname": "app1",
        "paths": ["/etc", "/var/lib/horilla/media"],
        "tags": ["files"],
        "id": "ffeeddccbbaa99887766",
        "short_id": "ffeeddcc",
        "summary": {"total_bytes_processed": 2048},
    },
]


def test_settings_from_file_and_environment(tmp_path: Path):
    f = tmp_path / "backup.env"
    f.write_text("# comment\nHORILLA_BACKUP_JOBS=dump,files\nHORILLA_BACKUP_PG_PORT=5433\nHORILLA_BACKUP_STANZA='x'\n")
    s = Settings.load({"HORILLA_BACKUP_STANZA": "from-env"}, settings_file=f)
    assert s.jobs == ("dump", "files")
    assert s.pg_port == 5433
    assert s.stanza == "from-env"


def test_settings_name_the_bad_variable(tmp_path: Path):
    with pytest.raises(SettingsError, match=r"HORILLA_BACKUP_JOBS.*nightly"):
        Settings.load({"HORILLA_BACKUP_JOBS": "files,nightly"}, settings_file=tmp_path / "none")
    with pytest.raises(SettingsError, match="HORILLA_BACKUP_PG_PORT"):
        Settings.load({"HORILLA_BACKUP_PG_PORT": "five"}, settings_file=tmp_path / "none")
    with pytest.raises(SettingsError, match="HORILLA_BACKUP_RESTIC_REPOSITORY"):
        Settings.load({}, settings_file=tmp_path / "none").require("restic_repository")


def test_metrics_keep_the_last_success_after_a_failure(tmp_path: Path):
    metrics.write(tmp_path, metrics.Outcome("pg_dump", True, 12.5, 4096, finished_at=1000.0))
    metrics.write(tmp_path, metrics.Outcome("pg_dump", False, 3.0, finished_at=2000.0))
    text = (tmp_path / "horilla_backup_pg_dump.prom").read_text()
    assert 'horilla_backup_last_result{kind="pg_dump"} 0.0' in text
    assert 'horilla_backup_last_success_timestamp_seconds{kind="pg_dump"} 1000.0' in text
    assert 'horilla_backup_last_run_timestamp_seconds{kind="pg_dump"} 2000.0' in text
    assert not list(tmp_path.glob("*.tmp*")), "the temporary file must be renamed away"


def test_metrics_refuse_an_unknown_kind(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown backup kind"):
        metrics.write(tmp_path, metrics.Outcome("tape", True, 1.0))


def test_a_failed_job_publishes_a_failure_and_raises(tmp_path: Path):
    s = Settings(textfile_dir=tmp_path)

    def broken() -> jobs.JobResult:
        raise ToolError("pgbackrest backup failed")

    with pytest.raises(ToolError):
        jobs.timed(s, "pgbackrest_full", broken)
    assert (
        'horilla_backup_last_result{kind="pgbackrest_full"} 0.0'
        in (tmp_path / "horilla_backup_pgbackrest_full.prom").read_text()
    )


def test_a_job_with_nothing_to_do_publishes_nothing(tmp_path: Path):
    s = Settings(textfile_dir=tmp_path)
    jobs.timed(s, "pg_dump", lambda: jobs.JobResult("dump", False, "replica"))
    assert not list(tmp_path.iterdir())


def test_a_replica_dumps_nothing_and_says_so(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(jobs, "patroni_role", lambda settings: "replica")
    result = jobs.dump(Settings(textfile_dir=tmp_path))
    assert not result.ran
    assert "not the Patroni leader" in result.message
    assert not list(tmp_path.iterdir())


def test_patroni_role_of_an_unreachable_api():
    assert jobs.patroni_role(Settings(patroni_url="http://127.0.0.1:9"), timeout=0.5) == "unknown"


def test_catalog_lists_both_tools_oldest_first():
    entries = catalog.from_pgbackrest(PGBACKREST_INFO) + catalog.from_restic(RESTIC_SNAPSHOTS)
    text = catalog.table(entries)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["ID", "TOOL", "TYPE"]
    assert [line.split()[0] for line in lines[1:]] == [
        "20261124-010000F",
        "a1b2c3d4",
        "20261124-010000F_20261125-010000D",
        "ffeeddcc",
    ]
    assert "50.0 MiB" in text
    assert "2.0 KiB" in text


def test_backup_ids_are_told_apart():
    assert catalog.backup_id_kind("20261124-010000F") == "pgbackrest"
    assert catalog.backup_id_kind("20261124-010000F_20261125-010000D") == "pgbackrest"
    assert catalog.backup_id_kind("ffeeddcc") == "restic"
    with pytest.raises(ValueError, match="horilla-restore --list"):
        catalog.backup_id_kind("latest; rm -rf /")


def test_restore_options():
    t = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
    assert restore.restore_options(None, None) == ["--delta"]
    assert restore.restore_options("20261124-010000F", None) == [
        "--delta",
        "--set=20261124-010000F",
        "--type=immediate",
        "--target-action=promote",
    ]
    assert restore.restore_options(None, t) == [
        "--delta",
        "--type=time",
        "--target=2026-11-24 10:15:00+00:00",
        "--target-action=promote",
    ]


def test_pick_files_snapshot():
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert restore.pick_files_snapshot(RESTIC_SNAPSHOTS, None, None)["short_id"] == "ffeeddcc"
    assert restore.pick_files_snapshot(RESTIC_SNAPSHOTS, None, at)["short_id"] == "a1b2c3d4"
    assert restore.pick_files_snapshot(RESTIC_SNAPSHOTS, "a1b2c3d4", None)["short_id"] == "a1b2c3d4"
    with pytest.raises(ToolError, match="at or before"):
        restore.pick_files_snapshot(RESTIC_SNAPSHOTS, None, datetime(2020, 1, 1, tzinfo=UTC))


def test_point_in_time_without_zone_is_utc():
    assert cli.parse_time("2026-11-24 10:15:00") == datetime(2026, 11, 24, 10, 15, tzinfo=UTC)


def _settings_env(monkeypatch, tmp_path: Path, **values: str) -> None:
    monkeypatch.setenv("HORILLA_BACKUP_SETTINGS", str(tmp_path / "absent.env"))
    monkeypatch.setenv("HORILLA_BACKUP_LOG_DIR", str(tmp_path / "log"))
    for key, value in values.items():
        monkeypatch.setenv(f"HORILLA_BACKUP_{key}", value)


def test_restore_refuses_without_confirmation(monkeypatch, tmp_path, capsys):
    _settings_env(monkeypatch, tmp_path, JOBS="files", RESTIC_REPOSITORY="/nonexistent")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.restore_main(["--files-only"]) == 1
    assert "--yes" in capsys.readouterr().err


def test_restore_scope_and_id_must_match(monkeypatch, tmp_path, capsys):
    _settings_env(monkeypatch, tmp_path, JOBS="files", RESTIC_REPOSITORY="/nonexistent", PG_DATA_DIR="/nonexistent")
    with pytest.raises(SystemExit):
        cli.restore_main(["--files-only", "--backup-id", "20261124-010000F", "--yes"])
    assert "restic snapshot id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.restore_main(["--database-only", "--files-only"])


def test_database_restore_refused_where_there_is_no_database(monkeypatch, tmp_path, capsys):
    _settings_env(monkeypatch, tmp_path, JOBS="files", RESTIC_REPOSITORY="/nonexistent")
    with pytest.raises(SystemExit):
        cli.restore_main(["--database-only", "--yes"])
    assert "not a Postgres node" in capsys.readouterr().err


def test_backup_refuses_a_job_of_another_host(monkeypatch, tmp_path, capsys):
    _settings_env(monkeypatch, tmp_path, JOBS="files", TEXTFILE_DIR=str(tmp_path))
    assert cli.backup_main(["--job", "pgbackrest"]) == 2
    assert "not one of this host's jobs" in capsys.readouterr().err


# The catalog of PGBACKREST_INFO + RESTIC_SNAPSHOTS: a full backup ending 2026-11-24 01:01:05,
# a diff ending 2026-11-25 01:00:10; app1's files at 2026-11-24 02:00 and 2026-11-25 02:00.
CATALOG = catalog.from_pgbackrest(PGBACKREST_INFO) + catalog.from_restic(RESTIC_SNAPSHOTS)
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _check(**kwargs):
    options = {"database": True, "files_hosts": (), "backup_id": None, "target_time": None, "now": NOW}
    return restore.check_target(CATALOG, **(options | kwargs))


def test_check_target_says_what_a_restore_would_use():
    assert _check() == [
        "database: backup 20261124-010000F_20261125-010000D, then every archived WAL (the newest state)"
    ]
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert _check(target_time=at, files_hosts=("app1",)) == [
        "database: backup 20261124-010000F, then WAL up to 2026-11-24 12:00:00+00:00",
        "files of app1: restic snapshot a1b2c3d4 (2026-11-24 02:00:03 UTC)",
    ]
    # A backup id without a time: the files at or before that backup's end.
    assert _check(backup_id="20261124-010000F_20261125-010000D", files_hosts=("app1",))[1:] == [
        "files of app1: restic snapshot a1b2c3d4 (2026-11-24 02:00:03 UTC)"
    ]
    assert _check(database=False, files_hosts=("app1",)) == [
        "files of app1: restic snapshot ffeeddcc (2026-11-25 02:00:03 UTC)"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backup_id": "20261101-010000F"}, "20261101-010000F does not exist .*20261124-010000F"),
        ({"target_time": datetime(2026, 11, 27, tzinfo=UTC)}, "in the future"),
        ({"target_time": datetime(2026, 11, 24, 1, 0, tzinfo=UTC)}, "no pgBackRest backup ended before"),
        (
            {"backup_id": "20261124-010000F_20261125-010000D", "target_time": datetime(2026, 11, 24, 12, tzinfo=UTC)},
            "ended at 2026-11-25 01:00:10 UTC, after the target",
        ),
        ({"files_hosts": ("app2",)}, "no file snapshot of app2 .restic holds 0"),
        (
            {"database": False, "files_hosts": ("app1",), "target_time": datetime(2026, 11, 24, 1, tzinfo=UTC)},
            "no file snapshot of app1 at or before 2026-11-24 01:00:00",
        ),
    ],
)
def test_check_target_names_what_is_missing(kwargs, message):
    with pytest.raises(ToolError, match=message):
        _check(**kwargs)


def test_check_target_of_an_empty_repository():
    with pytest.raises(ToolError, match="holds no backup"):
        restore.check_target([], database=True, files_hosts=(), backup_id=None, target_time=None, now=NOW)


def test_restore_check_changes_nothing_and_fails_on_a_missing_target(monkeypatch, tmp_path, capsys):
    _settings_env(monkeypatch, tmp_path, JOBS="pgbackrest", RESTIC_REPOSITORY="/nonexistent")
    monkeypatch.setattr(cli, "list_backups", lambda settings: CATALOG)
    monkeypatch.setattr(restore, "restore_database", lambda *a, **k: pytest.fail("--check must not restore"))
    assert cli.restore_main(["--check", "--to", "2026-11-24 12:00:00", "--files-host", "app1"]) == 0
    assert "files of app1: restic snapshot a1b2c3d4" in capsys.readouterr().out
    assert cli.restore_main(["--check", "--backup-id", "20261101-010000F"]) == 1
    assert "cannot restore: pgBackRest backup 20261101-010000F does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.restore_main(["--check", "--backup-id", "ffeeddcc"])
