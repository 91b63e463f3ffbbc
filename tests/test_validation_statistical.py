"""The statistical layer against a reference profile: known answers, thresholds, and the demo's behaviour shift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlprod.data import make_leads, time_split
from mlprod.errors import ConfigError
from mlprod.profile import build_profile
from mlprod.validation import build_details, load_schema, parse_schema, validate

COLUMNS = {"amount": {"type": "float", "nullable": True}, "channel": {"type": "str", "nullable": True},
           "lead_id": {"type": "int", "statistics": False}, "day": {"type": "datetime"}}


def make_schema(statistics=None):
    data = {"schema_version": 1, "columns": COLUMNS}
    if statistics is not None:
        data["statistics"] = statistics
    return parse_schema(data)


def frame(n: int, seed: int, *, scale: float = 1.0, shares=(0.5, 0.3, 0.2), missing: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.normal(100, 10, n) * scale
    amount[rng.random(n) < missing] = np.nan
    return pd.DataFrame({"amount": amount, "channel": rng.choice(["web", "email", "event"], n, p=shares),
                         "lead_id": np.arange(n),
                         "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), "h")})


def stats(data: pd.DataFrame, reference: pd.DataFrame, statistics=None) -> dict:
    outcome = validate({"new": data}, make_schema(statistics), reference=build_profile(reference))
    return {o.result.check: o for o in outcome.outcomes if o.result.layer == "statistical"}


def test_same_distribution_passes_every_statistical_check():
    found = stats(frame(4000, 1), frame(4000, 2))
    assert set(found) == {"stats.row_count", "stats.missing_share:amount", "stats.missing_share:channel",
                          "stats.mean_shift:amount", "stats.quantiles:amount", "stats.category_shares:channel",
                          "stats.unseen_categories:channel"}  # ids and datetimes are not compared
    assert {check: o.action for check, o in found.items()} == dict.fromkeys(found, "pass")


def test_mean_shift_is_the_mean_change_in_reference_standard_deviations():
    reference, data = frame(3000, 1), frame(1000, 2)
    data["amount"] += 4.0
    result = stats(data, reference)["stats.mean_shift:amount"].result
    expected = abs(data.amount.mean() - reference.amount.mean()) / reference.amount.std(ddof=1)
    assert result.observed["value"] == pytest.approx(expected, abs=1e-6)
    assert result.passed is False and result.severity == "warning"  # 0.2 <= ~0.4 <= 1.5
    assert "beyond the warning threshold 0.2" in result.message


def test_quantile_gap_grades_a_moderate_shift_as_warning_and_a_unit_change_as_error():
    reference = frame(5000, 1)
    moderate = stats(frame(2000, 2, scale=1.05), reference)["stats.quantiles:amount"]
    assert moderate.action == "warn" and 0.1 < moderate.result.observed["value"] < 0.35
    units = stats(frame(2000, 2, scale=100.0), reference)
    assert units["stats.quantiles:amount"].action == "fail"
    assert units["stats.quantiles:amount"].result.observed["value"] > 0.85  # (almost) no overlap at all
    assert units["stats.mean_shift:amount"].action == "fail"


def test_category_shares_and_unseen_categories_have_exact_values():
    reference = frame(1000, 1, shares=(0.5, 0.3, 0.2))
    data = frame(1000, 2, shares=(0.2, 0.3, 0.5))
    data.loc[:49, "channel"] = "fax"  # 50 rows in a category the reference never saw
    found = stats(data, reference)
    shares = found["stats.category_shares:channel"].result
    new = data.channel.value_counts(normalize=True)
    old = reference.channel.value_counts(normalize=True)
    expected = max(abs(new.get(k, 0) - old.get(k, 0)) for k in set(new.index) | set(old.index))
    assert shares.observed["value"] == pytest.approx(expected, abs=1e-6)
    assert found["stats.category_shares:channel"].action == "warn"
    unseen = found["stats.unseen_categories:channel"]
    assert unseen.result.observed["value"] == pytest.approx(0.05) and unseen.result.observed["unseen"] == ["fax"]
    assert unseen.action == "warn"  # 0.01 < 5% <= 10%


def test_missing_share_increase_and_row_count_ratio():
    reference = frame(2000, 1, missing=0.01)
    data = frame(100, 2, missing=0.4)
    found = stats(data, reference)
    missing = found["stats.missing_share:amount"].result
    assert missing.observed["value"] == pytest.approx(data.amount.isna().mean() - reference.amount.isna().mean(),
                                                      abs=1e-6)
    assert found["stats.missing_share:amount"].action == "fail"  # > 0.3
    rows = found["stats.row_count"].result
    assert rows.observed["value"] == pytest.approx(0.05) and found["stats.row_count"].action == "warn"


def test_thresholds_and_switching_checks_off_come_from_the_schema():
    reference, data = frame(3000, 1), frame(1000, 2)
    data["amount"] += 4.0
    found = stats(data, reference, {"mean_shift": {"warning": 1.0, "error": 2.0}, "quantiles": False})
    assert found["stats.mean_shift:amount"].action == "pass"
    assert set(found) == {"stats.mean_shift:amount"}
    outcome = validate({"new": data}, make_schema({"mean_shift": {"warning": 1.0}}), reference=reference)
    assert build_details(outcome)["statistics"] == {"mean_shift": {"warning": 1.0, "error": 1.5}}


def test_checks_on_columns_the_reference_lacks_are_skipped():
    reference = frame(500, 1).drop(columns=["channel"])
    found = stats(frame(500, 2), reference)
    assert found["stats.category_shares:channel"].action == "skipped"
    assert "the reference profile has no column 'channel'" in found["stats.category_shares:channel"].result.message


def test_statistical_datasets_must_exist():
    with pytest.raises(ConfigError, match=r"names dataset\(s\) \['current'\] that are not validated"):
        validate({"new": frame(10, 1)}, make_schema(), reference=frame(10, 2), statistical=["current"])


def test_the_demo_behaviour_shift_warns_and_clearly_broken_data_fails():
    """The project's schema.yaml thresholds: the real shift in `current` only warns; broken data fails."""
    schema = load_schema(Path(__file__).resolve().parent.parent / "schema.yaml")
    split = time_split(make_leads(n_rows=12_000, seed=7), "created_at", "2024-04-01", "2024-07-01")
    profile = build_profile(split.train)
    shifted = validate({"holdout": split.holdout, "current": split.current}, schema, reference=profile)
    assert shifted.status == "warned", [o.describe() for o in shifted.failures]
    warned = {o.result.check for o in shifted.warnings if o.dataset == "current"}
    assert {"stats.category_shares:channel", "stats.mean_shift:income"} <= warned
    assert not [o for o in shifted.warnings if o.dataset == "holdout"]

    broken = split.current.copy()
    broken["income"] = broken["income"] * 100  # cents instead of currency units
    broken["channel"] = "web"
    outcome = validate({"current": broken}, schema, reference=profile)
    failing = {o.result.check for o in outcome.failures}
    assert {"stats.mean_shift:income", "stats.quantiles:income", "stats.category_shares:channel"} <= failing
