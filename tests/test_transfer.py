"""Cross-brand transfer: empirical-Bayes category priors from opted-in peers only."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import psycopg
import pytest

from sim import factories as f

T0 = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=1)


def _brand(db: psycopg.Connection, counts: dict[str, tuple[int, int]], **kw) -> uuid.UUID:  # type: ignore[no-untyped-def]
    """A brand whose hook_type values have (successes, failures) matured rewards."""
    b = f.brand(db, **kw)
    run = f.ad_run(db, f.product(db, b))
    items = []
    for hook, (s, fl) in counts.items():
        items += [({"hook_type": hook}, 0.9)] * s + [({"hook_type": hook}, 0.1)] * fl
    if items:
        f.bulk_rewards(db, run, items, T0)
    return b


def _prior(db: psycopg.Connection, brand: uuid.UUID, value: str) -> dict | None:
    cur = db.execute(
        "SELECT prior_alpha, prior_beta, peer_brands, peer_observations, shrinkage, "
        "between_brand_variance FROM genome.brand_priors WHERE brand_id = %s "
        "AND element_dimension = 'hook_type' AND element_value = %s",
        (brand, value),
    )
    row = cur.fetchone()
    return None if row is None else dict(zip([c.name for c in cur.description], row, strict=True))


def _expected_shrinkage(peers: list[dict[str, tuple[int, int]]], floor: float, cap: float) -> dict:
    """Method of moments over the dimension's values (independent of the SQL)."""
    values = sorted({v for p in peers for v in p})
    q = q0 = scale = 0.0
    per_value = {}
    for v in values:
        cells = [p[v] for p in peers if v in p and sum(p[v]) > 0]
        n = np.array([s + fl for s, fl in cells], dtype=float)
        s = np.array([c[0] for c in cells], dtype=float)
        mu = s.sum() / n.sum()
        q += float((n * (s / n - mu) ** 2).sum())
        q0 += (len(cells) - 1) * mu * (1 - mu)
        scale += n.sum() - (n**2).sum() / n.sum()
        per_value[v] = (mu, n.sum(), s.sum())
    tau2 = max((q - q0) / scale, 0.0)
    out = {}
    for v, (mu, total, succ) in per_value.items():
        k = cap if tau2 <= 0 else min(cap, max(floor, max(mu * (1 - mu) / tau2 - 1, 0) / total))
        out[v] = (k, tau2, succ, total - succ)
    return out


HETERO = [
    {"authority": (45, 5), "urgency": (10, 30)},
    {"authority": (10, 40), "urgency": (30, 10)},
    {"authority": (30, 20), "urgency": (20, 20)},
]


