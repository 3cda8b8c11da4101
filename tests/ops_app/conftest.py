"""A throwaway Django project for the ops app (tests/ops_app/project, shaped like upstream
Horilla) in a temporary directory, with a real PostgreSQL and a Redis behind a real Sentinel."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops_app.services import MissingServer, Postgres, RedisWithSentinel, ensure_binaries

PROJECT = Path(__file__).resolve().parent / "project"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        ensure_binaries()
    except MissingServer as exc:
        pytest.fail(str(exc))
    pg = Postgres().init()
    yield pg
    pg.destroy()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisWithSentinel]:
    redis = RedisWithSentinel().start()
    yield redis
    redis.stop()


def write_env(project: Path, postgres: Postgres) -> None:
    """Upstream's .env as the role templates it (upstream's variable names only)."""
    (project / ".env").write_text(
        "\n".join(
            [
                "DEBUG=False",
                "SECRET_KEY=unit-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
                "ALLOWED_HOSTS=testserver,localhost",
                "CSRF_TRUSTED_ORIGINS=https://testserver",
                "TIME_ZONE=Etc/UTC",
                f"DATABASE_URL={postgres.url}",
                "",
            ]
        )
    )


@pytest.fixture(scope="session")
def ops_env(tmp_path_factory, redis_sentinel) -> dict[str, str]:
    """The ops app's variables, as the role's /etc/horilla/ops.env sets them for every process."""
    workdir = tmp_path_factory.mktemp("ops")
    for sub in ("log", "media", "static"):
        (workdir / sub).mkdir()
    return {
        "HORILLA_OPS_LOG_DIR": str(workdir / "log"),
        "HORILLA_OPS_INTERNAL_NETWORKS": "127.0.0.0/8,10.0.0.0/8",
        "HORILLA_OPS_REDIS_SENTINELS": f"127.0.0.1:{redis_sentinel.sentinel_port}",
        "HORILLA_OPS_REDIS_MASTER": redis_sentinel.master_name,
        "HORILLA_OPS_REDIS_PASSWORD": redis_sentinel.password,
        "HORILLA_OPS_MEDIA_ROOT": str(workdir / "media"),
        "HORILLA_OPS_STATIC_ROOT": str(workdir / "static"),
        "HORILLA_OPS_RELEASE": "unit-test",
        "HORILLA_OPS_APP": "horilla@unit-test",
    }


@pytest.fixture(scope="session")
def django_project(tmp_path_factory, postgres) -> Path:
    project = tmp_path_factory.mktemp("ops-app") / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".env", "media", "staticfiles", "__pycache__"))
    write_env(project, postgres)
    return project


@pytest.fixture(scope="session")
def django_app(django_project: Path, ops_env: dict[str, str]):
    """Django configured in this process with DJANGO_SETTINGS_MODULE=horilla_ops.settings.

    Like upstream, the project commits no migration files: they are generated first.
    """
    import django
    from django.core.management import call_command

    sys.path.insert(0, str(django_project))
    os.environ.update(ops_env, DJANGO_SETTINGS_MODULE="horilla_ops.settings", HORILLA_OPS_NODE_NAME="unit-node")
    django.setup()
    call_command("makemigrations", verbosity=0)
    call_command("migrate", verbosity=0)
    return django_project


@pytest.fixture
def client(django_app):
    from django.test import Client

    return Client()
