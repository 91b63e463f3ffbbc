"""detect_drift end to end in memory: the four kinds, importance shift, the policy, outputs, settings, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlprod.cli import main
from mlprod.data import make_leads, time_split, write_table
from mlprod.drift import DriftSettings, detect_drift
from mlprod.drift.outputs import prometheus_text
from mlprod.errors import DriftError
from mlprod.profile import build_profile

FEATURES = ["region", "channel", "age", "income", "days_since_last_activity", "activity_trend", "n_interactions"]
SETTINGS = DriftSettings(target="converted", date_column="created_at", exclude=("lead_id",), importance_rows=600)


@pytest.fixture(scope="module")
def demo():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    split = time_split(make_leads(12000, seed=3), "created_at", "2024-04-01", "2024-07-01")
    numeric = FEATURES[2:]
    model = Pipeline([("features", ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), FEATURES[:2]),
                                                      ("n", StandardScaler(), numeric)])),
                      ("model", LogisticRegression(max_iter=500))])
    model.fit(split.train[FEATURES], split.train.converted)
    reference = build_profile(split.train.assign(prediction=model.predict_proba(split.train)[:, 1]))
    return split, model, reference


@pytest.fixture(scope="module")
def report(demo):
    split, model, reference = demo
    return detect_drift(reference, split.current, settings=SETTINGS, model=model, baseline=split.holdout)


def test_feature_drift_flags_the_shifted_columns_only(report):
    assert set(report.features.drifted) == {"channel", "income", "days_since_last_activity"}
    assert sorted(c.column for c in report.features.columns) == sorted(FEATURES)  # not target, score, date, id
    assert report.features.share_drifted == pytest.approx(3 / 7)


def test_prediction_concept_performance_and_importance(report):
    assert report.prediction is not None and report.prediction.column == "prediction"
    assert report.concept.drifted_features == ("activity_trend",)
    relation = report.concept.relations["activity_trend"]
    assert relation["p_value"] < 1e-6 and relation["max_change"] > 0.05
    current, baseline = report.performance["current"], report.performance["baseline"]
    assert current.rows > 2000
    assert 0.5 < current.metrics["roc_auc"] < baseline.metrics["roc_auc"]
    assert report.concept.windows and all(w.rows >= 250 for w in report.concept.windows)
    assert report.concept.detector["name"] == "river.drift.ADWIN"
    assert report.importance is not None and report.importance.correlation < 0.9 and report.importance.shifted


def test_retrain_decision_lists_reasons_and_respects_the_policy(demo, report):
    assert report.retrain.required
    assert {r.trigger for r in report.retrain.reasons} >= {"feature_drift", "concept_drift"}
    split, model, reference = demo
    lenient = DriftSettings(target="converted", date_column="created_at", exclude=("lead_id",),
                            retrain_on=("performance",), max_auc_drop=0.5)
    quiet = detect_drift(reference, split.current, settings=lenient, model=model, baseline=split.holdout)
    assert not quiet.retrain.required and quiet.retrain.reasons == ()
    assert {o.trigger for o in quiet.retrain.observations} >= {"feature_drift", "concept_drift"}


def test_no_drift_between_two_samples_of_the_same_period(demo):
    split, model, _ = demo
    train = split.train.sample(frac=1.0, random_state=1)
    half = len(train) // 2
    result = detect_drift(train.iloc[:half], train.iloc[half:], settings=SETTINGS)
    assert result.features.drifted == [] and not result.retrain.required


def test_report_dict_is_deterministic_and_records_tests_and_thresholds(demo, report):
    split, model, reference = demo
    again = detect_drift(reference, split.current, settings=SETTINGS, model=model, baseline=split.holdout)
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(report.to_dict(), sort_keys=True)
    data = report.to_dict()
    assert data["schema_version"] == 1 and data["retrain"] is True
    for column in data["feature_drift"]["columns"].values():
        assert {"test", "threshold", "chosen_by", "drifted", "statistic"} <= set(column)
    assert data["settings"]["max_drifted_share"] == 0.3


def test_streamed_current_file_gives_the_same_feature_drift(tmp_path, demo, report):
    split, model, reference = demo
    path = write_table(split.current, tmp_path / "current.parquet")
    seen = []
    streamed = detect_drift(reference, path, settings=SETTINGS, model=model, baseline=split.holdout, batch_rows=700,
                            progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert [c.to_dict() for c in streamed.features.columns] == [c.to_dict() for c in report.features.columns]
    assert streamed.concept.drifted_features == report.concept.drifted_features
    assert ("profiling current", len(split.current), len(split.current)) in seen
    assert [done for stage, done, _ in seen if stage == "profiling current"][:2] == [700, 1400]


def test_outputs_are_written_atomically_and_deterministically(tmp_path, report):
    first = report.write(tmp_path / "a")
    second = report.write(tmp_path / "b")
    for kind, path in first.items():
        assert path.read_bytes() == second[kind].read_bytes(), kind
    features = pd.read_csv(first["features_csv"])
    assert list(features.columns) == ["feature", "kind", "test", "statistic", "p_value", "threshold", "drifted"]
    assert set(features.feature) == set(FEATURES) | {"prediction"}
    windows = pd.read_csv(first["windows_csv"])
    assert len(windows) == len(report.concept.windows) and windows.roc_auc.between(0, 1).all()
    html = first["html_file"].read_text()
    assert "<script" not in html and "Retraining recommended" in html


def test_prometheus_text_escapes_label_values(report):
    from dataclasses import replace

    odd = replace(report.features.columns[0], column='we"ird\\name\n')
    text = prometheus_text(replace(report, features=replace(report.features, columns=(odd,))))
    assert 'mlprod_drift_feature_drifted{feature="we\\"ird\\\\name\\n"} 0' in text
    assert text.endswith("\n") and "# TYPE mlprod_drift_retrain_required gauge" in text


def test_html_escapes_user_provided_names(tmp_path):
    rng = np.random.default_rng(0)
    name = "<script>alert(1)</script>"
    ref = pd.DataFrame({name: rng.normal(size=300), "c": rng.choice(["<b>x</b>", "y"], 300)})
    cur = pd.DataFrame({name: rng.normal(3, 1, 300), "c": rng.choice(["<b>x</b>", "y"], 300)})
    written = detect_drift(ref, cur, settings=DriftSettings(prediction=None)).write(tmp_path)
    html = written["html_file"].read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html


def test_settings_are_strict():
    with pytest.raises(DriftError, match=r"unknown key\(s\) \['max_drifted_shares'\]; allowed: .*"
                                         r"Did you mean 'max_drifted_share'\?"):
        DriftSettings.from_mapping({"max_drifted_shares": 0.2})
    with pytest.raises(DriftError, match=r"column_tests\['x'\]: unknown test 'kstest'"):
        DriftSettings(column_tests={"x": "kstest"})
    with pytest.raises(DriftError, match=r"'retrain_on' names unknown trigger\(s\) \['drift'\]"):
        DriftSettings.from_mapping({"retrain_on": ["drift"]})
    with pytest.raises(DriftError, match="'kpi_top_share' must be strictly between 0 and 1"):
        DriftSettings(kpi_top_share=1.5)
    assert DriftSettings.from_mapping({"exclude": ["id"], "output_dir": "x"}, ignore=("output_dir",)).exclude == ("id",)


def test_inputs_that_cannot_be_compared_give_clear_errors(demo, tmp_path):
    split, model, reference = demo
    with pytest.raises(DriftError, match="the baseline needs the target column 'converted'"):
        detect_drift(reference, split.current, settings=SETTINGS, model=model, baseline=split.holdout[FEATURES])
    with pytest.raises(DriftError, match=r"columns \['nope'\] are not in the reference data"):
        detect_drift(reference, split.current, settings=DriftSettings(columns=("nope",)))
    with pytest.raises(DriftError, match="current must be a DataFrame or a file path, got int"):
        detect_drift(reference, 3)


def test_cli_writes_outputs_and_exit_codes(tmp_path, demo, capsys):
    split, model, reference = demo
    reference.save(tmp_path / "profile.json")
    write_table(split.current.assign(prediction=model.predict_proba(split.current)[:, 1]), tmp_path / "cur.parquet")
    write_table(split.holdout.assign(prediction=model.predict_proba(split.holdout)[:, 1]), tmp_path / "hold.parquet")
    args = [str(tmp_path / "profile.json"), str(tmp_path / "cur.parquet"), "--baseline", str(tmp_path / "hold.parquet"),
            "--target", "converted", "--date-column", "created_at", "--exclude", "lead_id", "-o", str(tmp_path / "out"),
            "--no-progress"]
    assert main(["drift", *args]) == 0
    out = capsys.readouterr().out
    assert "3 of 7 features drifted" in out and "retrain: yes" in out
    assert json.loads((tmp_path / "out" / "drift.json").read_text())["retrain"] is True
    assert main(["drift", *args, "--fail-on-retrain"]) == 1
    assert "retraining is due" in capsys.readouterr().err
    assert main(["drift", *args, "--test", "kstest"]) == 2
    err = capsys.readouterr().err
    assert "'stat_test' must be 'auto' or one of" in err and "Traceback" not in err


def test_edge_cases_end_to_end_give_a_report(tmp_path):
    reference = pd.DataFrame({"constant": [1.0] * 40, "empty": [1.0, 2.0, np.nan, 4.0] * 10, "city": ["a", "b"] * 20})
    current = pd.DataFrame({"constant": [1.0] * 20, "empty": [np.nan] * 20, "city": ["new", "a"] * 10})
    report = detect_drift(reference, current, settings=DriftSettings(prediction=None))
    by_name = {c.column: c for c in report.features.columns}
    assert not by_name["constant"].drifted
    assert by_name["empty"].drifted and by_name["empty"].statistic is None
    assert by_name["city"].drifted and "small sample" in by_name["city"].note
    written = report.write(tmp_path)
    assert "no non-missing values in the current data" in written["html_file"].read_text()
    assert json.loads(written["metrics_file"].read_text())["feature_drift"]["n_drifted"] == 2
