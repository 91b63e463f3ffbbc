"""Stat tests: known answers (scipy, by hand), false-positive rates, defaults, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlprod.drift import DriftSettings, available_tests, compare_column, get_test
from mlprod.errors import DriftError
from mlprod.profile import build_profile

SETTINGS = DriftSettings()


def profiles(reference, current, sample_size=0):
    """Profiles of two columns named x; sample_size=0 forces the histogram path (no raw values)."""
    ref = build_profile(pd.DataFrame({"x": reference}), sample_size=sample_size)
    cur = build_profile(pd.DataFrame({"x": current}), sample_size=sample_size)
    return ref, cur


def run(test, reference, current, sample_size=0):
    result, _ = compare_column(*profiles(reference, current, sample_size), "x", SETTINGS, test=test)
    return result


def categories(counts_ref: dict, counts_cur: dict):
    expand = lambda counts: [k for k, n in counts.items() for _ in range(n)]
    return expand(counts_ref), expand(counts_cur)


def test_registry_lists_tests_and_rejects_unknown_names():
    assert available_tests() == ["chi_square", "jensen_shannon", "ks", "psi", "wasserstein", "z_test"]
    with pytest.raises(DriftError, match=r"No stat test named 'kss'; available: chi_square, .*Did you mean 'ks'\?"):
        get_test("kss")


def test_ks_on_raw_values_equals_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 300), rng.normal(0.2, 1, 200)
    result = run("ks", a, b, sample_size=1000)  # samples hold every row: the exact path
    expected = stats.ks_2samp(a, b)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.details["data"] == "raw values"


def test_ks_on_histograms_equals_scipy_asymptotic_when_buckets_are_exact():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 60, 5000).astype(float), rng.integers(2, 62, 4000).astype(float)
    result = run("ks", a, b)
    expected = stats.ks_2samp(a, b, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    assert "histogram" in result.details["data"]


def test_ks_on_continuous_histograms_is_within_a_bucket_of_scipy():
    rng = np.random.default_rng(2)
    a, b = rng.lognormal(10, 0.5, 20000), rng.lognormal(10.02, 0.5, 20000)
    result = run("ks", a, b)
    assert result.statistic == pytest.approx(stats.ks_2samp(a, b).statistic, abs=0.003)


def test_wasserstein_equals_scipy_divided_by_reference_std():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 40, 3000).astype(float), rng.integers(5, 45, 2000).astype(float)
    result = run("wasserstein", a, b)
    expected = stats.wasserstein_distance(a, b) / np.std(a, ddof=1)
    assert result.statistic == pytest.approx(expected, rel=1e-9)
    assert result.details["normalized_by"] == "reference std"
    continuous = run("wasserstein", rng.normal(0, 2, 20000), rng.normal(0.5, 2, 20000))
    assert continuous.statistic == pytest.approx(0.25, abs=0.03) and continuous.drifted


def test_psi_by_hand_including_an_empty_bin():
    ref, cur = categories({"a": 50, "b": 30, "c": 20}, {"a": 40, "b": 30, "c": 30})
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.3 - 0.2) * math.log(0.3 / 0.2)
    assert run("psi", ref, cur).statistic == pytest.approx(by_hand, rel=1e-12)
    ref, cur = categories({"a": 50, "b": 50}, {"a": 50, "b": 40, "new": 10})
    eps = 1e-4  # documented: shares below 1e-4 are raised to 1e-4
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - eps) * math.log(0.1 / eps)
    result = run("psi", ref, cur)
    assert result.statistic == pytest.approx(by_hand, rel=1e-12) and result.drifted


def test_psi_uses_reference_quantile_bins_and_stays_near_zero_without_drift():
    rng = np.random.default_rng(4)
    a, b = rng.exponential(3, 30000), rng.exponential(3, 30000)
    result = run("psi", a, b)
    assert result.statistic < 0.005 and not result.drifted
    assert 10 <= result.details["bins"] <= 12  # deciles, plus bins below/above the reference range if used
    shifted = run("psi", a, b * 2)
    assert shifted.statistic > 0.2 and shifted.drifted
    inside = run("psi", a, np.clip(b, a.min(), a.max()))
    assert inside.details["bins"] == 10


def test_jensen_shannon_equals_scipy():
    ref, cur = categories({"a": 60, "b": 25, "c": 15}, {"a": 30, "b": 30, "c": 20, "d": 20})
    p, q = np.array([60, 25, 15, 0]) / 100, np.array([30, 30, 20, 20]) / 100
    assert run("jensen_shannon", ref, cur).statistic == pytest.approx(jensenshannon(p, q, base=2), rel=1e-12)


def test_chi_square_equals_scipy_contingency_without_correction():
    ref, cur = categories({"a": 60, "b": 25, "c": 15}, {"a": 30, "b": 30, "c": 20, "d": 5})
    expected = stats.chi2_contingency(np.array([[60, 25, 15, 0], [30, 30, 20, 5]]), correction=False)
    result = run("chi_square", ref, cur)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_two_proportion_z_test_by_hand():
    ref, cur = categories({"no": 80, "yes": 20}, {"no": 140, "yes": 60})
    pooled = 80 / 300
    z = (0.3 - 0.2) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 200))
    result = run("z_test", ref, cur)
    assert result.statistic == pytest.approx(z, rel=1e-12)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(z), rel=1e-9)
    assert result.details["value"] == "yes"
    with pytest.raises(DriftError, match="needs a column with at most two values, got 3"):
        run("z_test", *categories({"a": 1, "b": 1}, {"c": 1}))


@pytest.mark.parametrize("n, sample_size", [(200, 1000), (3000, 0)])
def test_ks_false_positive_rate_is_near_alpha_on_same_distribution_samples(n, sample_size):
    rng = np.random.default_rng(5)
    repeats = 300
    rejected = sum(run("ks", rng.normal(0, 1, n), rng.normal(0, 1, n), sample_size).drifted for _ in range(repeats))
    assert 0.02 <= rejected / repeats <= 0.09, rejected / repeats


def test_defaults_depend_on_kind_and_size_and_are_recorded():
    rng = np.random.default_rng(6)
    small = build_profile(pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(list("abc"), 500),
                                        "flag": rng.choice(["y", "n"], 500)}))
    large = build_profile(pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(list("abc"), 5000),
                                        "flag": rng.choice(["y", "n"], 5000)}))
    expected = {(small, "x"): "ks", (small, "c"): "chi_square", (small, "flag"): "z_test",
                (large, "x"): "wasserstein", (large, "c"): "jensen_shannon", (large, "flag"): "jensen_shannon"}
    for (profile, column), test in expected.items():
        result, _ = compare_column(profile, profile, column, SETTINGS)
        assert (result.test, result.chosen_by) == (test, "default")
        assert result.threshold == get_test(test).default_threshold and not result.drifted
    custom = DriftSettings(column_tests={"x": "psi"}, thresholds={"psi": 0.3})
    result, _ = compare_column(large, large, "x", custom)
    assert (result.test, result.threshold, result.chosen_by) == ("psi", 0.3, "setting")


@pytest.mark.parametrize("test", ["ks", "wasserstein", "psi", "jensen_shannon", "chi_square"])
def test_edge_cases_give_defined_results(test):
    same_constant = run(test, [3.0] * 50, [3.0] * 40)
    assert not same_constant.drifted
    other_constant = run(test, [3.0] * 50, [4.0] * 40)
    assert other_constant.drifted
    empty = run(test, [1.0, 2.0, 3.0], [np.nan, np.nan])
    assert empty.drifted and empty.statistic is None and "no non-missing values in the current" in empty.note
    both_empty = run(test, [np.nan], [np.nan])
    assert not both_empty.drifted and "nothing to compare" in both_empty.note
    tiny = run(test, [1.0, 2.0], [2.5])
    assert tiny.statistic is not None and "small sample" in tiny.note


def test_categories_only_in_current_and_kind_mismatch():
    ref, cur = categories({"a": 500, "b": 500}, {"a": 400, "b": 400, "c": 200})
    for test in ("jensen_shannon", "chi_square", "psi"):
        assert run(test, ref, cur).drifted
    with pytest.raises(DriftError, match="column 'x' is categorical; the ks test applies to \\['numeric'\\]"):
        run("ks", ref, cur)
    mixed = (build_profile(pd.DataFrame({"x": [1.0, 2.0]})), build_profile(pd.DataFrame({"x": ["a", "b"]})))
    with pytest.raises(DriftError, match=r"holds numbers in the reference data but text \(categories\) in the "
                                         r"current data \(e.g. 'a', 'b'\)"):
        compare_column(*mixed, "x", SETTINGS)


def test_known_shift_is_detected_by_every_test():
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 5000), rng.normal(0.5, 1, 5000)
    for test in ("ks", "wasserstein", "psi", "jensen_shannon", "chi_square"):
        assert run(test, a, b).drifted, test


# --- constant columns, empty columns, data findings: known answers -----------------------------------

def test_a_constant_column_is_detected_by_min_equal_max_not_by_a_rounded_std():
    from mlprod.profile import build_profile

    column = build_profile(pd.DataFrame({"x": [0.001] * 5000}), sample_size=0)["x"]
    assert column.constant and column.variance == 0.0 and column.std == 0.0  # m2 holds rounding noise
    assert not build_profile(pd.DataFrame({"x": [0.001, 0.002]}))["x"].constant


@pytest.mark.parametrize("n", [50, 5000])  # raw values and histograms
def test_two_constant_columns_are_compared_exactly(n):
    same = run("wasserstein", [0.001] * n, [0.001] * n)
    assert (same.test, same.score, same.statistic, same.threshold, same.drifted) == ("constant", "exact", 0.0, 0.0,
                                                                                      False)
    other = run(None, [5.0] * n, [5.01] * n)  # in one histogram bucket: the tests used to see no drift
    assert (other.test, other.statistic, other.drifted, other.chosen_by) == ("constant", 1.0, True, "rule")
    assert (other.details["reference_value"], other.details["current_value"]) == (5.0, 5.01)
    words = run(None, *categories({"a": n}, {"b": n}))
    assert (words.test, words.drifted) == ("constant", True)


def test_a_constant_reference_against_a_varying_current_uses_jensen_shannon_by_default():
    ref = np.full(5000, 0.001)
    cur = np.where(np.arange(5000) < 4000, 0.001, 0.5)  # 80 % at the reference value, 20 % above its maximum
    result = run(None, ref, cur)
    assert (result.test, result.chosen_by) == ("jensen_shannon", "default")
    assert result.statistic == pytest.approx(jensenshannon([1.0, 0.0], [0.8, 0.2], base=2), rel=1e-12)
    assert result.drifted and "the reference is constant" in result.details["chosen_because"]
    chosen = run("wasserstein", ref, cur)  # asked for: scaled by the current spread, a finite, sane number
    expected = stats.wasserstein_distance(ref, cur) / np.std(cur, ddof=1)
    assert chosen.statistic == pytest.approx(expected, rel=1e-3)
    assert chosen.details["normalized_by"] == "current std (the reference is constant)"
    varied = np.tile([0.001, 0.3, 0.5, 0.001], 50)
    small = run(None, ref[:200], varied, sample_size=1000)  # small samples: KS on raw values, well defined
    expected = stats.ks_2samp(ref[:200], varied)
    assert (small.test, small.statistic) == ("ks", pytest.approx(expected.statistic, abs=1e-12))
    assert small.p_value == pytest.approx(expected.pvalue, rel=1e-9) and small.drifted


def test_a_side_without_values_runs_no_test_and_says_so():
    empty = run(None, [1.0, 2.0, 3.0], [np.nan, np.nan])
    assert (empty.test, empty.score, empty.threshold, empty.statistic, empty.drifted) == ("none", "none", None, None,
                                                                                        True)
    assert "no test ran" in empty.note
    # an all-missing text column is not "categorical vs numeric": it has no type of its own
    ref = build_profile(pd.DataFrame({"x": ["a", "b"] * 20}))
    cur = build_profile(pd.DataFrame({"x": [np.nan] * 10}))
    result, _ = compare_column(ref, cur, "x", SETTINGS)
    assert (result.kind, result.test, result.drifted) == ("categorical", "none", True)
    result, _ = compare_column(cur, ref, "x", SETTINGS)
    assert (result.kind, result.test, result.drifted) == ("categorical", "none", True)


def fisher_by_hand(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact p-value of [[a, b], [c, d]]: the hypergeometric probabilities of every
    table with the same margins that are no more likely than the observed one."""
    row, col, n = a + b, a + c, a + b + c + d

    def prob(x: int) -> float:
        return math.comb(col, x) * math.comb(n - col, row - x) / math.comb(n, row)

    observed = prob(a)
    return sum(prob(x) for x in range(max(0, row + col - n), min(row, col) + 1) if prob(x) <= observed * (1 + 1e-7))


