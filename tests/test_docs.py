"""docs/ is the project's own account of its model: code cites it, never outside documents.

Two checks over the tree, no database needed:
- no file in db/, agents/, sim/ or bench/ cites a document that is not in the repository
  (section numbers of the original design such as "seed 10.3", finding ids such as "P1-2",
  EXISTING_APP.md, DESIGN.md);
- every `docs/<page>.md#anchor` cited anywhere in the tree, and every link between docs
  pages, names a page that exists and a heading of it (GitHub's anchor slugs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CODE_DIRS = ("db", "agents", "sim", "bench", "tests")
SKIP_DIRS = {
    ".git",
    ".pg",  # the project cluster's data directory: files come and go as tests run
    ".venv",
    ".venv-lower",
    "out",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
}

OUTSIDE_CITATION = re.compile(
    r"\bseed\s*(?:§|\d|-\d|phase\b|'s\b)"  # the original design's sections: "seed 10.3", "seed §4"
    r"|\bP[012]-\d"  # finding ids: "P1-2"
    r"|EXISTING_APP(?=\.md)|DESIGN\.md"
    r"|\bfault \d",  # the existing app's numbered faults
    re.IGNORECASE,
)
DOC_REFERENCE = re.compile(r"docs/([\w-]+)\.md(?:#([\w-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([\w-]+\.md)?(?:#([\w-]+))?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading anchor of a page; repeated headings get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        match = None if in_code else HEADING.match(line)
        if match:
            slug = github_slug(match.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def text_files(*tops: Path) -> list[Path]:
    """The text files under tops, never entering SKIP_DIRS (the cluster's data directory
    changes while other test workers run, so it is pruned, not listed and filtered)."""
    files = []
    for top in tops:
        for folder, dirs, names in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(names):
                path = Path(folder) / name
                try:
                    path.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
                files.append(path)
    return files


def outside_citations(text: str) -> list[str]:
    return [m.group(0) for m in OUTSIDE_CITATION.finditer(text)]


def broken_references(text: str, page_anchors: dict[str, set[str]], here: str | None) -> list[str]:
    """`docs/<page>.md#anchor` references, and, inside a docs page (`here`), its markdown
    links to sibling pages and own headings, that name no page or no heading."""
    refs = [(m.group(0), m.group(1), m.group(2)) for m in DOC_REFERENCE.finditer(text)]
    if here is not None:
        for m in MARKDOWN_LINK.finditer(text):
            page = m.group(1)[: -len(".md")] if m.group(1) else here
            refs.append((m.group(0), page, m.group(2)))
    broken = []
    for shown, page, anchor in refs:
        if page not in page_anchors or (anchor and anchor not in page_anchors[page]):
            broken.append(shown)
    return broken


def _page_anchors() -> dict[str, set[str]]:
    return {p.stem: anchors(p.read_text(encoding="utf-8")) for p in DOCS.glob("*.md")}


def test_the_checks_catch_what_they_are_for():
    assert outside_citations("-- Cold-start level per brand (seed 10.3).") == ["seed 1"]
    assert outside_citations("HINT = 'P1-2: runs cap attempts'") == ["P1-2"]
    assert outside_citations('"""Seed 13\'s descriptor (EXISTING_APP.md)."""') == [
        "Seed 1",
        "EXISTING_APP",
    ]
    assert outside_citations("p_seed bigint DEFAULT 0; seeded by p_seed; (default 1 MiB)") == []
    pages = {"learning": {"cold-start", "limits"}}
    assert broken_references("see docs/learning.md#cold-start", pages, None) == []
    assert broken_references("see docs/learning.md#warm-start", pages, None) == [
        "docs/learning.md#warm-start"
    ]
    assert broken_references("see docs/nowhere.md", pages, None) == ["docs/nowhere.md"]
    assert broken_references("[a](#limits) [b](learning.md#cold) [c](#x)", pages, "learning") == [
        "](learning.md#cold)",
        "](#x)",
    ]
    assert anchors("# Title\n## P(best) and expected loss\n## V1 vs V2\n## Limits\n## Limits") == {
        "title",
        "pbest-and-expected-loss",
        "v1-vs-v2",
        "limits",
        "limits-1",
    }


def test_code_cites_no_document_outside_the_repository():
    found = []
    for path in text_files(*(ROOT / d for d in CODE_DIRS)):
        if path == Path(__file__).resolve():
            continue  # this file spells out the patterns it looks for
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for hit in outside_citations(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {hit!r} in {line.strip()[:100]}")
    assert not found, "cite docs/<page>.md#anchor or say the reason instead:\n" + "\n".join(found)


def test_every_cited_docs_anchor_exists():
    page_anchors = _page_anchors()
    assert page_anchors, "docs/ has no pages"
    broken = []
    for path in text_files(ROOT):
        if path.resolve() == Path(__file__).resolve():
            continue
        here = path.stem if path.parent == DOCS and path.suffix == ".md" else None
        for shown in broken_references(path.read_text(encoding="utf-8"), page_anchors, here):
            broken.append(f"{path.relative_to(ROOT)}: {shown}")
    assert not broken, "no such docs page or heading:\n" + "\n".join(broken)


def test_the_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if f"docs/{p.name}" not in readme]
    assert not missing, f"README.md does not link {missing}"
