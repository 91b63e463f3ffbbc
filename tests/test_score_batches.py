"""Batch scoring: the predictions record, the inbox (idempotence, quarantine, a killed run, the lock),
``NAME@alias`` from a real registry and the ``mlprod score`` command."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlprod.cli import main
from mlprod.data.stream_demo import StreamSpec, write_stream
from mlprod.errors import DataError, DataValidationError, StageBusyError
from mlprod.monitoring import predictions as records
from mlprod.monitoring.inbox import score_inbox, write_prometheus

pytest_plugins = ("test_registry_toys",)
REPO = Path(__file__).resolve().parents[1]
FEATURES = ["age", "income", "region", "channel", "days_since_last_activity", "activity_trend", "n_interactions"]
SPEC = StreamSpec(n_weeks=4, rows_per_week=300, label_delay=1)
PARAMS = """project:
  model_name: lead-scoring
  target: converted
  date_column: created_at
  key: lead_id
validate:
  schema_file: schema.yaml
"""


def _train(root: Path, name: str, C: float) -> Path:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import mlprod
    from mlprod.data import make_leads
    from mlprod.profile import build_profile

    train = make_leads(n_rows=3000, seed=3, end="2024-03-31", shift_date="2024-03-31")
    X = train[FEATURES]
    pipeline = Pipeline([("features", ColumnTransformer([
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["region", "channel"]),
        ("numeric", StandardScaler(), [c for c in FEATURES if c not in ("region", "channel")])])),
        ("model", LogisticRegression(C=C, max_iter=500))]).fit(X, train["converted"])
    folder = root / "models" / name
    mlprod.save_model(pipeline, folder, name="lead-scoring", X=X, version="1.0.0" if C == 1.0 else "2.0.0")
    build_profile(train.assign(prediction=pipeline.predict_proba(X)[:, 1])).save(folder / "reference_profile.json")
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lead-models")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        return {"a": _train(root, "a", 1.0), "b": _train(root, "b", 0.01)}


@pytest.fixture()
def project(tmp_path, monkeypatch, models) -> Path:
    """A project folder with params.yaml, the example schema and the demo stream's inbox."""
    (tmp_path / "params.yaml").write_text(PARAMS)
    shutil.copy(REPO / "schema.yaml", tmp_path / "schema.yaml")
    write_stream(tmp_path / "stream", SPEC, as_of=3)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _score(project: Path, model: Path | str, **kwargs):
    kwargs.setdefault("schema", project / "schema.yaml")
    return score_inbox(model, project / "stream" / "inbox", project / "predictions", key="lead_id",
                       date_column="created_at", target="converted", root=project, **kwargs)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_scoring_an_inbox_writes_the_contract_record(project, models):
    run = _score(project, models["a"])
    ids = SPEC.week_ids[:3]
    assert run.counts == {"scored": 3, "skipped": 0, "quarantined": 0}
    assert records.committed(project / "predictions") == ids
    frame = records.read_predictions(project / "predictions", ids[0])
    assert list(frame.columns) == ["lead_id", "created_at", "score", "decision", "model_name", "model_version",
                                   "model_sha256", "batch_id", "scored_at",
                                   "tier", "fallback_reason", "needs_review", "filled_features"]
    assert str(frame["needs_review"].dtype) == "bool" and set(frame["tier"]) <= {"primary", "fallback", "rules",
                                                                                  "default"}
    assert str(frame["score"].dtype) == "float64" and str(frame["decision"].dtype) == "int8"
    assert all(pd.api.types.is_string_dtype(frame[c]) and not isinstance(frame[c].dtype, pd.CategoricalDtype)
               for c in ("model_name", "model_version", "model_sha256", "batch_id",
                                                   "scored_at"))  # plain text, not pandas categoricals
    assert str(frame["created_at"].dtype) == "datetime64[ns]" and str(frame["lead_id"].dtype) == "int64"
    assert (frame["decision"] == (frame["score"] >= 0.5)).all() and len(frame) == 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", frame["scored_at"].iloc[0])
    marker = records.read_marker(project / "predictions", ids[0])
    assert marker["source"] == f"stream/inbox/{ids[0]}.parquet" and marker["rows"] == 300
    assert marker["model"]["version"] == "1.0.0" and marker["model"]["registry_version"] is None
    assert marker["gate"]["status"] in ("passed", "warned") and marker["threshold"] == 0.5
    text = (project / "predictions" / f"{ids[0]}.done.json").read_text()
    assert list(json.loads(text)) == sorted(json.loads(text))  # sorted keys


