"""The project-local PostgreSQL cluster: `genome db up | down | status | url`.

Run as root, every server command runs as the `postgres` system user (PostgreSQL refuses
to run as root); run as anyone else, it runs as the caller.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from agents.settings import DEFAULT_DBNAME, PG_BIN, ClusterPaths

SERVER_SETTINGS = {
    "listen_addresses": "''",
    "shared_preload_libraries": "'pg_cron'",
    # pg_cron lives in the postgres database and schedules into the project's databases
    # with cron.schedule_in_database; background workers need no password or TCP.
    "cron.database_name": "'postgres'",
    "cron.use_background_workers": "on",
    # cron.timezone stays GMT: every schedule in db/jobs is written in UTC.
    "cron.timezone": "'GMT'",
    "max_worker_processes": "32",
    "max_connections": "200",
    # A disposable development cluster: durability against an OS crash is traded for
    # speed. Point GENOME_DATABASE_URL at a real server for anything else.
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "shared_buffers": "256MB",
    "log_min_messages": "warning",
}


class ClusterError(RuntimeError):
    """The local cluster cannot be set up or started."""


def _as_server_user() -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"]
    return []


def _run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_as_server_user() + cmd, check=check, capture_output=True, text=True)


def _grant_traverse(path: Path) -> None:
    """As root, let the postgres user reach the project folder (mktemp -d makes it 0700)."""
    if os.geteuid() != 0:
        return
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _ensure_dirs(paths: ClusterPaths) -> None:
    paths.base.mkdir(exist_ok=True)
    paths.socket_dir.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        _grant_traverse(paths.root)
        pg = pwd.getpwnam("postgres")
        for p in (paths.base, paths.socket_dir):
            os.chown(p, pg.pw_uid, pg.pw_gid)


def _initdb(paths: ClusterPaths) -> None:
    if not (PG_BIN / "initdb").exists():
        raise ClusterError(f"PostgreSQL 15 is not installed ({PG_BIN}); run `make setup`")
    res = _run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(paths.data),
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        check=False,
    )
    if res.returncode != 0:
        raise ClusterError(f"initdb failed: {res.stderr.strip()}")
    conf = paths.data / "postgresql.conf"
    lines = [f"{k} = {v}" for k, v in SERVER_SETTINGS.items()]
    lines.append(f"port = {paths.port}")
    lines.append(f"unix_socket_directories = '{paths.socket_dir}'")
    extra = "\n# Creative Genome project-local settings\n" + "\n".join(lines) + "\n"
    # Appended through the server user: the data directory belongs to it.
    subprocess.run(
        [*_as_server_user(), "sh", "-c", f"cat >> '{conf}'"], input=extra, text=True, check=True
    )


def is_running(paths: ClusterPaths) -> bool:
    if not (paths.data / "PG_VERSION").exists():
        return False
    res = _run([str(PG_BIN / "pg_ctl"), "status", "-D", str(paths.data)], check=False)
    return res.returncode == 0


def up(paths: ClusterPaths, dbname: str = DEFAULT_DBNAME) -> str:
    """Create (once) and start the cluster, make sure `dbname` exists; return its URL."""
    _ensure_dirs(paths)
    if not (paths.data / "PG_VERSION").exists():
        _initdb(paths)
    if not is_running(paths):
        res = _run(
            [
                str(PG_BIN / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(paths.data),
                "-l",
                str(paths.log),
            ],
            check=False,
        )
        if res.returncode != 0:
            log_tail = _tail(paths.log)
            raise ClusterError(f"pg_ctl start failed: {res.stderr.strip()}\n{log_tail}")
    _wait_ready(paths)
    ensure_database(paths.url("postgres"), dbname)
    return paths.url(dbname)


def down(paths: ClusterPaths) -> None:
    if is_running(paths):
        _run([str(PG_BIN / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(paths.data)])


def status(paths: ClusterPaths) -> str:
    state = "running" if is_running(paths) else "stopped"
    if not (paths.data / "PG_VERSION").exists():
        state = "not initialised"
    return f"{state}: data {paths.data}, socket {paths.socket_dir}, port {paths.port}"


def destroy(paths: ClusterPaths) -> None:
    """Stop the cluster and delete its files."""
    down(paths)
    shutil.rmtree(paths.base, ignore_errors=True)


def ensure_database(admin_url: str, dbname: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')


def _wait_ready(paths: ClusterPaths, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(paths.url("postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.2)
    raise ClusterError(f"server did not accept connections: {last}")


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""
