"""`genome users add|list|disable`: the dashboard's logins (docs/security.md#dashboard-logins).

Run by an operator against the database as its migrating role (the users table is read and
written by no login role; the dashboard reads a user only through genome.dashboard_user)."""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from typing import Any

import psycopg

from agents.dashboard.auth import hash_password
from agents.dashboard.commands import ROLES
from agents.settings import database_url

MIN_PASSWORD = 10


def _organization(conn: psycopg.Connection[Any], key: str) -> uuid.UUID:
    """The organization named by id or slug; LookupError when there is none."""
    try:
        row = conn.execute("SELECT id FROM organizations WHERE id = %s", (uuid.UUID(key),))
    except ValueError:
        row = conn.execute("SELECT id FROM organizations WHERE slug = %s", (key,))
    found = row.fetchone()
    if found is None:
        raise LookupError(f"no organization {key!r} (give its id or slug)")
    return found[0]


def add_user(
    dsn: str, username: str, organization: str, role: str, password: str | None
) -> uuid.UUID:
    """Creates a user (password None: single sign-on only) and returns its id."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
    hashed = None if password is None else hash_password(password)
    with psycopg.connect(dsn) as conn:
        org = _organization(conn, organization)
        row = conn.execute(
            "INSERT INTO genome.dashboard_users (organization_id, username, password_hash, role)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (org, username, hashed, role),
        ).fetchone()
    assert row is not None
    return row[0]


def list_users(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT u.username, u.role, coalesce(o.slug, o.id::text), u.is_active,"
            " u.password_hash IS NOT NULL, u.created_at FROM genome.dashboard_users u"
            " JOIN organizations o ON o.id = u.organization_id ORDER BY o.slug, u.username"
        ).fetchall()


def disable_user(dsn: str, username: str) -> bool:
    """Disables a user (their session ends at their next request); False when unknown."""
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            "UPDATE genome.dashboard_users SET is_active = false, disabled_at = now()"
            " WHERE username = %s AND is_active",
            (username,),
        )
        return cur.rowcount == 1


def _cmd_users(args: argparse.Namespace) -> int:
    dsn = args.url or database_url(args.dbname)
    try:
        if args.action == "add":
            password = None
            if not args.sso_only:
                if args.password_stdin:
                    password = sys.stdin.readline().rstrip("\n")
                else:
                    password = getpass.getpass(f"password for {args.username}: ")
                    if getpass.getpass("again: ") != password:
                        print("genome users: the passwords differ", file=sys.stderr)
                        return 2
            uid = add_user(dsn, args.username, args.organization, args.role, password)
            print(f"added {args.username} ({args.role}) {uid}")
        elif args.action == "list":
            for name, role, org, active, has_pw, created in list_users(dsn):
                state = "active" if active else "disabled"
                login = "password" if has_pw else "sso-only"
                print(f"{name}\t{role}\t{org}\t{state}\t{login}\t{created:%Y-%m-%d}")
        else:
            if not disable_user(dsn, args.username):
                print(f"genome users: no active user {args.username!r}", file=sys.stderr)
                return 1
            print(f"disabled {args.username}")
    except (
        LookupError,
        ValueError,
        psycopg.errors.UniqueViolation,
        psycopg.errors.CheckViolation,
    ) as exc:
        print(f"genome users: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0
