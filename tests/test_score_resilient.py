"""`mlprod score` through the resilient predictor: filled inputs, the fallback tier, the serving column group of the
predictions record, old records (without it) still read by the monitoring history, and the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlprod.cli import main
from mlprod.monitoring import predictions as records
from mlprod.monitoring.history import MonitorSettings, history_path, read_history, update
from mlprod.monitoring.inbox import score_inbox
from mlprod.monitoring.resilient import load_resilient
from mlprod.monitoring.scoring import load_scoring_model
from test_score_batches import FEATURES, PARAMS, SPEC, models, project  # noqa: F401 - fixtures

BASE = ["lead_id", "created_at", "score", "decision", "model_name", "model_version", "model_sha256", "batch_id"]
SERVING = """serving:
  rules:
    - {when: "n_interactions >= 10", score: 0.4}
  default_score: 0.15
  review_band: [0.4, 0.6]
"""


def _score(project, model, out="predictions", **kwargs):
    kwargs.setdefault("schema", None)
    return score_inbox(model, project / "stream" / "inbox", project / out, key="lead_id", date_column="created_at",
                       target="converted", root=project, **kwargs)


def test_a_batch_without_a_feature_column_is_filled_from_the_reference_profile_and_scored(project, models):
    week = SPEC.week_ids[0]
    path = project / "stream" / "inbox" / f"{week}.parquet"
    batch = pd.read_parquet(path)
    batch.drop(columns="income").to_parquet(path, index=False)
    run = _score(project, models["a"])
    assert run.counts["scored"] == 3 and run.counts["quarantined"] == 0
    frame = records.read_predictions(project / "predictions", week)
    assert set(frame["filled_features"]) == {"income"} and set(frame["tier"]) == {"primary"}
    assert frame["fallback_reason"].isna().all()
    plain = load_scoring_model(models["a"])
    columns = plain.profile.columns
    filled = batch[FEATURES].assign(income=columns["income"].quantiles([0.5])[0])
    for name in ("age", "income", "days_since_last_activity", "activity_trend", "n_interactions"):
        filled[name] = filled[name].clip(columns[name].min, columns[name].max)  # serving.out_of_range: clip
    np.testing.assert_allclose(frame["score"].to_numpy(), plain.model.predict_proba(filled)[:, 1])
    marker = records.read_marker(project / "predictions", week)
    assert marker["serving"]["filled"] == {"income": len(batch)}
    assert marker["serving"]["tiers"] == {"primary": len(batch)} and marker["serving"]["columns_version"] == 1
    other = records.read_predictions(project / "predictions", SPEC.week_ids[1])
    assert set(other["filled_features"]) == {""}  # nothing missing there
    assert _group_types(project / "predictions" / f"{week}.parquet") == GROUP_TYPES


GROUP_TYPES = {"tier": "large_string", "fallback_reason": "large_string", "needs_review": "bool",
               "filled_features": "large_string"}


def _group_types(path) -> dict[str, str]:
    """The serving column group's Arrow types: the same whatever the rows (text even when every value is null)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    assert schema.metadata[b"mlprod.serving_columns"] == b"1" and schema.metadata[b"mlprod.schema_version"] == b"1"
    return {name: str(schema.field(name).type) for name in records.SERVING_COLUMNS}


def test_a_primary_past_its_time_budget_leaves_its_rows_to_the_fallback_model(project, models):
    """--time-budget: a model call still running after it is abandoned (it cannot be killed) and the batch goes on."""
    import dataclasses
    import threading

    from mlprod.serving import InputPlan, ResilientPredictor, ServingSettings
    from serving_models import Hangs

    plain, fallback = load_scoring_model(models["a"]), load_scoring_model(models["b"])
    release = threading.Event()
    plan = InputPlan.from_model(plain.manifest.inputs, plain.profile)
    settings = ServingSettings(time_budget_ms=200)
    predictor = ResilientPredictor(Hangs(release), fallback=fallback.model, settings=settings, plan=plan,
                                   model_version=plain.version)
    model = dataclasses.replace(plain, predictor=predictor, fallback=fallback.record)
    try:
        run = _score(project, model)
    finally:
        release.set()
        predictor.close()
    frame = records.read_predictions(project / "predictions", SPEC.week_ids[0])
    assert set(frame["tier"]) == {"fallback"} and set(frame["fallback_reason"]) == {"timeout"}
    assert run.tier_rows == {"primary": 0, "fallback": 900, "rules": 0, "default": 0}
    assert records.read_marker(project / "predictions", SPEC.week_ids[0])["serving"]["fallback"]["version"] == "2.0.0"
    assert run.results[0].degraded() is None  # a model answered: no rules/default line


