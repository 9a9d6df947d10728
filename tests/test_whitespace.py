"""Competitive whitespace: untested combinations of well-scoring elements, ranked by the
expected value of information, pooled only across opted-in brands."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb
from scipy.special import betainc

from sim import factories as f

T0 = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
X, Y = "authority", "scientific_proof"  # the planted strong hook and belief angle
HOOKS = [X, "urgency", "question"]
BELIEFS = [Y, "convenience", "identity"]
UNTESTED = {(X, Y), ("urgency", "identity"), ("question", "convenience")}


def _tested_items(n_each: int) -> list[tuple[dict[str, str], float]]:
    """Every hook x belief pair except the untested ones; reward high when X or Y is in it."""
    items = []
    for h in HOOKS:
        for b in BELIEFS:
            if (h, b) in UNTESTED:
                continue
            good = h == X or b == Y
            for k in range(n_each):
                score = (0.8 if k % 4 else 0.4) if good else (0.2 if k % 4 else 0.6)
                items.append(({"hook_type": h, "belief_angle": b}, score))
    return items


def _brand(db: psycopg.Connection, items, **kw) -> uuid.UUID:  # type: ignore[no-untyped-def]
    b = f.brand(db, **kw)
    run = f.ad_run(db, f.product(db, b))
    if items:
        f.bulk_rewards(db, run, items, T0)
    return b


def _rows(db: psycopg.Connection, brand: uuid.UUID) -> list[dict]:
    cur = db.execute("SELECT * FROM genome.whitespace(%s, %s)", (brand, T0 + dt.timedelta(days=1)))
    names = [c.name for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_planted_high_value_untested_combo_ranks_first(db: psycopg.Connection) -> None:
    # Asserts the one-bit learner's numbers (docs/learning.md#element-scores).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    b = _brand(db, _tested_items(8), category="skincare", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (T0 + dt.timedelta(days=1),))
    rows = _rows(db, b)
    assert rows, "no whitespace found"
    top = rows[0]
    assert top["combo_key"] == f"belief_angle={Y}|hook_type={X}"
    assert top["rank"] == 1 and top["pooled_tests"] == 0 and top["brand_tests"] == 0
    # Only untested (or rarely tested) combinations are whitespace.
    keys = {r["combo_key"] for r in rows}
    assert keys == {f"belief_angle={bb}|hook_type={h}" for h, bb in UNTESTED}
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(r1["evoi"] >= r2["evoi"] for r1, r2 in itertools.pairwise(rows))
    # Its elements score well and the prediction says so, with evidence.
    assert top["predicted_mean"] > max(r["predicted_mean"] for r in rows[1:])
    assert top["ci_lower"] < top["predicted_mean"] < top["ci_upper"]
    parts = {(p["dimension"], p["value"]) for p in top["evidence"]["components"]}
    assert parts == {("hook_type", X), ("belief_angle", Y)}
    # The value of information is E[max(theta - incumbent, 0)] for the Beta it reports.
    kappa = 4.0
    p = top["evidence"]["independence_prediction"]
    a, bb, c = kappa * p, kappa * (1 - p), top["incumbent_mean"]
    ei = a / (a + bb) * (1 - betainc(a + 1, bb, c)) - c * (1 - betainc(a, bb, c))
    assert top["evoi"] == pytest.approx(ei, rel=1e-9)
    assert top["prob_beats_incumbent"] == pytest.approx(1 - betainc(a, bb, c), rel=1e-9)


def test_whitespace_pools_only_opted_in_peers(db: psycopg.Connection) -> None:
    # Asserts the one-bit learner's numbers (docs/learning.md#element-scores).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    items = _tested_items(8)
    b = _brand(db, items, category="skincare", sharing=True)
    # An opted-out brand of the category that tried X + Y a lot: invisible.
    hidden = [({"hook_type": X, "belief_angle": Y}, 0.1)] * 10
    _brand(db, hidden, category="skincare", sharing=False)
    db.execute("SELECT genome.update_scores(%s)", (T0 + dt.timedelta(days=1),))
    assert _rows(db, b)[0]["combo_key"] == f"belief_angle={Y}|hook_type={X}"

    # An opted-in peer that tried it, alone in the category: below the peer minimum
    # (docs/learning.md#private-priors), so its rewards are not pooled and not shown.
    _brand(db, hidden[:3], category="skincare", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (T0 + dt.timedelta(days=1),))
    top = _rows(db, b)[0]
    assert top["combo_key"] == f"belief_angle={Y}|hook_type={X}"
    assert top["pooled_tests"] == 0 and top["peer_brands"] == 0
    # With the minimum lowered to that one peer: no longer whitespace (tested beyond
    # whitespace_max_tests).
    db.execute(
        "UPDATE genome.settings SET value = '1' WHERE key IN "
        "('prior_min_peer_brands', 'prior_min_peer_organizations')"
    )
    keys = [r["combo_key"] for r in _rows(db, b)]
    assert f"belief_angle={Y}|hook_type={X}" not in keys

    # A brand that did not opt in sees its own data only, whatever its peers did.
    loner = _brand(db, items, category="skincare", sharing=False)
    db.execute("SELECT genome.update_scores(%s)", (T0 + dt.timedelta(days=1),))
    lrows = _rows(db, loner)
    assert lrows[0]["combo_key"] == f"belief_angle={Y}|hook_type={X}"
    assert all(r["peer_brands"] == 0 for r in lrows)
    assert lrows[0]["evidence"]["pooled_from"] == "brand only"


def test_competitor_tags_occupy_space_and_bad_input(db: psycopg.Connection) -> None:
    b = _brand(db, _tested_items(8), category="skincare", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (T0 + dt.timedelta(days=1),))
    db.execute(
        "INSERT INTO genome.competitor_ad_tags (organization_id, category, competitor, "
        "element_tags, observed_at) SELECT organization_id, 'skincare', 'Rival', %s, %s "
        "FROM brands CROSS JOIN generate_series(1, 3) WHERE id = %s",
        (Jsonb({"hook_type": X, "belief_angle": Y}), T0, b),
    )
    keys = [r["combo_key"] for r in _rows(db, b)]
    assert f"belief_angle={Y}|hook_type={X}" not in keys and keys
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT * FROM genome.whitespace(%s)", (uuid.uuid4(),))
    assert e.value.sqlstate == "GN001"
    db.execute("UPDATE genome.settings SET value = '4' WHERE key = 'whitespace_combo_size'")
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT * FROM genome.whitespace(%s)", (b,))
    assert e.value.sqlstate == "GN090"
