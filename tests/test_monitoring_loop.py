"""The production loop's glue: the champion's registered reference profile, `mlprod monitor`, `mlprod demo-stream`."""

from __future__ import annotations

import json
import shutil
import time

import pandas as pd
import pytest

from mlprod.cli import main
from mlprod.data.stream_demo import StreamSpec, write_stream
from mlprod.monitoring import loop
from mlprod.monitoring.inbox import score_inbox
from test_score_batches import REPO, _train

PARAMS = """project:
  model_name: lead-scoring
  target: converted
  date_column: created_at
  key: lead_id
monitor:
  alias: champion
  predictions_dir: predictions
  labels_dir: stream/labels
  monitoring_dir: monitoring
  kpis: {top_share_conversions: {share: 0.2}}
  plots_file: plots/monitoring_history.csv
  metrics_file: metrics/monitoring.json
decide:
  consecutive_windows: 2
  decision_file: reports/decision.json
  metrics_file: metrics/decision.json
"""


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A project with a registered champion (trained with its reference profile) and 6 scored weeks."""
    from mlprod.registry.register import register_model
    from mlprod.registry.store import Registry

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(PARAMS)
    shutil.copy(REPO / "schema.yaml", tmp_path / "schema.yaml")
    model = _train(tmp_path, "a", 1.0)
    registry = Registry.open(tmp_path)
    version = register_model(model, registry=registry)
    registry.client.set_registered_model_alias("lead-scoring", "champion", version.version)
    write_stream(tmp_path / "stream", StreamSpec(n_weeks=12, rows_per_week=300), as_of=6)
    score_inbox(model, tmp_path / "stream/inbox", tmp_path / "predictions", key="lead_id", date_column="created_at",
                root=tmp_path)
    return tmp_path


def test_the_registered_champion_brings_its_reference_profile_with_the_scores(project):
    found = loop.champion("lead-scoring@champion", root=project)
    assert found.profile is not None, "register did not log reference_profile.json with the model"
    assert "prediction" in found.profile.columns and "income" in found.profile.columns
    assert found.version == "1.0.0" and found.alias == "champion"


def test_mlprod_monitor_updates_the_history_then_does_nothing_when_nothing_is_new(project, capsys):
    assert main(["monitor"]) == 0
    history = pd.read_parquet(project / "monitoring/history.parquet")
    assert sorted(history["window"].unique()) == [f"2025-W{w:02d}" for w in range(2, 8)]
    assert set(history[history["kind"] == "drift"]["window"]) == set(history["window"])  # drift measured
    decision = json.loads((project / "reports/decision.json").read_text())
    assert decision["schema_version"] == 1 and isinstance(decision["reasons"], list)
    metrics = json.loads((project / "metrics/monitoring.json").read_text())
    assert metrics["windows"] == 6 and metrics["reference"]["registry_version"] == "1"
    assert pd.read_csv(project / "plots/monitoring_history.csv")["window"].tolist()[0] == "2025-W02"
    capsys.readouterr()
    written = {p: p.stat().st_mtime_ns for p in project.rglob("*") if p.is_file() and ".mlprod" not in p.parts}
    tick = time.perf_counter()
    assert main(["monitor"]) == 0
    seconds = time.perf_counter() - tick
    assert "nothing new" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in written} == written
    assert seconds < 1.0, seconds


def test_mlprod_monitor_exit_codes(project, capsys):
    from mlprod.stages.stagelock import stage_lock

    assert main(["monitor", "--fail-on-retrain"]) in (0, 1)
    recorded = json.loads((project / "reports/decision.json").read_text())["retrain"]
    assert main(["monitor", "--fail-on-retrain"]) == (1 if recorded else 0)  # read back when nothing is new
    with stage_lock(project / "monitoring", loop.LOCK_NAME):
        assert main(["monitor"]) == 75
    (project / "params.yaml").write_text(PARAMS.replace("  monitoring_dir: monitoring", "  monitorin_dir: x"))
    assert main(["monitor"]) == 2
    assert "monitorin_dir" in capsys.readouterr().err


def test_auto_last_retrain_counts_only_the_latest_model_versions_windows():
    frame = pd.DataFrame({"window": ["a", "b", "c", "d"], "window_start": ["2025-01-06", "2025-01-13", "2025-01-20",
                                                                             "2025-01-27"],
                          "model_version": ["1.0.0", "1.0.0", "1.1.0", "1.1.0"]})
    assert loop.auto_last_retrain(frame) == "2025-01-20"
    assert loop.auto_last_retrain(frame.assign(model_version="1.0.0")) is None


def test_demo_stream_writes_the_weeks_that_arrived(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo-stream", "--weeks", "12", "--as-of", "2025-W06", "--label-delay", "2", "out"]) == 0
    assert sorted(p.stem for p in (tmp_path / "out/inbox").iterdir()) == ["2025-W02", "2025-W03", "2025-W04",
                                                                            "2025-W05", "2025-W06"]
    assert sorted(p.stem for p in (tmp_path / "out/labels").iterdir()) == ["2025-W02", "2025-W03", "2025-W04"]
    assert "shift starts in 2025-W09" in capsys.readouterr().err
    assert main(["demo-stream", "--as-of", "2024-W50", "out"]) == 2
    assert "2025-W02 .. 2025-W13" in capsys.readouterr().err
