"""The plans of a session's statements, nested ones too, for tests that check an index serves
a query (auto_explain logs each plan as a notice)."""

from __future__ import annotations

import psycopg


def capture_plans(conn: psycopg.Connection) -> list[str]:
    """From now on every statement of `conn` (and every statement inside the functions it
    calls) appends its plan to the returned list."""
    plans: list[str] = []
    conn.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    conn.execute("SET auto_explain.log_min_duration = 0")
    conn.execute("SET auto_explain.log_nested_statements = on")
    conn.execute("SET auto_explain.log_level = 'notice'")
    return plans
