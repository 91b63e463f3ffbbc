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
    with pytest.raises(ReviewError, match=r"review_calibration\.json is missing.*re-run the evaluate stage"):
        ResilientPredictor.from_folders(primary, settings=RISK)


def test_a_calibration_copied_in_from_another_model_is_refused(primary, models):
    calibrate_review(primary, HOLDOUT, target="converted", alpha=0.2, delta=0.1)
    other = primary.parent / "other"
    shutil.copytree(models[1], other)
    shutil.copy(primary / "review_calibration.json", other)
    with pytest.raises(ReviewError, match=r"review_calibration\.json is there but is not recorded in .*"
                                          r"model_manifest\.yaml.*re-run the evaluate stage"):
        ResilientPredictor.from_folders(other, settings=RISK)
    # recorded for the other model too (by hand): still refused, it names the model it was calibrated for
    from mlprod.manifest.attached import attach_files

    attach_files(other, {"review_calibration.json": (primary / "review_calibration.json").read_bytes()})
    with pytest.raises(ReviewError, match="calibrated for model version '1.2.3'"):
        ResilientPredictor.from_folders(other, settings=RISK_02)


RISK_02 = ServingSettings.from_mapping({"review": {"method": "risk_control", "alpha": 0.2, "delta": 0.1}})


def test_calibrate_review_records_the_file_in_the_manifest_and_verify_checks_it(primary):
    from mlprod.manifest.schema import read_manifest
    from mlprod.manifest.verify import verify

    calibrate_review(primary, HOLDOUT, target="converted", alpha=0.2, delta=0.1)
    manifest = read_manifest(primary)
    data = (primary / "review_calibration.json").read_bytes()
    import hashlib

    assert manifest.files == {"review_calibration.json": hashlib.sha256(data).hexdigest()}
    assert "schema_version: 2" in (primary / "model_manifest.yaml").read_text()  # older mlprod refuses, not ignores
    assert verify(primary).passed
    (primary / "review_calibration.json").write_bytes(data.replace(b'"band"', b'"band" ', 1))
    failures = verify(primary).failures
    assert [c.name for c in failures] == ["file review_calibration.json"]
    assert "does not match the manifest" in failures[0].message


def test_a_tampered_calibration_is_refused_never_served_as_the_plain_band(primary):
    calibrate_review(primary, HOLDOUT, target="converted", alpha=0.2, delta=0.1)
    path = primary / "review_calibration.json"
    record = json.loads(path.read_text())
    record["band"] = [0.0, 0.0]  # nothing routed to people any more
    path.write_text(json.dumps(record, sort_keys=True))
    with pytest.raises(ReviewError, match=r"review_calibration\.json: sha256 .* does not match the manifest.*"
                                          r"Refusing it; re-run the evaluate stage"):
        ResilientPredictor.from_folders(primary, settings=RISK_02)
    path.unlink()  # recorded but gone
    with pytest.raises(ReviewError, match=r"review_calibration\.json is missing; the manifest records it"):
        ResilientPredictor.from_folders(primary, settings=RISK_02)


def test_a_calibration_for_another_alpha_is_refused(primary):
    calibrate_review(primary, HOLDOUT, target="converted", alpha=0.2, delta=0.1)
    with pytest.raises(ReviewError, match=r"calibrated for alpha=0\.2, delta=0\.1; serving\.review asks for "
                                          r"alpha=0\.1, delta=0\.1"):
        ResilientPredictor.from_folders(primary, settings=RISK)


def evaluate_like_the_stage(trained, model_dir, holdout, method):
    """What notebooks/evaluate.ipynb does: score the holdout, calibration_files, add_evaluation."""
    import mlprod
    from mlprod.serving.review import calibration_files

    params = {"project": {"target": "converted"},
              "serving": {"review": {"method": method, "alpha": 0.2, "delta": 0.1}}}
    scores = mlprod.load_model(trained).predict_proba(holdout)[:, 1]
    files = calibration_files(trained, holdout, scores, threshold=0.5, params=params)
    return mlprod.add_evaluation(trained, model_dir, metrics={"holdout": {"rows": len(holdout)}}, files=files)


def test_evaluate_writes_the_calibration_under_risk_control_and_nothing_under_band(models, tmp_path):
    banded = evaluate_like_the_stage(models[0], tmp_path / "band", HOLDOUT, "band")
    assert banded.files == {} and not (tmp_path / "band" / "review_calibration.json").exists()
    manifest_text = (tmp_path / "band" / "model_manifest.yaml").read_text()
    assert "files:" not in manifest_text  # (schema_version is 2 only for other optional fields, e.g. a DVC remote)
    risk = evaluate_like_the_stage(models[0], tmp_path / "risk", HOLDOUT, "risk_control")
    assert list(risk.files) == ["review_calibration.json"]
    record = json.loads((tmp_path / "risk" / "review_calibration.json").read_text())
    assert record["holdout_rows"] == len(HOLDOUT) and record["alpha"] == 0.2
    predictor = ResilientPredictor.from_folders(tmp_path / "risk", settings=RISK_02)
    try:
        assert predictor.settings.review_band == tuple(record["band"])
    finally:
        predictor.close()


def test_retraining_recalibrates_on_its_own_holdout(models, tmp_path):
    """The evaluate stage runs again after a retrain: another holdout gives another band, in the new folder."""
    first = evaluate_like_the_stage(models[0], tmp_path / "model", HOLDOUT, "risk_control")
    band_first = json.loads((tmp_path / "model" / "review_calibration.json").read_text())["band"]
    shifted = make_leads(n_rows=1500, seed=29)  # the next period: 8% of its labels disagree with the model's world
    flipped = np.random.default_rng(3).random(len(shifted)) < 0.08
    shifted.loc[flipped, "converted"] = 1 - shifted.loc[flipped, "converted"]
    second = evaluate_like_the_stage(models[0], tmp_path / "model", shifted, "risk_control")
    band_second = json.loads((tmp_path / "model" / "review_calibration.json").read_text())["band"]
    assert band_first == [0.49, 0.51] and band_second[0] < band_first[0] and band_second[1] > band_first[1]
    assert first.files != second.files  # the manifest vouches for the new file, not the old one
    predictor = ResilientPredictor.from_folders(tmp_path / "model", settings=RISK_02)
    try:
        assert list(predictor.settings.review_band) == band_second
    finally:
        predictor.close()


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


@pytest.mark.parametrize("method", ["band", "risk_control"])
def test_the_training_librarys_evaluate_and_save_calibrates_as_the_stage_does(models, tmp_path, method):
    """mlprod.training.evaluate_and_save (the backtest's retrain) writes the same calibration file as the stage."""
    from mlprod.training import evaluate_and_save

    stage = evaluate_like_the_stage(models[0], tmp_path / "stage", HOLDOUT, method)
    params = {"project": {"target": "converted"},
              "serving": {"review": {"method": method, "alpha": 0.2, "delta": 0.1}}}
    HOLDOUT.to_parquet(tmp_path / "holdout.parquet")
    library, _ = evaluate_and_save(models[0], HOLDOUT, tmp_path / "library", target="converted", threshold=0.5,
                                   evaluation_data=tmp_path / "holdout.parquet", params=params)
    assert library.files == stage.files and (method == "band") == (library.files == {})
