"""The `genome` command line."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from agents import cluster, runtime
from agents.dashboard import commands as dashboard_commands
from agents.settings import DEFAULT_DBNAME, database_url, local_cluster

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint


def _cmd_db(args: argparse.Namespace) -> int:
    paths = local_cluster()
    if args.action == "up":
        print(cluster.up(paths, args.dbname))
    elif args.action == "down":
        cluster.down(paths)
        print("stopped")
    elif args.action == "status":
        print(cluster.status(paths))
    elif args.action == "url":
        print(database_url(args.dbname))
    elif args.action == "destroy":
        cluster.destroy(paths)
        print("removed")
    return 0


DISTRIBUTION = "creative-genome"


def package_version() -> str:
    # imported here, as in extra_commands: importlib.metadata and its look-ups cost a
    # command's start-up time (docs/operations.md#start-up)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """--version: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        print(f"genome {package_version()}")
        parser.exit()


def _cmd_migrate(args: argparse.Namespace) -> int:
    # imported here, as in _cmd_schema: the other commands (`agents run`) do without the
    # migrator (docs/operations.md#start-up)
    from agents.migrate import MigrationError, migrate, plan, status

    dsn = args.url or database_url(args.dbname)
    try:
        if args.status:
            current = status(dsn)
            print("\n".join(current.lines()))
            # a changed applied file is what a migrate would refuse
            return 1 if current.changed else 0
        if args.dry_run:
            print("\n".join(plan(dsn, jobs=not args.no_jobs)))
            return 0
        migrate(dsn, jobs=not args.no_jobs, log=print)
    except MigrationError as exc:
        print(f"genome migrate: {exc}", file=sys.stderr)
        return 1
    return 0


# Commands other installed packages add (the simulator's `genome demo`, see pyproject.toml).
# They are loaded only when run, so the production commands never import the simulator.
# A built-in command is run without looking them up (reading every installed package's
# entry points is start-up time, docs/operations.md#start-up); one of them with a
# built-in's name was never usable (argparse refuses the clash in build_parser).
COMMAND_GROUP = "genome.commands"
BUILTIN_COMMANDS = frozenset(
    {"db", "migrate", "schema", "providers", "agents", "dashboard", "users"}
)


def extra_commands() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}


def _cmd_schema(args: argparse.Namespace) -> int:
    from agents import schema_snapshot
    from agents.migrate import MigrationError

    dsn = args.url or database_url(args.dbname)
    try:
        sys.stdout.write(schema_snapshot.fresh_dump(dsn))
    except MigrationError as exc:
        print(f"genome schema dump: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_providers(args: argparse.Namespace) -> int:
    # imported here: the check loads the three vendors' SDKs
    from agents.providers.check import check
    from agents.providers.settings import ProviderSettings

    settings = ProviderSettings.from_env()
    settings.require_prices()
    lines = check(settings, args.only or None)
    for line in lines:
        print(line.text(), file=sys.stdout if line.ok else sys.stderr)
    failed = [line for line in lines if not line.ok]
    print(
        f"genome providers check: {len(lines) - len(failed)} of {len(lines)} providers ok",
        file=sys.stderr if failed else sys.stdout,
    )
    return 1 if failed else 0


def build_parser(builtin_only: bool = False) -> argparse.ArgumentParser:
    """The `genome` parser; `builtin_only` leaves out the installed packages' commands."""
    parser = argparse.ArgumentParser(prog="genome", description=__doc__)
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the project-local PostgreSQL cluster")
    db.add_argument("action", choices=["up", "down", "status", "url", "destroy"])
    db.add_argument("--dbname", default=DEFAULT_DBNAME)
    db.set_defaults(func=_cmd_db)

    mig = sub.add_parser("migrate", help="apply db/schema, db/functions and db/jobs")
    mig.add_argument("--url", help="database URL (default: GENOME_DATABASE_URL or local)")
    mig.add_argument("--dbname", default=DEFAULT_DBNAME)
    mig.add_argument("--no-jobs", action="store_true", help="do not touch pg_cron schedules")
    only = mig.add_mutually_exclusive_group()
    only.add_argument(
        "--status",
        action="store_true",
        help="list schema files as applied, pending or changed; change nothing",
    )
    only.add_argument(
        "--dry-run", action="store_true", help="print what migrate would do; change nothing"
    )
    mig.set_defaults(func=_cmd_migrate)

    schema = sub.add_parser(
        "schema", help="print the schema a fresh migrate builds (db/schema.sql is this output)"
    )
    schema.add_argument("action", choices=["dump"])
    schema.add_argument(
        "--url", help="a server to build it on (default: GENOME_DATABASE_URL or local)"
    )
    schema.add_argument("--dbname", default=DEFAULT_DBNAME)
    schema.set_defaults(func=_cmd_schema)

    prov = sub.add_parser(
        "providers",
        help="check the live providers: one minimal real call per vendor with the configured "
        "keys and models (it is billed: a few tokens)",
    )
    prov.add_argument("action", choices=["check"])
    prov.add_argument(
        "--only", nargs="+", choices=["gemini", "anthropic", "openai"], help="check these only"
    )
    prov.set_defaults(func=_cmd_providers)

    runtime.add_cli(sub)
    dashboard_commands.add_dashboard_cli(sub)
    dashboard_commands.add_users_cli(sub)
    for name, ep in ({} if builtin_only else extra_commands()).items():
        # listed for `genome --help`; main() hands the command's arguments to ep's main
        sub.add_parser(name, help=f"{ep.value} (`genome {name} --help`)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    builtin = bool(argv) and argv[0] in BUILTIN_COMMANDS
    extra = extra_commands().get(argv[0]) if argv and not builtin else None
    try:
        if extra is not None:
            return int(extra.load()(argv[1:]))
        args = build_parser(builtin_only=builtin).parse_args(argv)
        return int(args.func(args))
    except cluster.ClusterError as exc:
        print(f"genome: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a bad option value that argparse could not check
        print(f"genome: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
