"""genome.run_monitoring / monitoring_metrics / _sync_alerts / acknowledge (docs/monitoring.md#health-metrics).

Every metric fires on planted data, escalates, and auto-resolves when the data recovers;
brands are reached through ad_run -> product (the existing app's generated_ads has no brand column)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest
from scipy import stats

from sim import factories as f
from tests.support import monitoring as ms

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)  # a Monday
DAY = dt.timedelta(days=1)


def _monitor(db: psycopg.Connection, at: dt.datetime) -> int:
    return db.execute("SELECT genome.run_monitoring(%s)", (at,)).fetchone()[0]


def _metrics(db: psycopg.Connection, brand, at: dt.datetime) -> dict[str, tuple]:
    rows = db.execute(
        "SELECT metric, metric_value, severity, details FROM genome.monitoring_metrics(%s) "
        "WHERE brand_id = %s",
        (at, brand),
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def _setup(db: psycopg.Connection):
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    return b, run


def test_approval_rate_fires_escalates_and_auto_resolves(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    healthy, healthy_run = _setup(db)
    ms.decided(db, healthy_run, 9, 1, NOW - 2 * DAY)
    # 6 of 12 approved four days ago: below 0.60 over 7 days; the 3-day window is empty.
    ms.decided(db, run, 6, 6, NOW - 4 * DAY)
    assert _monitor(db, NOW) == 1
    m = _metrics(db, b, NOW)["approval_rate"]
    assert m[0] == pytest.approx(0.5) and m[1] == "warning"
    assert m[2]["warning_window_n"] == 12 and m[2]["critical_window_n"] == 0
    first = ms.open_alert(db, b, "approval_rate")
    assert first[1:4] == ("warning", "active", pytest.approx(0.5))
    assert ms.alerts(db, healthy, "approval_rate") == []
    assert _metrics(db, healthy, NOW)["approval_rate"][1] is None

    # The same data again: still one alert, refreshed, not duplicated.
    _monitor(db, NOW + dt.timedelta(hours=1))
    assert [a[0] for a in ms.alerts(db, b, "approval_rate")] == [first[0]]

    # 2 of 12 approved in the last day: below 0.40 over 3 days -> the same alert escalates.
    t2 = NOW + 2 * DAY
    ms.decided(db, run, 2, 10, t2 - DAY)
    _monitor(db, t2)
    esc = ms.open_alert(db, b, "approval_rate")
    assert esc[0] == first[0] and esc[1] == "critical"
    assert esc[4]["escalated_from"] == "warning"
    assert esc[4]["critical_window_rate"] == pytest.approx(2 / 12)
    assert esc[3] == pytest.approx(8 / 24)

    # A week of approvals: the 7-day rate recovers -> auto_resolved, nothing open.
    t3 = t2 + 8 * DAY
    ms.decided(db, run, 20, 0, t3 - DAY)
    _monitor(db, t3)
    assert ms.open_alert(db, b, "approval_rate") is None
    row = db.execute(
        "SELECT status, resolved_at, details ->> 'resolution' FROM genome.system_alerts WHERE id = %s",
        (first[0],),
    ).fetchone()
    assert row == ("auto_resolved", t3, "recovered")

    # Bad again later: a new alert; the resolved one stays closed.
    t4 = t3 + 9 * DAY
    ms.decided(db, run, 1, 11, t4 - DAY)
    _monitor(db, t4)
    history = ms.alerts(db, b, "approval_rate")
    assert [h[2] for h in history] == ["auto_resolved", "active"]
    assert history[1][1] == "critical"


# 6/10 = 0.60 is not below 0.60; 4/10 = 0.40 is not below 0.40 (both comparisons strict).
@pytest.mark.parametrize(
    ("approved", "expected"), [(6, None), (5, "warning"), (4, "warning"), (3, "critical")]
)
def test_approval_rate_thresholds_are_strict(
    db: psycopg.Connection, approved: int, expected
) -> None:
    b, run = _setup(db)
    ms.decided(db, run, approved, 10 - approved, NOW - DAY)
    assert _metrics(db, b, NOW)["approval_rate"][1] == expected


def test_approval_rate_needs_enough_decisions_and_ignores_imported(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    ms.decided(db, run, 0, 9, NOW - DAY)
    ms.ads(db, run, ["rejected"] * 20, decided_at=NOW - DAY, imported=True)
    ms.ads(db, run, ["review_failed"] * 20, decided_at=NOW - DAY)
    assert "approval_rate" not in _metrics(db, b, NOW)
    db.execute("UPDATE genome.settings SET value = '9' WHERE key = 'monitoring_min_ads'")
    assert _metrics(db, b, NOW)["approval_rate"][:2] == (0.0, "critical")


def test_thresholds_come_from_the_config_table(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    ms.decided(db, run, 7, 3, NOW - DAY)
    assert _metrics(db, b, NOW)["approval_rate"][1] is None
    db.execute(
        "UPDATE genome.alert_thresholds SET warning_threshold = 0.75 WHERE metric = 'approval_rate'"
    )
    assert _metrics(db, b, NOW)["approval_rate"][1] == "warning"


def test_generation_success_rate_fires_escalates_and_auto_resolves(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    ms.generate_jobs(db, run, 7, 3, NOW - 2 * DAY)
    _monitor(db, NOW)
    first = ms.open_alert(db, b, "generation_success_rate")
    assert first[1] == "warning" and first[3] == pytest.approx(0.7)

    t2 = NOW + DAY
    ms.generate_jobs(db, run, 2, 8, t2 - dt.timedelta(hours=1))
    _monitor(db, t2)
    esc = ms.open_alert(db, b, "generation_success_rate")
    assert (esc[0], esc[1], esc[3]) == (first[0], "critical", pytest.approx(9 / 20))

    t3 = t2 + 8 * DAY
    ms.generate_jobs(db, run, 20, 0, t3 - DAY)
    _monitor(db, t3)
    assert ms.open_alert(db, b, "generation_success_rate") is None
    assert ms.alerts(db, b, "generation_success_rate") == [(first[0], "critical", "auto_resolved")]


def test_generation_success_ignores_unfinished_and_other_kinds(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    ms.generate_jobs(db, run, 10, 0, NOW - DAY)
    ids = ms.ads(db, run, ["pending"] * 12)
    db.execute(
        "INSERT INTO genome.agent_jobs (kind, generated_ad_id, status, finished_at) "
        "SELECT 'review', id, 'dead', %s FROM unnest(%s::uuid[]) AS id",
        (NOW - DAY, ids),
    )
    db.execute(
        "INSERT INTO genome.agent_jobs (kind, generated_ad_id, status) "
        "SELECT 'generate', id, 'queued' FROM unnest(%s::uuid[]) AS id",
        (ids,),
    )
    assert _metrics(db, b, NOW)["generation_success_rate"][:2] == (1.0, None)


def test_data_freshness_fires_escalates_and_auto_resolves(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    never, never_run = _setup(db)
    unlaunched, _ = _setup(db)
    ad = f.ad(db, run, ms.TAGS)
    meta = f.link(db, ad)
    d0 = NOW.date()
    f.perf(db, meta, d0, impressions=1000, clicks=10)
    # A performance row dated after p_now does not count as fresh data.
    f.perf(db, meta, d0 + dt.timedelta(days=30), impressions=1000, clicks=10)

    assert _metrics(db, b, NOW + 2 * DAY)["data_freshness"][:2] == (2.0, None)
    _monitor(db, NOW + 4 * DAY)
    first = ms.open_alert(db, b, "data_freshness")
    assert first[1] == "warning" and first[3] == 4.0
    _monitor(db, NOW + 8 * DAY)
    esc = ms.open_alert(db, b, "data_freshness")
    assert (esc[0], esc[1], esc[3]) == (first[0], "critical", 8.0)
    f.perf(db, meta, d0 + dt.timedelta(days=9), impressions=1000, clicks=10)
    _monitor(db, NOW + 10 * DAY)
    assert ms.alerts(db, b, "data_freshness") == [(first[0], "critical", "auto_resolved")]

    # Launched (mapped) five days ago but no performance row ever: stale too.
    never_ad = f.ad(db, never_run, ms.TAGS)
    f.link(db, never_ad)
    db.execute(
        "UPDATE meta_ad_mapping SET created_at = %s WHERE generated_ad_id = %s",
        (NOW + 5 * DAY, never_ad),
    )
    m = _metrics(db, never, NOW + 10 * DAY)["data_freshness"]
    assert m[:2] == (5.0, "warning") and m[2]["last_date"] is None
    # A brand that launched nothing is not checked.
    assert "data_freshness" not in _metrics(db, unlaunched, NOW + 10 * DAY)


def test_data_freshness_counts_rows_carrying_the_brand(db: psycopg.Connection) -> None:
    b, _ = _setup(db)
    f.perf(
        db, "unmapped-ad", NOW.date() - dt.timedelta(days=1), impressions=10, clicks=1, brand_id=b
    )
    assert _metrics(db, b, NOW)["data_freshness"][:2] == (1.0, None)


def _plant_validation(db: psycopg.Connection, brand, weeks: dict[int, float | None]) -> None:
    """validation_results rows: week offset from NOW's week -> rho (None: insufficient)."""
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (brand,)).fetchone()[0]
    for offset, rho in weeks.items():
        week = NOW.date() + dt.timedelta(weeks=offset)
        db.execute(
            """
            INSERT INTO genome.validation_results (
                organization_id, brand_id, week_start, iso_year, iso_week, computed_at,
                launched_from, launched_to, n, spearman_rho, ci_level, sufficient,
                below_threshold, threshold
            ) VALUES (%s, %s, %s, extract(isoyear FROM %s::date), extract(week FROM %s::date), %s,
                      %s::date - 41, %s::date - 14, %s, %s, 0.95, %s, %s, 0.3)
            """,
            (
                org,
                brand,
                week,
                week,
                week,
                NOW,
                week,
                week,
                30 if rho is not None else 3,
                rho,
                rho is not None,
                None if rho is None else rho < 0.3,
            ),
        )