@pytest.fixture(scope="module")
def boosted(tmp_path_factory):
    """The demo's kind of primary (gradient boosting), saved with its reference profile by the train stage's code."""
    from serving_models import train_models

    return train_models(tmp_path_factory.mktemp("boosted"))[0]


def test_rows_the_primary_answers_keep_the_plain_records_values_and_old_records_give_the_same_history(project,
                                                                                                       boosted):
    """The plain path (a loaded model without a predictor) writes the record as mlprod did before the serving
    column group (schema_version 1, no group); the history reads both and gives the same windows. With a tree
    model clipping to the training range (serving.out_of_range: clip) changes no score."""
    old = _score(project, load_scoring_model(boosted), out="old")
    new = _score(project, boosted, out="new")
    assert old.counts["scored"] == new.counts["scored"] == 3
    for week in SPEC.week_ids[:3]:
        before = records.read_predictions(project / "old", week)
        after = records.read_predictions(project / "new", week)
        assert list(before.columns) == BASE + ["scored_at"] and not records.serving_columns(before)
        assert records.read_marker(project / "new", week)["serving"]["out_of_range"]  # clipped: same scores
        assert records.serving_columns(after) and set(after["tier"]) == {"primary"}
        pd.testing.assert_frame_equal(before[BASE], after[BASE])
        assert "serving" not in records.read_marker(project / "old", week)
    histories = []
    for name in ("old", "new"):
        settings = MonitorSettings(root=str(project), predictions_dir=name, labels_dir="stream/labels",
                                   monitoring_dir=f"monitoring-{name}", key="lead_id", date_column="created_at",
                                   target="converted")
        update(settings, reference=load_scoring_model(boosted).profile)
        histories.append(read_history(history_path(settings)).drop(columns="as_of"))
    assert len(histories[0]) > 0
    pd.testing.assert_frame_equal(histories[0], histories[1])


def test_a_batch_with_values_of_the_wrong_type_is_quarantined_naming_the_feature(project, models):
    week = SPEC.week_ids[0]
    path = project / "stream" / "inbox" / f"{week}.parquet"
    batch = pd.read_parquet(path)
    batch.assign(age=batch["age"].astype(str)).to_parquet(path, index=False)
    run = _score(project, models["a"])
    assert run.counts == {"scored": 2, "skipped": 0, "quarantined": 1}
    assert "300 of 300 row(s) have a value of the wrong type (age in 300 row(s))" in run.results[0].detail
    assert not records.is_committed(project / "predictions", week)


def _clipped(frame: pd.DataFrame, profile) -> pd.DataFrame:
    """``frame`` as the input plan hands it to a model under serving.out_of_range: clip."""
    out = frame.copy()
    for name in ("age", "income", "days_since_last_activity", "activity_trend", "n_interactions"):
        if name in out.columns:
            out[name] = out[name].clip(profile.columns[name].min, profile.columns[name].max)
    return out


@pytest.fixture(scope="module")
def broken(models, tmp_path_factory):
    """(primary, fallback): a real pipeline saved with a manifest that leaves out ``age``, which it needs (it raises
    ValueError on every call), and a logistic regression trained without ``age``."""
    import shutil

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.compose import make_column_transformer

    import mlprod
    from mlprod.data import make_leads

    root = tmp_path_factory.mktemp("broken")
    train = make_leads(n_rows=2000, seed=3, end="2024-03-31", shift_date="2024-03-31")
    without = [c for c in FEATURES if c != "age"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mlprod.save_model(load_scoring_model(models["a"]).model, root / "primary", name="lead-scoring",
                          X=train[without], version="1.0.1")
        shutil.copy(models["a"] / "reference_profile.json", root / "primary")
        encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["region", "channel"]),
                                         remainder="passthrough")
        fallback = make_pipeline(encode, LogisticRegression(max_iter=2000)).fit(train[without], train["converted"])
        mlprod.save_model(fallback, root / "fallback", name="lead-scoring-fallback", X=train[without],
                          version="0.1.0")
    return root / "primary", root / "fallback"