def test_scoring_reads_only_the_columns_the_model_key_and_date_need(project, models, monkeypatch):
    """A batch with a column nobody uses (here the label, already arrived) is read without it; a batch
    without the key is read whole, so the message lists the file's columns."""
    from mlprod.data import io

    inbox = project / "stream" / "inbox"
    week = SPEC.week_ids[0]
    labelled = pd.read_parquet(inbox / f"{week}.parquet").assign(converted=0, notes="call back")
    labelled.to_parquet(inbox / f"{week}.parquet", index=False)
    labelled.drop(columns="lead_id").to_csv(inbox / "no-key.csv", index=False)
    read, real = [], io.read_table

    def spy(path, *, columns=None):
        read.append((Path(path).name, columns))
        return real(path, columns=columns)

    monkeypatch.setattr(io, "read_table", spy)
    run = _score(project, models["a"], schema=None)
    assert run.counts == {"scored": 3, "skipped": 0, "quarantined": 1}
    needed = FEATURES + ["lead_id", "created_at"]
    assert dict(read)[f"{week}.parquet"] == needed
    assert dict(read)["no-key.csv"] is None
    assert "columns: lead_id" not in run.results[-1].detail and "notes" in run.results[-1].detail
    marker = records.read_marker(project / "predictions", week)
    assert marker["source_md5"] == hashlib.md5((inbox / f"{week}.parquet").read_bytes()).hexdigest()


def test_the_predictions_bytes_are_those_of_the_plain_pyarrow_write(project, models, monkeypatch):
    """The file's bytes for a given input are pinned to the straightforward write (the frame through
    ``Table.from_pandas``, text columns cast to plain strings, mlprod's metadata, ``pq.write_table``):
    the faster path for the constant columns must not change a byte."""
    import io as bytes_io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlprod.monitoring import inbox as inbox_module
    from mlprod.monitoring.resilient import load_resilient, score_frame

    monkeypatch.setattr(inbox_module, "now_utc", lambda: "2025-01-06T00:00:00Z")
    _score(project, models["a"], schema=None)
    week = SPEC.week_ids[0]
    batch = pd.read_parquet(project / "stream" / "inbox" / f"{week}.parquet")
    frame, _ = score_frame(load_resilient(models["a"]), batch, threshold=0.5, batch_id=week,
                           scored_at="2025-01-06T00:00:00Z", key="lead_id", date_column="created_at")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    table = table.replace_schema_metadata({b"mlprod.schema": b"predictions", b"mlprod.schema_version": b"1",
                                           b"mlprod.serving_columns": b"1"})
    expected = bytes_io.BytesIO()
    pq.write_table(table, expected)
    assert (project / "predictions" / f"{week}.parquet").read_bytes() == expected.getvalue()


def test_a_second_run_scores_nothing_and_a_new_champion_leaves_old_batches_untouched(project, models):
    _score(project, models["a"])
    before = _files(project / "predictions")
    again = _score(project, models["a"])
    assert again.counts == {"scored": 0, "skipped": 3, "quarantined": 0} and again.model is None  # model not loaded
    assert _files(project / "predictions") == before
    write_stream(project / "stream", SPEC, as_of=4)  # week 4 arrives; the champion is now model b
    run = _score(project, models["b"])
    assert run.counts == {"scored": 1, "skipped": 3, "quarantined": 0}
    after = _files(project / "predictions")
    assert {k: v for k, v in after.items() if k in before} == before
    new = records.read_predictions(project / "predictions", SPEC.week_ids[3])
    assert set(new["model_version"]) == {"2.0.0"}
    assert set(records.read_predictions(project / "predictions", SPEC.week_ids[0])["model_version"]) == {"1.0.0"}


