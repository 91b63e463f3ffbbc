"""End to end: the production loop (pipelines/monitoring) on a temporary copy of the project, over the demo stream."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from pipeline import copy_project, dvc, ran, repro, sh, BIN

pytestmark = pytest.mark.e2e
MONITORING = "pipelines/monitoring/dvc.yaml"
STAGES = {f"{MONITORING}:{name}" for name in ("score", "monitor", "decide")}


def demo_stream(project, as_of: str, weeks: int = 12) -> None:
    sh([str(BIN / "mlprod"), "demo-stream", "--weeks", str(weeks), "--as-of", as_of, "data/stream"], project)


def test_monitoring_pipeline_scores_watches_and_decides(tmp_path):
    project = copy_project(tmp_path / "project", n_rows=8000)
    repro(project)  # the training pipeline: the champion in the project's registry
    demo_stream(project, "2025-W11")  # weeks 1..10 arrived, labels of weeks 1..6
    out = repro(project, MONITORING).stdout
    assert ran(out) == STAGES, out
    predictions = project / "monitoring/predictions"
    assert len(list(predictions.glob("*.done.json"))) == 10
    history = pd.read_parquet(project / "monitoring/history.parquet")
    assert sorted(history["window"].unique()) == [f"2025-W{w:02d}" for w in range(2, 12)]

    # nothing new: DVC reruns nothing, and a stage rerun by hand rescores nothing
    assert dvc(project, "status", MONITORING).stdout.strip() in ("Data and pipelines are up to date.", "")
    out = repro(project, MONITORING).stdout
    assert ran(out) == set(), out
    markers = {p.name: p.stat().st_mtime_ns for p in predictions.glob("*.done.json")}
    tick = time.perf_counter()
    done = sh([str(BIN / "mlprod"), "monitor"], project)
    noop_seconds = time.perf_counter() - tick
    print(f"mlprod monitor with nothing new: {noop_seconds:.2f} s")
    assert "nothing new" in done.stderr
    assert dvc(project, "status", MONITORING).stdout.strip() in ("Data and pipelines are up to date.", "")

    # two more weeks and their labels: only the new batches are scored, late labels touch only their windows
    before = pd.read_parquet(project / "monitoring/history.parquet")
    demo_stream(project, "2025-W13")
    out = repro(project, MONITORING).stdout
    assert ran(out) == STAGES, out
    assert {p.name: p.stat().st_mtime_ns for p in predictions.glob("*.done.json") if p.name in markers} == markers
    assert len(list(predictions.glob("*.done.json"))) == 12
    history = pd.read_parquet(project / "monitoring/history.parquet")
    assert sorted(history["window"].unique()) == [f"2025-W{w:02d}" for w in range(2, 14)]
    recomputed = set(history.loc[history["as_of"] != history["window"].map(
        before.drop_duplicates("window").set_index("window")["as_of"]), "window"])
    # new batches W12-W13 and the labels of weeks 7-8 (W08, W09) arrived; nothing else was recomputed
    assert recomputed == {"2025-W08", "2025-W09", "2025-W12", "2025-W13"}, recomputed

    # the shift (week 8 = 2025-W09) is detected and the decision says retrain, with reasons
    drift = history[(history["metric"] == "feature_drift_share")].set_index("window")["alert"]
    assert not drift[[f"2025-W{w:02d}" for w in range(2, 9)]].any(), drift
    assert drift[[f"2025-W{w:02d}" for w in range(9, 14)]].all(), drift
    # the triggers fire at once; the policy also waits for labels from the alerting windows (min_alert_labelled_rows:
    # 1000, two weeks of labels): the gate counts exactly the labelled rows of the windows its trigger names
    decision = json.loads((project / "reports/monitoring/decision.json").read_text())
    assert any(r.startswith("feature_drift") for r in decision["reasons"]), decision["reasons"]
    gate = next(c for c in decision["checks"] if c["name"] == "min_alert_labelled_rows")
    labelled = history.drop_duplicates("window").set_index("window")["labelled_rows"]
    assert gate["windows"] and gate["value"] == sum(labelled[w] for w in gate["windows"])
    assert decision["retrain"] is (gate["value"] >= 1000), decision["reasons"]
    demo_stream(project, "2025-W15", weeks=14)  # the labels of weeks 8 and 9 are in
    repro(project, MONITORING)
    decision = json.loads((project / "reports/monitoring/decision.json").read_text())
    assert decision["retrain"] is True, decision["reasons"]
    metrics = json.loads((project / "metrics/decision.json").read_text())
    assert metrics["retrain"] == 1
    # the dashboard (decision first, a Prometheus textfile beside it) and the runbook (rollback, owners)
    page = (project / "reports/monitoring/dashboard/dashboard.html").read_text()
    assert "Retraining recommended" in page and "2025-W15" in page
    assert "mlprod_monitoring_retrain_recommended" in (project / "reports/monitoring/dashboard/monitoring.prom").read_text()
    runbook = (project / "reports/runbook/runbook.md").read_text()
    assert "mlprod rollback lead-scoring" in runbook and "ml-team@example.com" in runbook
    plots = pd.read_csv(project / "plots/monitoring_history.csv")
    assert plots["window"].tolist() == [f"2025-W{w:02d}" for w in range(2, 16)]
    assert {"estimated_roc_auc", "realised_roc_auc", "feature_drift_share"} <= set(plots.columns)
    show = dvc(project, "metrics", "show").stdout
    assert "metrics/decision.json" in show
