"""``mlprod serve``: graceful shutdown with a request in flight, and several worker processes sharing /metrics."""

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
    from concurrent.futures import ThreadPoolExecutor

    from mlprod.serving.predictionlog import read_log

    root, primary, _ = project
    earlier = set((root / "log").rglob("*.parquet"))
    server = start(root, str(primary), "--workers", "2")  # a worker accepts connections once its model is loaded
    rows = [ROW] * 50 + [{"lead_id": "x"}] * 50

    def send(_):
        return server.invoke({"dataframe_records": rows})[0]

    try:
        with ThreadPoolExecutor(8) as pool:  # concurrent connections: both workers get some
            assert set(pool.map(send, range(40))) == {200}
        samples = server.metrics()
        assert samples[("mlprod_serving_requests_total", (("status", "200"),))] == 40
        assert sum(v for k, v in samples.items() if k[0] == "mlprod_serving_rows_total") == 4000
        assert samples[("mlprod_serving_filled_inputs_total", (("feature", "income"),))] == 2000
        info = {k: v for k, v in samples.items() if k[0] == "mlprod_serving_model_info"}
        assert list(info.values()) == [1.0]
        code = server.stop()
    finally:
        server.stop()
    assert code == 0, server.output()
    assert server.output().count("Application shutdown complete") == 2
    # the prediction log has every row, and both workers served (segment names hold the process id)
    log = read_log(root / "log")
    segments = {p.name.rsplit("-", 3)[1] for p in set((root / "log").rglob("*.parquet")) - earlier}
    assert len(log) >= 4000 and len(segments) >= 2, segments
