"""Cross-brand transfer: empirical-Bayes category priors from opted-in peers only, published
only over enough peers of other organizations and coarsened (docs/learning.md#private-priors)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import ROUND_HALF_UP, Decimal

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


def _minimum(db: psycopg.Connection, brands: int, orgs: int) -> None:
    """Set the peer minimum (the math tests below use fewer peers than the shipped 5/3)."""
    db.execute(
        "UPDATE genome.settings SET value = to_jsonb(%s::integer) WHERE key = 'prior_min_peer_brands'",
        (brands,),
    )
    db.execute(
        "UPDATE genome.settings SET value = to_jsonb(%s::integer) "
        "WHERE key = 'prior_min_peer_organizations'",
        (orgs,),
    )


def _half_up(x: float, exponent: int) -> float:
    """x rounded half away from zero at 10**exponent (numeric round, not banker's)."""
    return float(Decimal(repr(float(x))).quantize(Decimal(1).scaleb(exponent), ROUND_HALF_UP))


def _sig2(x: float) -> float:
    return 0.0 if x == 0 else _half_up(x, math.floor(math.log10(abs(x))) - 1)


def _coarse(x: float, granularity: float = 10) -> float:
    """A count as published: two significant figures, a multiple of the granularity."""
    if x <= 0:
        return 0.0
    step = max(granularity, 10.0 ** (math.floor(math.log10(x)) - 1))
    return _half_up(x / step, 0) * step


def _published(k: float, succ: float, fail: float) -> tuple[float, float, float, float]:
    """(prior_alpha, prior_beta, shrinkage, peer_observations) as published."""
    k, s, fl = _sig2(k), _coarse(succ), _coarse(fail)
    return 1 + k * s, 1 + k * fl, k, s + fl


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
    _minimum(db, 3, 3)
    for counts in HETERO:
        _brand(db, counts, category="skincare", sharing=True)
    newcomer = _brand(db, {}, category="skincare", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    expected = _expected_shrinkage(HETERO, floor=0.02, cap=0.3)
    for value, (k, tau2, succ, fail) in expected.items():
        p = _prior(db, newcomer, value)
        assert p is not None
        alpha, beta, shrinkage, n_hat = _published(k, succ, fail)
        assert p["between_brand_variance"] == pytest.approx(_sig2(tau2))
        assert p["shrinkage"] == pytest.approx(shrinkage)
        assert p["prior_alpha"] == pytest.approx(alpha)
        assert p["prior_beta"] == pytest.approx(beta)
        assert p["peer_brands"] == 3 and p["peer_observations"] == pytest.approx(n_hat)
    # Peers that disagree this much are worth fewer pseudo-observations than the fixed 0.3.
    assert 0.02 <= expected["authority"][0] < 0.3
    assert _prior(db, newcomer, "authority")["shrinkage"] < 0.3  # type: ignore[index]

    # The fixed method keeps the shipped 0.3 whatever the data.
    db.execute("UPDATE genome.settings SET value = '\"fixed\"' WHERE key = 'category_prior_method'")
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    p = _prior(db, newcomer, "authority")
    assert p is not None and p["shrinkage"] == pytest.approx(0.3)
    assert p["prior_alpha"] == pytest.approx(_published(0.3, 85, 65)[0])
    assert p["between_brand_variance"] is None


def test_agreeing_peers_keep_the_cap_and_the_floor_binds(db: psycopg.Connection) -> None:
    _minimum(db, 1, 1)
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
    assert p["prior_alpha"] == pytest.approx(_published(0.1, 200, 200)[0])


def test_opt_out_isolation(db: psycopg.Connection) -> None:
    # Asserts the one-bit learner's numbers (docs/learning.md#element-scores).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    _minimum(db, 2, 2)
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
    assert p is not None and p["peer_observations"] == pytest.approx(_coarse(85) + _coarse(65))
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


def test_no_prior_below_the_peer_minimum(db: psycopg.Connection) -> None:
    """Shipped minimum: 5 opted-in brands of 3 organizations other than the receiver's."""
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    home = f.org(db)
    newcomer = _brand(db, {}, organization_id=home, category="skincare", sharing=True)
    # Sibling brands of the receiver's organization are pooled but do not count.
    for _ in range(2):
        _brand(db, {"authority": (6, 4)}, organization_id=home, category="skincare", sharing=True)
    org_a, org_b = f.org(db), f.org(db)
    for o in (org_a, org_a, org_a, org_b):
        _brand(db, {"authority": (7, 3)}, organization_id=o, category="skincare", sharing=True)
    # Only one peer used this value: the exact-recovery case.
    _brand(
        db,
        {"authority": (2, 8), "urgency": (13, 4)},
        organization_id=org_b,
        category="skincare",
        sharing=True,
    )
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    # Five foreign brands, but of two organizations: no prior, a flat Beta in the scores.
    assert db.execute("SELECT count(*) FROM genome.brand_priors").fetchone()[0] == 0
    assert db.execute(
        "SELECT prior_alpha, prior_beta FROM genome.creative_element_scores WHERE brand_id = %s "
        "AND product_id IS NULL AND element_dimension = 'hook_type' AND element_value = 'authority'",
        (newcomer,),
    ).fetchone() == (1.0, 1.0)

    # A third organization: authority qualifies (6 foreign brands of 3 organizations, 8
    # brands pooled with the siblings); urgency, one peer's value, still does not.
    _brand(db, {"authority": (5, 5)}, category="skincare", sharing=True)
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    p = _prior(db, newcomer, "authority")
    assert p is not None and p["peer_brands"] == 8
    assert p["peer_observations"] == pytest.approx(_coarse(12 + 28 + 5) + _coarse(8 + 12 + 8 + 5))
    assert _prior(db, newcomer, "urgency") is None


def _app_view(db: psycopg.Connection, org: uuid.UUID) -> dict[str, dict]:
    """Everything about the category prior an app session of `org` can read."""
    db.execute("SET ROLE genome_app")
    db.execute("SELECT set_config('app.organization_id', %s, false)", (str(org),))
    try:
        rows = db.execute(
            "SELECT p.element_value, p.prior_alpha, p.prior_beta, p.shrinkage, "
            "p.peer_observations, p.peer_brands, s.prior_alpha AS score_alpha, "
            "(SELECT count(*) FROM genome.brand_priors) AS visible "
            "FROM genome.brand_priors AS p JOIN genome.creative_element_scores AS s "
            "ON s.brand_id = p.brand_id AND s.product_id IS NULL "
            "AND s.element_dimension = p.element_dimension AND s.element_value = p.element_value"
        ).fetchall()
    finally:
        db.execute("RESET ROLE")
    keys = ["alpha", "beta", "shrinkage", "n", "peers", "score_alpha", "visible"]
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def _recover(v: dict) -> tuple[float, float]:
    """The issue's attack: successes and failures = (prior - 1) / shrinkage."""
    return (v["alpha"] - 1) / v["shrinkage"], (v["beta"] - 1) / v["shrinkage"]


def test_an_app_session_cannot_recover_a_peer(db: psycopg.Connection) -> None:
    """With the minimum met (6 peers of 3 other organizations) an app session of the
    receiving organization reads its priors before and after one peer leaves; neither the
    issue's recovery nor the one-peer-out difference gives any peer's counts."""
    db.execute("UPDATE genome.settings SET value = '\"fixed\"' WHERE key = 'category_prior_method'")
    # The priors do not depend on the learner; the one-bit one is quicker to run.
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    rng = np.random.default_rng(17)
    values = ["authority", "urgency", "social_proof", "testimonial"]
    home = f.org(db)
    _brand(db, {}, organization_id=home, category="skincare", sharing=True)
    peers = {}
    for o in [f.org(db) for _ in range(3)]:
        for _ in range(2):
            counts = {v: (int(rng.integers(5, 60)), int(rng.integers(5, 60))) for v in values}
            peers[_brand(db, counts, organization_id=o, category="skincare", sharing=True)] = counts
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    before = _app_view(db, home)
    assert set(before) == set(values)
    for row in before.values():
        # The app sees its own brand's rows only; the scores carry the same prior.
        assert row["visible"] == len(values) and row["score_alpha"] == row["alpha"]
        s, fl = _recover(row)
        # The recovered sums sit on the published grid: a sum of six, and no peer's counts.
        assert s % 10 == pytest.approx(0) and fl % 10 == pytest.approx(0)
        assert all((s, fl) != c[v] for c in peers.values() for v in values)

    # One peer leaves; nothing else changes, the best case for differencing.
    leaver = next(iter(peers))
    db.execute("UPDATE brands SET cross_brand_sharing = false WHERE id = %s", (leaver,))
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    after = _app_view(db, home)
    missed = 0
    for v in values:
        assert after[v]["peers"] == before[v]["peers"] - 1 == 5
        s_b, f_b = _recover(before[v])
        s_a, f_a = _recover(after[v])
        true_s, true_f = peers[leaver][v]
        # Unrounded, the difference would be the leaver's counts exactly.
        missed += abs((s_b - s_a) - true_s) >= 0.5 or abs((f_b - f_a) - true_f) >= 0.5
        # Rounded, every count within a step of the difference is as consistent with what
        # the app saw as the true one (docs/learning.md#private-priors): at least 19 each.
        for diff, truth in ((s_b - s_a, true_s), (f_b - f_a, true_f)):
            assert abs(diff - truth) < 10
            assert sum(abs(diff - c) < 10 for c in range(0, 200)) >= 19
    assert missed == len(values)


def test_prior_rounding_matches_the_reference(db: psycopg.Connection) -> None:
    xs = [0.0, 3.0, 4.99, 5.0, 57.0, 99.4, 104.0, 1234.0, 98765.4]
    got = db.execute(
        "SELECT genome._round_significant(x, 2, 10), genome._round_significant(x, 2) "
        "FROM unnest(%s::float8[]) WITH ORDINALITY AS t(x, i) ORDER BY i",
        (xs,),
    ).fetchall()
    assert [g[0] for g in got] == [pytest.approx(_coarse(x)) for x in xs]
    assert [g[1] for g in got] == [pytest.approx(_sig2(x)) for x in xs]
    assert [g[0] for g in got][:6] == [0, 0, 0, 10, 60, 100]
