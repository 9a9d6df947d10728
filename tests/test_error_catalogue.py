"""docs/errors.md against db/functions: one condition, one code, raised through its shared check."""

import re
from collections import defaultdict

import pytest

from tests.error_catalogue import CATALOGUE, catalogue, render, scan, stem_codes

RAISES, CALLS, COMMENTS = scan()
ENTRIES = catalogue()


def test_the_scan_sees_the_raises():
    # Guards the tests below against a scan that silently finds nothing.
    assert len(RAISES) > 100
    assert {"_require_brand", "_require_now", "plan_ads", "claim_jobs"} <= {
        r.function for r in RAISES
    }


def test_every_raised_code_is_catalogued():
    missing = sorted(
        {f"{r.code} ({r.path}: genome.{r.function})" for r in RAISES if r.code not in ENTRIES}
    )
    assert not missing, f"codes raised but not in docs/errors.md: {missing}"


def test_every_catalogued_code_is_raised():
    unused = sorted(set(ENTRIES) - {r.code for r in RAISES})
    assert not unused, f"codes in docs/errors.md that nothing raises: {unused}"


def test_each_message_matches_the_stems_of_its_own_code_only():
    wrong = [
        f"{r.path}: genome.{r.function} raises {r.message!r} as {r.code}, its stems match {sorted(codes) or 'no code'}"
        for r in RAISES
        for codes in [stem_codes(r.message, ENTRIES)]
        if codes != {r.code}
    ]
    assert not wrong, "\n".join(wrong)


def test_no_stem_belongs_to_two_codes():
    owners = defaultdict(set)
    for entry in ENTRIES.values():
        assert entry.stems, f"{entry.code} lists no message stem"
        for stem in entry.stems:
            owners[stem].add(entry.code)
    # A stem that begins another code's stem would let one message match both codes.
    overlapping = sorted(
        (a, b)
        for a in owners
        for b in owners
        if a != b and b.startswith(a) and owners[a] != owners[b]
    )
    assert not overlapping and all(len(codes) == 1 for codes in owners.values()), overlapping


def test_a_shared_check_is_the_only_raiser_of_its_code():
    inline = [
        f"{r.path}: genome.{r.function} raises {r.code} itself instead of calling genome.{ENTRIES[r.code].shared_check}"
        for r in RAISES
        if r.code in ENTRIES and ENTRIES[r.code].shared_check not in (None, r.function)
    ]
    assert not inline, "\n".join(inline)


@pytest.mark.parametrize("code", [c for c, e in ENTRIES.items() if e.shared_check])
def test_a_shared_check_exists_and_is_called(code):
    check = ENTRIES[code].shared_check
    assert check in CALLS, f"{code}: shared check genome.{check} is not defined in db/functions"
    assert any(check in called for called in CALLS.values()), (
        f"genome.{check} is called by no function"
    )


def test_a_null_id_is_a_null_argument_not_an_unknown_id():
    # NULL ids go through genome._require_not_null (GN005) before the lookup, so no
    # "unknown ..." message formats a NULL id under the id's own code.
    null_as_unknown = [
        f"{r.path}: genome.{r.function} ({r.code})"
        for r in RAISES
        if r.message.startswith("unknown")
        and re.search(r"coalesce\(\s*p_\w*_id::text", r.statement)
    ]
    assert not null_as_unknown, null_as_unknown


def test_comments_name_only_catalogued_codes():
    stale = sorted(
        f"genome.{name}: {code}"
        for name, comment in COMMENTS.items()
        for code in re.findall(r"\bGN\d{3}\b", comment)
        if code not in ENTRIES
    )
    assert not stale, f"COMMENT ON texts name codes that are not catalogued: {stale}"


def test_raised_by_column_is_current():
    assert CATALOGUE.read_text() == render(), (
        "docs/errors.md is out of date: run python -m tests.error_catalogue"
    )
