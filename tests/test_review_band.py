"""The borderline band follows each check's (possibly calibrated) threshold."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from sim import factories as f

CODES = [
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
    "V7",
    "V8",
    "V9",
    "C1",
    "C2",
    "C3",
    "C4",
    "C5",
    "G1",
    "G2",
]


def _config(db: psycopg.Connection, v2_threshold: float) -> str:
    o = f.org(db)
    return db.execute(
        "INSERT INTO genome.quality_scoring_config (organization_id, version, check_weights, "
        "check_thresholds) SELECT %s, 'test', check_weights, "
        "check_thresholds || jsonb_build_object('V2', %s::numeric) "
        "FROM genome.quality_scoring_config WHERE organization_id = %s AND is_active RETURNING id",
        (o, v2_threshold, o),
    ).fetchone()[0]


@pytest.mark.parametrize(
    ("v2_threshold", "v2_score", "verdict"),
    [
        (7.0, 6.0, "borderline"),  # the rubric's default band [5, 7)
        (7.0, 4.0, "reject"),
        (5.5, 6.0, "approve"),  # calibrated: 6 now passes the check outright
        (5.5, 4.0, "borderline"),  # ... and the band moved to [3.5, 5.5)
        (5.5, 3.2, "reject"),
    ],
)
def test_band_moves_with_the_threshold(
    db: psycopg.Connection, v2_threshold, v2_score, verdict
) -> None:
    cfg = _config(db, v2_threshold)
    scores = {c: 9.0 for c in CODES} | {"V2": v2_score}
    got = db.execute(
        "SELECT verdict FROM genome._review_verdict(%s, %s)", (Jsonb(scores), cfg)
    ).fetchone()[0]
    assert got == verdict
