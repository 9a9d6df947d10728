"""Test harness: the project cluster, one migrated template database per session, cloned
per test (pytest-postgresql's noproc factory). A missing server or extension fails the
suite; nothing is skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pytest_postgresql import factories

from agents import cluster
from agents.migrate import migrate
from agents.settings import local_cluster, project_root

PATHS = local_cluster()
cluster.up(PATHS, "postgres")
ROOT = project_root()
# Separate names let several test sessions share the project cluster at once.
TEST_DB = os.environ.get("GENOME_TEST_DB", "genome_test")


def _dsn(host: str, port: int | str, user: str, dbname: str, password: str | None = None) -> str:
    return make_conninfo(host=host, port=port, user=user, dbname=dbname, password=password)


def load_schema(host: str, port: int, user: str, dbname: str, password: str | None) -> None:
    """Migrate the session's template database once (no pg_cron schedules for it)."""
    migrate(_dsn(host, port, user, dbname, password), ROOT, jobs=False)


postgresql_noproc = factories.postgresql_noproc(
    host=str(PATHS.socket_dir),
    port=PATHS.port,
    user=PATHS.superuser,
    dbname=TEST_DB,
    load=[load_schema],
)
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture
def db(postgresql: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A connection in autocommit mode to a fresh clone of the migrated template."""
    postgresql.autocommit = True
    yield postgresql


@pytest.fixture
def db_dsn(postgresql: psycopg.Connection) -> str:
    info = postgresql.info
    return _dsn(info.host, info.port, info.user, info.dbname)


@pytest.fixture
def empty_db(postgresql_noproc) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """An empty database (no schema) for migration tests; dropped afterwards."""
    name = f"{TEST_DB}_empty"
    admin = _dsn(postgresql_noproc.host, postgresql_noproc.port, postgresql_noproc.user, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _dsn(postgresql_noproc.host, postgresql_noproc.port, postgresql_noproc.user, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def project_root_path() -> Path:
    return ROOT