def test_prediction_accuracy_fires_escalates_and_auto_resolves(db: psycopg.Connection) -> None:
    b, _ = _setup(db)
    one_week, _ = _setup(db)
    _plant_validation(db, b, {-1: 0.2, 0: 0.25, 1: 0.05, 2: 0.5})
    _plant_validation(db, one_week, {-1: 0.6, 0: 0.2})

    _monitor(db, NOW)
    first = ms.open_alert(db, b, "prediction_accuracy")
    assert first[1] == "warning" and first[3] == pytest.approx(0.25)
    assert first[4]["weeks_below_warning"] == 2
    # One bad week after a good one is not yet "2 weeks below 0.3".
    assert _metrics(db, one_week, NOW)["prediction_accuracy"][1] is None
    assert ms.alerts(db, one_week, "prediction_accuracy") == []

    _monitor(db, NOW + 7 * DAY)
    esc = ms.open_alert(db, b, "prediction_accuracy")
    assert (esc[0], esc[1]) == (first[0], "critical")

    _monitor(db, NOW + 14 * DAY)
    assert ms.alerts(db, b, "prediction_accuracy") == [(first[0], "critical", "auto_resolved")]


def test_prediction_accuracy_needs_this_weeks_sufficient_result(db: psycopg.Connection) -> None:
    b, _ = _setup(db)
    _plant_validation(db, b, {-2: 0.05, -1: 0.05, 0: None})
    assert "prediction_accuracy" not in _metrics(db, b, NOW)
    # An insufficient week breaks the streak.
    _plant_validation(db, b, {1: 0.2})
    assert _metrics(db, b, NOW + 7 * DAY)["prediction_accuracy"][1] is None


