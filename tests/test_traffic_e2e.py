"""End to end on the demo stream: a canary with real components and a real SQLite registry. ``mlprod canary start``,
``mlprod serve`` answering demo-stream requests per unit, ``mlprod score`` scoring a batch the same way, labels
arriving, ``mlprod canary step`` deciding, and ``mlprod experiment analyze`` on the prediction log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import serving_models
from serve_server import start
from serving_models import train_models

pytestmark = pytest.mark.e2e
pytest_plugins = ("test_registry_toys",)  # the empty_store fixture
NAME = "leads-primary"
REPO = Path(__file__).resolve().parents[1]
OLD, NEW = "1.2.3", "1.3.0"  # the champion's and the canary's manifest versions
# no deployment.unit_id: it defaults to project.key (the label files' key too, so realised checks can join)
PARAMS = f"""project: {{key: lead_id, model_name: {NAME}, target: converted, date_column: created_at}}
prediction_log: {{dir: monitoring/prediction_log}}
monitor: {{labels_dir: data/stream/labels}}
score: {{alias: champion, inbox: data/stream/inbox, predictions_dir: monitoring/predictions,
        quarantine_dir: monitoring/quarantine, schema_file: null, threshold: null, fail_on_quarantine: false,
        metrics_file: metrics/score.json, prom_file: metrics/score.prom}}
deployment:
  mode: canary
  experiment: e2e-canary
  canary:
    ramp: [20, 50, 100]
    step_hours: 0.0001
    guardrails: {{max_score_psi: 10, max_metric_drop: 1, max_kpi_drop: 1, max_latency_p99_ms: 60000}}