def test_the_command_with_a_primary_that_raises_answers_from_the_fallback_then_the_rules(project, broken, capsys):
    primary, fallback = broken
    (project / "params.yaml").write_text(PARAMS + SERVING)
    prom = project / "metrics" / "score.prom"
    code = main(["score", str(primary), "stream/inbox", "-o", "predictions", "--no-gates", "--fallback",
                 str(fallback), "--prom", str(prom)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "rows by tier: primary 0, fallback 900, rules 0, default 0; routed to review" in err, err
    assert "(fallback lead-scoring-fallback 0.1.0)" in err and "scored by the rules" not in err
    week = SPEC.week_ids[0]
    frame = records.read_predictions(project / "predictions", week)
    assert set(frame["tier"]) == {"fallback"} and set(frame["fallback_reason"]) == {"error:ValueError"}
    batch = pd.read_parquet(project / "stream" / "inbox" / f"{week}.parquet")
    inputs = _clipped(batch[[c for c in FEATURES if c != "age"]], load_scoring_model(primary).profile)
    expected = load_scoring_model(fallback).model.predict_proba(inputs)[:, 1]
    np.testing.assert_allclose(frame["score"].to_numpy(), expected)
    assert (frame["decision"] == (frame["score"] >= 0.5)).all()
    assert frame["needs_review"].tolist() == ((frame["score"] >= 0.4) & (frame["score"] <= 0.6)).tolist()
    text = prom.read_text()
    assert 'mlprod_score_tier_rows{tier="fallback"} 900.0' in text
    assert "mlprod_score_review_rows " in text
    assert _group_types(project / "predictions" / f"{week}.parquet") == GROUP_TYPES
    marker = json.loads((project / "predictions" / f"{week}.done.json").read_text())
    assert marker["serving"]["fallback"]["name"] == "lead-scoring-fallback"
    assert marker["serving"]["fallback_reasons"] == {"error:ValueError": 300}

    # no fallback: the rules of params.yaml and the default score answer, and each batch says so in one line
    code = main(["score", str(primary), "stream/inbox", "-o", "ruled", "--no-gates", "--threshold", "0.3"])
    err = capsys.readouterr().err
    assert code == 0, err
    fallen = [line for line in err.splitlines() if "scored by the rules or the default score" in line]
    assert len(fallen) == 3 and "why: error:ValueError 300" in fallen[0], err
    frame = records.read_predictions(project / "ruled", week)
    np.testing.assert_allclose(frame["score"].to_numpy(), np.where(batch["n_interactions"] >= 10, 0.4, 0.15))
    assert set(frame["tier"]) == ({"rules", "default"} if (batch["n_interactions"] >= 10).any() else {"default"})
    assert (frame["decision"] == (frame["score"] >= 0.3)).all()  # --threshold is the decision threshold
    assert records.read_marker(project / "ruled", week)["threshold"] == 0.3


def test_the_fallback_is_found_by_itself_as_mlprod_serve_finds_it_unless_no_fallback(project, broken, capsys):
    primary, fallback = broken
    (project / "params.yaml").write_text(PARAMS + SERVING + f"fallback:\n  evaluated_dir: {fallback}\n")
    code = main(["score", str(primary), "stream/inbox", "-o", "found", "--no-gates"])
    err = capsys.readouterr().err
    assert code == 0 and "(fallback lead-scoring-fallback 0.1.0)" in err, err
    assert set(records.read_predictions(project / "found", SPEC.week_ids[0])["tier"]) == {"fallback"}
    code = main(["score", str(primary), "stream/inbox", "-o", "alone", "--no-gates", "--no-fallback"])
    err = capsys.readouterr().err
    assert code == 0 and "(fallback" not in err, err
    assert set(records.read_predictions(project / "alone", SPEC.week_ids[0])["tier"]) <= {"rules", "default"}
    code = main(["score", str(primary), "stream/inbox", "-o", "both", "--no-gates", "--no-fallback",
                 "--fallback", str(fallback)])
    err = capsys.readouterr().err
    assert code == 2 and "--fallback and --no-fallback contradict each other" in err


def test_the_command_reports_rows_by_tier_and_review_in_the_summary_and_prometheus(project, models, capsys):
    (project / "params.yaml").write_text(PARAMS + SERVING)
    prom = project / "metrics" / "score.prom"
    code = main(["score", str(models["a"]), "stream/inbox", "-o", "predictions", "--prom", str(prom)])
    err = capsys.readouterr().err
    assert code == 0, err
    frames = [records.read_predictions(project / "predictions", w) for w in SPEC.week_ids[:3]]
    review = sum(int(f["needs_review"].sum()) for f in frames)
    assert 0 < review < 900
    assert f"rows by tier: primary 900, fallback 0, rules 0, default 0; routed to review {review}" in err
    text = prom.read_text()
    assert 'mlprod_score_tier_rows{tier="primary"} 900.0' in text
    assert f"mlprod_score_review_rows {float(review)}" in text


@pytest.mark.parametrize("args, message", [
    (["--fallback", "nowhere"], "fallback model 'nowhere': expected a model folder"),
    (["--time-budget", "0"], "--time-budget must be a number of seconds > 0"),
])
def test_bad_fallback_or_budget_is_one_clear_message_and_exit_code_2(project, models, capsys, args, message):
    code = main(["score", str(models["a"]), "stream/inbox", "-o", "predictions", "--no-gates", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (project / "predictions").exists() or not any((project / "predictions").iterdir())


def test_bad_serving_settings_in_params_yaml_stop_the_command_before_anything_is_scored(project, models, capsys):
    (project / "params.yaml").write_text(PARAMS + "serving:\n  time_budgt_ms: 5\n")
    code = main(["score", str(models["a"]), "stream/inbox", "-o", "predictions", "--no-gates"])
    err = capsys.readouterr().err
    assert code == 2 and "time_budgt_ms" in err and not (project / "predictions").exists()


def test_a_model_without_a_reference_profile_is_scored_by_the_model_alone_and_the_run_says_so(project, models,
                                                                                              tmp_path, capsys):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(models["a"], bare)
    (bare / "reference_profile.json").unlink()
    code = main(["score", str(bare), "stream/inbox", "-o", "predictions", "--no-gates"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "note: the model has no reference_profile.json to fill missing inputs from" in err
    assert "rows by tier" not in err
    frame = records.read_predictions(project / "predictions", SPEC.week_ids[0])
    assert not records.serving_columns(frame) and list(frame.columns) == BASE + ["scored_at"]
    # a fallback needs the predictor, so it needs fill values: one clear message, nothing scored
    code = main(["score", str(bare), "stream/inbox", "-o", "other", "--no-gates", "--fallback", str(models["b"])])
    err = capsys.readouterr().err
    assert code == 2 and "needs fill values for its inputs" in err and "Traceback" not in err
    assert records.committed(project / "other") == []


def test_model_and_fallback_as_name_at_alias_are_resolved_in_the_registry_and_recorded(project, models, monkeypatch,
                                                                                       capsys):
    from mlprod.registry.register import register_model
    from mlprod.registry.store import Registry

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    registry = Registry.open(project)
    first, second = (register_model(models[name], registry=registry) for name in ("a", "b"))
    registry.client.set_registered_model_alias("lead-scoring", "champion", first.version)
    registry.client.set_registered_model_alias("lead-scoring", "steady", second.version)
    code = main(["score", "lead-scoring@champion", "stream/inbox", "-o", "predictions", "--no-gates",
                 "--fallback", "lead-scoring@steady"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "(registry version 1) (fallback lead-scoring 2.0.0)" in err and "rows by tier: primary 900" in err
    marker = records.read_marker(project / "predictions", SPEC.week_ids[0])
    assert marker["model"]["registry_version"] == "1"
    assert marker["serving"]["fallback"] == {"name": "lead-scoring", "version": "2.0.0",
                                             "sha256": load_scoring_model(models["b"]).sha256,
                                             "registry_version": "2"}
    code = main(["score", "lead-scoring@champion", "stream/inbox", "-o", "other", "--no-gates",
                 "--fallback", "lead-scoring@nowhere"])
    err = capsys.readouterr().err
    assert code == 2 and "'lead-scoring' has no alias 'nowhere'" in err
