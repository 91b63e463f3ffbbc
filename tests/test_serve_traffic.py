"""``mlprod serve`` with params.yaml ``deployment:``: ab, canary, shadow and blue_green against a real server
subprocess and a real SQLite registry; the shadow queue with a model that hangs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import serving_models
from serve_server import ROW, start
from serving_models import train_models

pytest_plugins = ("test_registry_toys",)  # the empty_store fixture
NAME = "leads-primary"
OLD, NEW = "1.2.3", "1.3.0"  # the champion's and the challenger's manifest versions


@pytest.fixture
def registry(tmp_path, monkeypatch, empty_store):
    return serving_models.open_registry(tmp_path, monkeypatch, empty_store)


def setup_models(registry, tmp_path: Path, alias: str) -> None:
    """leads-primary 1.2.3 as champion, 1.3.0 under ``alias``."""
    from mlprod.registry.register import register_model

    primary, _, _ = train_models(tmp_path)
    second = serving_models.train_version(tmp_path, NEW, 20, name=NAME)
    for folder, name in ((primary, "champion"), (second, alias)):
        version = register_model(folder, registry=registry).version
        registry.client.set_registered_model_alias(NAME, name, version)


def write_params(tmp_path: Path, deployment: str) -> None:
    (tmp_path / "params.yaml").write_text(
        f"project: {{key: lead_id, model_name: {NAME}}}\nprediction_log: {{dir: log}}\n{deployment}")


def rows(n: int, prefix: str = "L") -> list[dict]:
    return [{**ROW, "lead_id": f"{prefix}{i}", "age": 20 + i % 50} for i in range(n)]


def env() -> dict:
    return {"MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}


def serve(tmp_path: Path, *args: str):
    return start(tmp_path, *args, "--no-fallback", "--poll-seconds", "0.5", "--grace-seconds", "2",
                 "--cpu-affinity", "none", env=env())


def invoke(server, records: list[dict], request_id: str | None = None) -> list[dict]:
    headers = {"X-Request-Id": request_id} if request_id else None
    status, data, _ = server.request("POST", "/invocations", json.dumps({"dataframe_records": records}),
                                     headers=headers)
    assert status == 200, data
    return json.loads(data)["predictions"]


def logged(tmp_path: Path):
    from mlprod.serving.predictionlog.reader import read_log

    return read_log(tmp_path / "log")


AB = """deployment:
  mode: ab
  experiment: exp-ab
  unit_id: lead_id
  ab:
    arms:
      - {name: control, model: leads-primary@champion, share: 50}
      - {name: treatment, model: leads-primary@challenger, share: 50}
"""


def test_ab_answers_each_unit_with_its_arms_model_stable_across_restarts(registry, tmp_path):
    import pandas as pd
    import yaml

    from mlprod.traffic.assignment import assign
    from mlprod.traffic.deployment import DeploymentSettings

    setup_models(registry, tmp_path, "challenger")
    write_params(tmp_path, AB)
    experiment = DeploymentSettings.from_mapping(yaml.safe_load(AB)["deployment"], model_name=NAME).to_experiment()
    request = rows(120) + [{k: v for k, v in ROW.items() if k != "lead_id"}]  # the last row has no unit id
    ids = [r["lead_id"] for r in request[:-1]]
    expected = list(assign(experiment, ids))
    assert 30 < expected.count("treatment") < 90  # both arms in one request: the rows are split and reassembled
    versions = {"control": OLD, "treatment": NEW}

    answers = []
    for restart in range(3):  # the first run and two restarts
        server = serve(tmp_path, f"{NAME}@champion")
        try:
            ready = server.wait_ready()
            assert ready["deployment"]["arms"]["treatment"]["version"] == NEW
            assert ready["deployment"]["arms"]["control"]["version"] == OLD
            answer = invoke(server, request, request_id=f"ab-{restart}")
            assert [r["model_version"] for r in answer[:-1]] == [versions[a] for a in expected]
            assert answer[-1]["model_version"] == OLD  # no unit id: the champion answers
            metrics = server.metrics()
            assert metrics[("mlprod_serving_arm_rows_total", (("arm", "treatment"), ("tier", "primary")))] == \
                expected.count("treatment")
            assert metrics[("mlprod_serving_arm_requests_total", (("arm", "control"), ("status", "200")))] == 1
            answers.append(answer)
        finally:
            assert server.stop() == 0
    assert answers[0] == answers[1] == answers[2]

    # in input order: each row's answer equals the same row sent alone (a one-row request is not split)
    server = serve(tmp_path, f"{NAME}@champion")
    try:
        for i in (0, 1, 2, 57, 119):
            assert invoke(server, [request[i]])[0] == answers[0][i]
    finally:
        server.stop()

    frame = logged(tmp_path)
    first = frame[frame["request_id"] == "ab-0"].sort_values("row")
    assert first["row"].tolist() == list(range(121))
    assert first["unit_id"].tolist()[:-1] == ids
    assert set(first["experiment"]) == {"exp-ab"}
    assert first["arm"].tolist()[:-1] == expected and pd.isna(first["arm"].tolist()[-1])
    assert first["model_version"].tolist()[:-1] == [versions[a] for a in expected]


def test_an_arm_whose_model_cannot_load_sends_its_rows_to_the_champion_in_no_arm(registry, tmp_path):
    setup_models(registry, tmp_path, "challenger")
    write_params(tmp_path, AB.replace("leads-primary@challenger", "leads-primary@missing"))
    server = serve(tmp_path, f"{NAME}@champion")
    try:
        arms = server.wait_ready()["deployment"]["arms"]
        assert arms["control"]["version"] == OLD
        assert arms["treatment"]["ready"] is False and "missing" in arms["treatment"]["problem"]
        answer = invoke(server, rows(60), request_id="down")
        assert {r["model_version"] for r in answer} == {OLD}
        metrics = server.metrics()
        assert metrics[("mlprod_serving_arm_ready", (("arm", "treatment"),))] == 0
        assert metrics[("mlprod_serving_arm_rows_total", (("arm", "none"), ("tier", "primary")))] > 0
    finally:
        assert server.stop() == 0
    frame = logged(tmp_path)
    assert set(frame["arm"].dropna()) == {"control"} and frame["arm"].isna().sum() > 0


CANARY = """deployment:
  mode: canary
  experiment: exp-canary
  unit_id: lead_id
  canary: {ramp: [10, 50, 100]}