def test_a_changed_share_of_missing_values_is_a_finding_with_fishers_exact_test():
    from mlprod.drift.findings import fisher_p_value, missing_values

    assert fisher_p_value(0, 40, 10, 30) == pytest.approx(fisher_by_hand(0, 40, 10, 30), rel=1e-9)
    assert fisher_p_value(3, 17, 1, 19) == pytest.approx(fisher_by_hand(3, 17, 1, 19), rel=1e-9)

    def finding(ref_missing, ref_rows, cur_missing, cur_rows, **settings):
        ref = build_profile(pd.DataFrame({"x": [np.nan] * ref_missing + [1.0] * (ref_rows - ref_missing)}))["x"]
        cur = build_profile(pd.DataFrame({"x": [np.nan] * cur_missing + [1.0] * (cur_rows - cur_missing)}))["x"]
        return missing_values(ref, cur, DriftSettings(**settings))

    found = finding(0, 40, 10, 40)  # 0 % -> 25 %
    assert (found.kind, found.column, found.value, found.threshold) == ("missing_values", "x", 0.25, 0.05)
    assert found.p_value == pytest.approx(fisher_by_hand(0, 40, 10, 30), rel=1e-9) and found.p_value < 0.05
    assert found.details["alpha"] == 0.05 and found.details["test"].startswith("Fisher's exact test")
    assert finding(10, 40, 0, 40).details["change"] == -0.25  # a fall counts as well
    assert finding(1, 20, 3, 20) is None  # 10 points, but p = 0.6: not significant
    assert finding(30_000, 1_000_000, 34_000, 1_000_000) is None  # significant, but only 0.4 points
    assert finding(30_000, 1_000_000, 34_000, 1_000_000, min_missing_change=0.004) is not None
    assert finding(0, 40, 10, 40, missing_alpha=1e-4) is None  # p = 0.0011


