"""``mlprod serve MODEL_DIR``: the real server on a loopback port, MLflow's scoring protocol, errors, probes, metrics."""

from __future__ import annotations

import json
import time

import pytest

from serve_server import ROW, start
from serving_models import train_models

PROBLEMS = {"tier", "fallback_reason", "filled_features", "needs_review", "model_version", "score", "decision"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-http")
    primary, fallback, _ = train_models(root)
    (root / "params.yaml").write_text("project: {key: lead_id}\nprediction_log: {dir: log, flush_seconds: 3600}\n")
    return root, primary, fallback


@pytest.fixture(scope="module")
def server(project):
    root, primary, fallback = project
    server = start(root, str(primary), "--fallback", str(fallback), "--max-request-bytes", "20KB")
    yield server
    server.stop()


def test_every_mlflow_request_format_and_csv_give_the_same_answer(server):
    second = {**ROW, "lead_id": "L2", "age": 61, "channel": "referral"}
    columns = list(ROW)
    bodies = {
        "dataframe_split": {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns]
                                                                             for r in (ROW, second)]}},
        "dataframe_records": {"dataframe_records": [ROW, second]},
        "instances": {"instances": [ROW, second]},
        "inputs": {"inputs": {c: [ROW[c], second[c]] for c in columns}},
    }
    answers = {}
    for name, body in bodies.items():
        status, answer = server.invoke(body)
        assert status == 200, (name, answer)
        answers[name] = answer["predictions"]
    csv = ",".join(columns) + "\n" + "\n".join(",".join(str(r[c]) for c in columns) for r in (ROW, second)) + "\n"
    status, answer = server.invoke(csv, "text/csv; charset=utf-8")
    assert status == 200, answer
    answers["csv"] = answer["predictions"]
    first = answers["dataframe_split"]
    assert len(first) == 2 and set(first[0]) == PROBLEMS
    assert first[0]["tier"] == "primary" and first[0]["model_version"] == "1.2.3" and 0 <= first[0]["score"] <= 1
    assert first[0]["score"] != first[1]["score"]
    for name, rows in answers.items():
        assert [r["score"] for r in rows] == pytest.approx([r["score"] for r in first]), name


