"""Test harness: the project cluster, one migrated template database per session, cloned
per test (pytest-postgresql's noproc factory). A missing server or extension fails the
suite; nothing is skipped. The cluster starts in a session fixture, at the first test that
needs a database, so `pytest --collect-only` touches no server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pytest_postgresql import factories

from agents import cluster
from agents.migrate import migrate
from agents.settings import local_cluster, project_root
from tests.support import TEST_DB

# Paths and port derive from the checkout; computing them starts nothing.
PATHS = local_cluster()
ROOT = project_root()


def _dsn(host: str, port: int | str, user: str, dbname: str, password: str | None = None) -> str:
    return make_conninfo(host=host, port=port, user=user, dbname=dbname, password=password)


def load_schema(host: str, port: int, user: str, dbname: str, password: str | None) -> None:
    """Migrate the session's template database once (no pg_cron schedules for it)."""
    migrate(_dsn(host, port, user, dbname, password), ROOT, jobs=False)


@pytest.fixture(scope="session")
def project_cluster() -> str:
    """The project cluster, started once per session (a no-op when it already runs)."""
    return cluster.up(PATHS, "postgres")


template_database = factories.postgresql_noproc(
    host=str(PATHS.socket_dir),
    port=PATHS.port,
    user=PATHS.superuser,
    dbname=TEST_DB,
    load=[load_schema],
)


@pytest.fixture(scope="session")
def postgresql_noproc(project_cluster: str, template_database):  # type: ignore[no-untyped-def]
    """The migrated template database, once the cluster is up (the factory's own fixture
    connects as soon as it is set up, so it must come after project_cluster)."""
    return template_database


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with a `slow` test first, the rest in their order: pytest-xdist's loadfile
    scheduler hands out files in collection order, and a long file started last would run
    alone at the end while the other workers idle."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
