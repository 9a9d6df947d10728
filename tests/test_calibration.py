"""Threshold calibration from human overrides (docs/quality.md#calibration) and config activation.

Overrides go through the real path: an ad with a stored stage-2 review under the active
config, then genome.record_override. Expected thresholds and error rates are recomputed here
with numpy from the synthetic data, independently of the SQL/PL/Python implementation."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb

from sim import factories as f

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _checks(db: psycopg.Connection) -> tuple[list[str], np.ndarray]:
    rows = db.execute(
        "SELECT code, weight::float8 FROM genome.review_checks ORDER BY code"
    ).fetchall()
    return [r[0] for r in rows], np.array([r[1] for r in rows])


def _active(db: psycopg.Connection, org: uuid.UUID) -> list[tuple]:
    return db.execute(
        "SELECT id, version, brand_id FROM genome.quality_scoring_config "
        "WHERE organization_id = %s AND is_active ORDER BY brand_id NULLS FIRST",
        (org,),
    ).fetchall()


def _config_count(db: psycopg.Connection) -> int:
    return db.execute("SELECT count(*) FROM genome.quality_scoring_config").fetchone()[0]


def _run(db: psycopg.Connection, product: uuid.UUID) -> uuid.UUID:
    """A run whose attempts cover the ads the tests decide directly (runs count attempts)."""
    return db.execute(
        "INSERT INTO ad_runs (product_id, max_attempts, attempts_count) VALUES (%s, 100, 100) "
        "RETURNING id",
        (product,),
    ).fetchone()[0]


class Shop:
    """An organization with a brand, product and run, reviewed by its active config."""

    def __init__(self, db: psycopg.Connection, name: str = "Org") -> None:
        self.db = db
        self.org = f.org(db, name)
        self.brand = f.brand(db, self.org)
        self.product = f.product(db, self.brand)
        self.run = _run(db, self.product)

    def override(
        self,
        scores: dict[str, float],
        ai_status: str,
        human_status: str,
        at: dt.datetime,
        config_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """An ad the AI decided (ai_status) from a stored review, then a human decision."""
        db = self.db
        ad = f.ad(db, self.run, {}, status=ai_status)
        config_id = (
            config_id
            or db.execute("SELECT (genome._ad_quality_config(%s)).id", (ad,)).fetchone()[0]
        )
        db.execute(
            """
            INSERT INTO genome.ad_reviews (generated_ad_id, stage, reviewer, model_used, config_id,
                                           check_scores, weighted_score, verdict, created_at)
            SELECT %(ad)s, 'review', 'offline', 'offline-1', %(cfg)s, %(s)s, v.weighted_score,
                   v.verdict, %(at)s
            FROM genome._review_verdict(%(s)s, %(cfg)s) AS v
            """,
            {"ad": ad, "cfg": config_id, "s": Jsonb(scores), "at": at},
        )
        db.execute(
            "SELECT genome.record_override(%s, %s, 'test', '{}', 'tester', %s)",
            (ad, human_status, at),
        )
        return ad


def _rule(
    s: np.ndarray, w: np.ndarray, thr: np.ndarray, pass_t: float, hard: np.ndarray
) -> np.ndarray:
    """The config's pass rule, written out independently."""
    weighted = np.round(s @ w / w.sum(), 3)
    return (weighted >= pass_t) & np.all(s >= thr, axis=1) & ~np.any(s < hard, axis=1)


def _hard(codes: list[str]) -> np.ndarray:
    return np.array([3.0 if c in ("V9", "C5") else -np.inf for c in codes])


def _v2_too_strict(rng: np.random.Generator, codes: list[str]) -> list[tuple[np.ndarray, str, str]]:
    """(scores, ai_status, human_status): the AI rejects good ads for V2 5.5-6.9."""
    v2 = codes.index("V2")
    rows = []

    def good() -> np.ndarray:
        return rng.uniform(8.0, 9.5, len(codes)).round(1)

    for _ in range(12):  # V2 a little low, otherwise good: the AI rejects, humans approve
        s = good()
        s[v2] = round(rng.uniform(5.6, 6.9), 1)
        rows.append((s, "rejected", "approved"))
    for _ in range(6):  # garbled text: both reject
        s = good()
        s[v2] = round(rng.uniform(1.5, 3.5), 1)
        rows.append((s, "rejected", "rejected"))
    for _ in range(8):  # good: both approve
        s = good()
        s[v2] = round(rng.uniform(7.5, 9.0), 1)
        rows.append((s, "approved", "approved"))
    for _ in range(4):  # mediocre throughout: both reject
        rows.append((rng.uniform(5.0, 6.5, len(codes)).round(1), "rejected", "rejected"))
    return rows


