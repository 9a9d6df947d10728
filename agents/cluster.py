"""The project-local PostgreSQL cluster: `genome db up | down | status | url`.

Run as root, every server command runs as the `postgres` system user (PostgreSQL refuses
to run as root); run as anyone else, it runs as the caller.

Only the server's system user and root may connect (README.md#the-project-cluster): the
socket directory is private to the server user, local connections are `peer`-checked
against a map that admits those two as the bootstrap superuser and nobody else, and any
TCP connection needs a SCRAM password. `genome db up` rewrites this configuration on every
call, so an older cluster is brought up to date and reloaded.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from agents.settings import DASHBOARD_ROLE, DEFAULT_DBNAME, PG_BIN, ClusterPaths

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
    "password_encryption": "'scram-sha-256'",
    # A disposable development cluster: an OS crash or power cut may corrupt it (fsync
    # off), but a committed transaction survives a server crash (synchronous_commit on):
    # agents are told a result is stored only once it is. README.md#the-project-cluster
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "on",
    "shared_buffers": "256MB",
    "log_min_messages": "warning",
}

# postgresql.conf ends with this line and an include of SETTINGS_FILE; older clusters had
# the settings appended after the same line, which `genome db up` replaces.
SETTINGS_MARKER = "# Creative Genome project-local settings"
SETTINGS_FILE = "genome.conf"
IDENT_MAP = "genome"


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
    """The cluster's folders, owned by the server user; the socket's folder private to it
    (root reaches it anyway), so no other local user can reach the socket."""
    paths.base.mkdir(exist_ok=True)
    paths.socket_dir.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        _grant_traverse(paths.root)
        pg = pwd.getpwnam("postgres")
        for p in (paths.base, paths.socket_dir):
            os.chown(p, pg.pw_uid, pg.pw_gid)
    paths.socket_dir.chmod(0o700)


def _server_os_user() -> str:
    return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def _hba_conf() -> str:
    return (
        f"{SETTINGS_MARKER} (rewritten by `genome db up`)\n"
        "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
        f"local   all       all                 peer map={IDENT_MAP}\n"
        "host    all       all   127.0.0.1/32  scram-sha-256\n"
        "host    all       all   ::1/128       scram-sha-256\n"
    )


def _ident_conf(superuser: str) -> str:
    """Root and the server's system user may log in as the superuser or as the dashboard's
    role (which owns nothing), nobody else as anyone."""
    system_users = dict.fromkeys(["root", _server_os_user()])
    roles = (superuser, DASHBOARD_ROLE)
    lines = [f"{IDENT_MAP}  {user}  {role}" for user in system_users for role in roles]
    return f"{SETTINGS_MARKER} (rewritten by `genome db up`)\n" + "\n".join(lines) + "\n"


def _settings_conf(paths: ClusterPaths) -> str:
    lines = [f"{k} = {v}" for k, v in SERVER_SETTINGS.items()]
    lines.append(f"port = {paths.port}")
    lines.append(f"unix_socket_directories = '{paths.socket_dir}'")
    return f"{SETTINGS_MARKER} (rewritten by `genome db up`)\n" + "\n".join(lines) + "\n"


def _main_conf(current: str) -> str:
    """postgresql.conf as initdb wrote it, ending with the include of SETTINGS_FILE."""
    head = current.split(SETTINGS_MARKER, 1)[0].rstrip("\n")
    return f"{head}\n\n{SETTINGS_MARKER}\ninclude = '{SETTINGS_FILE}'\n"


def _write_server_file(path: Path, text: str) -> bool:
    """Write a file of the data directory (owned by the server user, 0600) when its text
    differs; return whether it did."""
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    path.chmod(0o600)
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(path, pg.pw_uid, pg.pw_gid)
    return True


def _configure(paths: ClusterPaths) -> bool:
    """Write the server settings and the authentication files; return whether any changed
    (a running server then needs a reload)."""
    main_conf = paths.data / "postgresql.conf"
    written = [
        _write_server_file(paths.data / SETTINGS_FILE, _settings_conf(paths)),
        _write_server_file(main_conf, _main_conf(main_conf.read_text())),
        _write_server_file(paths.data / "pg_hba.conf", _hba_conf()),
        _write_server_file(paths.data / "pg_ident.conf", _ident_conf(paths.superuser)),
    ]
    return any(written)


def _initdb(paths: ClusterPaths) -> None:
    if not (PG_BIN / "initdb").exists():
        raise ClusterError(f"PostgreSQL 15 is not installed ({PG_BIN}); run `make setup`")
    res = _run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(paths.data),
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        check=False,
    )
    if res.returncode != 0:
        raise ClusterError(f"initdb failed: {res.stderr.strip()}")


def is_running(paths: ClusterPaths) -> bool:
    if not (paths.data / "PG_VERSION").exists():
        return False
    res = _run([str(PG_BIN / "pg_ctl"), "status", "-D", str(paths.data)], check=False)
    return res.returncode == 0


def up(paths: ClusterPaths, dbname: str = DEFAULT_DBNAME) -> str:
    """Create (once) and start the cluster, make sure `dbname` exists; return its URL.
    A running cluster whose configuration was out of date is reloaded. Several processes
    may call this at once (two test workers, agents starting together): an exclusive lock
    on a file beside the data directory makes them take turns (fcntl, since the lock must
    hold across processes and be released when one dies)."""
    _ensure_dirs(paths)
    with (paths.base / "up.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _up_locked(paths, dbname)


def _up_locked(paths: ClusterPaths, dbname: str) -> str:
    if not (paths.data / "PG_VERSION").exists():
        _initdb(paths)
    changed = _configure(paths)
    if changed and is_running(paths):
        _reload(paths)
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


def _reload(paths: ClusterPaths, timeout: float = 30.0) -> None:
    """Reload the configuration and wait until new sessions see it (a reload is a signal
    the server acts on later)."""
    load_time = "SELECT pg_conf_load_time()"
    with psycopg.connect(paths.url("postgres"), autocommit=True) as conn:
        before = conn.execute(load_time).fetchone()[0]
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(paths.url("postgres"), autocommit=True) as conn:
            if conn.execute(load_time).fetchone()[0] > before:
                return
        time.sleep(0.1)
    raise ClusterError("the server did not reload its configuration")


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""
