"""The mix plan and the cut arithmetic, without Ray: hand-computable cases."""
import math

import numpy as np
import pytest

from pipeline.mix.cuts import Cut, choose_stop
from pipeline.mix.keys import descending_score_keys, seeded_keys, unit_interval
from pipeline.mix.plan import plan_mix

TARGETS = {"general": 0.50, "math_reasoning": 0.25, "code": 0.17, "multilingual": 0.08}
EPOCHS = {b: 4.0 for b in TARGETS}
AVAILABLE = {"general": 1000, "math_reasoning": 100, "code": 100, "multilingual": 100}


def test_scarcest_bucket_sets_the_total():
    plan = plan_mix(AVAILABLE, TARGETS, EPOCHS, None)
    # caps: general 4000/0.5=8000, math 400/0.25=1600, code 400/0.17=2353, multilingual 400/0.08=5000
    assert plan.limited_by == "math_reasoning" and plan.total_tokens == pytest.approx(1600)
    goals = {b: p.goal_tokens for b, p in plan.buckets.items()}
    assert goals == pytest.approx({"general": 800, "math_reasoning": 400, "code": 272, "multilingual": 128})
    rates = {b: p.rate for b, p in plan.buckets.items()}
    assert rates == pytest.approx({"general": 0.8, "math_reasoning": 4.0, "code": 2.72, "multilingual": 1.28})
    assert plan.buckets["math_reasoning"].whole_copies == 4 and plan.buckets["math_reasoning"].fraction == 0
    assert plan.buckets["code"].whole_copies == 2 and plan.buckets["code"].fraction == pytest.approx(0.72)
    assert plan.unmet == []


def test_requested_total_within_reach_is_honoured_and_beyond_reach_reported():
    plan = plan_mix(AVAILABLE, TARGETS, EPOCHS, 800)
    assert plan.total_tokens == 800 and plan.limited_by is None and plan.unmet == []
    assert plan.buckets["general"].rate == pytest.approx(0.4)
    plan = plan_mix(AVAILABLE, TARGETS, EPOCHS, 5000)
    assert plan.total_tokens == pytest.approx(1600)
    (unmet,) = plan.unmet
    assert unmet["bucket"] == "math_reasoning" and unmet["shortfall_tokens"] == 3400


def test_max_epochs_per_bucket_changes_the_limit():
    plan = plan_mix(AVAILABLE, TARGETS, {**EPOCHS, "math_reasoning": 8.0, "code": 1.0}, None)
    # code now caps at 100/0.17 = 588.2 tokens in total
    assert plan.limited_by == "code" and plan.total_tokens == pytest.approx(100 / 0.17)
    assert plan.buckets["code"].rate == pytest.approx(1.0)


def test_empty_bucket_is_unmet_and_the_others_renormalised():
    plan = plan_mix({**AVAILABLE, "multilingual": 0}, TARGETS, EPOCHS, None)
    (unmet,) = plan.unmet
    assert unmet["bucket"] == "multilingual" and unmet["shortfall_pp"] == pytest.approx(8.0)
    shares = {b: p.planned_share for b, p in plan.buckets.items()}
    assert shares["multilingual"] == 0 and sum(shares.values()) == pytest.approx(1.0)
    assert shares["general"] == pytest.approx(0.5 / 0.92)
    assert plan.buckets["multilingual"].rate == 0


def test_targets_need_a_positive_sum():
    with pytest.raises(ValueError):
        plan_mix(AVAILABLE, {b: 0.0 for b in TARGETS}, EPOCHS, None)


@pytest.mark.parametrize(
    "weights, remaining, expected",
    [
        ([10] * 10, 72, 7),  # 70 is closer to 72 than 80
        ([10] * 10, 28, 3),  # 30 is closer to 28 than 20
        ([10] * 10, 25, 2),  # a tie: fewer
        ([50, 1], 20, 0),  # taking the long document would overshoot more than taking none
        ([10] * 3, 100, 3),  # not enough: all
    ],
)
def test_choose_stop_is_closest(weights, remaining, expected):
    assert choose_stop(weights, remaining) == expected


@pytest.mark.parametrize("weights, remaining, expected", [([1] * 10, 0.2, 1), ([1] * 10, 3, 3), ([10] * 10, 72, 8)])
def test_choose_stop_reach_takes_the_fewest_that_reach(weights, remaining, expected):
    assert choose_stop(weights, remaining, reach=True) == expected


def test_cut_takes_keys_below_and_breaks_ties_by_id():
    keys = np.array([1, 5, 5, 9], dtype=np.uint64)
    ids = ["a", "b", "c", "d"]
    assert Cut(5, "c").taken(keys, ids).tolist() == [True, True, False, False]
    assert Cut(2**64).taken(keys, ids).all() and not Cut(0).taken(keys, ids).any()


def test_keys_are_seeded_and_uniform():
    ids = [f"doc-{i}" for i in range(20000)]
    a, b = seeded_keys(ids, 1, "x"), seeded_keys(ids, 1, "y")
    assert (a == seeded_keys(ids, 1, "x")).all() and (a != b).mean() > 0.99
    u = unit_interval(a)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


def test_descending_score_keys_order_by_score_then_hash():
    scores = np.array([0.2, -1.5, 3.0, 0.2, 0.0, -0.0 + 1e-9], dtype=np.float32)
    ids = [f"d{i}" for i in range(len(scores))]
    keys = descending_score_keys(scores, ids, 0, "anneal")
    order = np.argsort(keys, kind="stable")
    ranked = scores[order].tolist()
    assert ranked == sorted(ranked, reverse=True)
    assert math.isclose(ranked[0], 3.0) and ranked[-1] == pytest.approx(-1.5)
