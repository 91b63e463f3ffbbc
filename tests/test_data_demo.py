"""The embedded demo dataset: shape, determinism, base rate, the behaviour shift and the weak region."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlprod.data.demo import CHANNELS, LEADS_COLUMNS, REGIONS, make_leads
from mlprod.errors import ConfigError

SHIFT = pd.Timestamp("2024-07-01")


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return make_leads()


def test_columns_types_and_ranges(leads):
    assert tuple(leads.columns) == LEADS_COLUMNS
    assert len(leads) == 50_000
    for name in ["lead_id", "age", "days_since_last_activity", "n_interactions", "converted"]:
        assert leads[name].dtype == np.int64, name
    for name in ["income", "activity_trend"]:
        assert leads[name].dtype == np.float64, name
    assert leads["created_at"].dtype == "datetime64[ns]"
    assert leads["lead_id"].tolist() == list(range(1, 50_001))
    assert leads["created_at"].is_monotonic_increasing
    assert (leads["created_at"] == leads["created_at"].dt.normalize()).all()
    assert leads["created_at"].iloc[0] == pd.Timestamp("2023-01-01")
    assert leads["created_at"].iloc[-1] == pd.Timestamp("2024-12-31")
    assert leads["age"].between(18, 80).all()
    assert (leads["income"] > 0).all() and (leads["income"] == leads["income"].round(2)).all()
    assert set(leads["region"]) == set(REGIONS)
    assert set(leads["channel"]) == set(CHANNELS)
    assert all(isinstance(value, str) for value in leads["region"].head())
    assert (leads["days_since_last_activity"] >= 0).all()
    assert leads["activity_trend"].between(-1, 1).all()
    assert (leads["n_interactions"] >= 0).all()
    assert set(leads["converted"]) == {0, 1}
    assert not leads.isna().any().any()


def test_same_seed_same_frame_other_seed_other_data(leads):
    pd.testing.assert_frame_equal(make_leads(seed=42), leads)
    other = make_leads(seed=43)
    assert not other["income"].equals(leads["income"])
    assert not other["converted"].equals(leads["converted"])


def test_global_numpy_random_state_is_untouched():
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    make_leads(n_rows=1_000)
    assert np.random.random() == expected


def test_positive_rate_is_calibrated(leads):
    assert 0.13 <= leads["converted"].mean() <= 0.17
    rare = make_leads(n_rows=20_000, positive_rate=0.05)
    assert 0.04 <= rare["converted"].mean() <= 0.06


def test_weak_region_has_the_same_base_rate(leads):
    rates = leads.groupby("region")["converted"].mean()
    assert rates.between(0.12, 0.18).all(), rates.to_dict()


def test_behaviour_shift_after_shift_date(leads):
    before, after = leads[leads["created_at"] < SHIFT], leads[leads["created_at"] >= SHIFT]
    paid_before = (before["channel"] == "paid_search").mean()
    paid_after = (after["channel"] == "paid_search").mean()
    assert paid_after > paid_before + 0.15
    assert after["income"].mean() / before["income"].mean() == pytest.approx(1.25, abs=0.05)
    assert after["days_since_last_activity"].mean() > 1.4 * before["days_since_last_activity"].mean()
    # stable features
    assert after["age"].mean() == pytest.approx(before["age"].mean(), abs=0.5)
    shares_before = before["region"].value_counts(normalize=True)
    shares_after = after["region"].value_counts(normalize=True)
    assert (shares_after - shares_before).abs().max() < 0.02


def _trend_gap(part: pd.DataFrame) -> float:
    """Mean activity_trend of converted minus non-converted leads (outside the weak region)."""
    strong = part[part["region"] != "central"]
    return strong.loc[strong["converted"] == 1, "activity_trend"].mean() - strong.loc[
        strong["converted"] == 0, "activity_trend"
    ].mean()


def test_activity_trend_effect_changes_after_shift(leads):
    assert _trend_gap(leads[leads["created_at"] < SHIFT]) > 0.1
    assert _trend_gap(leads[leads["created_at"] >= SHIFT]) < 0.0


def test_features_drive_conversion_outside_central(leads):
    strong = leads[(leads["region"] != "central") & (leads["created_at"] < SHIFT)]
    by_channel = strong.groupby("channel")["converted"].mean()
    assert by_channel["referral"] > by_channel["web"] and by_channel["event"] > by_channel["web"]
    busy = strong["n_interactions"] >= 5
    assert strong.loc[busy, "converted"].mean() > 1.5 * strong.loc[~busy, "converted"].mean()
    recent = strong["days_since_last_activity"] <= 3
    assert strong.loc[recent, "converted"].mean() > strong.loc[~recent, "converted"].mean()


def test_central_region_carries_weak_signal():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    data = make_leads(n_rows=20_000)
    pre = data[data["created_at"] < SHIFT]
    features = pd.get_dummies(
        pre.drop(columns=["lead_id", "created_at", "converted"]), columns=["region", "channel"], dtype=float
    )
    fit_rows = (pre["created_at"] < "2024-01-01").to_numpy()
    model = HistGradientBoostingClassifier(random_state=0).fit(features[fit_rows], pre["converted"][fit_rows])
    later = pre[~fit_rows]
    scores = model.predict_proba(features[~fit_rows])[:, 1]
    central = (later["region"] == "central").to_numpy()
    auc_central = roc_auc_score(later["converted"][central], scores[central])
    auc_other = roc_auc_score(later["converted"][~central], scores[~central])
    assert auc_central < 0.62, auc_central
    assert auc_other > 0.75, auc_other


def test_custom_dates_are_respected():
    data = make_leads(n_rows=500, start="2022-03-01", end="2022-06-30", shift_date="2022-05-01")
    assert data["created_at"].min() == pd.Timestamp("2022-03-01")
    assert data["created_at"].max() == pd.Timestamp("2022-06-30")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_rows": 99}, "n_rows must be an integer >= 100, got 99"),
        ({"n_rows": 1000.5}, "n_rows must be an integer"),
        ({"positive_rate": 0.0}, "positive_rate must be a number strictly between 0 and 1, got 0.0"),
        ({"positive_rate": 1.5}, "got 1.5"),
        ({"start": "yesterday-ish"}, "start='yesterday-ish' is not a date"),
        ({"start": "2025-01-01"}, "start (2025-01-01) must be before end (2024-12-31)"),
        ({"shift_date": "2026-01-01"}, "shift_date (2026-01-01) must lie between"),
    ],
)
def test_invalid_arguments_raise_config_error(kwargs, fragment):
    with pytest.raises(ConfigError) as info:
        make_leads(**kwargs)
    assert fragment in str(info.value)