def test_a_new_category_is_a_finding_from_one_percent_of_the_rows():
    from mlprod.drift.findings import new_categories

    ref = build_profile(pd.DataFrame({"x": ["a"] * 500 + ["b"] * 500}))["x"]
    cur = build_profile(pd.DataFrame({"x": ["a"] * 490 + ["b"] * 485 + ["c"] * 10 + ["d"] * 5 + [None] * 10}))["x"]
    found = new_categories(ref, cur, SETTINGS)
    assert [(f.details["category"], f.value) for f in found] == [("c", 10 / 1000)]  # d: 0.5 %, below 1 %
    assert found[0].threshold == 0.01
    assert [f.details["category"] for f in new_categories(ref, cur, DriftSettings(min_new_category_share=0.005))] \
        == ["c", "d"]


def test_data_finding_settings_are_strict():
    with pytest.raises(DriftError, match=r"unknown key\(s\) \['min_new_categories_share'\].*"
                                         r"Did you mean 'min_new_category_share'\?"):
        DriftSettings.from_mapping({"min_new_categories_share": 0.02})
    with pytest.raises(DriftError, match="'missing_alpha' must be strictly between 0 and 1, got 0"):
        DriftSettings(missing_alpha=0)
    with pytest.raises(DriftError, match="'min_missing_change' must be a share greater than 0 and at most 1, got 5"):
        DriftSettings.from_mapping({"min_missing_change": 5})
    with pytest.raises(DriftError, match="'min_new_category_share' must be a share .* got 'x'"):
        DriftSettings(min_new_category_share="x")
    triggers = DriftSettings().retrain_on
    assert {"missing_column", "missing_values", "new_category"} <= set(triggers)
