"""The simulated marketer's exemplar curation: types from its own reviews, the daily cap
and the library's limits."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from sim.marketer import REVIEWER, Marketer
from tests.test_exemplars import DIM, Brand, unit

NOW = dt.datetime(2026, 3, 2, 18, tzinfo=dt.UTC)
CLEAR = {"V1": 9.0, "V2": 9.0}
LOW_V2 = {"V1": 8.0, "V2": 6.0}
MIDDLING = {"V1": 8.0, "V2": 7.5}
NEAR_BAR = {"V1": 7.2, "V2": 8.0}


def _judged(
    db: psycopg.Connection, b: Brand, rng: np.random.Generator, scores: dict, human: str
) -> object:
    """An AI-approved, embedded ad that the marketer judged; each a minute after the last."""
    ad = b.ad(unit(rng.normal(size=DIM)), scores=scores)
    n = db.execute("SELECT count(*) FROM genome.ad_review_overrides").fetchone()[0]
    db.execute(
        "SELECT genome.record_override(%s, %s, 'sim', %s, %s, %s)",
        (ad, human, Jsonb({}), REVIEWER, NOW - dt.timedelta(hours=1) + dt.timedelta(minutes=n)),
    )
    return ad


def _library(db: psycopg.Connection, brand: object) -> dict[object, str]:
    return dict(
        db.execute(
            "SELECT generated_ad_id, exemplar_type FROM genome.ad_quality_exemplars "
            "WHERE brand_id = %s AND is_active",
            (brand,),
        ).fetchall()
    )


def test_curation_types_cap_and_limits(db: psycopg.Connection) -> None:
    register_vector(db)
    rng = np.random.default_rng(8)
    b = Brand(db)
    rejected = _judged(db, b, rng, CLEAR, "rejected")
    clear = _judged(db, b, rng, CLEAR, "approved")
    edge = _judged(db, b, rng, LOW_V2, "approved")
    _judged(db, b, rng, MIDDLING, "approved")  # neither clear nor an edge case: not added
    other = _judged(db, b, rng, CLEAR, "approved")
    m = Marketer(seed=1, exemplars_per_day=3)

    assert m.curate_exemplars(db, NOW) == 3  # the daily cap, one of each type first
    lib = _library(db, b.id)
    # The newest judgement of each type first.
    assert lib == {rejected: "gold_reject", other: "gold_approve", edge: "edge_case"}
    assert m.curate_exemplars(db, NOW) == 1  # the remaining clear approval
    assert _library(db, b.id)[clear] == "gold_approve"
    assert m.curate_exemplars(db, NOW) == 0  # nothing left to add
    assert len(_library(db, b.id)) == 4

    # The library's per-type limit holds: with gold_approve limited to 2, a third clear
    # approval waits.
    db.execute("UPDATE genome.settings SET value = '2' WHERE key = 'exemplar_limit_gold_approve'")
    _judged(db, b, rng, CLEAR, "approved")
    assert m.curate_exemplars(db, NOW) == 0
    # Reviews judged after p_now are not used yet.
    late = b.ad(unit(rng.normal(size=DIM)), scores=LOW_V2)
    db.execute(
        "SELECT genome.record_override(%s, 'approved', 'sim', %s, %s, %s)",
        (late, Jsonb({}), REVIEWER, NOW + dt.timedelta(hours=1)),
    )
    assert m.curate_exemplars(db, NOW) == 0
    assert m.curate_exemplars(db, NOW + dt.timedelta(hours=2)) == 1
    assert _library(db, b.id)[late] == "edge_case"
    # An approval with a check within half a point of the human bar is an edge case too.
    near_bar = _judged(db, b, rng, NEAR_BAR, "approved")
    assert m.curate_exemplars(db, NOW + dt.timedelta(hours=2)) == 1
    assert _library(db, b.id)[near_bar] == "edge_case"