def _record(
    shop: Shop, codes: list[str], rows: list[tuple[np.ndarray, str, str]], start: dt.datetime
) -> None:
    for i, (s, ai, human) in enumerate(rows):
        shop.override(
            {c: float(x) for c, x in zip(codes, s, strict=True)},
            ai,
            human,
            start + dt.timedelta(minutes=i),
        )


def test_calibration_lowers_a_too_strict_threshold_and_stays_inactive(
    db: psycopg.Connection,
) -> None:
    codes, w = _checks(db)
    shop = Shop(db)
    ((default_id, default_version, _),) = _active(db, shop.org)
    assert default_version == "default-v1"
    rows = _v2_too_strict(np.random.default_rng(7), codes)
    _record(shop, codes, rows, NOW + dt.timedelta(days=1))

    new_id = db.execute(
        "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=2))
    ).fetchone()[0]

    cfg = db.execute(
        "SELECT is_active, parent_config_id, calibrated_from_overrides, check_thresholds, "
        "weighted_pass_threshold::float8, calibration_metrics, brand_id, version, approved_by "
        "FROM genome.quality_scoring_config WHERE id = %s",
        (new_id,),
    ).fetchone()
    active, parent, n, thresholds, pass_t, metrics, brand_id, version, approver = cfg
    assert active is False and approver is None
    assert parent == default_id
    assert brand_id is None  # the brand has no config of its own: the organization's
    assert version == "v2-calibrated"
    assert n == len(rows) == metrics["n"] == 30
    # Nothing changes until approved: the default is still the one active config.
    assert _active(db, shop.org) == [(default_id, "default-v1", None)]

    # Reference: V2 alone on the grid 0, 0.5, ... 10 (others stay at 7): least FP + 2 FN,
    # ties to the value nearest the parent's 7.
    s = np.array([r[0] for r in rows])
    human = np.array([r[2] == "approved" for r in rows])
    hard = _hard(codes)
    v2 = codes.index("V2")
    grid = np.arange(0, 10.01, 0.5)
    costs = []
    for t in grid:
        thr = np.full(len(codes), 7.0)
        thr[v2] = t
        a = _rule(s, w, thr, 7.0, hard)
        costs.append(np.sum(~a & human) + 2 * np.sum(a & ~human))
    costs = np.array(costs)
    best = grid[costs == costs.min()]
    expected_v2 = best[np.argmin(np.abs(best - 7.0))]
    assert expected_v2 < 7.0
    assert expected_v2 == np.floor(s[:12, v2].min() * 2) / 2  # just below the lowest good V2
    assert thresholds["V2"] == pytest.approx(expected_v2)
    assert all(thresholds[c] == 7.0 for c in codes if c != "V2"), thresholds
    assert pass_t == 7.0

    before = _rule(s, w, np.full(len(codes), 7.0), 7.0, hard)
    after_thr = np.array([thresholds[c] for c in codes])
    after = _rule(s, w, after_thr, pass_t, hard)
    for key, a in (("before", before), ("after", after)):
        fp, fn = int(np.sum(~a & human)), int(np.sum(a & ~human))
        assert metrics[key]["fp"] == fp and metrics[key]["fn"] == fn
        assert metrics[key]["weighted_error"] == pytest.approx((fp + 2 * fn) / len(rows))
        assert metrics[key]["fp_rate"] == pytest.approx(fp / human.sum())
    assert metrics["before"]["fp"] == 12
    assert metrics["after"]["weighted_error"] < metrics["before"]["weighted_error"]
    assert metrics["after"]["weighted_error"] == 0
    assert metrics["observed"]["fp"] == 12 and metrics["observed"]["fn"] == 0
    per_v2 = metrics["per_check"]["V2"]
    assert per_v2["fp_rate_before"] == pytest.approx(12 / 20)
    assert per_v2["fp_rate_after"] == 0
    assert per_v2["fn_rate_before"] == 0  # every ad humans rejected has V2 below 7
    assert per_v2["threshold_before"] == 7.0 and per_v2["threshold_after"] == expected_v2


