"""Throwaway PostgreSQL, Redis and Redis Sentinel servers for the unit tests.

Real Debian binaries (lab/host-packages.txt: postgresql, redis-server), each on a free
port on 127.0.0.1 in a temporary directory, stopped at the end of the session. As root,
PostgreSQL runs as the `postgres` system user (initdb refuses root).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")


class MissingServer(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing answers on 127.0.0.1:{port} after {timeout:.0f} s")


def ensure_binaries() -> None:
    """Install the host packages the way `python -m lab prepare` does, if they are missing."""
    if shutil.which("redis-server") and list(PG_ROOT.glob("*/bin/postgres")):
        return
    from lab import host

    try:
        host.ensure_packages()
    except host.HostError as exc:
        raise MissingServer(f"{exc}: the horilla_ops unit tests need postgresql and redis-server") from exc


def _pg_bin() -> Path:
    found = sorted(PG_ROOT.glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise MissingServer("no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)")
    return found[-1].parent


@dataclass
class Postgres:
    """A PostgreSQL cluster with the database and role `horilla` (password auth over TCP)."""

    password: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="horilla-ops-pg-")))
    process: subprocess.Popen | None = None

    @property
    def user(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgres://horilla:{self.password}@127.0.0.1:{self.port}/horilla"

    def _run(self, *argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True, user=self.user)

    def init(self) -> Postgres:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        bin_dir = _pg_bin()
        self._run(
            str(bin_dir / "initdb"),
            "-D",
            str(self.workdir / "data"),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        )
        self.start()
        self.psql(f"CREATE ROLE horilla LOGIN PASSWORD '{self.password}'")
        self.psql("CREATE DATABASE horilla OWNER horilla")
        return self

    def psql(self, sql: str, database: str = "postgres") -> str:
        return subprocess.run(
            [
                *(str(_pg_bin() / "psql"), "-h", str(self.workdir), "-p", str(self.port)),
                *("-U", "postgres", "-d", database, "-Atqc", sql),
            ],
            check=True,
            capture_output=True,
            text=True,
            user=self.user,
        ).stdout.strip()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(_pg_bin() / "postgres"),
                "-D",
                str(self.workdir / "data"),
                "-p",
                str(self.port),
                "-k",
                str(self.workdir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "postgres.log").open("ab"),
            user=self.user,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(_pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
            )
            if probe.returncode == 0:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: see {self.workdir / 'postgres.log'}")
            time.sleep(0.1)
        raise TimeoutError("postgres did not accept connections within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            self.process.wait(timeout=30)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class RedisWithSentinel:
    """A Redis primary with a password and one Sentinel that monitors it as `horilla`."""

    password: str = field(default_factory=lambda: secrets.token_hex(16))
    master_name: str = "horilla"
    port: int = field(default_factory=free_port)
    sentinel_port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="horilla-ops-redis-")))
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> RedisWithSentinel:
        redis = shutil.which("redis-server")
        if not redis:
            raise MissingServer("redis-server is not installed (apt-get install redis-server)")
        log = (self.workdir / "redis.log").open("ab")
        self.processes.append(
            subprocess.Popen(
                [
                    *(redis, "--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--requirepass", self.password, "--masterauth", self.password),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
                ],
                stdout=log,
                stderr=log,
            )
        )
        wait_for_port(self.port)
        conf = self.workdir / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {self.master_name} 127.0.0.1 {self.port} 1\n"
            f"sentinel auth-pass {self.master_name} {self.password}\n"
        )
        self.processes.append(subprocess.Popen([redis, str(conf), "--sentinel"], stdout=log, stderr=log))
        wait_for_port(self.sentinel_port)
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        self.processes.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)


SRC = Path(__file__).resolve().parents[2] / "src"


def subprocess_env(project: Path, ops_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORILLA_OPS_")}
    env.update(
        ops_env,
        PYTHONPATH=os.pathsep.join([str(SRC), str(project)]),
        DJANGO_SETTINGS_MODULE="horilla_ops.settings",
        **extra,
    )
    return env
