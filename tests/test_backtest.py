"""`mlprod backtest`: the streams, the settings, and replays on a small project (12 weekly batches, three strategies)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlprod.backtest.settings import BacktestSettings
from mlprod.backtest.streams import demo_stream, folder_stream, table_stream
from mlprod.errors import ConfigError, DataError

from pipeline import BIN, REPO, sh

ROWS, DELAY = 300, 2


# --- streams and settings (tiny inputs) ---

def test_demo_stream_holds_batches_labels_and_the_shift():
    stream = demo_stream(weeks=9, seed=7, shift=True, label_delay=3, rows_per_week=40)
    assert stream.ids[0] == "2025-W02" and len(stream.ids) == 9 and stream.change == "2025-W09"
    batch = stream.batches[0]
    assert "converted" not in batch.frame.columns and list(batch.labels.columns) == ["lead_id", "converted"]
    assert set(batch.labels["lead_id"]) == set(batch.frame["lead_id"])
    assert stream.arriving(2) == [] and stream.arriving(3) == [stream.batches[0]]
    assert demo_stream(weeks=9, seed=7, shift=False, label_delay=3, rows_per_week=40).change is None


def test_folder_stream_joins_labels_from_any_file_on_the_key(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "labels").mkdir()
    pd.DataFrame({"id": [1, 2], "x": [0.1, 0.2]}).to_csv(tmp_path / "inbox/b1.csv", index=False)
    pd.DataFrame({"id": [3, 4], "x": [0.3, 0.4]}).to_csv(tmp_path / "inbox/b2.csv", index=False)
    pd.DataFrame({"id": [4, 1, 2], "y": ["yes", "no", "yes"]}).to_csv(tmp_path / "labels/all.csv", index=False)
    stream = folder_stream(tmp_path, key="id", target="y", label_delay=1)
    assert stream.ids == ["b1", "b2"]
    assert stream.batches[0].labels["id"].tolist() == [1, 2]
    assert stream.batches[1].labels.to_dict("records") == [{"id": 4, "y": "yes"}]  # 3 never got a label


def test_folder_stream_without_labels_uses_the_batch_target(tmp_path):
    (tmp_path / "inbox").mkdir()
    pd.DataFrame({"id": [1, 2], "x": [1, 2], "y": [0, None]}).to_csv(tmp_path / "inbox/w1.csv", index=False)
    stream = folder_stream(tmp_path, key="id", target="y", label_delay=0)
    assert "y" not in stream.batches[0].frame.columns
    assert stream.batches[0].labels["id"].tolist() == [1]


def test_table_stream_cuts_iso_weeks_and_names_bad_dates(tmp_path):
    path = tmp_path / "history.csv"
    pd.DataFrame({"id": [1, 2, 3], "day": ["2025-01-06", "2025-01-12", "2025-01-13"], "y": [0, 1, 1]}).to_csv(
        path, index=False)
    stream = table_stream(path, key="id", target="y", date_column="day", label_delay=1)
    assert stream.ids == ["2025-W02", "2025-W03"] and stream.batches[0].rows == 2
    pd.DataFrame({"id": [1], "day": ["soon"], "y": [0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="history.csv.*'day'"):
        table_stream(path, key="id", target="y", date_column="day", label_delay=1)


def test_stream_mistakes_are_named(tmp_path):
    with pytest.raises(DataError, match="inbox holds no batch files"):
        folder_stream(tmp_path, key="id", target="y", label_delay=1)
    (tmp_path / "inbox").mkdir()
    pd.DataFrame({"id": [1], "x": [1]}).to_csv(tmp_path / "inbox/w1.csv", index=False)
    with pytest.raises(DataError, match="no labels folder and no target column 'y'"):
        folder_stream(tmp_path, key="id", target="y", label_delay=1)
    (tmp_path / "labels").mkdir()
    pd.DataFrame({"id": [1], "y": [1]}).to_csv(tmp_path / "labels/l.csv", index=False)
    with pytest.raises(ConfigError, match="change_window 'nope'"):
        folder_stream(tmp_path, key="id", target="y", label_delay=1, change="nope")


def test_settings_are_strict():
    with pytest.raises(ConfigError, match="unknown key.*'weaks'"):
        BacktestSettings.from_mapping({"weaks": 3})
    with pytest.raises(ConfigError, match="strategies"):
        BacktestSettings.from_mapping({"strategies": ["policy", "sometimes"]})
    with pytest.raises(ConfigError, match="label_delay"):
        BacktestSettings().with_options(label_delay=-1)
    assert BacktestSettings().with_options(weeks=3, strategies=["never"]).strategies == ("never",)


# --- replays on a small project ---

@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """params.yaml and schema.yaml of the example project (smaller data, fewer boosting rounds) and its evaluated model,
    built with the training library as the train and evaluate stages build it."""
    from mlprod.data import binary_target, make_leads, time_split
    from mlprod.data.io import write_table
    from mlprod.training import ModelSettings, build_pipeline, evaluate_and_save, fit_and_save

    root = tmp_path_factory.mktemp("backtest") / "project"
    root.mkdir()
    params = (REPO / "params.yaml").read_text()
    params = params.replace("n_rows: 50000", "n_rows: 6000").replace("max_iter: 200", "max_iter: 30")
    (root / "params.yaml").write_text(params)
    shutil.copy(REPO / "schema.yaml", root / "schema.yaml")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        data, _ = binary_target(make_leads(n_rows=6000, seed=42), "converted", source="demo")
        split = time_split(data, "created_at", "2024-04-01", "2024-07-01")
        write_table(split.train, root / "data/prepared/train.parquet")
        write_table(split.holdout, root / "data/prepared/holdout.parquet")
        features = ["region", "channel", "age", "income", "days_since_last_activity", "activity_trend", "n_interactions"]
        pipeline = build_pipeline(ModelSettings(max_iter=30), features[:2], features[2:])
        fit_and_save(pipeline, split.train, target="converted", features=features, model_dir=root / "models/trained",
                     name="lead-scoring", training_data="data/prepared/train.parquet")
        evaluate_and_save(root / "models/trained", split.holdout, root / "models/model", target="converted",
                          threshold=0.5, evaluation_data="data/prepared/holdout.parquet")
    finally:
        os.chdir(cwd)
    return root


def _backtest(project, out, **options):
    from mlprod.backtest.run import run_backtest

    settings = BacktestSettings.from_mapping({"weeks": 12, "rows_per_week": ROWS, "label_delay": DELAY}).with_options(
        **options)
    cwd = os.getcwd()
    os.chdir(project)
    try:
        return run_backtest(project, project / "params.yaml", settings, out_dir=out, keep_work=True)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def replayed(project, tmp_path_factory):
    team = tmp_path_factory.mktemp("team")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{team}/team.db"  # a team registry the backtest must not touch
    try:
        result = _backtest(project, project / "reports/backtest")
    finally:
        assert os.environ.pop("MLFLOW_TRACKING_URI") == f"sqlite:///{team}/team.db"
    assert not list(team.iterdir()) and not (project / "mlflow.db").exists()
    return result


@pytest.mark.e2e
def test_backtest_compares_policy_never_and_every_window(replayed, project):
    summary = json.loads((project / "reports/backtest/backtest.json").read_text())
    assert summary == json.loads(json.dumps(replayed.summary))
    strategies = replayed.summary["strategies"]
    assert list(strategies) == ["policy", "never", "every_window"]
    for name, s in strategies.items():
        print(f"{name}: retrains {s['retrains']}, detected {s['detected_at']} (+{s['detection_delay']}), false alarms "
              f"{s['false_alarms']}, ROC AUC {s['realised_roc_auc']} / after change {s['realised_roc_auc_after_change']}, "
              f"{s['seconds']} s")
        assert len(s["windows"]) == 12 and all(w["realised_roc_auc"] is not None for w in s["windows"])
    never, every, policy = strategies["never"], strategies["every_window"], strategies["policy"]
    assert never["retrains"] == 0 and never["versions"] == [never["start_version"]]
    # every window retrains once labels exist: refused while none has arrived, then a model each window
    assert every["refused"] == DELAY and every["retrains"] == 12 - DELAY
    assert len(every["versions"]) == 1 + every["promoted"] - (every["windows"][-1]["retrain"]["outcome"] == "promoted")
    # the shift (week 8) is seen by the drift triggers within two windows, in every strategy's decisions
    assert policy["detected_at"] in ("2025-W09", "2025-W10", "2025-W11"), policy
    assert policy["false_alarms"] == 0
    # a window is scored by the champion of its time: the version changes right after a promoted retrain
    for s in strategies.values():
        for before, after in zip(s["windows"], s["windows"][1:]):
            promoted = before["retrain"] and before["retrain"]["outcome"] == "promoted"
            assert (after["model_version"] != before["model_version"]) == bool(promoted), (before, after)
    page = (project / "reports/backtest/backtest.html").read_text()
    assert "retrain every window" in page and "Realised ROC AUC per window" in page and "<script" not in page
    assert '<div class="about">Model <strong>' in page and "· windows up to 2025-W" in page  # model and date


@pytest.mark.e2e
def test_replay_never_sees_the_future(project, tmp_path):
    """A signal planted only in what arrives after window K changes nothing that was decided or trained before it:
    the models that scored windows up to K + label delay are the same; later ones differ (the signal is real)."""
    from mlprod.backtest.workspace import PREDICTIONS
    from mlprod.backtest.context import read_context
    from mlprod.backtest.replay import Replayer
    from mlprod.backtest.retraining import Retrainer
    from mlprod.backtest.streams import Batch, Stream

    k, weeks = 4, 8
    honest = demo_stream(weeks=weeks, seed=11, shift=False, label_delay=DELAY, rows_per_week=ROWS)
    planted = []
    for i, b in enumerate(honest.batches):
        if i >= k:  # the future: every label flipped (the batches themselves pass the data gates unchanged)
            b = Batch(b.batch_id, b.frame, b.labels.assign(converted=1 - b.labels["converted"]))
        planted.append(b)
    planted = Stream(tuple(planted), DELAY, None, "planted")
    context = read_context(project, project / "params.yaml", model_dir=None)
    shas, trained = {}, {}
    cwd = os.getcwd()
    os.chdir(project)
    try:
        for name, stream in (("honest", honest), ("planted", planted)):
            ws = tmp_path / name
            ws.mkdir()
            replay = Replayer(stream, ws, strategy="every_window", context=context, retrainer=Retrainer(context)).run()
            shas[name] = [json.loads((ws / PREDICTIONS / f"{w.batch_id}.done.json").read_text())["model"]
                          ["sha256"] for w in replay.windows]
            trained[name] = [w.retrain.to_dict() for w in replay.windows]  # model sha256, gate metrics on the holdout
    finally:
        os.chdir(cwd)
    # the retrain at window i has the labels of batches <= i - DELAY; the newest labelled week is its `current` split
    # (retrain.current_weeks: 1, left to the drift report), the two before it the holdout the gates score on.
    # Window i is scored by the model of window i - 1.
    first_seen = k + DELAY + 1
    assert trained["honest"][:first_seen] == trained["planted"][:first_seen]
    assert all(a != b for a, b in zip(trained["honest"][first_seen:], trained["planted"][first_seen:]))
    assert shas["honest"][:first_seen + 1] == shas["planted"][:first_seen + 1]


@pytest.mark.e2e
def test_backtest_command_reports_and_refuses_bad_input(project, tmp_path):
    done = sh([str(BIN / "mlprod"), "backtest", "--strategies", "sometimes"], project, check=False)
    assert done.returncode == 2 and "strategies" in done.stderr and "Traceback" not in done.stderr
    done = sh([str(BIN / "mlprod"), "backtest", "--model", "models/nothing"], project, check=False)
    assert done.returncode == 2 and "models/nothing" in done.stderr and "dvc repro" in done.stderr
    done = sh([str(BIN / "mlprod"), "backtest", "--stream", "missing-folder"], project, check=False)
    assert done.returncode == 2 and "missing-folder" in done.stderr
    done = sh([str(BIN / "mlprod"), "backtest", "--weeks", "3", "--label-delay", "1", "--strategies", "never",
               "-o", str(tmp_path / "out")], project)
    assert (tmp_path / "out/backtest.html").is_file() and "never retrain: 0 retrain(s)" in done.stderr


@pytest.mark.e2e
def test_notebook_stages_and_the_replay_agree_on_a_window(project, tmp_path):
    """The monitoring pipeline's score, monitor and decide notebooks (`mlprod run`) and the backtest's replay, on the
    same batch, labels and champion, write the same predictions, history values and decision."""
    from mlprod.backtest.context import read_context
    from mlprod.backtest.replay import Replayer
    from mlprod.backtest.workspace import PREDICTIONS
    from mlprod.backtest.retraining import Retrainer
    from mlprod.data.stream_demo import STREAM_SEED

    copy = tmp_path / "project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("reports", "mlflow.db*", "mlartifacts"))
    shutil.copytree(REPO / "pipelines", copy / "pipelines")
    env = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("MLFLOW_")}
    cwd = os.getcwd()
    os.chdir(copy)
    try:
        context = read_context(copy, copy / "params.yaml", model_dir=None)
        Retrainer(context).start(copy)  # the project's own registry: the same model as champion
        stream = demo_stream(weeks=1, seed=STREAM_SEED, shift=True, label_delay=0, rows_per_week=ROWS)
        replay = Replayer(stream, tmp_path / "replay", strategy="never", context=context,
                          retrainer=Retrainer(context)).run()
    finally:
        os.chdir(cwd)
        os.environ.update(env)
    sh([str(BIN / "mlprod"), "demo-stream", "--weeks", "1", "--label-delay", "0", "--rows", str(ROWS), "data/stream"],
       copy)
    for stage in ("score", "monitor", "decide"):
        sh([str(BIN / "mlprod"), "run", f"pipelines/monitoring/notebooks/{stage}.ipynb"], copy)
    batch = stream.ids[0]
    ours = pd.read_parquet(copy / "monitoring/predictions" / f"{batch}.parquet")
    theirs = pd.read_parquet(tmp_path / "replay" / PREDICTIONS / f"{batch}.parquet")
    columns = ["lead_id", "score", "decision", "model_name", "model_version", "model_sha256", "batch_id"]
    pd.testing.assert_frame_equal(ours[columns], theirs[columns])
    values = ["window", "metric", "kind", "value", "threshold", "alert", "model_version", "rows", "labelled_rows"]
    history = pd.read_parquet(copy / "monitoring/history.parquet")[values].sort_values(["kind", "metric"])
    pd.testing.assert_frame_equal(history.reset_index(drop=True),
                                  replay.history[values].sort_values(["kind", "metric"]).reset_index(drop=True))
    decision = json.loads((copy / "reports/monitoring/decision.json").read_text())
    assert decision["retrain"] == replay.windows[0].retrain_due
    assert decision["reasons"] == list(replay.windows[0].reasons)


def test_folder_stream_reads_csv_dates_as_dates_and_names_a_bad_one(tmp_path):
    """A CSV batch holds dates as text: parsed, so the data gates see dates as scoring a Parquet batch would."""
    (tmp_path / "inbox").mkdir()
    pd.DataFrame({"id": [1], "day": ["2025-01-06"], "y": [1]}).to_csv(tmp_path / "inbox/w1.csv", index=False)
    stream = folder_stream(tmp_path, key="id", target="y", label_delay=0, date_column="day")
    assert pd.api.types.is_datetime64_any_dtype(stream.batches[0].frame["day"])
    pd.DataFrame({"id": [2], "day": ["someday"], "y": [0]}).to_csv(tmp_path / "inbox/w2.csv", index=False)
    with pytest.raises(DataError, match=r"w2.csv: 1 row\(s\) of 'day'"):
        folder_stream(tmp_path, key="id", target="y", label_delay=0, date_column="day")