@pytest.mark.parametrize("body, content_type, status, code", [
    ("{not json", "application/json", 400, "MALFORMED_REQUEST"),
    ('{"rows": []}', "application/json", 400, "BAD_REQUEST"),
    ('{"dataframe_records": [], "instances": []}', "application/json", 400, "BAD_REQUEST"),
    ('{"dataframe_split": {"columns": ["age"], "data": [[1, 2]]}}', "application/json", 400, "MALFORMED_REQUEST"),
    ('{"dataframe_records": {"age": 3}}', "application/json", 400, "MALFORMED_REQUEST"),
    ('{"dataframe_split": {"columns": ["age", "age"], "data": [[1, 2]]}}', "application/json", 400, "BAD_REQUEST"),
    ('{"inputs": {"age": [1, 2], "income": [3]}}', "application/json", 400, "MALFORMED_REQUEST"),
    ("age,income\n1,2\n3,4,5,6\n", "text/csv", 400, "MALFORMED_REQUEST"),
    ("[1, 2]", "application/json", 400, "MALFORMED_REQUEST"),
    ("", "application/json", 400, "BAD_REQUEST"),
    ('{"dataframe_records": []}', "application/json", 400, "BAD_REQUEST"),
    ('{"dataframe_records": [{"age": 3}]}', "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ('{"dataframe_records": [{"age": 3}]}', None, 415, "UNSUPPORTED_MEDIA_TYPE"),
])
def test_a_malformed_request_is_a_clear_json_error(server, body, content_type, status, code):
    got, data, _ = server.request("POST", "/invocations", body, content_type)
    answer = json.loads(data)
    assert (got, answer["error_code"]) == (status, code), answer
    assert answer["message"]


def test_a_body_over_the_limit_is_refused_with_413_before_parsing(server):
    rows = json.dumps({"dataframe_records": [ROW] * 200})  # about 36 KB > 20 KB, and valid JSON
    status, data, _ = server.request("POST", "/invocations", rows)
    assert status == 413 and json.loads(data)["error_code"] == "REQUEST_TOO_LARGE"
    # chunked (no Content-Length): counted while reading
    conn = server.connection()
    conn.putrequest("POST", "/invocations")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for start in range(0, len(rows), 4000):
            chunk = rows[start:start + 4000].encode()
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may answer and close before the rest is sent
    response = conn.getresponse()
    assert response.status == 413 and json.loads(response.read())["error_code"] == "REQUEST_TOO_LARGE"
    conn.close()
    assert server.invoke({"dataframe_records": [ROW]})[0] == 200  # the server is fine


def test_rejected_rows_and_missing_columns_are_answered_per_row_with_200(server):
    status, answer = server.invoke({"dataframe_records": [ROW, {**ROW, "age": "old"}, {"lead_id": "L3", "age": 40}]})
    assert status == 200, answer
    good, rejected, sparse = answer["predictions"]
    assert good["tier"] == "primary" and good["filled_features"] == []
    assert rejected["tier"] == "rejected" and rejected["fallback_reason"] == "wrong_type:age"
    assert rejected["score"] is None and rejected["decision"] is None
    assert sparse["tier"] == "primary" and "income" in sparse["filled_features"] and 0 <= sparse["score"] <= 1


def test_health_ready_and_unknown_routes(server):
    assert server.request("GET", "/health", content_type=None)[0] == 200
    status, data, _ = server.request("GET", "/ready", content_type=None)
    assert status == 200 and json.loads(data)["version"] == "1.2.3"
    status, data, _ = server.request("GET", "/nope", content_type=None)
    assert status == 404 and json.loads(data)["error_code"] == "NOT_FOUND"
    assert server.request("GET", "/invocations", content_type=None)[0] == 405


def test_metrics_parse_and_count_rows_tiers_filled_inputs_and_errors(server):
    before = server.metrics()
    server.invoke({"dataframe_records": [ROW, {**ROW, "age": "old"}, {"lead_id": "L3", "age": 40}]})
    server.request("POST", "/invocations", "{oops")
    after = server.metrics()

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("mlprod_serving_rows_total", tier="primary", fallback_reason="none") == 2
    assert delta("mlprod_serving_rows_total", tier="rejected", fallback_reason="invalid_input") == 1
    assert delta("mlprod_serving_filled_inputs_total", feature="income") == 1
    assert delta("mlprod_serving_errors_total", kind="invalid_row") == 1
    assert delta("mlprod_serving_errors_total", kind="malformed_request") == 1
    assert delta("mlprod_serving_requests_total", status="200") == 1
    assert delta("mlprod_serving_requests_total", status="400") == 1
    assert delta("mlprod_serving_request_latency_seconds_count") == 2
    info = [k for k, v in after.items() if k[0] == "mlprod_serving_model_info" and v == 1]
    assert len(info) == 1 and ("version", "1.2.3") in info[0][1]


def test_a_model_that_fails_verification_is_never_ready(project, tmp_path):
    import shutil

    root, primary, _ = project
    tampered = tmp_path / "tampered"
    shutil.copytree(primary, tampered)
    artifact = next(p for p in tampered.iterdir() if p.suffix == ".skops")
    artifact.write_bytes(artifact.read_bytes() + b"x")
    server = start(root, str(tampered), ready=False)
    try:
        first = server.wait_ready(status=503)  # 503 while loading, then 503 with why
        assert first["error_code"] == "NOT_READY"
        for _ in range(200):
            status, data, _ = server.request("GET", "/ready", content_type=None)
            if "loading" not in json.loads(data)["message"]:
                break
            time.sleep(0.1)
        assert status == 503 and "sha256" in json.loads(data)["message"], data
        assert server.request("GET", "/health", content_type=None)[0] == 200
        assert server.invoke({"dataframe_records": [ROW]})[0] == 503
    finally:
        server.stop()


def test_user_mistakes_end_with_one_message_and_exit_code_2(project, tmp_path):
    import subprocess
    import sys

    root, primary, _ = project
    for args, words in [(["no-such-folder"], "no such model folder"),
                        ([str(primary), "--workers", "0"], "--workers"),
                        ([str(primary), "--max-request-bytes", "lots"], "--max-request-bytes"),
                        ([str(tmp_path)], "manifest")]:
        done = subprocess.run([sys.executable, "-m", "mlprod", "serve", *args], cwd=root, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert words in done.stderr and "Traceback" not in done.stderr


def test_more_requests_at_once_than_model_threads_wait_their_turn_and_never_fall_back(server):
    """16 clients at once against 4 threads per model tier (the default), small requests (answered on the event
    loop) and large ones (on a worker thread) mixed: every row is the primary's."""
    import threading

    small = {"dataframe_records": [ROW]}
    large = {"dataframe_records": [dict(ROW, lead_id=f"L{i}") for i in range(115)]}
    assert len(json.dumps(small)) < 16 * 1024 < len(json.dumps(large)) < 20_000
    tiers, failures = [], []

    def client(payload):
        for _ in range(5):
            status, body = server.invoke(payload)
            if status != 200:
                failures.append(status)
            tiers.extend(row["tier"] for row in body.get("predictions", []))

    threads = [threading.Thread(target=client, args=(large if i % 4 == 0 else small,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(tiers) == 4 * 5 * 115 + 12 * 5 and set(tiers) == {"primary"}
