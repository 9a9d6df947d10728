"""db/schema.sql is what a fresh `genome migrate` builds (regenerate: genome schema dump)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from agents.schema_snapshot import REGENERATE, SNAPSHOT, migrated_dump


def test_snapshot_matches_a_fresh_migrate(empty_db: str, project_root_path: Path) -> None:
    expected = (project_root_path / SNAPSHOT).read_text()
    actual = migrated_dump(empty_db, project_root_path)
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(SNAPSHOT),
                tofile="fresh genome migrate",
            )
        )
        pytest.fail(f"{SNAPSHOT} differs from the migrations; regenerate it: {REGENERATE}\n{diff}")
