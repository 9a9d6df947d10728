"""The reference learners beside the demo (sim/policies.py): the shadow MABWiser policy on
the demo's truth, and what the demo's market lets random elements reach."""

from __future__ import annotations

from collections import Counter

import numpy as np

from sim.policies import DemoShadow, DimensionThompson
from sim.truth import CONFOUNDED_HOOK, build_truth


def test_random_elements_on_the_demo_market_against_the_oracle() -> None:
    """The demo's market (its default seed and 3 brands): uniform elements reach about half of the
    oracle's true reward. The composite reward is normalized p25 -> 0, p75 -> 1 and clipped
    against random ads' own percentiles (docs/rewards.md#normalization), so random's mean
    can not fall below a quarter of the best possible reward on any market; the learning
    comparison in the report is read against that floor."""
    truth = build_truth(7, 3)
    rng = np.random.default_rng(1)
    for b in truth.brands:
        rewards = [truth.true_reward(b, truth.random_tags(rng)) for _ in range(400)]
        share = float(np.mean(rewards)) / truth.oracle_reward(b)
        assert 0.25 <= share <= 0.55, (b.reward_objective, share)


def test_dimension_thompson_learns_from_binary_trials() -> None:
    dims = {"hook": ("a", "b", "c"), "color": ("x", "y")}
    ts = DimensionThompson(dims, [0], np.random.default_rng(3))
    # Before any data: uniform choices.
    assert len({t["hook"] for t in ts.choose(0, 60)}) == 3
    ts.feed(0, [({"hook": "b", "color": "x"}, 300, 1000), ({"hook": "a", "color": "y"}, 10, 1000)])
    ts.feed(0, [({"hook": "c", "color": "y"}, 12, 1000)])
    picks = ts.choose(0, 40)
    assert Counter(t["hook"] for t in picks) == {"b": 40}
    assert Counter(t["color"] for t in picks) == {"x": 40}


def test_shadow_mabwiser_matures_like_rewards_and_falls_for_the_planted_confounding() -> None:
    """On a click-objective brand of the demo's market, MABWiser per dimension is fed clicks
    of impressions from ads whose audiences follow the planted hook confounding: it learns
    curiosity_gap, the hook that is worse than average in every stratum (in most seeds; its
    per-trial posterior is overconfident, so it locks in early). V2 must do better than that
    (the report shows both)."""
    truth = build_truth(7, 2)
    brand = 1
    assert truth.brands[brand].reward_objective == "TRAFFIC"
    shadow = DemoShadow(truth, 8, maturation_days=3)
    for day in range(14):
        rewards = shadow.day(brand, day, 6)
        assert len(rewards) == 6 and all(0.0 <= r <= 1.0 for r in rewards)
        shadow.learn(day)
        # Ads are fed once, on the morning they are 3 days old: the pending ones are the
        # last 2 days' (12 ads).
        assert len(shadow.pending) == 6 * min(day + 1, 2)
    assert brand in shadow.mabwiser.fitted
    hooks = Counter(t["hook_type"] for t in shadow.mabwiser.choose(brand, 60))
    assert hooks.most_common(1)[0][0] == CONFOUNDED_HOOK
    value = truth.value_rewards(brand, "hook_type")
    assert value[CONFOUNDED_HOOK] < np.mean(list(value.values()))
    assert truth.oracle_tags(brand)["hook_type"] != CONFOUNDED_HOOK


def test_dimension_thompson_feed_leaves_the_counts_of_mabwisers_public_fit() -> None:
    """DimensionThompson.feed calls MABWiser's fit without the public methods' Python-level
    input checks (sim/policies.py _fit): each bandit must hold the very success and failure
    counts MAB.fit then MAB.partial_fit leave on the same trials, and draw the same arm."""
    from mabwiser.mab import MAB, LearningPolicy

    dims = {"hook": ("a", "b", "c"), "color": ("x", "y")}
    batches = [
        [({"hook": "b", "color": "x"}, 30, 400), ({"hook": "a", "color": "y"}, 5, 300)],
        [({"hook": "c", "color": "y"}, 12, 250), ({"hook": "b", "color": "y"}, 0, 90)],
    ]
    ts = DimensionThompson(dims, [0], np.random.default_rng(5))
    public = {
        d: MAB(
            arms=list(range(len(v))),
            learning_policy=LearningPolicy.ThompsonSampling(),
            seed=ts.bandits[(0, d)].seed,
        )
        for d, v in dims.items()
    }
    for i, batch in enumerate(batches):
        ts.feed(0, batch)
        for d, values in dims.items():
            succ = np.array([s for _, s, _ in batch])
            fail = np.array([n - s for _, s, n in batch])
            arms = np.array([values.index(t[d]) for t, _, _ in batch])
            decisions = np.concatenate([np.repeat(arms, succ), np.repeat(arms, fail)])
            rewards = np.concatenate([np.ones(succ.sum()), np.zeros(fail.sum())])
            (public[d].partial_fit if i else public[d].fit)(decisions, rewards)
    for d in dims:
        fast = ts.bandits[(0, d)]
        assert fast._imp.arm_to_success_count == public[d]._imp.arm_to_success_count
        assert fast._imp.arm_to_fail_count == public[d]._imp.arm_to_fail_count
        assert fast._is_initial_fit
        assert [fast.predict() for _ in range(20)] == [public[d].predict() for _ in range(20)]
    assert sum(public["hook"]._imp.arm_to_success_count.values()) == 3 + 47