def test_fn_weight_comes_from_settings(db: psycopg.Connection) -> None:
    """Three good and two bad ads differ only in nothing the AI scored (V2 6.0 each): lowering
    V2 turns 3 false positives into 2 false negatives, worth it only when a false negative
    costs less than 1.5 false positives."""
    codes, _ = _checks(db)
    v2 = codes.index("V2")
    rows = []
    for v2_score, human in (
        [(6.0, "approved")] * 3 + [(6.0, "rejected")] * 2 + [(8.0, "approved")] * 15
    ):
        s = np.full(len(codes), 8.5)
        s[v2] = v2_score
        rows.append((s, "approved" if v2_score >= 7 else "rejected", human))
    results = {}
    for weight in (2, 1):
        shop = Shop(db, f"Org w{weight}")
        db.execute(
            "UPDATE genome.settings SET value = %s WHERE key = 'calibration_fn_weight'",
            (Jsonb(weight),),
        )
        _record(shop, codes, rows, NOW + dt.timedelta(days=1))
        cid = db.execute(
            "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=2))
        ).fetchone()[0]
        results[weight] = db.execute(
            "SELECT (check_thresholds ->> 'V2')::float8, calibration_metrics "
            "FROM genome.quality_scoring_config WHERE id = %s",
            (cid,),
        ).fetchone()
    assert results[2][0] == 7.0  # 3 FP < 2 * 2 FN: keep
    assert results[2][1]["after"]["weighted_error"] == pytest.approx(3 / 20)
    assert results[1][0] == 6.0  # 2 * 1 FN < 3 FP: lower to the lowest approved V2
    assert results[1][1]["after"] == {
        "fp": 0,
        "fn": 2,
        "fp_rate": 0.0,
        "fn_rate": 1.0,
        "weighted_error": pytest.approx(2 / 20),
    }


def test_weighted_error_never_rises_and_metrics_match_the_rule(db: psycopg.Connection) -> None:
    """Random reviews and noisy human labels: whatever the search finds, the stored 'after'
    metrics are those of the stored thresholds (recomputed here) and never worse than before."""
    codes, w = _checks(db)
    rng = np.random.default_rng(11)
    shop = Shop(db)
    s = rng.uniform(3.5, 10.0, (60, len(codes))).round(1)
    quality = s @ w / w.sum()
    human = (quality + rng.normal(0, 0.6, 60)) > 7.0
    rows = [
        (
            s[i],
            "approved" if quality[i] >= 7.5 else "rejected",
            "approved" if human[i] else "rejected",
        )
        for i in range(60)
    ]
    _record(shop, codes, rows, NOW + dt.timedelta(days=1))
    cid = db.execute(
        "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=3))
    ).fetchone()[0]
    thr, pass_t, flag_t, m = db.execute(
        "SELECT check_thresholds, weighted_pass_threshold::float8, "
        "weighted_flag_threshold::float8, calibration_metrics "
        "FROM genome.quality_scoring_config WHERE id = %s",
        (cid,),
    ).fetchone()
    a = _rule(s, w, np.array([thr[c] for c in codes]), pass_t, _hard(codes))
    fp, fn = int(np.sum(~a & human)), int(np.sum(a & ~human))
    assert (m["after"]["fp"], m["after"]["fn"]) == (fp, fn)
    assert m["after"]["weighted_error"] <= m["before"]["weighted_error"]
    assert m["after"]["weighted_error"] < m["before"]["weighted_error"]  # this data has room
    assert flag_t <= pass_t
    ai = np.array([r[1] == "approved" for r in rows])
    assert m["observed"]["fp"] == int(np.sum(~ai & human))
    assert m["observed"]["fn"] == int(np.sum(ai & ~human))
    for j, c in enumerate(codes):
        fail_after = s[:, j] < thr[c]
        assert m["per_check"][c]["fp_rate_after"] == pytest.approx(np.mean(fail_after[human]))
        assert m["per_check"][c]["fn_rate_after"] == pytest.approx(np.mean(~fail_after[~human]))


def test_too_few_overrides_writes_nothing_and_says_why(db: psycopg.Connection) -> None:
    codes, _ = _checks(db)
    shop = Shop(db)
    rows = _v2_too_strict(np.random.default_rng(3), codes)[:19]
    _record(shop, codes, rows, NOW + dt.timedelta(days=1))
    before = _config_count(db)
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=2))
        )
    assert err.value.sqlstate == "GN720"
    assert "has 19 usable override(s)" in str(err.value) and "at least 20" in str(err.value)
    assert _config_count(db) == before
    # Overrides after p_now do not count either (virtual time).
    _record(shop, codes, rows[:1], NOW + dt.timedelta(days=5))
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=2))
        )
    assert err.value.sqlstate == "GN720"
    assert db.execute(
        "SELECT genome.calibrate_quality(%s, %s) IS NOT NULL",
        (shop.brand, NOW + dt.timedelta(days=6)),
    ).fetchone()[0]


