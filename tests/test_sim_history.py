"""Twin markets and the per-day history the demo records."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from sim.ads import insert_ads
from sim.baselines import TwinMarkets
from sim.history import DayRecord, load_history, record_day, save_history
from sim.market import Market, sync_time
from sim.truth import build_truth

D0 = date(2025, 5, 5)


def test_twins_are_seeded_and_scored_by_the_truth() -> None:
    truth = build_truth(13, 2)
    twins = TwinMarkets(truth)
    a = twins.day(0, D0, 6)
    assert a == TwinMarkets(build_truth(13, 2)).day(0, D0, 6)
    assert a != twins.day(0, date(2025, 5, 6), 6)
    assert a.random_rewards != twins.day(1, D0, 6).random_rewards
    assert len(a.random_rewards) == 6
    assert a.oracle_reward == truth.oracle_reward(0)
    assert all(0 <= r <= a.oracle_reward for r in a.random_rewards)
    many = TwinMarkets(truth).random_rewards(0, D0, 400)
    assert np.mean(many) < a.oracle_reward - 0.2


def test_record_day_scores_launched_ads_without_their_context(db, tmp_path) -> None:
    truth = build_truth(14, 1)
    market = Market(truth)
    (h,) = market.setup(db, D0)
    rng = np.random.default_rng(0)
    tags = [truth.random_tags(rng) for _ in range(5)]
    ids = insert_ads(db, h, tags, sync_time(D0))
    db.execute("UPDATE generated_ads SET final_status = 'rejected' WHERE id = %s", (ids[4],))
    market.launch_many(db, ids[:4], D0)
    rec = record_day(db, truth, TwinMarkets(truth), h, D0, ids, ids[:4])
    assert (rec.planned, rec.approved, rec.launched) == (5, 4, 4)
    assert len(rec.random_rewards) == 4
    assert rec.brand_id == str(h.brand_id)
    for (ad_id, reward), t, i in zip(rec.v2_ads, tags, ids, strict=False):
        assert ad_id == str(i)
        # the stored tags now carry the audience context; the score ignores it
        assert reward == pytest.approx(truth.true_reward(0, t))
    path = tmp_path / "history.json"
    save_history([rec], path)
    assert load_history(path) == [rec]
    with pytest.raises(ValueError, match="not found"):
        record_day(
            db, truth, TwinMarkets(truth), h, D0, [], ["00000000-0000-0000-0000-000000000001"]
        )


def test_day_record_json_round_trip() -> None:
    rec = DayRecord(D0, 1, "b", (("a", 0.5),), (0.1, 0.2), 0.9, 6, 5, 1, (0.3,))
    assert DayRecord.from_json(rec.to_json()) == rec
    # A history written before the shadow MABWiser policy existed still loads.
    old = rec.to_json()
    del old["mabwiser_rewards"]
    assert DayRecord.from_json(old).mabwiser_rewards == ()