"""


def mlprod(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "mlprod", *args], cwd=cwd, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, f"mlprod {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def project(tmp_path, monkeypatch, empty_store):
    """leads-primary 1.2.3 as champion and 1.3.0 as canary in a fresh SQLite registry; params.yaml as above."""
    from mlprod.registry.register import register_model

    registry = serving_models.open_registry(tmp_path, monkeypatch, empty_store, params=PARAMS)
    primary, _, _ = train_models(tmp_path)
    second = serving_models.train_version(tmp_path, NEW, 20, name=NAME)
    for folder, alias in ((primary, "champion"), (second, "canary")):
        version = register_model(folder, registry=registry).version
        registry.client.set_registered_model_alias(NAME, alias, version)
    return tmp_path


def records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.astype({"created_at": str}).to_json(orient="records"))


def test_canary_on_the_demo_stream_serve_score_step_and_analyze(project):
    from mlprod.serving.predictionlog.reader import read_log
    from mlprod.traffic.assignment import Arm, Experiment, assign
    from mlprod.traffic.canary_state import read_state, state_path

    # weeks 1-3 arrive (2025-W02..W04); no labels yet (they come three weeks after their batch)
    mlprod(project, "demo-stream", "--weeks", "6", "--as-of", "2025-W04", "--rows", "300", "--label-delay", "3",
           "data/stream")
    inbox = sorted((project / "data/stream/inbox").glob("*.parquet"))
    assert [p.stem for p in inbox] == ["2025-W02", "2025-W03", "2025-W04"]
    assert not list((project / "data/stream/labels").glob("*.parquet"))

    mlprod(project, "canary", "start")
    state = read_state(state_path(project))
    assert (state.step, state.status, state.share((20, 50, 100))) == (0, "running", 20)
    experiment = Experiment(state.experiment, (Arm("champion", 80), Arm("canary", 20)), hash_attribute="lead_id")
    versions = {"champion": OLD, "canary": NEW}

    # mlprod serve (MODEL from the deployment: NAME@champion) answers week 1's leads, each with its unit's arm
    week1 = pd.read_parquet(inbox[0])
    expected = list(assign(experiment, week1["lead_id"].tolist()))
    assert 30 < expected.count("canary") < 100
    server = start(project, "--no-fallback", "--poll-seconds", "0.5", "--grace-seconds", "2",
                   "--cpu-affinity", "none")
    try:
        ready = server.wait_ready()
        assert ready["version"] == OLD and ready["deployment"]["arms"]["canary"]["version"] == NEW
        answers = []
        for start_row in range(0, len(week1), 100):
            status, data, _ = server.request("POST", "/invocations", json.dumps(
                {"dataframe_records": records(week1.iloc[start_row:start_row + 100])}))
            assert status == 200, data
            answers += json.loads(data)["predictions"]
    finally:
        assert server.stop() == 0
    assert [a["model_version"] for a in answers] == [versions[a] for a in expected]
    log = read_log(project / "monitoring/prediction_log")
    assert len(log) == len(week1) and set(log["experiment"]) == {state.experiment}
    log = log.assign(unit_id=log["unit_id"].astype(str))
    by_unit = dict(zip(week1["lead_id"].astype(str), expected))
    assert (log["arm"] == log["unit_id"].map(by_unit)).all()

    # the monitoring pipeline's score stage (its notebook, run as dvc runs it) scores the inbox the same way
    notebook = project / "pipelines/monitoring/notebooks/score.ipynb"
    notebook.parent.mkdir(parents=True)
    shutil.copy(REPO / "pipelines/monitoring/notebooks/score.ipynb", notebook)
    mlprod(project, "run", "pipelines/monitoring/notebooks/score.ipynb")
    for batch in inbox:
        scored = pd.read_parquet(project / "monitoring/predictions" / batch.name)
        rows = pd.read_parquet(batch)
        assert scored["lead_id"].tolist() == rows["lead_id"].tolist()
        expected_batch = list(assign(experiment, rows["lead_id"].tolist()))
        assert scored["arm"].tolist() == expected_batch and set(scored["experiment"]) == {state.experiment}
        assert scored["model_version"].tolist() == [versions[a] for a in expected_batch]
    assert scored["arm"].tolist().count("canary") > 30

    # a week later: week 1's labels arrive; the step evaluates the guardrails with them and advances
    mlprod(project, "demo-stream", "--weeks", "6", "--as-of", "2025-W05", "--rows", "300", "--label-delay", "3",
           "data/stream")
    assert [p.stem for p in sorted((project / "data/stream/labels").glob("*.parquet"))] == ["2025-W02"]
    decision = json.loads(mlprod(project, "canary", "step", "--min-rows", "20", "--json").stdout)
    assert decision["rows"] == {"champion": expected.count("champion"), "canary": expected.count("canary")}
    checks = {c["name"]: c["verdict"] for c in decision["checks"]}
    assert checks["realised_accuracy"] != "wait", decision["checks"]  # the labels were joined on project.key
    assert decision["action"] in ("advance", "hold"), decision
    assert decision["action"] == "advance", decision  # loose guardrails, the step's time has passed
    assert read_state(state_path(project)).step == 1

    # mlprod experiment plan, then analyze on the prediction log: per-arm units equal the log's
    mlprod(project, "experiment", "plan", "--baseline", "0.2", "--mde", "0.05", "--json", "plan.json")
    mlprod(project, "experiment", "analyze", "--plan", "plan.json", "--experiment", state.experiment, "--shares",
           "champion=0.8,canary=0.2", "--control", "champion", "-o", "reports/experiment")
    result = json.loads((project / "reports/experiment/experiment.json").read_text())
    units = log.groupby("arm")["unit_id"].nunique().to_dict()
    assert {arm: result["per_arm"][arm]["units"] for arm in ("champion", "canary")} == units
    assert {arm: result["per_arm"][arm]["labelled"] for arm in ("champion", "canary")} == units  # week 1 labelled
    assert result["per_arm"]["canary"]["model_versions"] == [NEW]
    assert result["sample_ratio"]["mismatch"] is False
    assert (project / "reports/experiment/experiment.html").is_file()