def test_only_overrides_since_the_active_config_count(db: psycopg.Connection) -> None:
    codes, _ = _checks(db)
    shop = Shop(db)
    rows = _v2_too_strict(np.random.default_rng(5), codes)
    _record(shop, codes, rows, NOW + dt.timedelta(days=1))
    first = db.execute(
        "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=2))
    ).fetchone()[0]
    db.execute(
        "SELECT genome.activate_quality_config(%s, 'alice', %s)",
        (first, NOW + dt.timedelta(days=3)),
    )
    # The old overrides were made before the new config was activated: none count now.
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=4))
        )
    assert err.value.sqlstate == "GN720" and "has 0 usable" in str(err.value)
    _record(shop, codes, rows[:20], NOW + dt.timedelta(days=5))
    second = db.execute(
        "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=6))
    ).fetchone()[0]
    parent, n, version = db.execute(
        "SELECT parent_config_id, calibrated_from_overrides, version "
        "FROM genome.quality_scoring_config WHERE id = %s",
        (second,),
    ).fetchone()
    assert (parent, n, version) == (first, 20, "v3-calibrated")


def test_latest_human_decision_per_ad_counts_once(db: psycopg.Connection) -> None:
    codes, _ = _checks(db)
    shop = Shop(db)
    rows = _v2_too_strict(np.random.default_rng(9), codes)[:20]
    _record(shop, codes, rows, NOW + dt.timedelta(days=1))
    ads = [
        r[0]
        for r in db.execute(
            "SELECT generated_ad_id FROM genome.ad_review_overrides ORDER BY created_at"
        ).fetchall()
    ]
    # A human changes their mind on the first ad: still 20 ads, the latest decision wins.
    db.execute(
        "SELECT genome.record_override(%s, 'rejected', 'second look', '{}', 'bob', %s)",
        (ads[0], NOW + dt.timedelta(days=1, hours=12)),
    )
    cid = db.execute(
        "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=2))
    ).fetchone()[0]
    m = db.execute(
        "SELECT calibration_metrics FROM genome.quality_scoring_config WHERE id = %s", (cid,)
    ).fetchone()[0]
    assert m["n"] == 20
    assert m["n_human_approved"] == 13 and m["n_human_rejected"] == 7


def test_activation_flips_exactly_one_active_row(db: psycopg.Connection) -> None:
    codes, _ = _checks(db)
    shop = Shop(db)
    other = Shop(db, "Other")
    ((default_id, _, _),) = _active(db, shop.org)
    ((other_default, _, _),) = _active(db, other.org)
    _record(
        shop, codes, _v2_too_strict(np.random.default_rng(1), codes), NOW + dt.timedelta(days=1)
    )
    new_id = db.execute(
        "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=2))
    ).fetchone()[0]
    at = NOW + dt.timedelta(days=3)
    db.execute("SELECT genome.activate_quality_config(%s, 'alice', %s)", (new_id, at))
    assert _active(db, shop.org) == [(new_id, "v2-calibrated", None)]
    assert _active(db, other.org) == [(other_default, "default-v1", None)]
    approver, activated = db.execute(
        "SELECT approved_by, activated_at FROM genome.quality_scoring_config WHERE id = %s",
        (new_id,),
    ).fetchone()
    assert approver == "alice" and activated == at
    # The previous version is kept, inactive; reviews now use the new one.
    assert (
        db.execute(
            "SELECT is_active FROM genome.quality_scoring_config WHERE id = %s", (default_id,)
        ).fetchone()[0]
        is False
    )
    ad = f.ad(db, shop.run, {}, status="pending")
    assert db.execute("SELECT (genome._ad_quality_config(%s)).id", (ad,)).fetchone()[0] == new_id
    # Activating the active one again changes nothing; rolling back to the old one works.
    db.execute(
        "SELECT genome.activate_quality_config(%s, 'carol', %s)",
        (new_id, at + dt.timedelta(days=1)),
    )
    assert (
        db.execute(
            "SELECT approved_by FROM genome.quality_scoring_config WHERE id = %s", (new_id,)
        ).fetchone()[0]
        == "alice"
    )
    db.execute(
        "SELECT genome.activate_quality_config(%s, 'dave', %s)",
        (default_id, at + dt.timedelta(days=2)),
    )
    assert _active(db, shop.org) == [(default_id, "default-v1", None)]
    assert (
        db.execute(
            "SELECT count(*) FROM genome.quality_scoring_config WHERE organization_id = %s",
            (shop.org,),
        ).fetchone()[0]
        == 2
    )


