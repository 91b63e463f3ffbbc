"""review_calibration.json: written by calibrate_review, served by ResilientPredictor.from_folders, monitored per week."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from mlprod.data import make_leads
from mlprod.errors import ConfigError, ReviewError
from mlprod.serving import ResilientPredictor, ServingSettings
from mlprod.serving.review import calibrate_review, realised_error_by_week, recalibrate
from tests.serving_models import train_models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    primary, fallback, _ = train_models(tmp_path_factory.mktemp("models"))
    return primary, fallback


@pytest.fixture
def primary(models, tmp_path):
    folder = tmp_path / "primary"
    shutil.copytree(models[0], folder)
    return folder


HOLDOUT = make_leads(n_rows=3000, seed=11)
RISK = ServingSettings.from_mapping({"review": {"method": "risk_control", "alpha": 0.1, "delta": 0.1}})


def test_calibrate_writes_a_sorted_versioned_file_and_the_predictor_serves_its_band(primary):
    record = calibrate_review(primary, HOLDOUT, target="converted", alpha=0.2, delta=0.1)
    text = (primary / "review_calibration.json").read_text()
    data = json.loads(text)
    assert data == record and list(data) == sorted(data)
    assert data["schema_version"] == 1 and data["alpha"] == 0.2 and data["holdout_rows"] == 3000
    assert data["empirical_error"] <= 0.2 and data["p_value"] <= 0.1 and 0 < data["auto_decided_share"] <= 1
    calibrate_review(primary, HOLDOUT, target="converted", alpha=0.2, delta=0.1)
    assert (primary / "review_calibration.json").read_text() == text  # deterministic
    settings = ServingSettings.from_mapping({"review_band": [0.0, 0.001],
                                             "review": {"method": "risk_control", "alpha": 0.2}})
    predictor = ResilientPredictor.from_folders(primary, settings=settings)
    try:
        low, high = data["band"]
        assert predictor.settings.review_band == (low, high)
        out = predictor.predict(HOLDOUT.head(500))
        inside = (out["score"] >= low) & (out["score"] <= high)
        assert (out["needs_review"] == inside).all()
    finally:
        predictor.close()


def test_risk_control_without_the_file_is_a_clear_error(primary):
    with pytest.raises(ReviewError, match=r"review_calibration\.json is missing.*calibrate_review"):
        ResilientPredictor.from_folders(primary, settings=RISK)


def test_a_calibration_of_another_model_is_refused(primary, models):
    calibrate_review(primary, HOLDOUT, target="converted", alpha=0.2, delta=0.1)
    other = primary.parent / "other"
    shutil.copytree(models[1], other)
    shutil.copy(primary / "review_calibration.json", other)
    with pytest.raises(ReviewError, match="calibrated for model version '1.2.3'"):
        ResilientPredictor.from_folders(other, settings=RISK)


def test_no_certifiable_band_writes_nothing(primary):
    with pytest.raises(ReviewError, match="no review band keeps the error.*Nothing was written"):
        calibrate_review(primary, HOLDOUT, target="converted", alpha=0.001, delta=0.1)
    assert not (primary / "review_calibration.json").exists()


def test_recalibrate_follows_the_method_in_params(primary):
    params = {"project": {"target": "converted"}, "serving": {"review": {"method": "band"}}}
    assert recalibrate(primary, HOLDOUT, params) is None
    params["serving"]["review"] = {"method": "risk_control", "alpha": 0.2}
    assert recalibrate(primary, HOLDOUT, params)["alpha"] == 0.2


@pytest.mark.parametrize("review, message", [
    ({"method": "bandd"}, r"serving\.review\.method: expected band or risk_control"),
    ({"alpha": 1.0}, r"serving\.review\.alpha: expected a number > 0 and < 1"),
    ({"delta": 0}, r"serving\.review\.delta"),
    ({"alfa": 0.1}, r"unknown key\(s\) 'alfa'; allowed: method, alpha, delta, dir"),
])
def test_review_settings_are_strict(review, message):
    with pytest.raises(ConfigError, match=message):
        ServingSettings.from_mapping({"review": review})


def test_the_drift_monitor_flags_a_week_whose_labels_disagree():
    def at(day):
        return pd.Timestamp(day, tz="UTC")

    log = pd.DataFrame({
        "unit_id": [str(i) for i in range(40)],
        "logged_at": [at("2025-03-04")] * 20 + [at("2025-03-12")] * 20,  # ISO weeks 10 and 11
        "decision": [1] * 40, "needs_review": [False] * 38 + [True] * 2,
    })
    labels = pd.DataFrame({"lead_id": list(range(40)), "converted": [1] * 19 + [0] + [0] * 12 + [1] * 8})
    weeks = realised_error_by_week(log, labels, alpha=0.1, key="lead_id", target="converted")
    assert list(weeks["week"]) == ["2025-W10", "2025-W11"] and list(weeks["week_start"]) == ["2025-03-03", "2025-03-10"]
    assert list(weeks["auto_decided"]) == [20, 18] and list(weeks["errors"]) == [1, 12]
    assert list(weeks["above_alpha"]) == [False, True]
    assert weeks["p_value"].iloc[1] < 0.001