def _winner_data(db: psycopg.Connection, run, v1: int, v2_low: int, at: dt.datetime) -> None:
    old = ms.ads(db, run, ["approved"] * v1, source="backfilled")
    ms.rewards(db, old, [0.8] * v1, matured_at=at - 60 * DAY)
    low = ms.ads(db, run, ["approved"] * v2_low)
    ms.rewards(db, low, [0.2] * v2_low, matured_at=at - 5 * DAY)


def test_winner_rate_fires_and_auto_resolves(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    _winner_data(db, run, 20, 10, NOW)
    _monitor(db, NOW)
    first = ms.open_alert(db, b, "winner_rate")
    assert first[1] == "warning" and first[3] == 0.0
    assert first[4]["reference_median_reward"] == pytest.approx(0.8)
    assert first[4]["reference_ads"] == 20
    # The seed has no critical level for winner_rate: it never escalates by itself.
    _monitor(db, NOW + DAY)
    assert ms.open_alert(db, b, "winner_rate")[1] == "warning"

    good = ms.ads(db, run, ["approved"] * 20)
    ms.rewards(db, good, [0.9] * 20, matured_at=NOW + 2 * DAY)
    m = _metrics(db, b, NOW + 3 * DAY)["winner_rate"]
    assert m[0] == pytest.approx(20 / 30) and m[1] is None
    _monitor(db, NOW + 3 * DAY)
    assert ms.alerts(db, b, "winner_rate") == [(first[0], "warning", "auto_resolved")]


def test_winner_rate_judges_v2_against_v1_when_v2_is_all_recent_ads(
    db: psycopg.Connection,
) -> None:
    """docs/monitoring.md#winner-rate: 20 old V1 ads, then 200 V2 ads that are truly better
    (rewards shifted up by 0.15, the same spread) and all of the brand's recent ads."""
    b, run = _setup(db)
    rng = np.random.default_rng(5)
    v1_rewards = np.clip(rng.normal(0.40, 0.1, 20), 0, 1)
    v2_rewards = np.clip(rng.normal(0.55, 0.1, 200), 0, 1)
    v1 = ms.ads(db, run, ["approved"] * 20, source="backfilled")
    ms.rewards(db, v1, v1_rewards.tolist(), matured_at=NOW - 90 * DAY)
    v2 = ms.ads(db, run, ["approved"] * 200)
    # Matured over the last 60 days; the 21-day window judges the newest.
    ages = np.linspace(59, 0, 200)
    for ad, reward, age in zip(v2, v2_rewards, ages, strict=True):
        ms.rewards(db, [ad], [float(reward)], matured_at=NOW - float(age) * DAY)
    rate, severity, details = _metrics(db, b, NOW)["winner_rate"]
    recent = v2_rewards[ages < 21]
    truth = 1 - stats.norm.cdf((np.median(v1_rewards) - 0.55) / 0.1)
    assert details["reference_median_reward"] == pytest.approx(np.median(v1_rewards))
    assert rate == pytest.approx(np.mean(recent > np.median(v1_rewards)))
    assert rate > 0.75 and abs(rate - truth) < 0.15 and severity is None
    # The old reference, the median of all the brand's rewards, sits inside the V2 ads:
    # the same ads would have scored near 0.5.
    everything = np.median(np.concatenate([v1_rewards, v2_rewards]))
    assert abs(np.mean(recent > everything) - 0.5) < 0.15

    # A brand with no V1 ads has no reference: no winner_rate.
    only_v2, run2 = _setup(db)
    ms.rewards(db, ms.ads(db, run2, ["approved"] * 30), [0.5] * 30, matured_at=NOW - DAY)
    assert "winner_rate" not in _metrics(db, only_v2, NOW)


def test_winner_rate_escalates_when_a_critical_level_is_configured(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    _winner_data(db, run, 20, 10, NOW)
    one = ms.ads(db, run, ["approved"])
    ms.rewards(db, one, [0.95], matured_at=NOW - 5 * DAY)
    _monitor(db, NOW)
    first = ms.open_alert(db, b, "winner_rate")
    assert first[1] == "warning" and first[3] == pytest.approx(1 / 11)
    db.execute(
        "UPDATE genome.alert_thresholds SET critical_threshold = 0.2, critical_days = 21 "
        "WHERE metric = 'winner_rate'"
    )
    _monitor(db, NOW + DAY)
    assert ms.open_alert(db, b, "winner_rate")[:2] == (first[0], "critical")


def test_acknowledged_alert_stays_single_and_reactivates_on_escalation(
    db: psycopg.Connection,
) -> None:
    b, run = _setup(db)
    ms.decided(db, run, 5, 5, NOW - 5 * DAY)
    _monitor(db, NOW)
    alert = ms.open_alert(db, b, "approval_rate")
    db.execute("SELECT genome.acknowledge(%s, 'ana', %s)", (alert[0], NOW + dt.timedelta(hours=1)))
    row = db.execute(
        "SELECT status, acknowledged_by, acknowledged_at FROM genome.system_alerts WHERE id = %s",
        (alert[0],),
    ).fetchone()
    assert row == ("acknowledged", "ana", NOW + dt.timedelta(hours=1))
    # Acknowledging again keeps the first acknowledgement.
    db.execute(
        "SELECT genome.acknowledge(%s, 'bo', %s)", (alert[0], NOW + 2 * dt.timedelta(hours=1))
    )
    _monitor(db, NOW + dt.timedelta(hours=3))
    assert ms.alerts(db, b, "approval_rate") == [(alert[0], "warning", "acknowledged")]

    ms.decided(db, run, 0, 10, NOW)
    _monitor(db, NOW + DAY)
    esc = ms.open_alert(db, b, "approval_rate")
    assert esc[:3] == (alert[0], "critical", "active")
    assert esc[4]["previous_acknowledgement"]["by"] == "ana"
    # A later refresh keeps the escalation history.
    _monitor(db, NOW + DAY + dt.timedelta(hours=1))
    kept = ms.open_alert(db, b, "approval_rate")[4]
    assert kept["escalated_from"] == "warning" and kept["previous_acknowledgement"]["by"] == "ana"


def test_expired_alerts_are_not_open(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    ms.decided(db, run, 5, 5, NOW - DAY)
    _monitor(db, NOW)
    alert = ms.open_alert(db, b, "approval_rate")
    expires = db.execute(
        "SELECT expires_at FROM genome.system_alerts WHERE id = %s", (alert[0],)
    ).fetchone()[0]
    assert expires == NOW + 14 * DAY
    later = NOW + 15 * DAY
    assert (
        db.execute("SELECT count(*) FROM genome.open_alerts(NULL, %s)", (later,)).fetchone()[0] == 0
    )
    assert (
        db.execute("SELECT count(*) FROM genome.open_alerts(NULL, %s)", (NOW,)).fetchone()[0] == 1
    )
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.acknowledge(%s, 'ana', %s)", (alert[0], later))
    assert err.value.sqlstate == "GN803"

    # No check confirmed it since (the decisions left the window): the run closes it ...
    _monitor(db, later)
    row = db.execute(
        "SELECT status, resolved_at, details ->> 'resolution' FROM genome.system_alerts WHERE id = %s",
        (alert[0],),
    ).fetchone()
    assert row == ("resolved", expires, "expired")
    # ... and a new breach opens a new alert.
    ms.decided(db, run, 5, 5, later - DAY)
    _monitor(db, later + dt.timedelta(hours=1))
    assert [a[2] for a in ms.alerts(db, b, "approval_rate")] == ["resolved", "active"]


def test_refreshing_extends_expiry(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    ms.decided(db, run, 5, 5, NOW - DAY)
    _monitor(db, NOW)
    _monitor(db, NOW + 5 * DAY)
    assert db.execute(
        "SELECT expires_at, created_at, updated_at FROM genome.system_alerts WHERE brand_id = %s",
        (b,),
    ).fetchone() == (NOW + 19 * DAY, NOW, NOW + 5 * DAY)


def test_sync_alerts_dedupes_within_one_call(db: psycopg.Connection) -> None:
    b, _ = _setup(db)
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    n = db.execute(
        """
        SELECT genome._sync_alerts(ARRAY[
            ROW(%(o)s, %(b)s, 'custom', 'warning', 'w', 1.0, '{}')::genome.alert_evaluation,
            ROW(%(o)s, %(b)s, 'custom', 'critical', 'c', 2.0, '{}')::genome.alert_evaluation,
            ROW(%(o)s, NULL, 'custom', 'info', 'org-wide', 3.0, '{}')::genome.alert_evaluation
        ], %(now)s)
        """,
        {"o": org, "b": b, "now": NOW},
    ).fetchone()[0]
    assert n == 2
    rows = db.execute(
        "SELECT brand_id, severity, title FROM genome.system_alerts ORDER BY metric_value"
    ).fetchall()
    assert rows == [(b, "critical", "c"), (None, "info", "org-wide")]


def test_bad_inputs_raise_and_write_nothing(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    ms.decided(db, run, 5, 5, NOW - DAY)
    _monitor(db, NOW)
    alert = ms.open_alert(db, b, "approval_rate")
    before = db.execute("SELECT count(*), max(updated_at) FROM genome.system_alerts").fetchone()

    def code(sql: str, params: tuple = ()) -> str:
        with pytest.raises(psycopg.Error) as err:
            db.execute(sql, params)
        return err.value.sqlstate

    assert code("SELECT genome.run_monitoring(NULL)") == "GN004"
    assert code("SELECT genome.run_monitoring('infinity')") == "GN004"
    assert code("SELECT genome.acknowledge(NULL, 'ana')") == "GN005"
    assert code("SELECT genome.acknowledge(gen_random_uuid(), 'ana')") == "GN801"
    assert code("SELECT genome.acknowledge(%s, '  ')", (alert[0],)) == "GN802"
    assert code("SELECT genome.acknowledge(%s, NULL)", (alert[0],)) == "GN802"
    assert (
        code(
            "SELECT genome._sync_alerts(ARRAY[ROW(%s, %s, 'x', 'fatal', 't', 1, '{}')::genome.alert_evaluation], %s)",
            (f.org(db), b, NOW),
        )
        == "GN850"
    )
    db.execute("UPDATE genome.settings SET value = '0' WHERE key = 'monitoring_min_ads'")
    assert code("SELECT genome.run_monitoring(%s)", (NOW + DAY,)) == "GN090"
    db.execute("UPDATE genome.settings SET value = '10' WHERE key = 'monitoring_min_ads'")
    assert (
        db.execute("SELECT count(*), max(updated_at) FROM genome.system_alerts").fetchone()
        == before
    )

    ms.decided(db, run, 10, 0, NOW + DAY)
    _monitor(db, NOW + 9 * DAY)
    assert code("SELECT genome.acknowledge(%s, 'ana')", (alert[0],)) == "GN803"


def test_validation_job_runs_all_three_functions(db: psycopg.Connection) -> None:
    b, run = _setup(db)
    ms.decided(db, run, 5, 5, NOW - DAY)
    out = db.execute("SELECT genome.run_job('genome_validation', %s)", (NOW,)).fetchone()[0]
    assert out["status"] == "succeeded" and out["not_installed"] == []
    assert set(out["results"]) == {"validate", "run_monitoring", "analyze_generation_experiments"}
    assert ms.open_alert(db, b, "approval_rate")[1] == "warning"