def test_brand_config_is_calibrated_from_its_own_brand(db: psycopg.Connection) -> None:
    """A brand with its own active config: calibrate_quality(brand) writes a brand-level
    version from that brand's overrides; the organization's config learns from the others."""
    codes, _ = _checks(db)
    shop = Shop(db)
    ((org_default, _, _),) = _active(db, shop.org)
    brand_cfg = db.execute(
        """
        INSERT INTO genome.quality_scoring_config (organization_id, brand_id, version, is_active,
            check_weights, check_thresholds, hard_reject_thresholds, approved_by, activated_at)
        SELECT organization_id, %s, 'brand-v1', true, check_weights, check_thresholds,
               hard_reject_thresholds, 'admin', %s
        FROM genome.quality_scoring_config WHERE id = %s
        RETURNING id
        """,
        (shop.brand, NOW, org_default),
    ).fetchone()[0]
    sibling = f.brand(db, shop.org, name="Sibling")
    sib_shop = Shop.__new__(Shop)
    sib_shop.db, sib_shop.org, sib_shop.brand = db, shop.org, sibling
    sib_shop.product = f.product(db, sibling)
    sib_shop.run = _run(db, sib_shop.product)
    rows = _v2_too_strict(np.random.default_rng(2), codes)
    _record(shop, codes, rows, NOW + dt.timedelta(days=1))
    _record(sib_shop, codes, rows[:21], NOW + dt.timedelta(days=1))

    brand_new = db.execute(
        "SELECT genome.calibrate_quality(%s, %s)", (shop.brand, NOW + dt.timedelta(days=2))
    ).fetchone()[0]
    got = db.execute(
        "SELECT brand_id, parent_config_id, calibrated_from_overrides, version "
        "FROM genome.quality_scoring_config WHERE id = %s",
        (brand_new,),
    ).fetchone()
    assert got == (shop.brand, brand_cfg, 30, "v2-calibrated")
    org_new = db.execute(
        "SELECT genome.calibrate_organization_quality(%s, %s)",
        (shop.org, NOW + dt.timedelta(days=2)),
    ).fetchone()[0]
    got = db.execute(
        "SELECT brand_id, parent_config_id, calibrated_from_overrides "
        "FROM genome.quality_scoring_config WHERE id = %s",
        (org_new,),
    ).fetchone()
    assert got == (None, org_default, 21)
    # The sibling brand has no config of its own: calibrate_quality(sibling) is the org's.
    sib_new = db.execute(
        "SELECT genome.calibrate_quality(%s, %s)", (sibling, NOW + dt.timedelta(days=2))
    ).fetchone()[0]
    assert db.execute(
        "SELECT brand_id, parent_config_id FROM genome.quality_scoring_config WHERE id = %s",
        (sib_new,),
    ).fetchone() == (None, org_default)
    # Activating the brand's version leaves the organization's active config alone.
    db.execute(
        "SELECT genome.activate_quality_config(%s, 'alice', %s)",
        (brand_new, NOW + dt.timedelta(days=3)),
    )
    assert _active(db, shop.org) == [
        (org_default, "default-v1", None),
        (brand_new, "v2-calibrated", shop.brand),
    ]


