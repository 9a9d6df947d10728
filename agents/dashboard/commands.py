"""`genome dashboard` and `genome users` on the command line.

Kept apart from the Flask app: `genome agents run` builds the same parser, and importing
Flask, matplotlib and the pages there cost an agent a quarter of a second of its start
(bench `startup`). The handlers import the app and the users module when they run."""

from __future__ import annotations

import argparse
from typing import Any

from agents.settings import DEFAULT_DBNAME

# The dashboard's roles, weakest first (docs/security.md#dashboard-logins).
ROLES = ("viewer", "reviewer", "admin")


def _run_dashboard(args: argparse.Namespace) -> int:
    from agents.dashboard import app

    return app._cmd_dashboard(args)


def add_dashboard_cli(subparsers: Any) -> None:
    """Registers `genome dashboard` on the CLI's subparsers."""
    p = subparsers.add_parser("dashboard", help="serve the web dashboard over the database")
    p.add_argument(
        "--url", help="database URL (default: GENOME_DASHBOARD_URL or local as genome_dashboard)"
    )
    p.add_argument("--dbname", default=DEFAULT_DBNAME)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument(
        "--secure-cookies",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send session cookies over HTTPS only (default: on unless serving on loopback)",
    )
    p.add_argument(
        "--trusted-user-header",
        metavar="HEADER",
        help="single sign-on: take the login name from this header, set by a trusted reverse "
        "proxy that authenticated the person (serve only behind that proxy)",
    )
    p.set_defaults(func=_run_dashboard)


def add_users_cli(subparsers: Any) -> None:
    """Registers `genome users` on the CLI's subparsers."""
    p = subparsers.add_parser("users", help="the dashboard's logins: add, list, disable")
    p.add_argument("action", choices=["add", "list", "disable"])
    p.add_argument("username", nargs="?")
    p.add_argument("--organization", help="add: the user's organization (id or slug)")
    p.add_argument("--role", choices=ROLES, default="viewer")
    p.add_argument(
        "--password-stdin", action="store_true", help="add: read the password from stdin"
    )
    p.add_argument(
        "--sso-only",
        action="store_true",
        help="add: no password (logs in through the trusted single-sign-on header only)",
    )
    p.add_argument("--url", help="database URL (default: GENOME_DATABASE_URL or local)")
    p.add_argument("--dbname", default=DEFAULT_DBNAME)

    def run(args: argparse.Namespace) -> int:
        if args.action in ("add", "disable") and not args.username:
            p.error(f"{args.action} needs a username")
        if args.action == "add" and not args.organization:
            p.error("add needs --organization")
        from agents.dashboard import users

        return users._cmd_users(args)

    p.set_defaults(func=run)