def test_a_failing_batch_is_quarantined_with_its_report_and_the_others_are_scored(project, models):
    inbox = project / "stream" / "inbox"
    bad = pd.read_parquet(inbox / f"{SPEC.week_ids[1]}.parquet")
    bad.loc[:9, "age"] = 250  # outside the schema's bounds
    bad.to_parquet(inbox / f"{SPEC.week_ids[1]}.parquet", index=False)
    run = _score(project, models["a"])
    assert run.counts == {"scored": 2, "skipped": 0, "quarantined": 1}
    assert records.committed(project / "predictions") == [SPEC.week_ids[0], SPEC.week_ids[2]]
    held = project / "quarantine" / SPEC.week_ids[1]
    record = json.loads((held / "quarantined.json").read_text())
    assert "age" in record["summary"] and record["source"].endswith(f"{SPEC.week_ids[1]}.parquet")
    assert (held / "report.html").is_file() and (held / "details.json").is_file()
    again = _score(project, models["a"])  # the same file stays quarantined without being re-gated
    assert again.counts == {"scored": 0, "skipped": 2, "quarantined": 1}
    with pytest.raises(DataValidationError, match="fail-on-quarantine"):
        _score(project, models["a"], fail_on_quarantine=True)


def test_a_predictions_file_without_its_marker_does_not_exist_and_is_replaced(project, models):
    batch = SPEC.week_ids[0]
    folder = project / "predictions"
    folder.mkdir()
    (folder / f"{batch}.parquet").write_bytes(b"half written by a killed run")
    assert records.committed(folder) == [] and not records.is_committed(folder, batch)
    with pytest.raises(DataError, match="not committed"):
        records.read_predictions(folder, batch)
    run = _score(project, models["a"])
    assert run.counts["scored"] == 3
    assert len(records.read_predictions(folder, batch)) == 300


def test_a_changed_predictions_file_is_refused_when_read(project, models):
    _score(project, models["a"])
    path = project / "predictions" / f"{SPEC.week_ids[0]}.parquet"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataError, match="sha256 does not match"):
        records.read_predictions(project / "predictions", SPEC.week_ids[0])


def test_a_held_lock_stops_a_second_run_before_it_scores(project, models):
    from mlprod.stages.stagelock import stage_lock

    (project / "predictions").mkdir()
    with stage_lock(project / "predictions", "score"):
        with pytest.raises(StageBusyError):
            _score(project, models["a"])
    assert records.committed(project / "predictions") == []


