"""Creative fatigue: detect_fatigue on planted CTR decay, predict_fatigue per combination,
schedule_refresh ahead of the predicted date."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import numpy as np
import psycopg
import pytest
from scipy.optimize import brentq
from scipy.stats import chi2

from sim import factories as f

D0 = dt.date(2025, 3, 3)
IMPS = 3000
BASE_CTR = 0.02


def _reach(imps: float, audience: float) -> int:
    return max(1, min(int(imps), round(audience * (1.0 - math.exp(-imps / audience)))))


def _true_frequency(cum: float, audience: float) -> float:
    return cum / (audience * (1.0 - math.exp(-cum / audience)))


def _deliver(
    db: psycopg.Connection,
    ad_id: uuid.UUID,
    start: dt.date,
    days: int,
    *,
    audience: float,
    ctr: list[float],
) -> str:
    """Daily rows of a launched ad: IMPS impressions a day, reach from the audience size."""
    meta = f.link(db, ad_id)
    for i in range(days):
        f.perf(
            db, meta, start + dt.timedelta(days=i), impressions=IMPS, clicks=round(IMPS * ctr[i])
        )
        reach = _reach(IMPS, audience)
        db.execute(
            "UPDATE meta_ads_performance SET reach = %s, frequency = round(%s::numeric / %s, 4) "
            "WHERE meta_ad_id = %s AND date = %s",
            (reach, IMPS, reach, meta, start + dt.timedelta(days=i)),
        )
    return meta


def _fatiguing_ctr(days: int, audience: float, rate: float = 0.5) -> list[float]:
    """CTR that decays with the lifetime frequency above 1 (as ads wear out)."""
    out = []
    for i in range(days):
        freq = _true_frequency(IMPS * (i + 0.5), audience)
        out.append(BASE_CTR * math.exp(-rate * max(freq - 1.0, 0.0)))
    return out


def _setup(db: psycopg.Connection, **brand: object) -> tuple[uuid.UUID, uuid.UUID]:
    b = f.brand(db, **brand)  # type: ignore[arg-type]
    run = f.ad_run(db, f.product(db, b), max_attempts=100)
    return b, run


def _fatigue(db: psycopg.Connection, ad_id: uuid.UUID) -> dict:
    cur = db.execute("SELECT * FROM genome.ad_fatigue WHERE generated_ad_id = %s", (ad_id,))
    row = cur.fetchone()
    assert row is not None
    return dict(zip([c.name for c in cur.description], row, strict=True))


def _expected_fatigue_day(ctr: list[float], audience: float) -> int:
    """First day index (1-based) meeting the documented rule, with the planted audience."""
    clicks = np.array([round(IMPS * c) for c in ctr], dtype=float)
    imps = np.full(len(ctr), float(IMPS))
    base_c, base_i = clicks[:7].sum(), imps[:7].sum()
    for idx in range(8, len(ctr) + 1):
        lo = max(8, idx - 7 + 1)
        wc, wi = clicks[lo - 1 : idx].sum(), imps[lo - 1 : idx].sum()
        ratio = (wc / wi) / (base_c / base_i)
        se = math.sqrt(1 / wc - 1 / wi + 1 / base_c - 1 / base_i)
        freq = _true_frequency(IMPS * idx, audience)
        if wi >= 500 and 1 - ratio >= 0.2 and math.log(ratio) + 1.959964 * se < 0 and freq >= 1.6:
            return idx
    raise AssertionError("the planted ad never fatigues")


def test_fatigue_detected_on_planted_decay_not_on_flat_ads(db: psycopg.Connection) -> None:
    _b, run = _setup(db)
    days, audience = 20, 20_000.0
    decaying = f.ad(db, run, {"hook_type": "urgency", "belief_angle": "scientific_proof"})
    flat = f.ad(db, run, {"hook_type": "urgency", "belief_angle": "scientific_proof"})
    # CTR falls by 40% but the audience is huge: frequency stays ~1, so not fatigue.
    broad = f.ad(db, run, {"hook_type": "urgency", "belief_angle": "scientific_proof"})
    young = f.ad(db, run, {"hook_type": "urgency", "belief_angle": "scientific_proof"})
    decay_ctr = _fatiguing_ctr(days, audience)
    _deliver(db, decaying, D0, days, audience=audience, ctr=decay_ctr)
    _deliver(db, flat, D0, days, audience=audience, ctr=[BASE_CTR] * days)
    _deliver(db, broad, D0, days, audience=5e7, ctr=[BASE_CTR] * 8 + [0.6 * BASE_CTR] * 12)
    _deliver(db, young, D0, 5, audience=audience, ctr=[BASE_CTR] * 5)

    now = f.at(D0 + dt.timedelta(days=days))
    n = db.execute("SELECT genome.detect_fatigue(%s)", (now,)).fetchone()[0]
    assert n == 4

    d = _fatigue(db, decaying)
    assert d["status"] == "fatigued"
    assert d["ctr_decay"] >= 0.2
    assert d["ctr_decay_ci_lower"] > 0
    assert d["est_frequency"] >= 1.6
    # The audience estimated from the daily reach is the planted one.
    assert d["est_audience"] == pytest.approx(audience, rel=0.03)
    assert d["est_frequency"] == pytest.approx(_true_frequency(IMPS * days, audience), rel=0.02)
    expected_day = _expected_fatigue_day(decay_ctr, audience)
    assert d["days_to_fatigue"] == expected_day
    assert d["fatigued_on"] == D0 + dt.timedelta(days=expected_day - 1)

    fl = _fatigue(db, flat)
    assert fl["status"] == "fresh"
    assert abs(fl["ctr_decay"]) < 0.02
    assert fl["est_frequency"] == pytest.approx(d["est_frequency"], rel=0.01)

    br = _fatigue(db, broad)
    assert br["status"] == "decaying"
    assert br["ctr_decay"] == pytest.approx(0.4, abs=0.02)
    assert br["est_frequency"] < 1.1

    assert _fatigue(db, young)["status"] == "warming_up"

    # The day before, the decaying ad had not fatigued yet: p_now bounds what is seen.
    assert expected_day > 8
    before = D0 + dt.timedelta(days=expected_day - 2)
    db.execute("SELECT genome.detect_fatigue(%s)", (f.at(before),))
    early = _fatigue(db, decaying)
    assert early["last_date"] == before
    assert early["status"] in ("fresh", "decaying")


@pytest.mark.parametrize(
    "frequency", [1.0 + 1e-7, 1.0005, 1.002, 1.05, 1.6, 2.0, 4.0, 7.5, 39.9, 40.1, 1000.0]
)
def test_the_audience_inverts_each_days_frequency(db: psycopg.Connection, frequency: float) -> None:
    """Days of i impressions reaching i / r people: x = i / A solves r = x / (1 - e^-x), so
    est_audience = i / x, against scipy's root finder on that equation written with expm1
    (exact near r = 1, where 1 - e^-x cancels)."""
    _b, run = _setup(db)
    ad = f.ad(db, run, {"hook_type": "urgency", "belief_angle": "scientific_proof"})
    meta = f.link(db, ad)
    reach = 10**9 if frequency < 2 else 10**6
    imps = round(frequency * reach)
    for day in range(2):
        f.perf(db, meta, D0 + dt.timedelta(days=day), impressions=imps, clicks=imps // 100)
    db.execute("UPDATE meta_ads_performance SET reach = %s WHERE meta_ad_id = %s", (reach, meta))
    db.execute("SELECT genome.detect_fatigue(%s)", (f.at(D0 + dt.timedelta(days=2)),))
    r = imps / reach
    x = brentq(lambda t: t / -math.expm1(-t) - r, 1e-300, r + 1.0, xtol=1e-300, rtol=1e-15)
    assert _fatigue(db, ad)["est_audience"] == pytest.approx(imps / x, rel=3e-7)


def test_an_audience_nobody_saw_twice_has_no_estimate(db: psycopg.Connection) -> None:
    _b, run = _setup(db)
    ad = f.ad(db, run, {"hook_type": "urgency", "belief_angle": "scientific_proof"})
    _deliver(db, ad, D0, 3, audience=1e12, ctr=[BASE_CTR] * 3)
    db.execute("SELECT genome.detect_fatigue(%s)", (f.at(D0 + dt.timedelta(days=3)),))
    d = _fatigue(db, ad)
    assert d["est_audience"] is None and d["est_frequency"] == 1.0


def test_a_small_heavily_served_audience_is_estimated_exactly(db: psycopg.Connection) -> None:
    """3,000 impressions a day to 600 people: each day's frequency is about 5, where the
    series the audience estimate once used went negative (and detect_fatigue failed)."""
    _b, run = _setup(db)
    audience, days = 600.0, 10
    ad = f.ad(db, run, {"hook_type": "urgency", "belief_angle": "scientific_proof"})
    _deliver(db, ad, D0, days, audience=audience, ctr=[BASE_CTR] * days)
    assert (
        db.execute(
            "SELECT genome.detect_fatigue(%s)", (f.at(D0 + dt.timedelta(days=days)),)
        ).fetchone()[0]
        == 1
    )
    d = _fatigue(db, ad)
    # The daily reach is rounded to whole people, so the estimate is within a percent.
    assert d["est_audience"] == pytest.approx(audience, rel=0.01)
    assert d["est_frequency"] == pytest.approx(_true_frequency(IMPS * days, audience), rel=0.01)


def test_ads_without_clicks_on_either_side_are_assessed_not_judged(
    db: psycopg.Connection,
) -> None:
    """An ad with no click in its first week, or none in its trailing window, has no decay
    or interval to judge: it is assessed (not fatigued) and the call does not fail (it did,
    dividing by the baseline's zero CTR, on a learning benchmark's market)."""
    _b, run = _setup(db)
    days, audience = 14, 20_000.0
    silent_start = f.ad(db, run, {"hook_type": "urgency"})
    silent_end = f.ad(db, run, {"hook_type": "urgency"})
    _deliver(db, silent_start, D0, days, audience=audience, ctr=[0.0] * 7 + [BASE_CTR] * 7)
    _deliver(db, silent_end, D0, days, audience=audience, ctr=[BASE_CTR] * 7 + [0.0] * 7)

    now = f.at(D0 + dt.timedelta(days=days))
    assert db.execute("SELECT genome.detect_fatigue(%s)", (now,)).fetchone()[0] == 2
    start = _fatigue(db, silent_start)
    assert start["baseline_clicks"] == 0
    assert start["ctr_decay"] is None and start["ctr_decay_ci_lower"] is None
    assert start["status"] != "fatigued"
    end = _fatigue(db, silent_end)
    assert end["current_clicks"] == 0
    assert end["ctr_decay"] == pytest.approx(1.0)
    assert end["ctr_decay_ci_lower"] is None
    assert end["status"] != "fatigued"


def test_detect_fatigue_rejects_bad_input(db: psycopg.Connection) -> None:
    _b, run = _setup(db)
    ad = f.ad(db, run, {"hook_type": "urgency"})
    _deliver(db, ad, D0, 10, audience=20_000, ctr=[BASE_CTR] * 10)
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT genome.detect_fatigue(NULL)")
    assert e.value.sqlstate == "GN004"
    db.execute("UPDATE genome.settings SET value = '1.5' WHERE key = 'fatigue_ctr_drop'")
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT genome.detect_fatigue(%s)", (f.at(D0 + dt.timedelta(days=10)),))
    assert e.value.sqlstate == "GN090"
    assert db.execute("SELECT count(*) FROM genome.ad_fatigue").fetchone()[0] == 0
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT * FROM genome.predict_fatigue(%s)", (uuid.uuid4(),))
    assert e.value.sqlstate == "GN001"


def _history(
    db: psycopg.Connection, run: uuid.UUID, tags: dict[str, str], n: int, audiences: list[float]
) -> list[uuid.UUID]:
    """n ads of one combination, launched a month before D0 and run 20 days."""
    ads = []
    start = D0 - dt.timedelta(days=40)
    for i in range(n):
        ad = f.ad(db, run, tags)
        a = audiences[i % len(audiences)]
        _deliver(db, ad, start, 20, audience=a, ctr=_fatiguing_ctr(20, a))
        ads.append(ad)
    return ads


def _tired_and_lasting(
    db: psycopg.Connection, run: uuid.UUID, tired: dict[str, str], lasting: dict[str, str]
) -> None:
    """Five ads of `tired` that fatigue (_history) and four of `lasting` that hold their CTR
    for 20 days, assessed by detect_fatigue at D0."""
    _history(db, run, tired, 5, [15_000, 20_000, 25_000])
    for _ in range(4):
        ad = f.ad(db, run, lasting)
        _deliver(db, ad, D0 - dt.timedelta(days=40), 20, audience=20_000, ctr=[BASE_CTR] * 20)
    db.execute("SELECT genome.detect_fatigue(%s)", (f.at(D0),))


def test_predict_fatigue_per_combination_with_interval(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    tired = {"hook_type": "urgency", "belief_angle": "scientific_proof"}
    lasting = {"hook_type": "testimonial", "belief_angle": "natural_purity"}
    _tired_and_lasting(db, run, tired, lasting)

    rows = db.execute(
        "SELECT combo_key, n_ads, n_fatigued, days_at_risk, median_days_to_fatigue, ci_lower, "
        "ci_upper, ci_level FROM genome.predict_fatigue(%s)",
        (b,),
    ).fetchall()
    by_key = {r[0]: r for r in rows}
    key = "belief_angle=scientific_proof|hook_type=urgency"
    _, n, d, t, median, lo, hi, level = by_key[key]
    days = [
        r[0]
        for r in db.execute(
            "SELECT days_to_fatigue FROM genome.ad_fatigue af JOIN generated_ads g "
            "ON g.id = af.generated_ad_id WHERE g.element_tags @> %s::jsonb",
            ('{"hook_type": "urgency"}',),
        ).fetchall()
    ]
    assert n == 5 and d == 5 and all(x is not None for x in days)
    # Exponential fit of the time at risk after the first week, exact chi-square interval.
    exposure = sum(x - 7 for x in days)
    assert t == pytest.approx(exposure)
    assert median == pytest.approx(7 + math.log(2) * exposure / 5)
    a = (1 - level) / 2
    assert lo == pytest.approx(7 + math.log(2) / (chi2.ppf(1 - a, 12) / (2 * exposure)))
    assert hi == pytest.approx(7 + math.log(2) / (chi2.ppf(a, 10) / (2 * exposure)))
    assert lo < median < hi
    assert min(days) - 1 <= median <= max(days) + 3

    never = by_key["belief_angle=natural_purity|hook_type=testimonial"]
    assert never[2] == 0 and never[4] is None and never[6] is None
    # No fatigue yet: only a lower bound, beyond the days observed at risk.
    assert never[5] > 7
    assert by_key["*"][1] == 9 and by_key["*"][2] == 5


def test_refresh_planned_before_the_predicted_date(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    tired = {"hook_type": "urgency", "belief_angle": "scientific_proof", "color_mode": "brand"}
    _history(db, run, tired, 6, [15_000, 20_000])
    now = f.at(D0 + dt.timedelta(days=6))
    # A winner of the tiring combination, in its first week and still fresh.
    winner = f.ad(db, run, tired)
    _deliver(db, winner, D0, 7, audience=1e8, ctr=[BASE_CTR] * 7)
    f.reward(db, winner, 0.8, now - dt.timedelta(days=1), impressions=27_000, clicks=540)
    # A winner launched three days ago: far from its predicted date, not refreshed yet.
    other = f.ad(db, run, {"hook_type": "testimonial", "belief_angle": "natural_purity"})
    _deliver(db, other, D0 + dt.timedelta(days=4), 3, audience=1e8, ctr=[BASE_CTR] * 3)
    f.reward(db, other, 0.8, now - dt.timedelta(days=1), impressions=27_000, clicks=540)
    # A fatigued ad that is no winner: not refreshed.
    loser = _history(db, run, tired, 1, [15_000])[0]
    f.reward(db, loser, 0.3, now - dt.timedelta(days=20), impressions=60_000, clicks=900)
    db.execute("SELECT genome.update_scores(%s)", (now,))

    result = db.execute("SELECT genome.run_job('fatigue_refresh', %s)", (now,)).fetchone()[0]
    assert result["status"] == "succeeded", result
    assert result["results"]["schedule_refresh"] == 1

    lineage = db.execute(
        "SELECT parent_ad_id, child_ad_id, ancestor_ad_id, evolution_type, variable_changed, "
        "variable_from, variable_to, created_at FROM genome.ad_lineage"
    ).fetchall()
    assert len(lineage) == 1
    parent, child, ancestor, kind, dim, v_from, v_to, created = lineage[0]
    assert (parent, ancestor, kind) == (winner, winner, "refresh")
    assert dim in ("hook_type", "visual_style", "color_mode", "template_category")
    assert v_from == tired.get(dim) and v_to != v_from

    # The child keeps the winner's tags except the one changed dimension.
    ctags, cparent, cround, cstatus = db.execute(
        "SELECT element_tags, parent_ad_id, iteration_round, final_status FROM generated_ads "
        "WHERE id = %s",
        (child,),
    ).fetchone()
    wtags = db.execute(
        "SELECT element_tags FROM generated_ads WHERE id = %s", (winner,)
    ).fetchone()[0]
    assert cparent == winner and cround == 1 and cstatus == "pending"
    assert ctags[dim] == v_to
    # (dimensions the winner never recorded are chosen by the bandit as usual)
    kept = {k: v for k, v in wtags.items() if k not in (dim, "canvas_size")}
    assert kept and {k: ctags[k] for k in kept} == kept
    assert (
        db.execute(
            "SELECT count(*) FROM genome.agent_jobs WHERE generated_ad_id = %s AND kind = 'generate'",
            (child,),
        ).fetchone()[0]
        == 1
    )

    # Planned ahead of the date the winner's combination predicts it to fatigue.
    pf = db.execute(
        "SELECT median_days_to_fatigue FROM genome.predict_fatigue(%s) WHERE combo_key = %s",
        (b, "belief_angle=scientific_proof|color_mode=brand|hook_type=urgency"),
    ).fetchone()[0]
    predicted = D0 + dt.timedelta(days=round(pf) - 1)
    assert created.date() < predicted
    assert _fatigue(db, winner)["status"] == "warming_up"
    # The forecast is the winner's most specific combination with an estimate (the triple,
    # not one of its pairs or '*'), and the run records it with the date it predicts.
    plan = db.execute(
        "SELECT r.parameters FROM ad_runs r JOIN generated_ads g ON g.ad_run_id = r.id "
        "WHERE g.id = %s",
        (child,),
    ).fetchone()[0]
    assert (
        plan["forecast_basis"] == "belief_angle=scientific_proof|color_mode=brand|hook_type=urgency"
    )
    assert plan["predicted_fatigue_on"] == predicted.isoformat()

    # Idempotent: a second run the same day plans nothing more.
    assert db.execute("SELECT genome.schedule_refresh(%s)", (now,)).fetchone()[0] == 0


def test_fatigued_winner_is_refreshed(db: psycopg.Connection) -> None:
    _b, run = _setup(db)
    winner = _history(
        db, run, {"hook_type": "urgency", "belief_angle": "scientific_proof"}, 1, [15_000]
    )[0]
    now = f.at(D0)
    f.reward(db, winner, 0.9, now - dt.timedelta(days=5), impressions=60_000, clicks=900)
    db.execute("SELECT genome.detect_fatigue(%s)", (now,))
    assert _fatigue(db, winner)["status"] == "fatigued"
    assert db.execute("SELECT genome.schedule_refresh(%s)", (now,)).fetchone()[0] == 1
    child_run = db.execute(
        "SELECT r.parameters FROM ad_runs r JOIN generated_ads g ON g.ad_run_id = r.id "
        "WHERE g.parent_ad_id = %s",
        (winner,),
    ).fetchone()[0]
    assert child_run["evolution"] == "refresh" and child_run["fatigue_status"] == "fatigued"


def test_refreshes_are_capped_per_brand(db: psycopg.Connection) -> None:
    _b, run = _setup(db)
    db.execute("UPDATE genome.settings SET value = '2' WHERE key = 'refresh_max_per_brand'")
    tags = {"hook_type": "urgency", "belief_angle": "scientific_proof"}
    winners = _history(db, run, tags, 4, [15_000])
    now = f.at(D0)
    for w in winners:
        f.reward(db, w, 0.9, now - dt.timedelta(days=5), impressions=60_000, clicks=900)
    db.execute("SELECT genome.detect_fatigue(%s)", (now,))
    assert db.execute("SELECT genome.schedule_refresh(%s)", (now,)).fetchone()[0] == 2
    # The next day the remaining two are due and get theirs.
    assert (
        db.execute("SELECT genome.schedule_refresh(%s)", (now + dt.timedelta(days=1),)).fetchone()[
            0
        ]
        == 2
    )


def _day(db: psycopg.Connection, meta: str, day: dt.date, ctr: float, audience: float) -> None:
    """One delivered day of a linked ad (IMPS impressions, reach from the audience size)."""
    f.perf(db, meta, day, impressions=IMPS, clicks=round(IMPS * ctr))
    reach = _reach(IMPS, audience)
    db.execute(
        "UPDATE meta_ads_performance SET reach = %s, frequency = round(%s::numeric / %s, 4) "
        "WHERE meta_ad_id = %s AND date = %s",
        (reach, IMPS, reach, meta, day),
    )


def _table(db: psycopg.Connection) -> list[tuple]:
    """genome.ad_fatigue without assessed_at (when each row was last written)."""
    cur = db.execute("SELECT * FROM genome.ad_fatigue ORDER BY generated_ad_id")
    keep = [i for i, c in enumerate(cur.description) if c.name != "assessed_at"]
    return [tuple(row[i] for i in keep) for row in cur.fetchall()]


def test_daily_calls_assess_only_changed_ads_and_equal_a_from_scratch_assessment(
    db: psycopg.Connection,
) -> None:
    """docs/evolution.md#fatigue: day by day, with ads that stop, start late and get a day
    restated, each call assesses exactly the ads whose inputs changed, and the table it
    leaves equals what one assessment from an empty table gives."""
    _b, run = _setup(db)
    audience = 15_000.0
    tags = {"hook_type": "urgency", "belief_angle": "scientific_proof"}
    # (first day, days of delivery, CTR by day of its life)
    plan = {
        "stops": (0, 9, [BASE_CTR] * 9),
        "wears_out": (0, 16, _fatiguing_ctr(16, audience)),
        "starts_late": (4, 12, [BASE_CTR] * 12),
    }
    ads = {name: f.ad(db, run, tags) for name in plan}
    metas = {name: f.link(db, ads[name]) for name in plan}
    restated_on, restated_day = 12, D0 + dt.timedelta(days=3)
    for k in range(16):
        day = D0 + dt.timedelta(days=k)
        changed = set()
        for name, (first, days, ctr) in plan.items():
            if first <= k < first + days:
                _day(db, metas[name], day, ctr[k - first], audience)
                changed.add(name)
        if k == restated_on:  # Meta restates a finished ad's old day (fewer valid clicks)
            db.execute(
                "UPDATE meta_ads_performance SET link_clicks = link_clicks - 7, updated_at = %s"
                " WHERE meta_ad_id = %s AND date = %s",
                (f.at(day), metas["stops"], restated_day),
            )
            changed.add("stops")
        n = db.execute("SELECT genome.detect_fatigue(%s)", (f.at(day),)).fetchone()[0]
        assert n == len(changed), (k, changed)
    assert _fatigue(db, ads["wears_out"])["status"] == "fatigued"
    assert _fatigue(db, ads["stops"])["last_date"] == D0 + dt.timedelta(days=8)
    last = f.at(D0 + dt.timedelta(days=15))
    incremental = _table(db)
    db.execute("TRUNCATE genome.ad_fatigue")
    assert db.execute("SELECT genome.detect_fatigue(%s)", (last,)).fetchone()[0] == 3
    assert _table(db) == incremental
    # Nothing new: nothing assessed. Another setting: every ad again.
    assert db.execute("SELECT genome.detect_fatigue(%s)", (last,)).fetchone()[0] == 0
    db.execute("UPDATE genome.settings SET value = '5' WHERE key = 'fatigue_window_days'")
    assert db.execute("SELECT genome.detect_fatigue(%s)", (last,)).fetchone()[0] == 3


def test_a_call_reads_what_was_written_since_the_last_and_what_lay_ahead_of_it(
    db: psycopg.Connection,
) -> None:
    """docs/evolution.md#fatigue: the markers of changed Meta ads. Days dated after p_now are
    read by a later call though nothing was written in between; an earlier p_now reads the
    ads assessed beyond it; a mapping written after its rows, and a deleted day, are read;
    with nothing written nothing is read and no marker is left; the table equals an
    assessment from scratch."""
    b, run = _setup(db)
    audience = 15_000.0
    tags = {"hook_type": "urgency", "belief_angle": "scientific_proof"}
    first, late = f.ad(db, run, tags), f.ad(db, run, tags)
    meta = f.link(db, first)
    for k in range(10):
        day = D0 + dt.timedelta(days=k)
        _day(db, meta, day, BASE_CTR, audience)
        # The late ad's rows arrive before its mapping (the sync stores them with the brand).
        f.perf(db, "meta-late", day, impressions=IMPS, clicks=round(IMPS * BASE_CTR), brand_id=b)

    def detect(k: int) -> int:
        at = f.at(D0 + dt.timedelta(days=k))
        return db.execute("SELECT genome.detect_fatigue(%s)", (at,)).fetchone()[0]

    def last_date(ad: uuid.UUID) -> dt.date:
        return _fatigue(db, ad)["last_date"]

    assert detect(4) == 1 and last_date(first) == D0 + dt.timedelta(days=4)
    assert detect(4) == 0
    assert detect(9) == 1 and last_date(first) == D0 + dt.timedelta(days=9)
    assert detect(4) == 1 and last_date(first) == D0 + dt.timedelta(days=4)
    assert detect(9) == 1 and last_date(first) == D0 + dt.timedelta(days=9)
    f.link(db, late, "meta-late")
    assert detect(9) == 1 and last_date(late) == D0 + dt.timedelta(days=9)
    db.execute(
        "DELETE FROM meta_ads_performance WHERE meta_ad_id = %s AND date = %s",
        (meta, D0 + dt.timedelta(days=9)),
    )
    assert detect(9) == 1 and last_date(first) == D0 + dt.timedelta(days=8)
    assert detect(9) == 0
    assert db.execute("SELECT count(*) FROM genome.fatigue_delivery_changes").fetchone()[0] == 0
    incremental = _table(db)
    db.execute("DELETE FROM genome.ad_fatigue")
    assert detect(9) == 2 and _table(db) == incremental


def test_predict_fatigue_counts_every_pair_and_triple_of_an_ads_tags(
    db: psycopg.Connection,
) -> None:
    """Ads with four element tags carry their 6 pairs and 4 triples (positions i < j < k of
    the tags sorted by dimension, predict_fatigue's positions), each counted once per ad; a
    brand's ads with fewer tags carry only their own."""
    b, run = _setup(db)
    four = {
        "belief_angle": "scientific_proof",
        "color_mode": "brand",
        "hook_type": "urgency",
        "visual_style": "flat_graphic",
    }
    two = {"hook_type": "testimonial", "belief_angle": "natural_purity"}
    _tired_and_lasting(db, run, four, two)
    rows = db.execute(
        "SELECT combo_key, combo_size, n_ads, n_fatigued FROM genome.predict_fatigue(%s)", (b,)
    ).fetchall()
    dims = sorted(four)
    pairs = {f"{x}={four[x]}|{y}={four[y]}" for i, x in enumerate(dims) for y in dims[i + 1 :]}
    triples = {
        f"{x}={four[x]}|{y}={four[y]}|{z}={four[z]}"
        for i, x in enumerate(dims)
        for j, y in enumerate(dims[i + 1 :], i + 1)
        for z in dims[j + 1 :]
    }
    got = {r[0]: r for r in rows}
    assert {k for k, r in got.items() if r[1] == 2} == pairs | {
        "belief_angle=natural_purity|hook_type=testimonial"
    }
    assert {k for k, r in got.items() if r[1] == 3} == triples
    assert len(pairs) == 6 and len(triples) == 4
    assert all(got[k][2] == 5 and got[k][3] == 5 for k in pairs | triples)
    assert got["*"][2] == 9