"""


def test_canary_share_follows_the_state_file_written_while_the_server_runs(registry, tmp_path):
    from mlprod.traffic.assignment import Arm, Experiment, assign
    from mlprod.traffic.canary_state import CanaryState, state_path, write_state

    setup_models(registry, tmp_path, "canary")
    write_params(tmp_path, CANARY)
    request = rows(200)
    ids = [r["lead_id"] for r in request]

    def expected(key: str, share: float) -> list[str]:
        experiment = Experiment(key, (Arm("champion", 100 - share), Arm("canary", share)), hash_attribute="lead_id")
        return [NEW if a == "canary" else OLD for a in assign(experiment, ids)]

    def answered() -> list[str]:
        return [r["model_version"] for r in invoke(server, request)]

    def wait_for(versions: list[str]) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if answered() == versions:
                return
            time.sleep(0.2)
        assert answered() == versions

    server = serve(tmp_path)  # MODEL from deployment: canary -> leads-primary@champion
    try:
        ready = server.wait_ready()
        assert ready["version"] == OLD and ready["deployment"]["arms"]["canary"]["version"] == NEW
        step0 = expected("exp-canary", 10)  # no state file, NAME@canary exists: step 0
        assert answered() == step0 and 5 < step0.count(NEW) < 40
        state = CanaryState("exp-canary-2", NAME, "2", "1", step_started="2026-11-30T06:00:00+00:00", step=1)
        write_state(state_path(tmp_path), state)
        step1 = expected("exp-canary-2", 50)
        wait_for(step1)
        assert 60 < step1.count(NEW) < 140
        write_state(state_path(tmp_path), CanaryState("exp-canary-2", NAME, "2", "1", step_started="2026-11-30T06:00:00+00:00", step=1, status="rolled_back"))
        wait_for([OLD] * len(ids))
        assert server.wait_ready()["deployment"]["experiment"] == "exp-canary-2"
    finally:
        assert server.stop() == 0
    frame = logged(tmp_path)
    assert set(frame["arm"]) == {"champion", "canary"}
    assert set(frame["experiment"]) == {"exp-canary", "exp-canary-2"}
    canary = frame[frame["arm"] == "canary"]
    assert set(canary["model_version"]) == {NEW}


SHADOW = """deployment:
  mode: shadow
  experiment: exp-shadow
  shadow: {model: leads-primary@challenger, queue_size: 1000}
