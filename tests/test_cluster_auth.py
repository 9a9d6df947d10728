"""The project cluster's authentication and durability (README.md#the-project-cluster): no
other local user connects, TCP needs a password, a commit survives a server crash, and
`genome db up` brings an older cluster's configuration up to date, idempotently."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agents import cluster
from agents.settings import PG_BIN, ClusterPaths, local_cluster

PATHS = local_cluster()


@pytest.fixture
def intruder() -> Iterator[str]:
    """A throwaway local user with no business in the cluster."""
    name = f"gi{uuid.uuid4().hex[:10]}"
    subprocess.run(["useradd", "--no-create-home", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=True)


def _psql_as(os_user: str, role: str, *conn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", os_user, "--", str(PG_BIN / "psql"), "-w", "-Atc", "SELECT 1", *conn],
        capture_output=True,
        text=True,
        env={**os.environ, "PGUSER": role, "PGDATABASE": "postgres", "PGCONNECT_TIMEOUT": "5"},
        cwd="/",
    )


def test_another_local_user_cannot_connect_through_the_socket(intruder: str) -> None:
    socket = ["-h", str(PATHS.socket_dir), "-p", str(PATHS.port)]
    for role in ("postgres", "genome_owner", intruder):
        res = _psql_as(intruder, role, *socket)
        assert res.returncode != 0, (role, res.stdout)
        assert "1" not in res.stdout.split()
    # The same command as the server's system user succeeds, and root connects as well.
    assert _psql_as("postgres", "postgres", *socket).stdout.split() == ["1"]
    with psycopg.connect(PATHS.url("postgres")) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"


def test_peer_map_admits_only_root_and_the_server_user_as_the_superuser() -> None:
    """Even with the socket folder reachable, peer authentication maps no other system user
    and no other role."""
    with psycopg.connect(PATHS.url("postgres")) as conn:
        rules = conn.execute(
            "SELECT type, auth_method, options, error FROM pg_hba_file_rules ORDER BY line_number"
        ).fetchall()
        mappings = conn.execute(
            "SELECT map_name, sys_name, pg_username, error FROM pg_ident_file_mappings"
        ).fetchall()
    assert rules == [
        ("local", "peer", ["map=genome"], None),
        ("host", "scram-sha-256", None, None),
        ("host", "scram-sha-256", None, None),
    ]
    assert sorted(mappings) == [
        ("genome", "postgres", "genome_dashboard", None),
        ("genome", "postgres", "postgres", None),
        ("genome", "root", "genome_dashboard", None),
        ("genome", "root", "postgres", None),
    ]


def test_tcp_without_a_password_is_refused() -> None:
    for host in ("127.0.0.1", "localhost"):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(
                host=host, port=PATHS.port, user="postgres", dbname="postgres", connect_timeout=5
            )


def test_commits_are_synchronous() -> None:
    with psycopg.connect(PATHS.url("postgres")) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('synchronous_commit', 'fsync', 'password_encryption')"
            ).fetchall()
        )
    assert settings == {
        "synchronous_commit": "on",
        "fsync": "off",
        "password_encryption": "scram-sha-256",
    }


OLD_HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"


def test_db_up_upgrades_an_older_cluster_idempotently() -> None:
    """A cluster made before this configuration (trust, settings appended to
    postgresql.conf) is rewritten and reloaded by the next `genome db up`; a second call
    changes nothing. (Its own folder, not pytest's tmp_path: other pytest sessions of
    the same user prune those.)"""
    paths = ClusterPaths(Path(tempfile.mkdtemp(prefix="genome-auth-", dir="/tmp")))
    try:
        cluster.up(paths, "postgres")
        main_conf = paths.data / "postgresql.conf"
        head = main_conf.read_text().split(cluster.SETTINGS_MARKER)[0]
        settings = (paths.data / cluster.SETTINGS_FILE).read_text().splitlines()[1:]
        old_settings = [
            "synchronous_commit = off" if line.startswith("synchronous_commit") else line
            for line in settings
        ]
        main_conf.write_text("\n".join([head, cluster.SETTINGS_MARKER, *old_settings, ""]))
        (paths.data / cluster.SETTINGS_FILE).unlink()
        (paths.data / "pg_hba.conf").write_text(OLD_HBA)
        paths.socket_dir.chmod(0o755)
        cluster._reload(paths)
        with psycopg.connect(paths.url("postgres")) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"

        cluster.up(paths, "postgres")

        with psycopg.connect(paths.url("postgres")) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
            methods = conn.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules").fetchall()
        assert sorted(m[0] for m in methods) == ["peer", "scram-sha-256"]
        assert paths.socket_dir.stat().st_mode & 0o777 == 0o700
        active = [line for line in main_conf.read_text().splitlines() if line[:1].isalpha()]
        assert not [line for line in active if line.startswith("synchronous_commit")]
        assert active[-1] == f"include = '{cluster.SETTINGS_FILE}'"
        assert cluster._configure(paths) is False
    finally:
        cluster.destroy(paths)
        shutil.rmtree(paths.root, ignore_errors=True)
