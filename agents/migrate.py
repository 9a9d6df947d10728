"""`genome migrate`: run-once schema migrations, idempotent functions, security, pg_cron schedules.

The steps, in this order:
1. schema: db/schema/NNN_*.sql, each applied once, in order, in its own transaction,
   recorded in genome.schema_migrations with a checksum; an applied file that changed is
   an error.
2. functions: db/functions/**/*.sql except db/functions/security/, CREATE OR REPLACE, all
   re-applied every time.
3. security: db/functions/security/*.sql, then genome._apply_tenancy() (roles, grants,
   row-level security over every table and function steps 1 and 2 left). Steps 2 and 3 run
   in one transaction, so a failure in either leaves the previous functions and grants.
4. jobs: db/jobs/*.sql, run in pg_cron's database with genome.target_database set, so the
   schedules name the target database (cron.schedule_in_database upserts by job name), and
   genome.job_schedules set to the target's rows of that table as JSON: the jobs and their
   cron expressions are defined once, in that table.

Where db/ is: GENOME_HOME's db/ when set; else agents/db/ inside the installed package (the
wheel ships db/ there as package data, see pyproject.toml); else the checkout's db/. No
schema file there is an error, not an empty migration. `status` and `plan` (the
`--status` and `--dry-run` of `genome migrate`) read the database and change nothing
(docs/operations.md#migrations).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from agents.settings import project_root

PACKAGE_DIR = Path(__file__).resolve().parent

REQUIRED_EXTENSIONS = ("vector", "plpython3u")
# Serialises concurrent `genome migrate` runs against one database.
MIGRATION_LOCK_KEY = 7_146_210_001
# The security step: these files, then this call, after every other function file.
SECURITY_DIR = Path("db") / "functions" / "security"
SECURITY_SETUP = "SELECT genome._apply_tenancy()"


class MigrationError(RuntimeError):
    """A migration could not be applied; the database was left as it was."""


@dataclass
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    functions: int = 0
    security: dict[str, object] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def migrations_root() -> Path:
    """The folder that holds db/: GENOME_HOME, the installed package, or the checkout."""
    if os.environ.get("GENOME_HOME"):
        return project_root()
    if (PACKAGE_DIR / "db" / "schema").is_dir():
        return PACKAGE_DIR  # an installed wheel: db/ is the package data agents/db/
    return project_root()


def _require_files(root: Path) -> list[Path]:
    files = schema_files(root)
    if not files:
        raise MigrationError(
            f"no migration files in {root / 'db' / 'schema'}: this installation has no db/ "
            "(a package built without its package data?); reinstall the package, or set "
            "GENOME_HOME to a checkout of the project"
        )
    return files


def schema_files(root: Path) -> list[Path]:
    return sorted((root / "db" / "schema").glob("[0-9][0-9][0-9]_*.sql"))


def function_files(root: Path) -> list[Path]:
    """Every function file except the security step's (db/functions/security/)."""
    security = root / SECURITY_DIR
    return sorted(
        p for p in (root / "db" / "functions").rglob("*.sql") if not p.is_relative_to(security)
    )


def security_files(root: Path) -> list[Path]:
    return sorted((root / SECURITY_DIR).glob("*.sql"))


def job_files(root: Path) -> list[Path]:
    return sorted((root / "db" / "jobs").glob("*.sql"))


def _ensure_extensions(conn: psycopg.Connection) -> None:
    available = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)",
            (list(REQUIRED_EXTENSIONS),),
        )
    }
    missing = [e for e in REQUIRED_EXTENSIONS if e not in available]
    if missing:
        raise MigrationError(
            f"the server lacks the extension(s) {', '.join(missing)}; "
            "install them (make setup) or point GENOME_DATABASE_URL at a server that has them"
        )
    for ext in REQUIRED_EXTENSIONS:
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))


