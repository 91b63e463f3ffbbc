"""``mlprod serve NAME@alias``: hot reload when the alias moves, under load, and a tampered version refused."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from serve_server import ROW, start
import serving_models
from serving_models import train_models

pytest_plugins = ("test_registry_toys",)  # the empty_store fixture: an initialised MLflow database to copy
NAME = "leads-primary"


def train_version(root: Path, version: str, max_iter: int) -> Path:
    return serving_models.train_version(root, version, max_iter, name=NAME)


@pytest.fixture
def registry(tmp_path, monkeypatch, empty_store):
    return serving_models.open_registry(tmp_path, monkeypatch, empty_store)


def register(registry, folder: Path, *, promote: bool = True) -> str:
    from mlprod.registry.register import register_model

    version = register_model(folder, registry=registry).version
    if promote:
        registry.client.set_registered_model_alias(NAME, "champion", version)
    return version


def test_alias_moves_under_load_without_a_failed_request_and_a_tampered_version_is_refused(registry, tmp_path):
    import os

    primary, _, _ = train_models(tmp_path)  # leads-primary 1.2.3
    second = train_version(tmp_path, "1.3.0", 20)
    tampered = train_version(tmp_path, "1.4.0", 30)
    (tmp_path / "params.yaml").write_text("project: {key: lead_id}\nprediction_log: {dir: log}\n")
    register(registry, primary, promote=False)

    env = {"MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}
    server = start(tmp_path, f"{NAME}@champion", "--poll-seconds", "0.5", "--grace-seconds", "2", env=env,
                   ready=False)
    try:
        # no champion yet: alive, not ready, and it says why
        refused = server.wait_ready(status=503)
        assert "champion" in refused["message"], refused
        assert server.request("GET", "/health", content_type=None)[0] == 200
        registry.client.set_registered_model_alias(NAME, "champion", "1")
        assert server.wait_ready()["version"] == "1.2.3"

        # a bounded load: 4 keep-alive clients for ~10 s; the alias moves to 1.3.0 meanwhile
        failures, seen, stop = [], [], threading.Event()

        def client():
            import http.client
            import json

            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            body = json.dumps({"dataframe_records": [ROW]})
            while not stop.is_set():
                try:
                    conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    data = response.read()
                    if response.status != 200:
                        failures.append((response.status, data))
                        continue
                    seen.append((time.monotonic(), json.loads(data)["predictions"][0]["model_version"]))
                except Exception as exc:  # noqa: BLE001 - every failure is counted
                    failures.append(repr(exc))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(4)]
        began = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(2)
        moved_at = time.monotonic()
        register(registry, second)  # registers and promotes: the alias moves during the load
        time.sleep(max(0.0, 10 - (time.monotonic() - began)))
        stop.set()
        for t in threads:
            t.join(30)
        assert failures == []
        versions = [v for _, v in seen]
        assert versions[0] == "1.2.3" and versions[-1] == "1.3.0" and len(versions) > 100
        switched = next(i for i, v in enumerate(versions) if v == "1.3.0")
        assert seen[switched][0] > moved_at
        assert set(versions[switched + 20:]) == {"1.3.0"}  # once swapped, it stays (in-flight ones may lag)
        metrics = server.metrics()
        assert metrics[("mlprod_serving_model_reloads_total", (("result", "success"),))] == 1
        assert metrics[("mlprod_serving_model_info", (("name", NAME), ("sha256", _sha(second)),
                                                      ("version", "1.3.0")))] == 1

        # a new version whose artifact was changed in the artifact store after registration: never swapped in
        version = register(registry, tampered, promote=False)
        run = registry.client.get_run(registry.version(NAME, version).run_id)
        stored = Path(run.info.artifact_uri.removeprefix("file://")) / "mlprod" / "model"
        artifact = next(stored.glob("*.skops"))
        artifact.write_bytes(artifact.read_bytes() + b"tampered")
        registry.client.set_registered_model_alias(NAME, "champion", version)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            failed = server.metrics().get(("mlprod_serving_model_reloads_total", (("result", "failure"),)), 0)
            if failed >= 1:
                break
            time.sleep(0.2)
        assert failed >= 1, server.output()
        status, answer = server.invoke({"dataframe_records": [ROW]})
        assert status == 200 and answer["predictions"][0]["model_version"] == "1.3.0"
        assert server.wait_ready()["version"] == "1.3.0"
        assert "sha256" in server.output()
    finally:
        server.stop()


def _sha(folder: Path) -> str:
    from mlprod.manifest.schema import read_manifest

    return read_manifest(folder).artifact.sha256
