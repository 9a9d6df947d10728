"""genome.validate (docs/monitoring.md#validation): weekly Spearman accuracy, Fisher interval, stale flag."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest
from scipy import stats

from sim import factories as f
from tests.support import monitoring as ms

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)  # Monday of ISO week 2026-W23
DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(weeks=1)


def _launch(db: psycopg.Connection, run, scores, ctrs, launched: dt.date, matured: dt.datetime):
    ids = ms.ads(db, run, ["approved"] * len(scores), pre_gen_scores=list(scores))
    ms.rewards(
        db,
        ids,
        [0.5] * len(ids),
        matured_at=matured,
        first_date=launched,
        ctrs=list(ctrs),
    )
    return ids


def _validate(db: psycopg.Connection, at: dt.datetime) -> int:
    return db.execute("SELECT genome.validate(%s)", (at,)).fetchone()[0]


def _result(db: psycopg.Connection, brand, at: dt.datetime):
    return db.execute(
        "SELECT n, spearman_rho, ci_lower, ci_upper, sufficient, below_threshold, iso_year, "
        "iso_week, launched_from, launched_to FROM genome.validation_results "
        "WHERE brand_id = %s AND week_start = date_trunc('week', %s::timestamptz AT TIME ZONE 'UTC')::date",
        (brand, at),
    ).fetchone()


def _state(db: psycopg.Connection, brand):
    return db.execute(
        "SELECT is_stale, stale_since FROM genome.genome_state WHERE brand_id = %s", (brand,)
    ).fetchone()


def test_spearman_and_fisher_interval_match_scipy(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(8)
    b = f.brand(db)
    other = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    today = NOW.date()
    scores, ctrs = [], []
    # Ads launched 14..41 days ago count; ties in both variables on purpose.
    for age in (14, 20, 27, 33, 41):
        s = np.round(rng.uniform(0.2, 0.8, 9), 2)
        c = np.round(0.01 + 0.02 * s + rng.normal(0, 0.006, 9), 3)
        c = np.clip(c, 0.001, None)
        _launch(db, run, s, c, today - dt.timedelta(days=age), NOW - DAY)
        scores += list(s)
        ctrs += list(c)
    # Not counted: launched too recently, too long ago, matured after p_now, no pre_gen_score.
    _launch(db, run, [0.9] * 5, [0.001] * 5, today - dt.timedelta(days=13), NOW - DAY)
    _launch(db, run, [0.9] * 5, [0.001] * 5, today - dt.timedelta(days=42), NOW - DAY)
    _launch(db, run, [0.9] * 5, [0.001] * 5, today - dt.timedelta(days=20), NOW + DAY)
    _launch(db, run, [None] * 5, [0.001] * 5, today - dt.timedelta(days=20), NOW - DAY)
    # Another brand's ads never mix in (the brand is reached through run -> product).
    _launch(
        db,
        f.ad_run(db, f.product(db, other)),
        [0.1, 0.5, 0.9],
        [0.3, 0.2, 0.1],
        today - 20 * DAY,
        NOW - DAY,
    )

    assert _validate(db, NOW) == 2
    n, rho, lo, hi, sufficient, below, iso_year, iso_week, start, end = _result(db, b, NOW)
    expected = stats.spearmanr(scores, ctrs).statistic
    z = stats.norm.ppf(0.975) / np.sqrt(len(scores) - 3)
    assert n == len(scores) == 45
    assert rho == pytest.approx(expected, abs=1e-9)
    assert lo == pytest.approx(np.tanh(np.arctanh(expected) - z), abs=1e-9)
    assert hi == pytest.approx(np.tanh(np.arctanh(expected) + z), abs=1e-9)
    assert sufficient and below == (expected < 0.3)
    assert (iso_year, iso_week) == (2026, 23)
    assert (start, end) == (today - dt.timedelta(days=41), today - dt.timedelta(days=14))
    small = _result(db, other, NOW)
    assert small[0] == 3 and small[1] == pytest.approx(-1.0)
    assert small[2] is None and small[4] is False and small[5] is None

    # A second run in the same ISO week replaces that week's row.
    _launch(db, run, [0.5] * 5, [0.02] * 5, today - dt.timedelta(days=15), NOW - DAY)
    _validate(db, NOW + 2 * dt.timedelta(hours=1))
    assert db.execute(
        "SELECT count(*), max(n) FROM genome.validation_results WHERE brand_id = %s", (b,)
    ).fetchone() == (1, 50)


def _bad_cohort(db, run, launched: dt.date, matured: dt.datetime, n: int = 12):
    s = np.round(np.linspace(0.1, 0.9, n), 4)
    _launch(db, run, s, s[::-1] / 20, launched, matured)


def _good_cohort(db, run, launched: dt.date, matured: dt.datetime, n: int = 12):
    s = np.round(np.linspace(0.1, 0.9, n), 4)
    _launch(db, run, s, s / 20, launched, matured)


def test_stale_after_three_bad_weeks_and_cleared_after_recovery(db: psycopg.Connection) -> None:
    b = f.brand(db)
    p = f.product(db, b)
    run = f.ad_run(db, p)
    _bad_cohort(db, run, NOW.date() - 20 * DAY, NOW - 10 * DAY)

    for week in range(2):
        _validate(db, NOW + week * WEEK)
        assert _result(db, b, NOW + week * WEEK)[5] is True
        assert _state(db, b) in (None, (False, None))
        assert ms.alerts(db, b, "genome_stale") == []

    third = NOW + 2 * WEEK
    _validate(db, third)
    assert _state(db, b) == (True, third)
    alert = ms.open_alert(db, b, "genome_stale")
    assert alert[1] == "warning" and alert[3] == pytest.approx(-1.0)
    assert "STALE" in db.execute("SELECT genome.performance_context(%s)", (b,)).fetchone()[0]

    # A fourth bad week: still stale since the third, still one alert.
    _validate(db, NOW + 3 * WEEK)
    assert _state(db, b) == (True, third)
    assert [a[0] for a in ms.alerts(db, b, "genome_stale")] == [alert[0]]

    # Good predictions for ads launched after the bad ones left the window: recovered.
    _good_cohort(db, run, NOW.date() + 10 * DAY, NOW + 3 * WEEK)
    recovered = NOW + 4 * WEEK
    _validate(db, recovered)
    assert _result(db, b, recovered)[1] == pytest.approx(1.0)
    assert _state(db, b) == (False, None)
    assert ms.alerts(db, b, "genome_stale") == [(alert[0], "warning", "auto_resolved")]
    assert "STALE" not in db.execute("SELECT genome.performance_context(%s)", (b,)).fetchone()[0]


def test_a_missing_or_insufficient_week_breaks_the_streak(db: psycopg.Connection) -> None:
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    _bad_cohort(db, run, NOW.date() - 20 * DAY, NOW - 10 * DAY)
    _validate(db, NOW)
    _validate(db, NOW + WEEK)
    # No validation in the third week: the fourth is only the second of its three weeks.
    _validate(db, NOW + 3 * WEEK)
    assert _result(db, b, NOW + 3 * WEEK)[5] is True
    assert _state(db, b) in (None, (False, None))
    # An insufficient week (fewer ads than the setting asks) neither counts nor clears.
    _bad_cohort(db, run, NOW.date() + 10 * DAY, NOW + 3 * WEEK)
    db.execute("UPDATE genome.settings SET value = '50' WHERE key = 'validation_min_ads'")
    _validate(db, NOW + 4 * WEEK)
    assert _result(db, b, NOW + 4 * WEEK)[4:6] == (False, None)
    db.execute("UPDATE genome.settings SET value = '10' WHERE key = 'validation_min_ads'")
    _validate(db, NOW + 5 * WEEK)
    _validate(db, NOW + 6 * WEEK)
    assert _state(db, b) in (None, (False, None))
    _validate(db, NOW + 7 * WEEK)
    assert _state(db, b) == (True, NOW + 7 * WEEK)


def test_insufficient_week_does_not_clear_the_flag(db: psycopg.Connection) -> None:
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    _bad_cohort(db, run, NOW.date() - 20 * DAY, NOW - 10 * DAY)
    for week in range(3):
        _validate(db, NOW + week * WEEK)
    assert _state(db, b)[0] is True
    # Only 5 good ads in the window later: not enough to say the genome recovered.
    _good_cohort(db, run, NOW.date() + 10 * DAY, NOW + 3 * WEEK, n=5)
    _validate(db, NOW + 4 * WEEK)
    assert _result(db, b, NOW + 4 * WEEK)[:2] == (5, pytest.approx(1.0))
    assert _state(db, b)[0] is True
    # The alert is re-confirmed while the brand stays stale, so it does not lapse.
    alert = ms.open_alert(db, b, "genome_stale")
    assert alert is not None
    assert (
        db.execute(
            "SELECT expires_at FROM genome.system_alerts WHERE id = %s", (alert[0],)
        ).fetchone()[0]
        == NOW + 4 * WEEK + 14 * DAY
    )
    # A week without any data keeps it too.
    db.execute("DELETE FROM genome.creative_element_rewards")
    _validate(db, NOW + 5 * WEEK)
    assert _result(db, b, NOW + 5 * WEEK) is None
    assert _state(db, b)[0] is True and ms.open_alert(db, b, "genome_stale")[0] == alert[0]


def test_bad_inputs_raise_and_write_nothing(db: psycopg.Connection) -> None:
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    _bad_cohort(db, run, NOW.date() - 20 * DAY, NOW - 10 * DAY)
    for sql, code in [
        ("SELECT genome.validate(NULL)", "GN004"),
        ("SELECT genome.validate('-infinity')", "GN004"),
    ]:
        with pytest.raises(psycopg.Error) as err:
            db.execute(sql)
        assert err.value.sqlstate == code
    for key, value in [
        ("validation_min_ads", "2"),
        ("validation_window_days", "0"),
        ("stale_weeks", "0"),
        ("monitoring_ci_level", "1.5"),
    ]:
        old = db.execute("SELECT value FROM genome.settings WHERE key = %s", (key,)).fetchone()[0]
        db.execute("UPDATE genome.settings SET value = %s WHERE key = %s", (value, key))
        with pytest.raises(psycopg.Error) as err:
            _validate(db, NOW)
        assert err.value.sqlstate == "GN090", key
        db.execute("UPDATE genome.settings SET value = %s WHERE key = %s", (str(old), key))
    assert db.execute("SELECT count(*) FROM genome.validation_results").fetchone()[0] == 0
    assert _validate(db, NOW) == 1
