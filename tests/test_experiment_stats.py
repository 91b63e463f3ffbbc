"""Acceptance of the experiment statistics (issue 16, item 3): the always-valid test keeps its false-positive rate
under ten looks, the plan's sample size gives the power, a planted sample-ratio mismatch is flagged, and a naive
peeking test is shown to exceed its nominal 5 %. Simulations are vectorised (well under a second each)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from mlprod.traffic.analysis import ExperimentError, plan, sequential, simulate, srm

SIMS = 4000  # at least 2,000 A/A tests, each looked at 10 times


@pytest.fixture(scope="module")
def the_plan():
    return plan(0.12, 0.02)


def test_aa_false_positive_rate_at_most_5_percent_with_10_looks_and_naive_peeking_exceeds_it(the_plan):
    sim = simulate.run(0.12, 0.12, the_plan.n_per_arm, tau2=the_plan.tau2, looks=10, sims=SIMS, seed=1)
    se = math.sqrt(0.05 * 0.95 / SIMS)
    print(f"\nA/A, {SIMS} tests x 10 looks, n={the_plan.n_per_arm}/arm: always-valid (mSPRT) false-positive rate "
          f"{sim.sequential_rate:.4f} (limit 0.05 + 3 SE = {0.05 + 3 * se:.4f}); naive z-test stopped at the first "
          f"significant look {sim.peeking_rate:.4f}; the same z-test at the last look only {sim.final_look_rate:.4f}")
    assert sim.sequential_rate <= 0.05 + 3 * se
    assert sim.peeking_rate > 0.05 + 3 * se  # the contrast: peeking inflates the naive test's false positives
    assert abs(sim.final_look_rate - 0.05) <= 3 * se  # one look: the naive test is fine


def test_power_at_least_0_8_at_the_plans_sample_size_with_10_looks_and_with_one(the_plan):
    ten = simulate.run(0.12, 0.14, the_plan.n_per_arm, tau2=the_plan.tau2, looks=10, sims=SIMS, seed=2)
    one = simulate.run(0.12, 0.14, the_plan.n_per_arm, tau2=the_plan.tau2, looks=1, sims=SIMS, seed=3)
    se = math.sqrt(0.8 * 0.2 / SIMS)
    print(f"\npower at n={the_plan.n_per_arm}/arm (0.12 -> 0.14): 10 looks {ten.sequential_rate:.4f}, one look "
          f"{one.sequential_rate:.4f} (planned {the_plan.achieved_power:.4f}, SE {se:.4f})")
    assert ten.sequential_rate >= 0.8
    assert one.sequential_rate >= 0.8 - 3 * se  # the plan's bound is exact at one look, up to simulation noise


def test_a_smaller_sample_than_planned_misses_the_power(the_plan):
    sim = simulate.run(0.12, 0.14, the_plan.n_per_arm // 2, tau2=the_plan.tau2, looks=1, sims=SIMS, seed=4)
    assert sim.sequential_rate < 0.7


def test_plan_known_answers():
    p = plan(0.12, 0.02)
    # fixed horizon, by hand: (z.975 sqrt(2 pbar qbar) + z.8 sqrt(p1q1 + p2q2))^2 / d^2
    by_hand = (norm.ppf(0.975) * math.sqrt(2 * 0.13 * 0.87) + norm.ppf(0.8) * math.sqrt(0.12 * 0.88 + 0.14 * 0.86)) ** 2
    assert p.n_fixed_horizon == math.ceil(by_hand / 0.02 ** 2) == 4438
    assert p.n_per_arm > p.n_fixed_horizon  # the price of looking at will
    assert sequential.final_look_power(0.12, 0.14, p.n_per_arm, p.tau2, 0.05) >= 0.8
    assert sequential.final_look_power(0.12, 0.14, p.n_per_arm - 1, p.tau2, 0.05) < 0.8
    assert p.n_total == 2 * p.n_per_arm and p.treatment == 0.14
    relative = plan(0.12, 1 / 6, relative=True)
    assert relative.mde == pytest.approx(0.02) and relative.mde_relative
    three = plan(0.12, 0.02, arms=3)
    assert three.alpha_per_comparison == 0.025 and three.n_per_arm > p.n_per_arm and three.n_total == 3 * three.n_per_arm
    assert p.to_dict()["schema_version"] == 1


@pytest.mark.parametrize("kwargs, words", [
    (dict(baseline=0, mde=0.02), "--baseline"), (dict(baseline=0.12, mde=-0.01), "--mde"),
    (dict(baseline=0.95, mde=0.1), "strictly between 0 and 1"), (dict(baseline=0.12, mde=0.02, arms=1), "--arms"),
    (dict(baseline=0.12, mde=0.02, power=1.0), "--power"), (dict(baseline=0.12, mde=0.02, alpha=0.7), "--alpha")])
def test_plan_refuses_bad_settings(kwargs, words):
    baseline, mde = kwargs.pop("baseline"), kwargs.pop("mde")
    with pytest.raises(ExperimentError, match=words):
        plan(baseline, mde, **kwargs)


def test_srm_known_answer_from_the_issue():
    result = srm.check({"control": 50_600, "treatment": 49_400}, {"control": 0.5, "treatment": 0.5})
    assert result.chi2 == pytest.approx(14.4)
    assert result.p_value == pytest.approx(1.48e-4, rel=0.01)
    assert result.mismatch
    assert not srm.check({"control": 50_100, "treatment": 49_900}, {"control": 0.5, "treatment": 0.5}).mismatch
    assert not srm.check({"a": 9_000, "b": 1_000}, {"a": 9, "b": 1}).mismatch  # shares normalised


def test_always_valid_p_value_and_confidence_sequence_agree():
    # the CI excludes 0 exactly when p <= alpha
    rng = np.random.default_rng(5)
    n = rng.integers(100, 20_000, 500)
    x_a, x_b = rng.binomial(n, 0.1), rng.binomial(n, rng.uniform(0.08, 0.14, 500))
    p = sequential.p_value(x_a, n, x_b, n, 1e-4)
    theta = x_b / n - x_a / n
    h = sequential.half_width(sequential.variance(x_a, n, x_b, n), 1e-4, 0.05)
    assert np.array_equal(p <= 0.05, np.abs(theta) >= h)
    assert sequential.p_value(0, 0, 0, 0, 1e-4) == 1.0  # no data: no evidence
