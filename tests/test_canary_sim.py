"""Simulated canary rollouts (vectorised): the guardrail test that mlprod canary step runs, looked at after every
ramp step of thousands of rollouts at once."""

from __future__ import annotations

import numpy as np

from mlprod.traffic import guardrails as g

RAMP = np.array([1.0, 5.0, 25.0, 100.0])
UNITS_PER_STEP = 20_000  # labelled units served during each step, both arms together
DROP = 0.02  # max_metric_drop: the canary's accuracy may fall at most 2 points
TAU2 = DROP ** 2  # mlprod canary step's default mixing variance
ALPHA = 0.05 / g.SEQUENTIAL_TESTS  # the realised-metric test's share of alpha


def cumulative_units():
    canary = np.cumsum(UNITS_PER_STEP * RAMP / 100)
    champion = np.cumsum(UNITS_PER_STEP * (1 - RAMP / 100))
    return champion, canary


def rollback_steps(p_champion: float, p_canary: float, rollouts: int, seed: int) -> np.ndarray:
    """The ramp step each simulated rollout is rolled back at (len(RAMP): never): realised accuracy judged at the
    end of every step on everything labelled so far, as mlprod canary step does."""
    rng = np.random.default_rng(seed)
    n_a, n_b = cumulative_units()
    steps_a = np.diff(np.concatenate([[0], n_a])).astype(int)
    steps_b = np.diff(np.concatenate([[0], n_b])).astype(int)
    x_a = np.cumsum(rng.binomial(steps_a, p_champion, size=(rollouts, len(RAMP))), axis=1)
    x_b = np.cumsum(rng.binomial(steps_b, p_canary, size=(rollouts, len(RAMP))), axis=1)
    _, breach = g.proportion_drop(x_a, n_a, x_b, n_b, drop=DROP, relative=False, tau2=TAU2, alpha=ALPHA)
    first = np.where(breach.any(axis=1), breach.argmax(axis=1), len(RAMP))
    return first


def test_a_planted_regression_is_rolled_back_at_the_predicted_ramp_step():
    p_champion, p_canary = 0.80, 0.74  # a regression of 6 accuracy points, 4 beyond the allowed 2
    n_a, n_b = cumulative_units()
    power = g.detection_power(p_champion, p_canary, n_a, n_b, drop=DROP, tau2=TAU2, alpha=ALPHA)
    predicted = int(np.argmax(power >= 0.5))
    steps = rollback_steps(p_champion, p_canary, 2000, seed=1)
    share = np.bincount(steps, minlength=len(RAMP) + 1) / len(steps)
    print(f"\npower per step {np.round(power, 3)}; predicted step {predicted} ({RAMP[predicted]:g} %); "
          f"rolled back per step {np.round(share, 3)}")
    assert predicted == 2  # 25 %: about 6,200 canary units labelled
    assert int(np.argmax(share)) == predicted  # most rollouts stop at the predicted step
    assert share[predicted] >= 0.6
    # the chance of a rollback by each step is the power of that look, within three standard errors
    assert np.all(np.abs(np.cumsum(share)[:len(RAMP)] - power) <= 3 * np.sqrt(0.25 / len(steps)) + 0.01)
    assert share[len(RAMP)] == 0  # every rollout is stopped before it would be promoted


def test_at_most_5_percent_of_aa_canaries_are_rolled_back():
    rollouts = 5000
    steps = rollback_steps(0.80, 0.80, rollouts, seed=2)
    rate = float((steps < len(RAMP)).mean())
    se = np.sqrt(0.05 * 0.95 / rollouts)
    print(f"\nA/A canaries rolled back: {rate:.4f} of {rollouts} (4 looks each; limit 0.05, SE {se:.4f})")
    assert rate <= 0.05


def test_aa_canaries_with_a_regression_inside_the_allowance_are_not_rolled_back_either():
    steps = rollback_steps(0.80, 0.79, 5000, seed=3)  # 1 point worse, 2 allowed
    assert float((steps < len(RAMP)).mean()) <= 0.05


def test_psi_of_equal_score_distributions_is_small_and_of_shifted_ones_large():
    rng = np.random.default_rng(4)
    champion = rng.beta(2, 5, 20_000)
    assert g.psi(champion, rng.beta(2, 5, 500)) < 0.05
    assert g.psi(champion, rng.beta(5, 2, 500)) > 1.0


def test_metrics_page_gives_the_canary_latency_p99_and_errors():
    page = "\n".join([
        "# TYPE mlprod_serving_arm_requests_total counter",
        'mlprod_serving_arm_requests_total{arm="canary",status="ok"} 990',
        'mlprod_serving_arm_requests_total{arm="canary",status="error"} 10',
        'mlprod_serving_arm_requests_total{arm="champion",status="error"} 500',
        'mlprod_serving_arm_latency_seconds_bucket{arm="canary",le="0.1"} 900',
        'mlprod_serving_arm_latency_seconds_bucket{arm="canary",le="0.25"} 985',
        'mlprod_serving_arm_latency_seconds_bucket{arm="canary",le="1.0"} 1000',
        'mlprod_serving_arm_latency_seconds_bucket{arm="canary",le="+Inf"} 1000'])
    served = g.served_metrics(g.parse_metrics(page))
    assert served == {"requests": 1000.0, "errors": 10.0, "latency_p99_ms": 1000.0}


def test_ramp_plan_gives_the_regression_each_step_catches_and_simulations_confirm_it():
    """mlprod canary plan's figures: at the planned fall for the 25 % step, about 80 % of simulated rollouts are
    rolled back by the end of that step; steps with fewer than min_rows units in an arm catch nothing."""
    rows = g.ramp_plan(list(RAMP), UNITS_PER_STEP, 0.80, drop=DROP, tau2=TAU2, alpha=ALPHA)
    falls = [r["detectable_drop"] for r in rows]
    assert [r["canary_units"] for r in rows] == [200, 1200, 6200, 26200]
    assert all(a > b for a, b in zip(falls, falls[1:]))  # more units, smaller regressions caught
    assert all(f > DROP for f in falls)  # nothing inside the allowance is ever the target
    steps = rollback_steps(0.80, 0.80 - falls[2], 2000, seed=5)
    by_step_25 = float((steps <= 2).mean())
    print(f"\nplanned falls {np.round(falls, 4)}; rolled back by 25 % at the planned fall: {by_step_25:.3f}")
    assert abs(by_step_25 - 0.8) <= 3 * np.sqrt(0.16 / 2000) + 0.01
    tiny = g.ramp_plan(list(RAMP), 2_000, 0.80, drop=DROP, tau2=TAU2, alpha=ALPHA, min_rows=100)
    assert tiny[0]["detectable_drop"] is None  # 20 canary units: below min_rows


def test_canary_plan_command_prints_the_table_and_refuses_missing_figures(tmp_path, monkeypatch, capsys):
    from mlprod.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        "project: {model_name: toy, key: lead_id, target: converted}\n"
        "deployment: {mode: canary, experiment: toy-canary, canary: {ramp: [1, 5, 25, 100], step_hours: 24}}\n")
    assert main(["canary", "plan", "--units-per-step", "20000", "--baseline", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "25" in out and "6200" in out and "points" in out
    assert main(["canary", "plan", "--units-per-step", "20000"]) == 2
    assert "--baseline" in capsys.readouterr().err
