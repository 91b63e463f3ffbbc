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
    assert list(features.columns) == ["feature", "kind", "test", "statistic", "p_value", "threshold", "drifted",
                                      "drift_score"]
    assert set(features.feature) == set(FEATURES) | {"prediction"}
    windows = pd.read_csv(first["windows_csv"])
    assert len(windows) == len(report.concept.windows) and windows.roc_auc.between(0, 1).all()
    html = first["html_file"].read_text()
    assert "<script" not in html and "Retraining recommended" in html


def test_plot_csvs_hold_one_drift_scale_with_its_threshold_and_dated_windows(tmp_path, report):
    """dvc plots draws drift_score (1 = each test's threshold) and the windows by their first date."""
    written = report.write(tmp_path, features_csv=tmp_path / "f.csv", windows_csv=tmp_path / "w.csv")
    features = pd.read_csv(written["features_csv"])
    assert ((features.drift_score >= 1) == features.drifted.astype(bool)).all()  # the score is drifted's scale
    assert features.threshold.notna().all() and features.test.notna().all()
    windows = pd.read_csv(written["windows_csv"], dtype={"first_date": str, "last_date": str})
    assert list(windows.columns[:4]) == ["window", "first_date", "last_date", "period"]
    assert windows.first_date.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert (windows.first_date <= windows.last_date).all() and windows.first_date.is_monotonic_increasing
    assert windows.first_date.iloc[0] >= "2024-07-01"  # the current period of the demo split
    assert (windows.period == windows.first_date + " to " + windows.last_date).all()
    assert [w.first for w in report.concept.windows] == windows.first_date.tolist()


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


# --- bad data in `mlprod drift`: one message naming the file and the column, exit code 2, no traceback ---

@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, demo):
    """A saved reference profile, a saved model and a clean current batch (with scores and without)."""
    from mlprod.modelfile.skops_io import save_model

    split, model, reference = demo
    root = tmp_path_factory.mktemp("cli")
    reference.save(root / "profile.json")
    save_model(model, root / "model.skops")
    current = split.current.head(1500).reset_index(drop=True)
    return root, current, model