def test_weekly_job_calibrates_every_config_with_enough_new_overrides(
    db: psycopg.Connection,
) -> None:
    codes, _ = _checks(db)
    busy, quiet = Shop(db, "Busy"), Shop(db, "Quiet")
    rows = _v2_too_strict(np.random.default_rng(4), codes)
    _record(busy, codes, rows, NOW + dt.timedelta(days=1))
    _record(quiet, codes, rows[:5], NOW + dt.timedelta(days=1))
    week = NOW + dt.timedelta(days=7)
    out = db.execute("SELECT genome.run_job('quality_calibration', %s)", (week,)).fetchone()[0]
    assert out["status"] == "succeeded" and out["results"]["calibrate_all_quality"] == 1
    assert (
        db.execute(
            "SELECT count(*) FROM genome.quality_scoring_config WHERE calibrated_from_overrides > 0 "
            "AND organization_id = %s AND NOT is_active",
            (busy.org,),
        ).fetchone()[0]
        == 1
    )
    assert (
        db.execute(
            "SELECT count(*) FROM genome.quality_scoring_config WHERE organization_id = %s",
            (quiet.org,),
        ).fetchone()[0]
        == 1
    )
    # Nothing new: nothing written (a rerun, or next week without overrides).
    assert db.execute("SELECT genome.calibrate_all_quality(%s)", (week,)).fetchone()[0] == 0
    assert (
        db.execute(
            "SELECT genome.calibrate_all_quality(%s)", (week + dt.timedelta(days=7),)
        ).fetchone()[0]
        == 0
    )
    # A new override: a fresh version from all the overrides so far.
    _record(busy, codes, rows[:1], week + dt.timedelta(days=1))
    assert (
        db.execute(
            "SELECT genome.calibrate_all_quality(%s)", (week + dt.timedelta(days=7),)
        ).fetchone()[0]
        == 1
    )
    assert (
        db.execute(
            "SELECT max(calibrated_from_overrides) FROM genome.quality_scoring_config WHERE organization_id = %s",
            (busy.org,),
        ).fetchone()[0]
        == 31
    )


def test_one_failing_organization_does_not_fail_the_job(db: psycopg.Connection) -> None:
    codes, _ = _checks(db)
    good, bad = Shop(db, "Good"), Shop(db, "Bad")
    rows = _v2_too_strict(np.random.default_rng(6), codes)
    _record(good, codes, rows, NOW + dt.timedelta(days=1))
    _record(bad, codes, rows, NOW + dt.timedelta(days=1))
    # The bad organization's config cannot be calibrated: its weights sum to zero.
    db.execute(
        "UPDATE genome.quality_scoring_config SET check_weights = ("
        "SELECT jsonb_object_agg(k, 0) FROM jsonb_object_keys(check_weights) AS k) "
        "WHERE organization_id = %s",
        (bad.org,),
    )
    warnings: list[str] = []
    db.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
    assert (
        db.execute(
            "SELECT genome.calibrate_all_quality(%s)", (NOW + dt.timedelta(days=7),)
        ).fetchone()[0]
        == 1
    )
    assert any("quality calibration of config default-v1" in w for w in warnings), warnings
    assert (
        db.execute(
            "SELECT count(*) FROM genome.quality_scoring_config WHERE organization_id = %s",
            (bad.org,),
        ).fetchone()[0]
        == 1
    )


@pytest.mark.parametrize(
    ("sql", "args", "state"),
    [
        ("SELECT genome.calibrate_quality(NULL, now())", (), "GN005"),
        ("SELECT genome.calibrate_quality(%s, now())", (uuid.uuid4(),), "GN001"),
        ("SELECT genome.calibrate_quality(%s, NULL)", ("brand",), "GN004"),
        ("SELECT genome.calibrate_organization_quality(%s, now())", (uuid.uuid4(),), "GN702"),
        ("SELECT genome.calibrate_organization_quality(NULL, now())", (), "GN005"),
        ("SELECT genome.calibrate_all_quality(NULL)", (), "GN004"),
        ("SELECT genome.activate_quality_config(%s, 'alice', now())", (uuid.uuid4(),), "GN704"),
        ("SELECT genome.activate_quality_config(NULL, 'alice', now())", (), "GN005"),
        ("SELECT genome.activate_quality_config(%s, ' ', now())", ("config",), "GN705"),
        ("SELECT genome.activate_quality_config(%s, NULL, now())", ("config",), "GN705"),
        ("SELECT genome.activate_quality_config(%s, 'alice', NULL)", ("config",), "GN004"),
    ],
)
def test_bad_input_raises_its_sqlstate_and_writes_nothing(
    db: psycopg.Connection, sql: str, args: tuple, state: str
) -> None:
    shop = Shop(db)
    ((config, _, _),) = _active(db, shop.org)
    args = tuple(shop.brand if a == "brand" else config if a == "config" else a for a in args)
    before = db.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_active) FROM genome.quality_scoring_config"
    ).fetchone()
    with pytest.raises(psycopg.Error) as err:
        db.execute(sql, args)
    assert err.value.sqlstate == state
    assert (
        db.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_active) FROM genome.quality_scoring_config"
        ).fetchone()
        == before
    )