def _bootstrap(conn: psycopg.Connection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS genome")
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS genome.schema_migrations (
            version text PRIMARY KEY,
            filename text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    conn.execute(
        "COMMENT ON TABLE genome.schema_migrations IS "
        "'One row per applied db/schema migration, with the checksum of the file as applied.'"
    )


def _apply_schema(conn: psycopg.Connection, root: Path, report: MigrationReport) -> None:
    applied = dict(
        conn.execute("SELECT version, checksum FROM genome.schema_migrations").fetchall()
    )
    for path in _require_files(root):
        version = _version(path)
        text = path.read_text()
        digest = _checksum(text)
        if version in applied:
            if applied[version] != digest:
                raise MigrationError(
                    f"{path.relative_to(root)} was changed after it was applied "
                    "(checksum differs); write a new migration instead"
                )
            continue
        try:
            with conn.transaction():
                conn.execute(text)
                conn.execute(
                    "INSERT INTO genome.schema_migrations (version, filename, checksum) "
                    "VALUES (%s, %s, %s)",
                    (version, path.name, digest),
                )
        except psycopg.Error as exc:
            raise MigrationError(f"{path.relative_to(root)}: {_describe(exc)}") from exc
        report.applied.append(path.name)


def _version(path: Path) -> str:
    return path.name.split("_", 1)[0]


@dataclass
class MigrationStatus:
    """Each db/schema file against genome.schema_migrations (tracked by version, with the
    checksum of the file as applied), and the files every migrate re-applies."""

    root: Path
    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # applied, file differs since
    missing: list[str] = field(default_factory=list)  # applied, no file of that version now
    functions: list[str] = field(default_factory=list)
    security: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"migrations in {self.root / 'db'}"]
        out += [f"applied  {name}" for name in self.applied]
        out += [f"pending  {name}" for name in self.pending]
        out += [
            f"changed  {name}  (differs from the file as applied; migrate refuses it)"
            for name in self.changed
        ]
        out += [f"missing  {name}  (applied; no file of its version now)" for name in self.missing]
        out.append(
            f"functions: {_files(self.functions)} and security: {_files(self.security)}, "
            f"re-applied by every migrate; jobs: {_files(self.jobs)}"
        )
        return out


def _files(items: list[str] | int) -> str:
    n = items if isinstance(items, int) else len(items)
    return f"{n} file" if n == 1 else f"{n} files"


def status(dsn: str, root: Path | None = None) -> MigrationStatus:
    """What migrate would find: applied, pending and changed schema files. Reads only."""
    root = root or migrations_root()
    files = _require_files(root)
    result = MigrationStatus(
        root,
        functions=[p.relative_to(root).as_posix() for p in function_files(root)],
        security=[p.relative_to(root).as_posix() for p in security_files(root)],
        jobs=[p.relative_to(root).as_posix() for p in job_files(root)],
    )
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise MigrationError(f"cannot connect to the database: {exc}".strip()) from exc
    with conn:
        recorded: dict[str, tuple[str, str]] = {}
        if conn.execute("SELECT to_regclass('genome.schema_migrations')").fetchone()[0]:  # type: ignore[index]
            recorded = {
                version: (filename, checksum)
                for version, filename, checksum in conn.execute(
                    "SELECT version, filename, checksum FROM genome.schema_migrations"
                )
            }
    versions = set()
    for path in files:
        version = _version(path)
        versions.add(version)
        if version not in recorded:
            result.pending.append(path.name)
        elif recorded[version][1] != _checksum(path.read_text()):
            result.changed.append(path.name)
        else:
            result.applied.append(path.name)
    result.missing = sorted(name for v, (name, _) in recorded.items() if v not in versions)
    return result


def plan(dsn: str, root: Path | None = None, *, jobs: bool = True) -> list[str]:
    """`genome migrate --dry-run`: what migrate would do, in order; changes nothing.
    Raises MigrationError where migrate would (a changed applied file, no files)."""
    current = status(dsn, root)
    if current.changed:
        raise MigrationError(
            f"db/schema/{current.changed[0]} was changed after it was applied "
            "(checksum differs); write a new migration instead"
        )
    steps = [f"would apply {name}" for name in current.pending]
    if not current.pending:
        steps.append(f"schema: {len(current.applied)} files applied, none pending")
    steps.append(f"would re-apply {_files(current.functions)} of functions")
    steps.append(f"would re-apply {_files(current.security)} of security and run {SECURITY_SETUP}")
    if jobs:
        steps.append(f"would schedule the jobs of {_files(current.jobs)} on pg_cron")
    return steps


def _apply_functions_and_security(
    conn: psycopg.Connection, root: Path, report: MigrationReport
) -> None:
    """Steps 2 and 3 in one transaction: the functions, then the security set-up."""
    with conn.transaction():
        # Bodies may call functions defined in files applied later in this transaction.
        conn.execute("SET LOCAL check_function_bodies = off")
        files = function_files(root)
        _run_files(conn, root, files)
        report.functions = len(files)
        _apply_security(conn, root, report)


def _apply_security(conn: psycopg.Connection, root: Path, report: MigrationReport) -> None:
    """The security step: define db/functions/security/, then run genome._apply_tenancy().

    It runs after every other function file, so the grants and policies it derives from the
    catalog cover everything this migrate created (README: Security and reliability).
    """
    _run_files(conn, root, security_files(root))
    try:
        row = conn.execute(SECURITY_SETUP).fetchone()
    except psycopg.Error as exc:
        raise MigrationError(f"security step ({SECURITY_SETUP}): {_describe(exc)}") from exc
    report.security = dict(row[0]) if row and row[0] else {}


def _run_files(conn: psycopg.Connection, root: Path, files: list[Path]) -> None:
    for path in files:
        try:
            conn.execute(path.read_text())
        except psycopg.Error as exc:
            raise MigrationError(f"{path.relative_to(root)}: {_describe(exc)}") from exc


def _cron_database(conn: psycopg.Connection) -> str | None:
    row = conn.execute(
        "SELECT current_setting('cron.database_name', true), "
        "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron')"
    ).fetchone()
    if not row or not row[1] or not row[0]:
        return None
    return str(row[0])


def _job_schedules(conn: psycopg.Connection) -> str:
    """The target's genome.job_schedules rows (job_name, schedule) as a JSON array."""
    row = conn.execute(
        "SELECT coalesce(json_agg(json_build_object('job_name', j.job_name, "
        "'schedule', j.schedule) ORDER BY j.day_order), '[]')::text "
        "FROM genome.job_schedules AS j"
    ).fetchone()
    return str(row[0])  # type: ignore[index]


def apply_jobs(
    dsn: str, root: Path, report: MigrationReport, files: list[Path] | None = None
) -> None:
    """Schedule db/jobs into the target database through pg_cron's database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        target = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        cron_db = _cron_database(conn)
        schedules = _job_schedules(conn)
    if cron_db is None:
        report.notes.append(
            "pg_cron is not installed or not preloaded on this server: schedules not "
            "installed (call genome.run_job from your own scheduler)"
        )
        return
    params = conninfo_to_dict(dsn)
    params["dbname"] = cron_db
    with psycopg.connect(make_conninfo(**params), autocommit=True) as cron:
        cron.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        try:
            with cron.transaction():
                cron.execute("SELECT set_config('genome.target_database', %s, true)", (target,))
                cron.execute("SELECT set_config('genome.job_schedules', %s, true)", (schedules,))
                for path in files if files is not None else job_files(root):
                    current = path
                    cron.execute(path.read_text())
        except psycopg.Error as exc:
            raise MigrationError(f"{current.relative_to(root)}: {_describe(exc)}") from exc
        report.jobs = [
            r[0]
            for r in cron.execute(
                "SELECT jobname FROM cron.job WHERE database = %s ORDER BY jobname", (target,)
            )
        ]


def migrate(
    dsn: str,
    root: Path | None = None,
    *,
    jobs: bool = True,
    log: Callable[[str], None] | None = None,
) -> MigrationReport:
    """Bring the database at `dsn` up to date. Raises MigrationError, leaving it as it was."""
    root = root or migrations_root()
    _require_files(root)
    report = MigrationReport()
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise MigrationError(f"cannot connect to the database: {exc}".strip()) from exc
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            _ensure_extensions(conn)
            _bootstrap(conn)
            _apply_schema(conn, root, report)
            _apply_functions_and_security(conn, root, report)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    if jobs:
        apply_jobs(dsn, root, report)
    if log:
        for name in report.applied:
            log(f"applied {name}")
        log(f"functions: {report.functions} files re-applied")
        log(f"security: {report.security}")
        for name in report.jobs:
            log(f"scheduled {name}")
        for note in report.notes:
            log(note)
    return report


def _describe(exc: psycopg.Error) -> str:
    diag = exc.diag
    msg = diag.message_primary or str(exc)
    if diag.sqlstate:
        msg = f"[{diag.sqlstate}] {msg}"
    if diag.context:
        msg += f" ({diag.context.strip().splitlines()[0]})"
    return msg
