"""The retraining policy over the history: known cases, strict settings, a deterministic record."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlprod.errors import MonitoringError
from mlprod.monitoring.history import COLUMNS
from mlprod.monitoring.policy import PolicySettings, decide

WEEKS = [("2024-W01", "2024-01-01"), ("2024-W02", "2024-01-08"), ("2024-W03", "2024-01-15"), ("2024-W04", "2024-01-22")]


def history(alerts=(), kpi=None, labelled=100, version="1.0.0"):
    """History rows: feature drift share per week (alert where listed), optional KPI values per week."""
    rows = []
    for i, (window, start) in enumerate(WEEKS):
        base = dict(window=window, window_start=start, window_end=start, threshold=0.3, model_version=version,
                    rows=1000, labelled_rows=labelled, as_of="2024-02-01T00:00:00Z")
        rows.append({**base, "metric": "feature_drift_share", "kind": "drift", "value": 0.5 if window in alerts else 0.1,
                     "alert": window in alerts})
        if kpi is not None:
            rows.append({**base, "metric": "net_value", "kind": "kpi", "value": kpi[i], "threshold": None,
                         "alert": False})
    return pd.DataFrame(rows, columns=list(COLUMNS))


AS_OF = "2024-02-01T00:00:00Z"


def check(decision, name):
    return next(c for c in decision.checks if c.name == name)


def test_drift_in_n_consecutive_windows_triggers_a_retrain():
    decision = decide(history(alerts={"2024-W03", "2024-W04"}), PolicySettings(consecutive_windows=2), as_of=AS_OF)
    assert decision.retrain
    assert check(decision, "feature_drift").windows == ("2024-W03", "2024-W04")
    assert any(r.startswith("feature_drift:") for r in decision.reasons)


def test_an_interrupted_streak_does_not():
    decision = decide(history(alerts={"2024-W02", "2024-W04"}), PolicySettings(consecutive_windows=2), as_of=AS_OF)
    assert not decision.retrain and "no trigger fired" in decision.reasons
    assert check(decision, "feature_drift").value == 1.0


def test_gates_block_a_fired_trigger_with_their_reason():
    h = history(alerts={"2024-W03", "2024-W04"}, labelled=10)
    decision = decide(h, PolicySettings(min_new_labelled_rows=100), as_of=AS_OF)
    assert not decision.retrain
    assert any("blocked by min_new_labelled_rows: 40 labelled row(s)" in r for r in decision.reasons)
    recent = decide(history(alerts={"2024-W01", "2024-W02"}), PolicySettings(min_days_since_retrain=30),
                    as_of="2024-01-20T00:00:00Z", last_retrain="2024-01-01")
    assert not recent.retrain and not check(recent, "min_days_since_retrain").passed
    assert check(recent, "min_days_since_retrain").value == 19.0


def test_only_windows_since_the_last_retrain_count():
    decision = decide(history(alerts={"2024-W01", "2024-W02"}), as_of=AS_OF, last_retrain="2024-01-15")
    assert decision.windows == ("2024-W03", "2024-W04") and not decision.retrain


def test_kpi_drop_against_the_baseline_windows():
    falling = history(kpi=[10.0, 10.0, 8.0, 7.0])
    settings = PolicySettings(triggers=("kpi_drop",), max_kpi_drop=0.1, baseline_windows=2, consecutive_windows=2)
    decision = decide(falling, settings, as_of=AS_OF)
    assert decision.retrain and check(decision, "kpi_drop").threshold == pytest.approx(9.0)
    steady = decide(history(kpi=[10.0, 10.0, 9.5, 8.0]), settings, as_of=AS_OF)
    assert not steady.retrain


def test_the_decision_record_is_versioned_deterministic_and_records_defaults(tmp_path):
    decision = decide(history(alerts={"2024-W04"}), PolicySettings.from_mapping({"consecutive_windows": 1}),
                      as_of=AS_OF)
    first = decision.write(tmp_path / "a.json").read_bytes()
    second = decide(history(alerts={"2024-W04"}), PolicySettings.from_mapping({"consecutive_windows": 1}),
                    as_of=AS_OF).write(tmp_path / "b.json").read_bytes()
    assert first == second
    record = json.loads(first)
    assert record["schema_version"] == 1 and record["retrain"] is True
    assert record["policy"]["min_new_labelled_rows"] == 0 and record["policy"]["triggers"][0] == "feature_drift"
    assert list(record) == sorted(record)


@pytest.mark.parametrize("given, message", [
    ({"consecutive_window": 2}, r"unknown key\(s\) \['consecutive_window'\].*Did you mean 'consecutive_windows'"),
    ({"triggers": ["drift"]}, r"unknown trigger\(s\) \['drift'\]"),
    ({"consecutive_windows": 0}, r"whole number >= 1"),
    ({"max_kpi_drop": 2}, r"share in \[0, 1\]"),
])
def test_policy_settings_are_strict(given, message):
    with pytest.raises(MonitoringError, match=message):
        PolicySettings.from_mapping(given)


def test_an_empty_history_decides_nothing():
    decision = decide(pd.DataFrame({c: [] for c in COLUMNS}), as_of=AS_OF)
    assert not decision.retrain and decision.windows == ()