def test_two_processes_at_once_never_score_a_batch_twice(project, models):
    command = [sys.executable, "-m", "mlprod", "score", str(models["a"]), "stream/inbox", "-o", "predictions",
               "--wait", "inf"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen(command, cwd=project, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    scored = [int(re.search(r"scored (\d+) batch", out).group(1)) for out in outputs]
    assert sorted(scored) == [0, 3], outputs
    assert records.committed(project / "predictions") == SPEC.week_ids[:3]


def test_batch_ids_are_checked_before_anything_is_scored(project, models):
    (project / "stream" / "inbox" / "week 5.csv").write_text("lead_id\n1\n")
    with pytest.raises(DataError, match="batch id 'week 5'"):
        _score(project, models["a"])
    assert not (project / "predictions").exists() or records.committed(project / "predictions") == []


def test_name_at_alias_is_resolved_in_the_registry_and_recorded(tmp_path, monkeypatch, toys, seeded_store):
    from test_registry_toys import copy_store

    from mlprod.registry.store import Registry

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    copy_store(seeded_store, tmp_path)
    monkeypatch.chdir(tmp_path)
    registry = Registry.open(tmp_path)
    registry.client.set_registered_model_alias("toy", "champion", "3")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    holdout = pd.read_parquet(toys.holdout).drop(columns="converted")
    holdout.iloc[:150].to_parquet(inbox / "b1.parquet", index=False)
    run = score_inbox("toy@champion", inbox, tmp_path / "predictions", root=tmp_path)
    assert run.counts["scored"] == 1 and run.model["registry_version"] == "3"
    marker = records.read_marker(tmp_path / "predictions", "b1")
    good = json.loads(json.dumps(marker))["model"]
    assert good == {"name": "toy", "version": "1.2.0", "registry_version": "3",
                    "sha256": _sha(toys.model_dir("good"))}
    assert list(records.read_predictions(tmp_path / "predictions", "b1").columns)[0] == "row"  # no key given
    registry.client.set_registered_model_alias("toy", "champion", "2")  # the champion changes
    holdout.iloc[150:].to_parquet(inbox / "b2.parquet", index=False)
    run = score_inbox("toy@champion", inbox, tmp_path / "predictions", root=tmp_path)
    assert run.counts == {"scored": 1, "skipped": 1, "quarantined": 0}
    assert records.read_marker(tmp_path / "predictions", "b1")["model"]["registry_version"] == "3"
    assert records.read_marker(tmp_path / "predictions", "b2")["model"]["registry_version"] == "2"
    code = main(["score", "toy@nobody", str(inbox / "b2.parquet"), "-o", str(tmp_path / "other"), "--no-gates"])
    assert code == 2


def _sha(folder: Path) -> str:
    from mlprod.manifest.schema import read_manifest

    return read_manifest(folder).artifact.sha256


def test_the_command_prints_the_summary_writes_prometheus_and_documents_exit_codes(project, models, capsys):
    prom = project / "metrics" / "score.prom"
    code = main(["score", str(models["a"]), "stream/inbox", "-o", "predictions", "--prom", str(prom)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "scored 3 batch(es) (900 rows), skipped 0 already scored, quarantined 0 with lead-scoring 1.0.0" in err
    text = prom.read_text()
    assert 'mlprod_score_batches{status="scored"} 3.0' in text and "mlprod_score_rows 900.0" in text
    code = main(["score", str(models["a"]), "stream/inbox", "-o", "predictions"])
    assert code == 0 and "scored 0 batch(es) (0 rows), skipped 3 already scored" in capsys.readouterr().err
    assert main(["score", "no/such/model", "stream/inbox", "-o", "predictions"]) == 2
    assert "NAME@alias" in capsys.readouterr().err
    assert main(["score", str(models["a"]), "stream/missing", "-o", "predictions"]) == 2
    assert main(["score", str(models["a"]), "stream/inbox", "-o", "params.yaml"]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_write_prometheus_uses_bounded_labels(project, models):
    run = _score(project, models["a"])
    text = write_prometheus(run, project / "score.prom").read_text()
    labels = set(re.findall(r'status="([a-z]+)"', text))
    assert labels == {"scored", "skipped", "quarantined"}


def test_a_csv_batch_is_read_through_the_schema_and_a_batch_without_the_key_is_quarantined(project, models, capsys):
    inbox = project / "csv-inbox"
    inbox.mkdir()
    frame = pd.read_parquet(project / "stream" / "inbox" / f"{SPEC.week_ids[0]}.parquet")
    frame.to_csv(inbox / "c1.csv", index=False)
    frame.drop(columns="lead_id").to_csv(inbox / "c2.csv", index=False)
    code = main(["score", str(models["a"]), "csv-inbox", "-o", "predictions", "--fail-on-quarantine"])
    err = capsys.readouterr().err
    assert code == 1 and "'c2'" in err and "lead_id" in err  # the gates stop the batch without the key
    scored = records.read_predictions(project / "predictions", "c1")
    assert str(scored["created_at"].dtype).startswith("datetime64")  # the schema parses the CSV's dates
    frame.drop(columns="lead_id").to_csv(project / "c3.csv", index=False)
    code = main(["score", str(models["a"]), "c3.csv", "-o", "predictions", "--no-gates"])
    assert code == 0, capsys.readouterr().err
    record = json.loads((project / "quarantine" / "c3" / "quarantined.json").read_text())
    assert "lead_id" in record["summary"] and record["report"] is None


def test_a_run_killed_midway_leaves_only_whole_batches_and_the_next_run_finishes(tmp_path, monkeypatch, models):
    import signal
    import time

    (tmp_path / "params.yaml").write_text(PARAMS)
    shutil.copy(REPO / "schema.yaml", tmp_path / "schema.yaml")
    spec = StreamSpec(n_weeks=12, rows_per_week=3000)
    write_stream(tmp_path / "stream", spec)
    monkeypatch.chdir(tmp_path)
    command = [sys.executable, "-m", "mlprod", "score", str(models["a"]), "stream/inbox", "-o", "predictions"]
    proc = subprocess.Popen(command, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "predictions").glob("*.done.json")) and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    folder = tmp_path / "predictions"
    done = records.committed(folder)
    assert 1 <= len(done) <= 12
    print(f"killed after {len(done)} of 12 batches")
    for batch in done:  # whatever the kill interrupted, every listed batch is whole
        assert len(records.read_predictions(folder, batch)) == 3000
    run = score_inbox(models["a"], tmp_path / "stream" / "inbox", folder, schema=tmp_path / "schema.yaml",
                      target="converted", key="lead_id", date_column="created_at", root=tmp_path)
    assert run.counts == {"scored": 12 - len(done), "skipped": len(done), "quarantined": 0}
    assert records.committed(folder) == spec.week_ids
    assert all(len(records.read_predictions(folder, b)) == 3000 for b in spec.week_ids)
