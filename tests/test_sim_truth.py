"""The ground truth: seeded, planted structure present, oracle truly best."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim.truth import (
    AUDIENCE_TYPES,
    AWARENESS_STAGES,
    CONFOUNDED_HOOK,
    CONFOUNDED_STAGE,
    ELEMENT_DIMENSIONS,
    REWARD_WEIGHTS,
    build_truth,
    load_dimensions,
    load_reward_weights,
)


@pytest.fixture(scope="module")
def truth():
    return build_truth(11, n_brands=4)


def test_same_seed_same_truth_and_other_seed_differs() -> None:
    a = json.dumps(build_truth(5, 2).to_json(), sort_keys=True)
    b = json.dumps(build_truth(5, 2).to_json(), sort_keys=True)
    c = json.dumps(build_truth(6, 2).to_json(), sort_keys=True)
    assert a == b
    assert a != c


def test_brands_share_categories_one_opts_out_objectives_mixed(truth) -> None:
    cats = [b.category for b in truth.brands]
    assert len(set(cats)) < len(cats)
    assert [b.cross_brand_sharing for b in truth.brands].count(False) == 1
    assert {b.objective for b in truth.brands} == {
        "OUTCOME_SALES",
        "OUTCOME_TRAFFIC",
        "OUTCOME_AWARENESS",
    }
    for b in truth.brands:
        for pct in b.baselines.values():
            assert 0 < pct.p25 < pct.median < pct.p75


def test_oracle_beats_every_random_ad(truth) -> None:
    rng = np.random.default_rng(0)
    for b in truth.brands:
        best = truth.true_reward(b, truth.oracle_tags(b))
        assert best == pytest.approx(truth.oracle_reward(b))
        randoms = [truth.true_reward(b, truth.random_tags(rng)) for _ in range(500)]
        assert best >= max(randoms)
        assert best > np.mean(randoms) + 0.2


def test_clear_strongest_dimension_and_best_value(truth) -> None:
    s = truth.strongest_dimension
    for b in truth.brands:
        spreads = {
            d: max(v.values()) - min(v.values())
            for d in truth.dimensions
            for v in [truth.value_rewards(b, d)]
        }
        assert max(spreads, key=spreads.__getitem__) == s
        rewards = sorted(truth.value_rewards(b, s).values(), reverse=True)
        assert rewards[0] - rewards[1] > 0.1
        assert truth.best_values(b)[s] == truth.oracle_tags(b)[s]


def test_effects_correlated_within_category(truth) -> None:
    same = [b for b in truth.brands if b.category == truth.brands[0].category]
    other = [b for b in truth.brands if b.category != truth.brands[0].category]
    d = "belief_angle"

    def vec(b):
        return [b.ctr_effects[d][v] for v in truth.dimensions[d]]

    within = np.corrcoef(vec(same[0]), vec(same[1]))[0, 1]
    across = np.corrcoef(vec(same[0]), vec(other[0]))[0, 1]
    assert within > 0.7
    assert within > across
    s = truth.strongest_dimension
    assert truth.best_values(same[0])[s] == truth.best_values(same[1])[s]


def test_curiosity_gap_worse_within_strata_but_confounded(truth) -> None:
    for b in truth.brands:
        hooks = b.ctr_effects["hook_type"]
        assert hooks[CONFOUNDED_HOOK] < np.mean(list(hooks.values()))
    p_cur = truth.stage_probs(CONFOUNDED_HOOK)[AWARENESS_STAGES.index(CONFOUNDED_STAGE)]
    p_other = truth.stage_probs("story")[AWARENESS_STAGES.index(CONFOUNDED_STAGE)]
    assert p_cur >= 0.7 > 0.2 >= p_other
    assert truth.context.stage_ctr[CONFOUNDED_STAGE] == max(truth.context.stage_ctr.values())


def test_context_reward_averages_to_the_mix_reward(truth) -> None:
    b = truth.brands[0]
    tags = truth.random_tags(np.random.default_rng(3))
    mixed = sum(
        w * truth.true_reward(b, {**tags, "awareness_stage": s, "audience_type": a})
        for s, a, w in truth.population_mix()
    )
    assert mixed == pytest.approx(truth.true_reward(b, tags), abs=1e-9)
    assert len(truth.population_mix()) == len(AWARENESS_STAGES) * len(AUDIENCE_TYPES)


def test_fatigue_and_rates(truth) -> None:
    b = truth.brands[0]
    tags = truth.oracle_tags(b)
    fresh = truth.fresh_rates(b, tags, "unaware", "broad")
    life = truth.lifetime_rates(b, tags, "unaware", "broad")
    assert life.ctr < fresh.ctr
    m = truth.expected_metrics(b, tags)
    assert all(np.isfinite(v) and v > 0 for v in m.values())
    assert m["roas"] > 0


def test_unknown_value_is_an_error(truth) -> None:
    with pytest.raises(ValueError, match="unknown value"):
        truth.true_reward(0, {"hook_type": "not_a_hook"})


def test_registry_and_weights_from_the_database(db) -> None:
    dims = load_dimensions(db)
    assert {d: set(v) for d, v in dims.items()} == {
        d: set(v) for d, v in ELEMENT_DIMENSIONS.items()
    }
    assert load_reward_weights(db) == REWARD_WEIGHTS
    t = build_truth(2, 1, dimensions=dims, reward_weights=load_reward_weights(db))
    assert t.to_json() == build_truth(2, 1).to_json()
