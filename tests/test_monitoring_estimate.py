"""CBPE-style estimated performance, realised metrics, the disagreement flag, KPIs: known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlprod.errors import MonitoringError
from mlprod.monitoring.estimate import (disagreement, estimated_metrics, estimated_roc_auc, expected_confusion,
                                        realised_metrics)
from mlprod.monitoring.kpi import compute_kpis, parse_kpis
from mlprod.monitoring.windows import N_BINS, ScoreSummary


def weighted_expected_auc(score, grouped=False):
    """The reference CBPE AUC, computed independently: every row once as a positive (weight score) and
    once as a negative (weight 1 - score), ranked by score (or by its fixed bin)."""
    rank = np.minimum((score * N_BINS).astype(int), N_BINS - 1) if grouped else score
    y = np.r_[np.ones(score.size), np.zeros(score.size)]
    return roc_auc_score(y, np.r_[rank, rank], sample_weight=np.r_[score, 1 - score])


def calibrated(n, seed):
    rng = np.random.default_rng(seed)
    score = 1 / (1 + np.exp(-rng.normal(-1.5, 1.3, size=n)))
    return score, rng.binomial(1, score)


def test_expected_auc_equals_the_weighted_sklearn_reference():
    score, _ = calibrated(5000, 0)
    summary = ScoreSummary.of(score, score >= 0.5, None)
    assert estimated_roc_auc(summary) == pytest.approx(weighted_expected_auc(score, grouped=True), abs=1e-12)
    assert estimated_roc_auc(summary) == pytest.approx(weighted_expected_auc(score), abs=0.002)  # bin grouping


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_estimate_is_within_002_of_realised_auc_on_calibrated_large_windows(seed):
    score, label = calibrated(20_000, seed)
    summary = ScoreSummary.of(score, score >= 0.5, label)
    realised = realised_metrics(summary)["roc_auc"]
    assert realised == pytest.approx(roc_auc_score(label, score), abs=0.002)
    assert abs(estimated_metrics(summary)["roc_auc"] - realised) < 0.02
    assert not disagreement(summary, tolerance=0.02, min_labelled=500).flagged


def test_disagreement_is_flagged_when_labels_no_longer_follow_the_scores():
    score, _ = calibrated(20_000, 4)
    rng = np.random.default_rng(5)
    shifted = rng.binomial(1, score.mean(), size=score.size)
    summary = ScoreSummary.of(score, score >= 0.5, shifted)  # labels unrelated to the scores: AUC ~0.5
    check = disagreement(summary, tolerance=0.05, min_labelled=500)
    assert check.flagged and check.difference < -0.2
    assert not disagreement(summary, tolerance=0.05, min_labelled=50_000).flagged  # too few labelled rows


def test_only_labelled_rows_enter_the_disagreement_and_the_realised_metrics():
    score = np.array([0.9, 0.8, 0.3, 0.2, 0.6, 0.1])
    label = np.array([1, 0, 1, 0, -1, -1])  # the last two not labelled yet
    summary = ScoreSummary.of(score, score >= 0.5, label)
    realised = realised_metrics(summary)
    assert realised["roc_auc"] == pytest.approx(roc_auc_score([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.2]))
    assert realised["positive_rate"] == 0.5
    check = disagreement(summary, tolerance=0.05, min_labelled=1)
    assert check.estimated == pytest.approx(weighted_expected_auc(np.array([0.9, 0.8, 0.3, 0.2])))


def test_expected_confusion_known_answer():
    score = np.array([0.9, 0.6, 0.4, 0.1])
    c = expected_confusion(ScoreSummary.of(score, score >= 0.5, None))
    assert (c.tp, c.fp, c.fn, c.tn) == pytest.approx((1.5, 0.5, 0.5, 1.5))
    m = estimated_metrics(ScoreSummary.of(score, score >= 0.5, None))
    assert m["precision"] == pytest.approx(0.75) and m["recall"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.75) and m["positive_rate"] == pytest.approx(0.5)


def test_kpis_known_answers():
    score = np.array([0.95, 0.85, 0.75, 0.65, 0.35, 0.25, 0.15, 0.05, 0.55, 0.45])
    label = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
    kpis = parse_kpis({"top_share_conversions": {"share": 0.3},
                       "net_value": {"value_per_conversion": 100, "cost_per_wasted_call": 10, "min": 50}})
    values = {(name, est): (value, floor) for name, est, value, floor in
              compute_kpis(ScoreSummary.of(score, score >= 0.5, label), kpis)}
    assert values[("top_share_conversions", False)][0] == pytest.approx(2 / 3)  # top 3: 0.95, 0.85, 0.75
    assert values[("top_share_conversions", True)][0] == pytest.approx((0.95 + 0.85 + 0.75) / 3)
    # flagged (>= 0.5): 0.95 0.85 0.75 0.65 0.55 -> 3 conversions, 2 wasted calls
    assert values[("net_value", False)] == (pytest.approx((3 * 100 - 2 * 10) / 5), 50.0)
    expected_tp = 0.95 + 0.85 + 0.75 + 0.65 + 0.55
    assert values[("net_value", True)][0] == pytest.approx((expected_tp * 100 - (5 - expected_tp) * 10) / 5)


@pytest.mark.parametrize("given, message", [
    ({"net_value": {"value_per_conversion": 1}}, r"'cost_per_wasted_call' is required"),
    ({"net_value": {"value_per_conversion": 1, "cost_per_wasted_call": 1, "cost": 2}}, r"unknown key\(s\) \['cost'\]"),
    ({"top_share_conversions": {"share": 1.5}}, r"share in \(0, 1\]"),
    ({"top_share_conversions": {"share": "a"}}, "expected a number"),
    ({"net_valu": {}}, "Did you mean 'net_value'"),
])
def test_kpi_settings_are_strict(given, message):
    with pytest.raises(MonitoringError, match=message):
        parse_kpis(given)


def test_kpi_defaults_are_recorded():
    assert parse_kpis({"top_share_conversions": None}) == {"top_share_conversions": {"share": 0.2, "min": None}}


def test_summaries_merge_to_the_summary_of_all_rows():
    score, label = calibrated(3000, 7)
    whole = ScoreSummary.of(score, score >= 0.5, label)
    parts = ScoreSummary.of(score[:1000], score[:1000] >= 0.5, label[:1000]).merge(
        ScoreSummary.of(score[1000:], score[1000:] >= 0.5, label[1000:]))
    assert realised_metrics(parts) == pytest.approx(realised_metrics(whole))
    assert estimated_metrics(parts) == pytest.approx(estimated_metrics(whole))
    again = ScoreSummary.from_dict(whole.to_dict(), "test")
    assert estimated_metrics(again) == estimated_metrics(whole)
