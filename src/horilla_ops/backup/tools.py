"""Running the tools the backups are made of: pgBackRest, restic, PostgreSQL's clients."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from horilla_ops.backup.settings import Settings

log = logging.getLogger("horilla_ops.backup")


class ToolError(RuntimeError):
    """A tool exited with an error; the message carries its last lines of output."""


def run(
    argv: Sequence[str],
    *,
    user: str | None = None,
    env: dict[str, str] | None = None,
    stdout=None,
    check: bool = True,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run a command (as `user` through runuser when given), logging it and its failure."""
    full = ["runuser", "-u", user, "--", *argv] if user else list(argv)
    log.debug("run: %s", " ".join(full))
    proc = subprocess.run(
        full,
        env={**os.environ, **(env or {})},
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=stdout is None,
        check=False,
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
        out = proc.stdout if isinstance(proc.stdout, str) else ""
        tail = "\n".join((err or out).strip().splitlines()[-15:])
        raise ToolError(f"{argv[0]} {' '.join(argv[1:3])} failed (exit {proc.returncode}):\n{tail}")
    return proc


class PgBackRest:
    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def __call__(self, command: str, *options: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(
            ["pgbackrest", f"--stanza={self.s.stanza}", *options, command], user=self.s.pgbackrest_user, check=check
        )

    def info(self) -> list[dict[str, Any]]:
        """The stanza's backups, oldest first (pgbackrest info --output=json)."""
        data = json.loads(self("info", "--output=json").stdout or "[]")
        stanza = next((s for s in data if s.get("name") == self.s.stanza), None)
        if stanza is None:
            return []
        return list(stanza.get("backup", []))


class Restic:
    def __init__(self, settings: Settings) -> None:
        settings.require("restic_repository")
        self.s = settings

    def _options(self) -> list[str]:
        opts = ["--repo", self.s.restic_repository, "--password-file", str(self.s.restic_password_file)]
        if self.s.restic_sftp_command:
            opts += ["--option", f"sftp.command={self.s.restic_sftp_command}"]
        return opts

    def __call__(self, command: str, *args: str, check: bool = True, stdout=None) -> subprocess.CompletedProcess:
        # No cache: the commands run as root from timers; a cache would only grow.
        return run(
            ["restic", *self._options(), "--no-cache", command, *args],
            env={"RESTIC_PROGRESS_FPS": "0.0166"},
            check=check,
            stdout=stdout,
        )

    def json_lines(self, command: str, *args: str) -> list[dict[str, Any]]:
        """Run a command with --json and parse every JSON line of its output."""
        out = self(command, "--json", *args).stdout
        found: list[dict[str, Any]] = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith(("{", "[")):
                parsed = json.loads(line)
                found.extend(parsed if isinstance(parsed, list) else [parsed])
        return found

    def snapshots(self, *filters: str) -> list[dict[str, Any]]:
        return sorted(self.json_lines("snapshots", *filters), key=lambda s: s.get("time", ""))


def psql(settings: Settings, sql: str, *, database: str = "postgres", socket_dir: Path | None = None, port=None) -> str:
    """One query as the superuser through the local socket; the output unaligned, no headers."""
    proc = run(
        [
            str(settings.pg_bin_dir / "psql"),
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(socket_dir or settings.pg_socket_dir),
            "-p",
            str(port or settings.pg_port),
            "-d",
            database,
            "-c",
            sql,
        ],
        user="postgres",
    )
    return proc.stdout.strip()