"""


def test_shadow_never_changes_an_answer_and_its_rows_are_logged_with_arm_shadow(registry, tmp_path):
    setup_models(registry, tmp_path, "challenger")
    requests = [rows(30, prefix=f"S{k}-") for k in range(5)]
    write_params(tmp_path, "")
    server = serve(tmp_path, f"{NAME}@champion")
    try:
        plain = [invoke(server, r) for r in requests]
    finally:
        server.stop()

    write_params(tmp_path, SHADOW)
    (tmp_path / "log").rename(tmp_path / "log-plain")
    server = serve(tmp_path, f"{NAME}@champion")
    try:
        assert server.wait_ready()["deployment"]["arms"]["shadow"]["version"] == NEW
        shadowed = [invoke(server, r, request_id=f"sh-{k}") for k, r in enumerate(requests)]
        deadline = time.monotonic() + 20
        key = ("mlprod_serving_shadow_rows_total", (("result", "scored"),))
        while server.metrics().get(key, 0) < 150 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.metrics()[key] == 150
    finally:
        assert server.stop() == 0
    assert shadowed == plain  # the same answers, byte for byte once parsed
    assert {r["model_version"] for answer in shadowed for r in answer} == {OLD}

    frame = logged(tmp_path)
    shadow = frame[frame["arm"] == "shadow"].sort_values(["request_id", "row"])
    answered = frame[frame["arm"] == "champion"].sort_values(["request_id", "row"])
    assert len(shadow) == len(answered) == 150
    assert shadow[["request_id", "row", "unit_id"]].values.tolist() == \
        answered[["request_id", "row", "unit_id"]].values.tolist()
    assert set(shadow["model_version"]) == {NEW} and set(answered["model_version"]) == {OLD}
    assert set(frame["experiment"]) == {"exp-shadow"}


def test_a_hanging_shadow_model_never_slows_the_caller_and_dropped_rows_are_counted(tmp_path):
    import pandas as pd

    from mlprod.serving.metrics import ServingMetrics
    from mlprod.serving.predictionlog import PredictionLogSettings, PredictionLogWriter
    from mlprod.serving.server.traffic import ShadowScorer

    release = threading.Event()
    entered = threading.Event()

    class HangingPredictor:
        def predict(self, frame):
            entered.set()
            release.wait()
            raise RuntimeError("the shadow model gave up")

    class Holder:  # the shape of models.ModelHolder the scorer uses
        problem = None
        current = type("Loaded", (), {"predictor": HangingPredictor(), "name": "shadow", "version": "9",
                                      "sha256": "0" * 64, "registry_version": "9"})()

        def start(self):
            pass

        def close(self):
            pass

    metrics = ServingMetrics()
    writer = PredictionLogWriter(PredictionLogSettings.from_mapping({"dir": "log"}), key="lead_id", root=tmp_path)
    scorer = ShadowScorer(Holder(), writer, metrics, queue_size=10, experiment="exp")
    scorer.start()
    frame = pd.DataFrame(rows(4))
    try:
        assert scorer.submit("r0", frame)
        assert entered.wait(5)  # the worker holds r0 and hangs in the model
        slowest = 0.0
        accepted = []
        for k in range(1, 50):
            began = time.perf_counter()
            accepted.append(scorer.submit(f"r{k}", frame))
            slowest = max(slowest, time.perf_counter() - began)
        assert slowest < 0.05  # never waits for the shadow model
        assert accepted[:1] == [True] and accepted.count(True) == 1  # 4 hanging + 4 queued of 10; the rest dropped
        assert shadow_rows(metrics, "dropped") == 4 * 48
    finally:
        release.set()
        scorer.close()
        writer.close()
    assert shadow_rows(metrics, "failed") == 8  # r0 and r1 failed, counted, never answered
    assert shadow_rows(metrics, "scored") == 0


def shadow_rows(metrics, result: str) -> float:
    return metrics.registry.get_sample_value("mlprod_serving_shadow_rows_total", {"result": result}) or 0


def test_blue_green_serves_the_deployment_alias_when_model_is_not_named(registry, tmp_path):
    setup_models(registry, tmp_path, "blue")
    write_params(tmp_path, "deployment: {mode: blue_green, blue_green: {alias: blue}}\n")
    server = serve(tmp_path)
    try:
        assert server.wait_ready()["version"] == NEW
        registry.client.set_registered_model_alias(NAME, "blue", "1")  # what mlprod rollback does: hot reloaded
        deadline = time.monotonic() + 20
        while server.wait_ready()["version"] != OLD and time.monotonic() < deadline:
            time.sleep(0.2)
        assert invoke(server, rows(1))[0]["model_version"] == OLD
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("deployment, state, message", [
    ("deployment: {mode: ab, experiment: x, unit_id: lead_id}\n", None, "deployment.ab"),
    ("deployment: {mode: shadow, shadow: {model: no/such/folder}}\n", None, "no/such/folder"),
    ("deployment: {mode: canary, experiment: c, unit_id: lead_id}\n", "{not json", "state.json"),
    ("deployment: {mode: sideways}\n", None, "deployment.mode"),
])
def test_a_bad_deployment_section_stops_the_start_with_exit_2(registry, tmp_path, deployment, state, message):
    setup_models(registry, tmp_path, "challenger") if state else None
    write_params(tmp_path, deployment)
    if state:
        (tmp_path / "monitoring" / "canary").mkdir(parents=True)
        (tmp_path / "monitoring" / "canary" / "state.json").write_text(state)
    done = subprocess.run([sys.executable, "-m", "mlprod", "serve", f"{NAME}@champion", "--port", "0"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env()})
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
