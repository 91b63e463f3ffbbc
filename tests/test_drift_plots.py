"""The plot data of the drift report: one drift scale for every test (drift_score) and dated windows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlprod.drift.concept import Windows
from mlprod.drift.outputs import MAX_DRIFT_SCORE, drift_score
from mlprod.drift.results import ColumnDrift


def column(test: str, score: str, threshold, statistic, p_value=None) -> ColumnDrift:
    if statistic is None:
        drifted = False
    elif score == "p_value":
        drifted = p_value < threshold
    else:
        drifted = statistic >= threshold if threshold else statistic > 0
    return ColumnDrift(column="x", kind="numeric", test=test, title=test, score=score, threshold=threshold,
                       chosen_by="default", drifted=bool(drifted), statistic=statistic, p_value=p_value,
                       n_reference=100, n_current=100, missing_share_reference=0.0, missing_share_current=0.0)


@pytest.mark.parametrize("statistic, expected", [(0.05, 0.5), (0.1, 1.0), (0.25, 2.5), (5.0, MAX_DRIFT_SCORE)])
def test_distance_score_is_statistic_over_threshold_capped(statistic, expected):
    assert drift_score(column("wasserstein", "distance", 0.1, statistic)) == pytest.approx(expected)


@pytest.mark.parametrize("p_value, expected", [(0.5, math.log(0.5) / math.log(0.05)), (0.05, 1.0),
                                               (0.0025, 2.0), (0.0, MAX_DRIFT_SCORE), (1.0, 0.0)])
def test_p_value_score_is_log_p_over_log_threshold(p_value, expected):
    c = column("ks", "p_value", 0.05, 0.3, p_value)
    assert drift_score(c) == pytest.approx(expected)
    assert (drift_score(c) > 1) == c.drifted  # above 1 exactly when the test says drifted


def test_exact_rule_and_no_test_scores():
    assert drift_score(column("constant", "distance", 0.0, 1.0)) == MAX_DRIFT_SCORE
    assert drift_score(column("constant", "distance", 0.0, 0.0)) == 0.0
    assert drift_score(column("none", "distance", None, None)) is None  # written as an empty cell


def test_windows_carry_their_first_and_last_date_skipping_missing_dates():
    windows = Windows(3)
    y, p = np.array([0, 1, 0, 1, 1, 0]), np.array([0.1, 0.8, 0.3, 0.7, 0.6, 0.2])
    when = pd.to_datetime(["NaT", "2024-07-01", "2024-07-02", "2024-07-08", "2024-07-09", "2024-07-10"]).to_numpy()
    windows.update(y, p, when)
    first, second = windows.finish()
    assert (first.first, first.last, first.label) == ("2024-07-01", "2024-07-02", "2024-07-01 to 2024-07-02")
    assert (second.first, second.last) == ("2024-07-08", "2024-07-10")
    assert first.to_dict()["first"] == "2024-07-01"


def test_windows_without_dates_have_no_dates():
    windows = Windows(2)
    windows.update(np.array([0, 1, 1, 0]), np.array([0.2, 0.9, 0.6, 0.4]), None)
    found = windows.finish()
    assert [(w.first, w.last, w.label) for w in found] == [(None, None, "rows 1-2"), (None, None, "rows 3-4")]
    assert "first" not in found[0].to_dict()  # empty fields are dropped from drift.json