def test_empirical_bayes_shrinkage_from_peer_disagreement(db: psycopg.Connection) -> None:
    for counts in HETERO:
        _brand(db, counts, category="skincare", sharing=True)
    newcomer = _brand(db, {}, category="skincare", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    expected = _expected_shrinkage(HETERO, floor=0.02, cap=0.3)
    for value, (k, tau2, succ, fail) in expected.items():
        p = _prior(db, newcomer, value)
        assert p is not None
        assert p["between_brand_variance"] == pytest.approx(tau2)
        assert p["shrinkage"] == pytest.approx(k)
        assert p["prior_alpha"] == pytest.approx(1 + k * succ)
        assert p["prior_beta"] == pytest.approx(1 + k * fail)
        assert p["peer_brands"] == 3 and p["peer_observations"] == pytest.approx(succ + fail)
    # Peers that disagree this much are worth fewer pseudo-observations than the fixed 0.3.
    assert 0.02 <= expected["authority"][0] < 0.3
    assert _prior(db, newcomer, "authority")["shrinkage"] < 0.3  # type: ignore[index]

    # The fixed method keeps the shipped 0.3 whatever the data.
    db.execute("UPDATE genome.settings SET value = '\"fixed\"' WHERE key = 'category_prior_method'")
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    p = _prior(db, newcomer, "authority")
    assert p is not None and p["shrinkage"] == pytest.approx(0.3)
    assert p["prior_alpha"] == pytest.approx(1 + 0.3 * 85)
    assert p["between_brand_variance"] is None


def test_agreeing_peers_keep_the_cap_and_the_floor_binds(db: psycopg.Connection) -> None:
    agree = [{"authority": (30, 10)}, {"authority": (15, 5)}]
    for counts in agree:
        _brand(db, counts, category="pets", sharing=True)
    newcomer = _brand(db, {}, category="pets", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    p = _prior(db, newcomer, "authority")
    assert p is not None and p["between_brand_variance"] == 0 and p["shrinkage"] == 0.3

    # Peers at opposite extremes: the prior is worth almost nothing, down to the floor.
    db.execute(
        "UPDATE genome.settings SET value = '0.1' WHERE key = 'category_prior_shrinkage_floor'"
    )
    _brand(db, {"authority": (0, 200)}, category="toys", sharing=True)
    _brand(db, {"authority": (200, 0)}, category="toys", sharing=True)
    toy = _brand(db, {}, category="toys", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    p = _prior(db, toy, "authority")
    assert p is not None and p["shrinkage"] == pytest.approx(0.1)
    assert p["prior_alpha"] == pytest.approx(1 + 0.1 * 200)


def test_opt_out_isolation(db: psycopg.Connection) -> None:
    # Asserts the one-bit learner's numbers (docs/learning.md#element-scores).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    for counts in HETERO:
        _brand(db, counts, category="skincare", sharing=True)
    newcomer = _brand(db, {"authority": (1, 1)}, category="skincare", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    before = db.execute(
        "SELECT element_value, prior_alpha, prior_beta, shrinkage, peer_brands "
        "FROM genome.brand_priors WHERE brand_id = %s ORDER BY 1",
        (newcomer,),
    ).fetchall()
    assert before

    # Opted-out brands of the category (and opted-in brands of other categories) with
    # strong contrary evidence change nothing: they give nothing.
    loner = _brand(db, {"authority": (0, 80), "urgency": (80, 0)}, category="skincare")
    _brand(db, {"authority": (0, 80)}, category="pets", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    after = db.execute(
        "SELECT element_value, prior_alpha, prior_beta, shrinkage, peer_brands "
        "FROM genome.brand_priors WHERE brand_id = %s ORDER BY 1",
        (newcomer,),
    ).fetchall()
    assert after == before

    # ... and receive nothing: no prior rows, their posteriors are their own evidence only.
    assert (
        db.execute(
            "SELECT count(*) FROM genome.brand_priors WHERE brand_id = %s", (loner,)
        ).fetchone()[0]
        == 0
    )
    own = db.execute(
        "SELECT posterior_alpha, posterior_beta, prior_alpha, prior_beta FROM genome.creative_element_scores "
        "WHERE brand_id = %s AND product_id IS NULL AND element_dimension = 'hook_type' "
        "AND element_value = 'authority'",
        (loner,),
    ).fetchone()
    assert own == (1.0, 81.0, 1.0, 1.0)

    # The newcomer's own data is not part of its prior either (peers are the OTHER brands).
    p = _prior(db, newcomer, "authority")
    assert p is not None and p["peer_observations"] == pytest.approx(45 + 5 + 10 + 40 + 30 + 20)
    # A peer that opts out stops giving at the next update.
    db.execute(
        "UPDATE brands SET cross_brand_sharing = false WHERE id <> %s AND category = 'skincare' "
        "AND id = (SELECT id FROM brands WHERE category = 'skincare' AND cross_brand_sharing "
        "AND id <> %s ORDER BY created_at, id LIMIT 1)",
        (newcomer, newcomer),
    )
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    assert _prior(db, newcomer, "authority")["peer_brands"] == 2  # type: ignore[index]


def test_bad_prior_settings_are_refused(db: psycopg.Connection) -> None:
    _brand(db, {"authority": (3, 1)}, category="c", sharing=True)
    _brand(db, {}, category="c", sharing=True)
    db.execute("UPDATE genome.settings SET value = '\"bayes\"' WHERE key = 'category_prior_method'")
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT genome.update_scores(%s)", (NOW,))
    assert e.value.sqlstate == "GN090"
    db.execute(
        "UPDATE genome.settings SET value = '\"empirical_bayes\"' WHERE key = 'category_prior_method'"
    )
    db.execute(
        "UPDATE genome.settings SET value = '0.5' WHERE key = 'category_prior_shrinkage_floor'"
    )
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT genome.update_scores(%s)", (NOW,))
    assert e.value.sqlstate == "GN090"
    assert db.execute("SELECT count(*) FROM genome.brand_priors").fetchone()[0] == 0
