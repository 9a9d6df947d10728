"""The error catalogue, docs/errors.md, checked against the SQL that raises the codes.

docs/errors.md is the one place where each SQLSTATE of class GN is defined: its condition,
the message stems that identify it, the shared check that raises it (if any) and what it
means for the caller. Its "raised by" column is generated from db/functions by this module:

    python -m tests.error_catalogue          # rewrite the "raised by" column
    python -m tests.error_catalogue --check  # exit 1 when it is out of date

tests/test_error_catalogue.py uses the same scan to fail on an uncatalogued or unused code,
on a message raised under a code whose stems do not describe it, and on a shared check
re-implemented inline.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "db" / "functions"
CATALOGUE = ROOT / "docs" / "errors.md"

_FUNCTION = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+genome\.(\w+)", re.IGNORECASE)
_RAISE = re.compile(r"RAISE\s+EXCEPTION\b", re.IGNORECASE)
_ERRCODE = re.compile(r"ERRCODE\s*=\s*'([^']*)'", re.IGNORECASE)
_PLPY = re.compile(r"plpy\.error\((.*?)sqlstate\s*=\s*\"([^\"]*)\"", re.DOTALL)
_SQL_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_PY_LITERAL = re.compile(r"\"([^\"]*)\"")
_CALL = re.compile(r"genome\.(_\w+)\s*\(")
_COMMENT_CODE = re.compile(r"\bGN\d{3}\b")
_ROW = re.compile(r"^\|\s*(GN\d{3})\s*\|")
# A message may start with the raising function's name ("genome.attribute: ..."): not part of the stem.
_OWNER_PREFIX = re.compile(r"^genome\.\w+:\s*")


@dataclass(frozen=True)
class Raise:
    """One RAISE EXCEPTION (or plpy.error with a sqlstate) in db/functions."""

    code: str
    message: str
    function: str
    path: str
    statement: str = ""


@dataclass
class Entry:
    """One row of docs/errors.md."""

    code: str
    condition: str
    stems: list[str]
    shared_check: str | None
    line: int
    cells: list[str] = field(default_factory=list)


def _functions(text: str) -> list[tuple[str, str]]:
    """(name, source) of each genome function defined in one file, in file order."""
    starts = list(_FUNCTION.finditer(text))
    return [
        (m.group(1), text[m.start() : starts[i + 1].start() if i + 1 < len(starts) else len(text)])
        for i, m in enumerate(starts)
    ]


def _sql_message(statement: str) -> str:
    literals = [lit.replace("''", "'") for lit in _SQL_LITERAL.findall(statement)]
    # RAISE EXCEPTION '%', format('...') carries its text in format's first literal.
    message = literals[1] if literals and literals[0] == "%" and len(literals) > 1 else literals[0]
    return _OWNER_PREFIX.sub("", message)


def scan(root: Path = FUNCTIONS) -> tuple[list[Raise], dict[str, set[str]], dict[str, str]]:
    """Every coded raise, the genome._* helpers each function calls, and each function's COMMENT text."""
    raises: list[Raise] = []
    calls: dict[str, set[str]] = {}
    comments: dict[str, str] = {}
    for path in sorted(root.rglob("*.sql")):
        rel = str(path.relative_to(ROOT))
        text = path.read_text()
        for name, source in _functions(text):
            body, _, comment = source.partition("COMMENT ON FUNCTION")
            comments[name] = comments.get(name, "") + comment
            calls.setdefault(name, set()).update(c for c in _CALL.findall(body) if c != name)
            for m in _RAISE.finditer(body):
                code = _ERRCODE.search(body, m.end())
                statement = body[m.end() : code.start()] if code else body[m.end() :]
                if code is None or _RAISE.search(statement) or len(statement) > 1200:
                    raise ValueError(f"{rel}: a RAISE EXCEPTION in genome.{name} has no ERRCODE")
                raises.append(Raise(code.group(1), _sql_message(statement), name, rel, statement))
            for m in _PLPY.finditer(body):
                message = _PY_LITERAL.search(m.group(1))
                raises.append(Raise(m.group(2), message.group(1) if message else "", name, rel))
    return raises, calls, comments


def catalogue(path: Path = CATALOGUE) -> dict[str, Entry]:
    """The rows of docs/errors.md: | code | condition | message stems | shared check | meaning | raised by |."""
    entries: dict[str, Entry] = {}
    for number, line in enumerate(path.read_text().splitlines()):
        if not _ROW.match(line):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        code, condition, stems, check = cells[0], cells[1], cells[2], cells[3]
        if code in entries:
            raise ValueError(f"docs/errors.md lists {code} twice")
        entries[code] = Entry(
            code=code,
            condition=condition,
            stems=re.findall(r"`([^`]+)`", stems),
            shared_check=(re.findall(r"`genome\.(\w+)`", check) or [None])[0],
            line=number,
            cells=cells,
        )
    return entries


def stem_codes(message: str, entries: dict[str, Entry]) -> set[str]:
    """The codes whose catalogued stems begin this message."""
    return {e.code for e in entries.values() if any(message.startswith(s) for s in e.stems)}


def raised_by(
    raises: list[Raise], calls: dict[str, set[str]], entries: dict[str, Entry]
) -> dict[str, str]:
    """The generated "raised by" cell of each code: the functions that raise it, then those that
    call its shared check (through other shared checks too, e.g. _check_brand_product)."""
    checks = {e.shared_check for e in entries.values() if e.shared_check}
    cells: dict[str, str] = {}
    for code in entries:
        direct = sorted({r.function for r in raises if r.code == code})
        through: set[str] = set()
        frontier = {f for f in direct if f in checks}
        while frontier:
            callers = (
                {f for f, called in calls.items() if called & frontier} - through - set(direct)
            )
            through |= callers
            frontier = callers & checks
        cell = ", ".join(f"`{f}`" for f in direct)
        if through:
            cell += "; through it: " + ", ".join(f"`{f}`" for f in sorted(through))
        cells[code] = cell
    return cells


def render(path: Path = CATALOGUE) -> str:
    """docs/errors.md with its "raised by" column regenerated."""
    raises, calls, _ = scan()
    entries = catalogue(path)
    cells = raised_by(raises, calls, entries)
    lines = path.read_text().splitlines()
    for entry in entries.values():
        lines[entry.line] = "| " + " | ".join([*entry.cells[:5], cells[entry.code]]) + " |"
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if text != CATALOGUE.read_text():
            print(
                "docs/errors.md is out of date: run python -m tests.error_catalogue",
                file=sys.stderr,
            )
            return 1
        return 0
    CATALOGUE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
