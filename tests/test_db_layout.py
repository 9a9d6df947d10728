"""The layout of db/: each file's name says what it holds, once; no folder is named for its
sort order (the security step runs by name, agents/migrate.py); the schema stays a baseline
by area that a reader can take in."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path


def test_no_two_files_under_db_share_a_name(project_root_path: Path) -> None:
    db = project_root_path / "db"
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in db.rglob("*"):
        if path.is_file():
            by_name[path.stem].append(str(path.relative_to(db)))
    shared = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert shared == {}


def test_no_folder_is_named_for_its_sort_order(project_root_path: Path) -> None:
    folders = [p for p in (project_root_path / "db").rglob("*") if p.is_dir()]
    assert folders, "db/ has its area folders"
    ordered = [str(p) for p in folders if re.match(r"^(z+|a+|\d+)_", p.name)]
    assert ordered == []


def test_schema_baseline_stays_small(project_root_path: Path) -> None:
    # The baseline is one file per area (001-007); each later change is one more file,
    # numbered in order without gaps (README, layout).
    migrations = sorted((project_root_path / "db" / "schema").glob("*.sql"))
    numbers = [int(p.name.split("_", 1)[0]) for p in migrations]
    assert numbers == list(range(1, len(migrations) + 1))
    assert len([n for n in numbers if n <= 7]) == 7
