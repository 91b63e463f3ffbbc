"""``mlprod serve``: graceful shutdown with a request in flight, several worker processes sharing /metrics, a killed
worker replaced."""

from __future__ import annotations

import json
import signal
import time

import pytest

from serve_server import ROW, start
from serving_models import train_models


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-life")
    primary, fallback, _ = train_models(root)
    (root / "params.yaml").write_text("project: {key: lead_id}\nprediction_log: {dir: log, flush_seconds: 3600}\n")
    return root, primary, fallback


def test_sigterm_lets_the_request_in_flight_finish_and_flushes_the_prediction_log(project):
    from mlprod.serving.predictionlog import read_log

    root, primary, fallback = project
    server = start(root, str(primary), "--fallback", str(fallback))
    try:
        for i in range(3):
            assert server.invoke({"dataframe_records": [{**ROW, "lead_id": f"done-{i}"}, {**ROW, "age": "x"}]})[0] == 200
        body = json.dumps({"dataframe_records": [{**ROW, "lead_id": "in-flight"}]}).encode()
        conn = server.connection()
        conn.putrequest("POST", "/invocations")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[:10])  # the request has started: the server must not drop it
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        conn.send(body[10:])
        response = conn.getresponse()
        answer = json.loads(response.read())
        assert response.status == 200 and answer["predictions"][0]["tier"] == "primary"
        code = server.stop()
    finally:
        server.stop()
    assert code == 0, server.output()
    log = read_log(root / "log")
    assert len(log) == 7
    assert set(log["unit_id"].dropna()) == {"done-0", "done-1", "done-2", "L1", "in-flight"}
    rejected = log[log["tier"] == "rejected"]
    assert len(rejected) == 3 and rejected["decision"].isna().all() and rejected["score"].isna().all()
    assert "prediction log flushed" in server.output()


def test_with_two_workers_the_metrics_add_up_every_workers_requests(project):
    import os

    root, primary, _ = project
    server = start(root, str(primary), "--workers", "2")  # a worker accepts connections once its model is loaded
    rows = [ROW] * 50 + [{"lead_id": "x"}] * 50
    stopped = None
    try:
        for _ in range(20):
            assert server.invoke({"dataframe_records": rows})[0] == 200
        first = server.wait_ready()["worker_pid"]
        # freeze that worker: the next connections can only be accepted by the other one, whose /metrics must
        # still show the frozen worker's requests (read from the shared multiprocess folder)
        os.kill(first, signal.SIGSTOP)
        stopped = first
        second = server.wait_ready()["worker_pid"]
        assert second != first
        for _ in range(10):
            assert server.invoke({"dataframe_records": rows})[0] == 200
        samples = server.metrics()
        assert samples[("mlprod_serving_requests_total", (("status", "200"),))] >= 30
        os.kill(first, signal.SIGCONT)
        stopped = None
        samples = server.metrics()
        assert samples[("mlprod_serving_requests_total", (("status", "200"),))] == 30
        assert sum(v for k, v in samples.items() if k[0] == "mlprod_serving_rows_total") == 3000
        assert samples[("mlprod_serving_filled_inputs_total", (("feature", "income"),))] == 1500
        info = {k: v for k, v in samples.items() if k[0] == "mlprod_serving_model_info"}
        assert list(info.values()) == [1.0]
        code = server.stop()
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        server.stop()
    assert code == 0, server.output()
    assert server.output().count("Application shutdown complete") == 2


HUNG_WORKER = r'''
import sys, threading, time
import pandas as pd
sys.path.insert(0, {tests!r})
from serving_models import Hangs
from mlprod.serving import InputPlan, ResilientPredictor, ServingSettings
from mlprod.serving.server import ServeConfig, ServingApp
from mlprod.serving.server.models import Loaded

plan = InputPlan.from_model([type("C", (), {{"name": "x", "dtype": "float64"}})()], None, fill={{"x": 0.0}})
predictor = ResilientPredictor(Hangs(threading.Event()), settings=ServingSettings.from_mapping(
    {{"time_budget_ms": 20, "max_workers": 1}}), plan=plan)
print(predictor.predict(pd.DataFrame({{"x": [1.0]}}))["fallback_reason"].iloc[0], flush=True)  # a thread now hangs
app = ServingApp(ServeConfig(reference="unused"))
app.holder = type("H", (), {{"close": lambda self: predictor.close(), "current": None}})()
app.stop()  # what the lifespan shutdown runs
print("stopped", flush=True)
'''


def test_a_thread_hung_in_a_model_does_not_keep_a_stopped_worker_alive(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "hung.py"
    script.write_text(HUNG_WORKER.format(tests=str(Path(__file__).parent)))
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["timeout", "stopped"], done.stderr
    assert done.returncode == 0 and time.monotonic() - started < 30
    assert "kept this worker alive" in done.stderr


def test_a_killed_worker_is_replaced_its_flushed_log_kept_and_no_request_fails(project, tmp_path):
    """SIGKILL one of two workers (no shutdown runs in it): the other answers every request meanwhile, a new worker
    takes its place, /metrics keeps the dead worker's counts without its model gauge, and the prediction log keeps
    every row the dead worker had flushed (a kill loses at most ``flush_seconds`` of rows)."""
    import os

    from mlprod.serving.predictionlog import read_log

    _, primary, _ = project
    (tmp_path / "params.yaml").write_text("project: {key: lead_id}\nprediction_log: {dir: log, flush_seconds: 0.2}\n")
    server = start(tmp_path, str(primary), "--workers", "2")
    try:
        answered = set()
        for i in range(20):
            assert server.invoke({"dataframe_records": [{**ROW, "lead_id": f"before-{i}"}]})[0] == 200
            answered.add(f"before-{i}")
        time.sleep(1.0)  # every worker's buffer is flushed (flush_seconds: 0.2)
        victim = server.wait_ready()["worker_pid"]
        os.kill(victim, signal.SIGKILL)
        pids = set()
        deadline = time.monotonic() + 60
        i = 0
        while time.monotonic() < deadline and len(pids - {victim}) < 2:
            status, body = server.invoke({"dataframe_records": [{**ROW, "lead_id": f"after-{i}"}]})
            assert status == 200 and body["predictions"][0]["tier"] == "primary"
            answered.add(f"after-{i}")
            pids.add(server.wait_ready()["worker_pid"])
            i += 1
        assert victim not in pids and len(pids) == 2, f"no replacement worker answered: {pids}\n{server.output()}"
        samples = server.metrics()
        assert samples[("mlprod_serving_requests_total", (("status", "200"),))] == 20 + i
        assert list(v for k, v in samples.items() if k[0] == "mlprod_serving_model_info") == [1.0]
        code = server.stop()
    finally:
        server.stop()
    assert code == 0, server.output()
    assert f"Child process [{victim}] died" in server.output()
    assert set(read_log(tmp_path / "log")["unit_id"]) == answered
