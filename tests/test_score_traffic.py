"""`mlprod score` under params.yaml's deployment: ab rows scored by their arm's model, the canary share from the
state file, shadow rows only in the prediction log (the record unchanged), old records still read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlprod.cli import main
from mlprod.monitoring import predictions as records
from mlprod.monitoring.inbox import score_inbox
from mlprod.monitoring.scoring import load_scoring_model
from mlprod.serving.predictionlog import PredictionLogSettings, read_log
from mlprod.traffic.assignment import assign
from mlprod.traffic.canary_state import CanaryState, state_path, write_state
from mlprod.traffic.deployment import DeploymentSettings
from test_score_batches import FEATURES, PARAMS, SPEC, models, project  # noqa: F401 - fixtures

pytest_plugins = ("test_registry_toys",)


def _ab(models) -> DeploymentSettings:
    return DeploymentSettings.from_mapping({
        "mode": "ab", "experiment": "exp-1", "unit_id": "lead_id",
        "ab": {"arms": [{"name": "control", "model": str(models["a"]), "share": 50},
                        {"name": "treatment", "model": str(models["b"]), "share": 50}]}})


def _clipped(model, rows):
    """The rows as the resilient predictor gives them to the model (serving.out_of_range: clip to the profile)."""
    rows = rows.copy()
    for name in ("age", "income", "days_since_last_activity", "activity_trend", "n_interactions"):
        column = model.profile.columns[name]
        rows[name] = rows[name].clip(column.min, column.max)
    return rows


def _score(project, model, out="predictions", **kwargs):
    return score_inbox(model, project / "stream" / "inbox", project / out, key="lead_id", date_column="created_at",
                       target="converted", root=project, schema=None, **kwargs)


def test_ab_rows_are_scored_by_their_arms_model_and_assigned_as_assign_does(project, models):
    deployment = _ab(models)
    run = _score(project, models["a"], deployment=deployment)
    assert run.counts["scored"] == 3
    week = SPEC.week_ids[0]
    frame = records.read_predictions(project / "predictions", week)
    batch = pd.read_parquet(project / "stream" / "inbox" / f"{week}.parquet")
    assert records.traffic_columns(frame) and records.serving_columns(frame)
    assert frame["lead_id"].tolist() == batch["lead_id"].tolist()  # the batch's row order
    expected = assign(deployment.to_experiment(), batch["lead_id"].to_numpy())
    assert frame["arm"].tolist() == list(expected)
    assert set(frame["arm"]) == {"control", "treatment"} and set(frame["experiment"]) == {"exp-1"}
    for arm, name in (("control", "a"), ("treatment", "b")):
        rows = (frame["arm"] == arm).to_numpy()
        own = load_scoring_model(models[name])
        np.testing.assert_allclose(frame.loc[rows, "score"].to_numpy(),
                                   own.model.predict_proba(_clipped(own, batch.loc[rows, FEATURES]))[:, 1])
        assert set(frame.loc[rows, "model_version"]) == {own.version}
    marker = records.read_marker(project / "predictions", week)
    traffic = marker["traffic"]
    assert traffic["experiment"] == "exp-1" and traffic["columns_version"] == 1 and traffic["not_in_experiment"] == 0
    assert traffic["arms"]["treatment"]["rows"] == int((frame["arm"] == "treatment").sum())
    assert traffic["arms"]["treatment"]["model"]["version"] == "2.0.0"
    assert sum(marker["serving"]["tiers"].values()) == len(frame)
    import pyarrow.parquet as pq

    assert pq.read_schema(project / "predictions" / f"{week}.parquet").metadata[b"mlprod.traffic_columns"] == b"1"


def test_a_row_without_a_unit_id_is_answered_by_the_first_arm_with_a_null_arm(project, models):
    week = SPEC.week_ids[0]
    path = project / "stream" / "inbox" / f"{week}.parquet"
    batch = pd.read_parquet(path)
    batch["lead_id"] = batch["lead_id"].astype(str).where(batch.index >= 5, None)
    batch.to_parquet(path, index=False)
    _score(project, models["a"], deployment=_ab(models))
    frame = records.read_predictions(project / "predictions", week)
    assert frame["arm"].iloc[:5].isna().all() and frame["experiment"].iloc[:5].isna().all()
    assert set(frame["model_version"].iloc[:5]) == {"1.0.0"}
    assert records.read_marker(project / "predictions", week)["traffic"]["not_in_experiment"] == 5


def test_a_batch_without_the_unit_id_column_is_quarantined_with_the_reason(project, models):
    week = SPEC.week_ids[0]
    path = project / "stream" / "inbox" / f"{week}.parquet"
    pd.read_parquet(path).rename(columns={"lead_id": "id"}).to_parquet(path, index=False)
    deployment = DeploymentSettings.from_mapping({**_raw_ab(models), "unit_id": "customer"})
    run = _score(project, models["a"], deployment=deployment)
    assert run.counts["quarantined"] >= 1 and "deployment.unit_id" in run.results[0].detail


def _raw_ab(models):
    return {"mode": "ab", "experiment": "exp-1", "unit_id": "lead_id",
            "ab": {"arms": [{"name": "control", "model": str(models["a"]), "share": 50},
                            {"name": "treatment", "model": str(models["b"]), "share": 50}]}}


def test_shadow_leaves_the_record_as_it_is_and_logs_paired_rows(project, models):
    log = PredictionLogSettings(dir="log", log_features=("region",))
    deployment = DeploymentSettings.from_mapping({"mode": "shadow", "unit_id": "lead_id", "experiment": "sh-1",
                                                  "shadow": {"model": str(models["b"])}})
    _score(project, models["a"], out="plain")
    run = _score(project, models["a"], out="shadowed", deployment=deployment, prediction_log=log)
    assert run.counts["scored"] == 3 and not run.note
    for week in SPEC.week_ids[:3]:
        plain = records.read_predictions(project / "plain", week).drop(columns="scored_at")
        shadowed = records.read_predictions(project / "shadowed", week).drop(columns="scored_at")
        pd.testing.assert_frame_equal(plain, shadowed)
        marker = records.read_marker(project / "shadowed", week)
        assert set(marker) == set(records.read_marker(project / "plain", week))
    logged = read_log(project / "log")
    week = SPEC.week_ids[0]
    rows = logged[logged["request_id"] == week]
    champion = rows[rows["arm"] == "champion"].sort_values("row")
    shadow = rows[rows["arm"] == "shadow"].sort_values("row")
    assert len(champion) == len(shadow) == 300 and champion["row"].tolist() == shadow["row"].tolist()
    record = records.read_predictions(project / "shadowed", week)
    np.testing.assert_allclose(champion["score"].to_numpy(), record["score"].to_numpy())
    batch = pd.read_parquet(project / "stream" / "inbox" / f"{week}.parquet")
    np.testing.assert_allclose(shadow["score"].to_numpy(),
                               load_scoring_model(models["b"]).model.predict_proba(
                                   _clipped(load_scoring_model(models["b"]), batch[FEATURES]))[:, 1])
    assert set(shadow["model_version"]) == {"2.0.0"} and set(rows["experiment"]) == {"sh-1"}
    assert shadow["unit_id"].tolist() == batch["lead_id"].astype(str).tolist()
    assert '"region"' in champion["features"].iloc[0]


def test_old_records_without_the_traffic_group_still_read(project, models):
    _score(project, models["a"])
    frame = records.read_predictions(project / "predictions", SPEC.week_ids[0])
    assert not records.traffic_columns(frame) and records.serving_columns(frame)


def test_score_command_reads_the_deployment_and_the_canary_share_from_the_state_file(
        tmp_path, monkeypatch, toys, seeded_store):
    from test_registry_toys import copy_store

    from mlprod.registry.store import Registry

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    copy_store(seeded_store, tmp_path)
    monkeypatch.chdir(tmp_path)
    registry = Registry.open(tmp_path)
    registry.client.set_registered_model_alias("toy", "champion", "3")
    registry.client.set_registered_model_alias("toy", "canary", "2")
    (tmp_path / "params.yaml").write_text(
        "project:\n  model_name: toy\n  key: uid\ndeployment:\n  mode: canary\n  experiment: can-1\n  unit_id: uid\n"
        "  canary:\n    ramp: [10, 25, 100]\n")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    holdout = pd.read_parquet(toys.holdout).drop(columns="converted").iloc[:400].reset_index(drop=True)
    holdout.insert(0, "uid", [f"u{i}" for i in range(len(holdout))])
    holdout.to_parquet(inbox / "b1.parquet", index=False)
    write_state(state_path(tmp_path), CanaryState("can-state", "toy", "2", "3", step_started="2026-11-30T06:00:00+00:00", step=1))
    code = main(["score", "toy@champion", str(inbox), "-o", str(tmp_path / "predictions"), "--no-gates"])
    assert code == 0
    frame = records.read_predictions(tmp_path / "predictions", "b1")
    settings = DeploymentSettings.from_mapping({"mode": "canary", "experiment": "can-state", "unit_id": "uid",
                                                "canary": {"model": "toy", "ramp": [10, 25, 100]}})
    expected = assign(settings.to_experiment(1), holdout["uid"].to_numpy())  # 25 % at step 1
    assert frame["arm"].tolist() == list(expected) and set(frame["experiment"]) == {"can-state"}
    canary = (frame["arm"] == "canary").to_numpy()
    assert 60 < canary.sum() < 140
    versions = {v.version: v for v in registry.client.search_model_versions("name='toy'")}
    marker = records.read_marker(tmp_path / "predictions", "b1")
    assert marker["traffic"]["canary_share"] == 25.0
    assert marker["traffic"]["arms"]["canary"]["model"]["registry_version"] == "2"
    assert frame.loc[canary, "model_sha256"].nunique() == 1 and frame.loc[~canary, "model_sha256"].nunique() == 1
    assert frame.loc[canary, "model_sha256"].iloc[0] != frame.loc[~canary, "model_sha256"].iloc[0]
    del versions
    # rolled back: the champion scores every row, the record has no traffic group
    write_state(state_path(tmp_path), CanaryState("can-state", "toy", "2", "3", step_started="2026-11-30T06:00:00+00:00", step=1, status="rolled_back"))
    holdout.to_parquet(inbox / "b2.parquet", index=False)
    assert main(["score", "toy@champion", str(inbox), "-o", str(tmp_path / "predictions"), "--no-gates"]) == 0
    after = records.read_predictions(tmp_path / "predictions", "b2")
    assert not records.traffic_columns(after) and after["model_sha256"].nunique() == 1
    assert "traffic" not in records.read_marker(tmp_path / "predictions", "b2")
    # no state file: step 0 (10 %) while toy@canary exists
    state_path(tmp_path).unlink()
    holdout.to_parquet(inbox / "b3.parquet", index=False)
    assert main(["score", "toy@champion", str(inbox), "-o", str(tmp_path / "predictions"), "--no-gates"]) == 0
    first = records.read_predictions(tmp_path / "predictions", "b3")
    step0 = DeploymentSettings.from_mapping({"mode": "canary", "experiment": "can-1", "unit_id": "uid",
                                             "canary": {"model": "toy", "ramp": [10, 25, 100]}}).to_experiment(0)
    assert first["arm"].tolist() == list(assign(step0, holdout["uid"].to_numpy()))


def test_the_monitoring_history_reads_ab_records_like_plain_ones(project, models):
    from mlprod.monitoring.history import MonitorSettings, history_path, read_history, update

    _score(project, models["a"], out="ab", deployment=_ab(models))
    _score(project, models["a"], out="plain")
    histories = []
    for name in ("ab", "plain"):
        settings = MonitorSettings(root=str(project), predictions_dir=name, labels_dir="stream/labels",
                                   monitoring_dir=f"monitoring-{name}", key="lead_id", date_column="created_at",
                                   target="converted")
        update(settings, reference=load_scoring_model(models["a"]).profile)
        histories.append(read_history(history_path(settings)))
    assert len(histories[0]) == len(histories[1]) > 0
    assert list(histories[0].columns) == list(histories[1].columns)


def test_shadow_end_to_end_score_then_experiment_shadow(project, models, capsys):
    (project / "params.yaml").write_text(
        PARAMS + f"deployment:\n  mode: shadow\n  shadow:\n    model: {models['b']}\n"
                 "prediction_log:\n  dir: monitoring/prediction_log\n  log_features: [region]\n")
    inbox = str(project / "stream" / "inbox")
    assert main(["score", str(models["a"]), inbox, "-o", str(project / "predictions"), "--no-gates"]) == 0
    assert main(["experiment", "shadow", "--segment", "region", "-o", str(project / "reports" / "shadow")]) == 0
    import json

    data = json.loads((project / "reports" / "shadow" / "shadow.json").read_text())
    assert data["overall"]["n_paired"] == 900 and data["rows"]["shadow_without_champion"] == 0
    assert data["shadow"] == ["lead-scoring 2.0.0"] and set(data["segments"]["region"]["levels"])
    logged = read_log(project / "monitoring" / "prediction_log")
    assert set(logged["unit_id"].dropna()) and logged["unit_id"].notna().all()  # project.key is the unit id


def test_a_shadow_model_that_cannot_be_loaded_leaves_the_record_and_says_so(project, models):
    deployment = DeploymentSettings.from_mapping({"mode": "shadow", "unit_id": "lead_id",
                                                  "shadow": {"model": "lead-scoring@nobody"}})
    run = _score(project, models["a"], deployment=deployment, prediction_log=PredictionLogSettings(dir="log"))
    assert run.counts["scored"] == 3 and "shadow model lead-scoring@nobody was not loaded" in run.note
    assert not (project / "log").exists()
    assert not records.traffic_columns(records.read_predictions(project / "predictions", SPEC.week_ids[0]))


def test_shadow_rows_are_logged_column_wise_with_the_values_of_the_per_row_path(tmp_path):
    """log_rows (batch shadow logging) goes through log_frame; its segment is the one log_request writes."""
    from types import SimpleNamespace

    from mlprod.monitoring.traffic import log_rows
    from mlprod.serving.predictionlog import ModelRef, PredictionLogWriter, segments

    scored = pd.DataFrame({
        "score": [0.8, 0.1, float("nan")], "decision": pd.array([1, 0, None], dtype="Int8"),
        "tier": pd.Categorical(["primary", "fallback", "failed"]),
        "fallback_reason": pd.Categorical(["none", "timeout", "all_tiers_failed"]).remove_categories("none"),
        "needs_review": [False, True, True],
        "filled_features": pd.Categorical(["", "income", "age,income"])})
    frame = pd.DataFrame({"lead_id": [5, 6, 7], "region": ["n", "s", "e"]})
    model = SimpleNamespace(name="lead-scoring", version="2.0.0", sha256="cd" * 32)
    expected = [{"score": s, "decision": d, "tier": t, "fallback_reason": f, "needs_review": r, "filled_features": ff}
                for s, d, t, f, r, ff in zip([0.8, 0.1, None], [1, 0, None], ["primary", "fallback", "failed"],
                                             [None, "timeout", "all_tiers_failed"], [False, True, True],
                                             [(), ("income",), ("age", "income")])]
    for name in ("frame", "rows"):
        writer = PredictionLogWriter(PredictionLogSettings(dir=str(tmp_path / name), log_features=("region",)),
                                     key="lead_id")
        if name == "frame":
            assert log_rows(writer, "b-1", scored, frame, model, arm="shadow", experiment="sh-1") == 3
            assert [type(c).__name__ for c in writer._buffer] == ["Table"]  # one Arrow table, not row dicts
        else:
            writer.log_request("b-1", expected, model=ModelRef(model.name, model.version, model.sha256), inputs=frame,
                               experiment="sh-1", arm="shadow")
        writer.close()
        assert len(segments(tmp_path / name)) == 1
    a, b = (read_log(tmp_path / n) for n in ("frame", "rows"))
    pd.testing.assert_frame_equal(a.drop(columns="logged_at"), b.drop(columns="logged_at"))
    assert a["filled_features"].map(list).tolist() == [[], ["income"], ["age", "income"]]