def drift_cli(capsys, *args):
    code = main(["drift", *map(str, args), "--target", "converted", "--date-column", "created_at",
                 "--exclude", "lead_id", "--no-progress"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_cli_header_only_and_empty_current_files_are_clear_errors(tmp_path, cli_files, capsys):
    root, current, _ = cli_files
    current.head(0).to_csv(tmp_path / "header.csv", index=False)
    write_table(current.head(0), tmp_path / "none.parquet")
    for name in ("header.csv", "none.parquet"):
        # with --model the rows are scored first: a header-only CSV used to end in scikit-learn's traceback
        code, _, err = drift_cli(capsys, root / "profile.json", tmp_path / name, "--model", root / "model.skops",
                                 "-o", tmp_path / "out")
        assert code == 2
        assert f"current data '{tmp_path / name}' has no rows" in err
    assert not (tmp_path / "out").exists()


def test_cli_header_only_reference_file_is_a_clear_error(tmp_path, cli_files, capsys):
    root, current, _ = cli_files
    current.head(0).to_csv(tmp_path / "reference.csv", index=False)
    write_table(current, tmp_path / "current.parquet")
    code, _, err = drift_cli(capsys, tmp_path / "reference.csv", tmp_path / "current.parquet", "--prediction", "",
                             "-o", tmp_path / "out")
    assert code == 2
    # it used to say "column 'region' is categorical in the reference but numeric in the current data"
    assert f"Data file '{tmp_path / 'reference.csv'}' has no rows" in err


@pytest.mark.parametrize("batch_rows, rows", [(100_000, "row 701: 'unknown', row 1202: 'n.a'"),
                                              (500, "row 701: 'unknown'")])  # the first bad batch stops it
def test_cli_a_column_mixing_numbers_and_text_names_file_column_and_rows(tmp_path, cli_files, capsys, batch_rows,
                                                                         rows):
    root, current, _ = cli_files
    mixed = current.assign(income=current.income.astype(object))
    mixed.loc[[700, 1201], "income"] = ["unknown", "n.a"]
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    code, _, err = drift_cli(capsys, root / "profile.json", tmp_path / "mixed.csv", "--model", root / "model.skops",
                             "--batch-rows", batch_rows, "-o", tmp_path / "out")
    assert code == 2
    assert (f"current data '{tmp_path / 'mixed.csv'}': column 'income' holds numbers in the reference but values "
            f"that are not numbers here ({rows})") in err


def test_cli_text_in_the_label_column_names_the_rows(tmp_path, cli_files, capsys):
    root, current, model = cli_files
    labelled = current.assign(prediction=model.predict_proba(current)[:, 1], converted=current.converted.astype(object))
    labelled.loc[3, "converted"] = "yes"
    labelled.to_csv(tmp_path / "labels.csv", index=False)
    code, _, err = drift_cli(capsys, root / "profile.json", tmp_path / "labels.csv", "-o", tmp_path / "out")
    assert code == 2
    assert ("column 'converted' holds numbers in the reference but values that are not numbers here "
            "(row 4: 'yes')") in err


def test_cli_all_missing_columns_are_compared_not_crashed(tmp_path, cli_files, capsys):
    root, current, model = cli_files
    # in a CSV an empty text column reads as float NaN: scoring it with the one-hot encoder used to raise
    # "ufunc 'isnan' not supported", and without a model the kinds used to be reported as a mismatch
    current.assign(region=None).to_csv(tmp_path / "empty_region.csv", index=False)
    code, out, err = drift_cli(capsys, root / "profile.json", tmp_path / "empty_region.csv", "--model",
                               root / "model.skops", "-o", tmp_path / "scored")
    assert code == 0, err
    assert json.loads((tmp_path / "scored" / "drift.json").read_text())["feature_drift"]["columns"]["region"][
        "test"] == "none"
    # a model that cannot take missing numbers says so, naming the file and the rows
    current.assign(income=np.nan).to_csv(tmp_path / "empty_income.csv", index=False)
    code, _, err = drift_cli(capsys, root / "profile.json", tmp_path / "empty_income.csv", "--model",
                             root / "model.skops", "-o", tmp_path / "failed")
    assert code == 2
    assert (f"current data '{tmp_path / 'empty_income.csv'}': the model could not score rows 1-1500 (ValueError: "
            f"Input X contains NaN.)") in err
    # with the scores in the file, both empty columns are compared
    current.assign(region=None, income=np.nan, prediction=model.predict_proba(current)[:, 1]).to_csv(
        tmp_path / "empty_columns.csv", index=False)
    code, out, err = drift_cli(capsys, root / "profile.json", tmp_path / "empty_columns.csv", "-o", tmp_path / "out")
    assert code == 0, err
    data = json.loads((tmp_path / "out" / "drift.json").read_text())
    for name in ("region", "income"):
        column = data["feature_drift"]["columns"][name]
        assert (column["test"], column["score"], column["drifted"]) == ("none", "none", True)
        assert "threshold" not in column and "statistic" not in column
    assert {f["column"] for f in data["findings"]["missing_values"]["items"]} == {"region", "income"}
    assert "findings: 2 missing_values" in out


def test_a_reference_column_missing_from_the_current_data_is_a_finding_and_a_reason(tmp_path, demo, capsys):
    split, model, reference = demo
    current = split.current.assign(prediction=model.predict_proba(split.current)[:, 1]).drop(columns=["age"])
    report = detect_drift(reference, current, settings=SETTINGS)
    assert "age" not in [c.column for c in report.features.columns]
    assert [(f.kind, f.column) for f in report.findings if f.kind == "missing_column"] == [("missing_column", "age")]
    reason = next(r for r in report.retrain.reasons if r.trigger == "missing_column")
    assert reason.message == "reference column(s) absent from the current data: 'age'"
    written = report.write(tmp_path)
    assert json.loads(written["metrics_file"].read_text())["findings"]["missing_column"]["items"][0]["column"] == "age"
    prom = written["prometheus_file"].read_text()
    assert 'mlprod_drift_findings{kind="missing_column"} 1\n' in prom
    assert 'mlprod_drift_finding{kind="missing_column",feature="age"} 1\n' in prom
    html = written["html_file"].read_text()
    assert "missing column" in html and "reference column(s) absent from the current data" in html
    # not a trigger under the policy: an observation, never dropped
    policy = DriftSettings(target="converted", date_column="created_at", exclude=("lead_id",),
                           retrain_on=("performance",), max_auc_drop=0.5)
    quiet = detect_drift(reference, current, settings=policy)
    assert "missing_column" in {o.trigger for o in quiet.retrain.observations}


def test_a_jump_in_missing_values_and_a_new_category_trigger_retraining(tmp_path):
    rng = np.random.default_rng(11)
    n = 2000
    reference = pd.DataFrame({"income": rng.normal(50, 10, n), "plan": rng.choice(["basic", "pro"], n)})
    income = np.where(rng.random(n) < 0.5, np.nan, rng.normal(50, 10, n))  # 0 % -> ~50 % missing
    plan = rng.choice(["basic", "pro", "trial"], n, p=[0.49, 0.49, 0.02])
    current = pd.DataFrame({"income": income, "plan": plan})
    report = detect_drift(reference, current, settings=DriftSettings(prediction=None, max_drifted_share=1.0))
    assert "income" not in report.features.drifted  # its non-missing values did not move: the finding says it
    by_kind = {f.kind: f for f in report.findings}
    assert set(by_kind) == {"missing_values", "new_category"}
    missing = by_kind["missing_values"]
    assert missing.column == "income" and missing.value == pytest.approx(np.isnan(income).mean())
    assert missing.threshold == 0.05 and missing.p_value < 1e-100
    assert by_kind["new_category"].details["category"] == "trial"
    assert report.retrain.required
    assert [r.trigger for r in report.retrain.reasons] == ["missing_values", "new_category"]
    data = report.to_dict()
    assert data["settings"]["min_missing_change"] == 0.05 and data["settings"]["missing_alpha"] == 0.05
    assert data["settings"]["min_new_category_share"] == 0.01
    assert data["findings"]["missing_values"]["items"][0]["details"]["test"].startswith("Fisher's exact test")
    html = report.write(tmp_path)["html_file"].read_text()
    assert "Data findings" in html and "&#39;plan&#39; = &#39;trial&#39;" in html


def test_constant_columns_in_the_report_have_no_absurd_statistics(tmp_path):
    n = 5000
    rng = np.random.default_rng(12)
    reference = pd.DataFrame({"tiny": [0.001] * n, "five": [5.0] * n, "flat_then_varying": [0.001] * n})
    current = pd.DataFrame({"tiny": [0.001] * n, "five": [5.01] * n,
                            "flat_then_varying": np.where(rng.random(n) < 0.9, 0.001, 0.5)})
    report = detect_drift(reference, current, settings=DriftSettings(prediction=None))
    by_name = {c.column: c for c in report.features.columns}
    assert (by_name["tiny"].test, by_name["tiny"].statistic, by_name["tiny"].drifted) == ("constant", 0.0, False)
    assert (by_name["five"].test, by_name["five"].statistic, by_name["five"].drifted) == ("constant", 1.0, True)
    varying = by_name["flat_then_varying"]
    assert varying.test == "jensen_shannon" and varying.drifted and 0 < varying.statistic <= 1
    assert "the reference is constant" in varying.details["chosen_because"]
    written = report.write(tmp_path)
    prom = written["prometheus_file"].read_text()
    values = [float(line.rsplit(" ", 1)[1]) for line in prom.splitlines()
              if line.startswith("mlprod_drift_feature_statistic")]
    assert values and max(values) <= 1.0  # was 4.6e15 for a constant 0.001 (std from rounding noise)
    assert "(base 2)" in written["html_file"].read_text()


def test_streamed_batches_where_a_column_is_empty_at_first_or_changes_type(tmp_path, cli_files, capsys):
    root, current, model = cli_files
    scored = current.assign(prediction=model.predict_proba(current)[:, 1])
    late = scored.assign(region=scored.region.where(scored.index >= 500, None))  # the first batch: no region at all
    late.to_csv(tmp_path / "late.csv", index=False)
    code, _, err = drift_cli(capsys, root / "profile.json", tmp_path / "late.csv", "--batch-rows", 500,
                             "-o", tmp_path / "out")
    assert code == 0, err  # used to fail: "column 'region' is numeric in one part and categorical in the other"
    region = json.loads((tmp_path / "out" / "drift.json").read_text())["feature_drift"]["columns"]["region"]
    assert region["kind"] == "categorical" and region["missing_share_current"] == pytest.approx(500 / 1500)
    # a reference file whose column holds numbers first and text later: the file, the column and the rows
    reference = current.assign(age=current.age.astype(object))
    reference.loc[1100, "age"] = "forty"
    reference.to_csv(tmp_path / "reference.csv", index=False)
    code, _, err = drift_cli(capsys, tmp_path / "reference.csv", tmp_path / "late.csv", "--batch-rows", 500,
                             "-o", tmp_path / "out2")
    assert code == 2
    assert (f"Data file '{tmp_path / 'reference.csv'}': column 'age' holds numbers in rows 1-1000 but text "
            f"(categories) in rows 1001-1500 (e.g. 'forty')") in err


def test_empty_data_frames_are_clear_errors_even_with_a_model(demo):
    split, model, reference = demo
    with pytest.raises(DriftError, match="the current data frame has no rows"):  # used to fail inside scikit-learn
        detect_drift(reference, split.current.head(0), settings=SETTINGS, model=model)
    with pytest.raises(DriftError, match="the reference data frame has no rows; nothing to compare against"):
        detect_drift(split.train.head(0), split.current, settings=SETTINGS, model=model)
    with pytest.raises(DriftError, match="the baseline data frame has no rows"):
        detect_drift(reference, split.current, settings=SETTINGS, model=model, baseline=split.holdout.head(0))
