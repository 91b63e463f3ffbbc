"""``mlprod serve`` finds the fallback by itself (NAME-fallback@alias, or params.yaml's fallback.evaluated_dir),
hot-reloads it when its alias moves, refuses a tampered one, and takes --fallback REF / --no-fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from serve_server import ROW, start
from serving_models import CATEGORICAL, FEATURES, NUMERIC, open_registry, train_models

pytest_plugins = ("test_registry_toys",)  # the empty_store fixture: an initialised MLflow database to copy
NAME = "leads-primary"
FALLBACK = f"{NAME}-fallback"


def train_fallback(root: Path, version: str, max_iter: int, *, name: str = FALLBACK) -> Path:
    """A logistic regression named ``name`` on ``root/train.csv``, in ``root/fallback-<version>``."""
    from mlprod.data import read_table
    from mlprod.training import ModelSettings, build_pipeline, fit_and_save

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_and_save(build_pipeline(ModelSettings(model="logistic_regression", max_iter=max_iter), CATEGORICAL,
                                    NUMERIC), read_table(root / "train.csv"), target="converted", features=FEATURES,
                     model_dir=root / f"fallback-{version}", name=name, training_data=root / "train.csv",
                     version=version)
    return root / f"fallback-{version}"


@pytest.fixture
def registry(tmp_path, monkeypatch, empty_store):
    return open_registry(tmp_path, monkeypatch, empty_store,
                         params="project: {key: lead_id}\nprediction_log: {dir: log}\n")


def register(registry, folder: Path, *, promote: bool = True) -> str:
    from mlprod.manifest.schema import read_manifest
    from mlprod.registry.register import register_model

    version = register_model(folder, registry=registry).version
    if promote:
        registry.client.set_registered_model_alias(read_manifest(folder).name, "champion", version)
    return version


def test_fallback_for_names_the_registered_fallback_alias_or_the_projects_evaluated_folder(registry, tmp_path):
    from mlprod.serving.fallbacks import fallback_for

    primary, _, _ = train_models(tmp_path)
    assert fallback_for(f"{NAME}@champion", root=tmp_path) is None  # nothing registered
    register(registry, primary)
    fallback = train_fallback(tmp_path, "0.1.0", 20)
    register(registry, fallback, promote=False)
    assert fallback_for(f"{NAME}@champion", root=tmp_path) is None  # registered, but no champion alias
    registry.client.set_registered_model_alias(FALLBACK, "champion", "1")
    assert fallback_for(f"{NAME}@champion", root=tmp_path) == f"{FALLBACK}@champion"
    assert fallback_for(f"{NAME}@staging", root=tmp_path) is None

    params = {"fallback": {"evaluated_dir": "fallback-0.1.0"}}
    assert fallback_for(str(primary), root=tmp_path, params=params) == str(tmp_path / "fallback-0.1.0")
    assert fallback_for(str(primary), root=tmp_path, params={}) is None
    assert fallback_for(str(primary), root=tmp_path, params={"fallback": {"evaluated_dir": "nowhere"}}) is None
    other = train_fallback(tmp_path, "0.2.0", 20, name="someone-else-fallback")  # another project's model
    assert fallback_for(str(primary), root=tmp_path, params={"fallback": {"evaluated_dir": other.name}}) is None
    (tmp_path / "params.yaml").write_text("fallback: {evaluated_dir: fallback-0.1.0}\n")
    assert fallback_for(str(primary), root=tmp_path) == str(tmp_path / "fallback-0.1.0")  # params.yaml read


def test_serve_alias_picks_the_fallback_alias_and_reloads_it_when_it_moves(registry, tmp_path):
    primary, _, _ = train_models(tmp_path)  # leads-primary 1.2.3
    register(registry, primary)
    register(registry, train_fallback(tmp_path, "0.1.0", 20))
    second = train_fallback(tmp_path, "0.2.0", 40)
    tampered = train_fallback(tmp_path, "0.3.0", 60)
    env = {"MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}

    server = start(tmp_path, f"{NAME}@champion", "--poll-seconds", "0.5", "--grace-seconds", "2", env=env)
    try:
        ready = server.wait_ready()
        assert ready["version"] == "1.2.3"
        assert ready["fallback"]["model"] == FALLBACK and ready["fallback"]["version"] == "0.1.0"
        assert ready["fallback"]["registry_version"] == "1"
        assert f"fallback model: {FALLBACK}@champion (found by itself" in server.output()
        assert f"serving {NAME} 1.2.3 (registry version 1) with fallback {FALLBACK} 0.1.0" in server.output()
        assert server.invoke({"dataframe_records": [ROW]})[0] == 200

        register(registry, second)  # NAME-fallback@champion moves; the primary stays
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.wait_ready()["fallback"]["version"] != "0.2.0":
            time.sleep(0.2)
        ready = server.wait_ready()
        assert ready["fallback"]["version"] == "0.2.0" and ready["version"] == "1.2.3", server.output()
        metrics = server.metrics()
        assert metrics[("mlprod_serving_model_reloads_total", (("result", "success"),))] == 1

        # a fallback version whose artifact was changed after registration: never swapped in, the old pair serves
        version = register(registry, tampered, promote=False)
        run = registry.client.get_run(registry.version(FALLBACK, version).run_id)
        stored = Path(run.info.artifact_uri.removeprefix("file://")) / "mlprod" / "model"
        artifact = next(stored.glob("*.skops"))
        artifact.write_bytes(artifact.read_bytes() + b"tampered")
        registry.client.set_registered_model_alias(FALLBACK, "champion", version)
        failed, deadline = 0, time.monotonic() + 30
        while time.monotonic() < deadline and failed < 1:
            failed = server.metrics().get(("mlprod_serving_model_reloads_total", (("result", "failure"),)), 0)
            time.sleep(0.2)
        assert failed >= 1, server.output()
        ready = server.wait_ready()
        assert (ready["version"], ready["fallback"]["version"]) == ("1.2.3", "0.2.0")
        status, answer = server.invoke({"dataframe_records": [ROW]})
        assert status == 200 and answer["predictions"][0]["model_version"] == "1.2.3"
    finally:
        server.stop()


def test_no_fallback_opts_out_and_fallback_ref_overrides(registry, tmp_path):
    primary, _, _ = train_models(tmp_path)
    register(registry, primary)
    register(registry, train_fallback(tmp_path, "0.1.0", 20))
    other = train_fallback(tmp_path, "0.5.0", 30)
    env = {"MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}

    server = start(tmp_path, f"{NAME}@champion", "--no-fallback", env=env)
    try:
        assert server.wait_ready()["fallback"] is None
        assert "fallback model: none (--no-fallback)" in server.output()
        assert f"serving {NAME} 1.2.3 (registry version 1) without a fallback model" in server.output()
    finally:
        server.stop()
    server = start(tmp_path, f"{NAME}@champion", "--fallback", str(other), env=env)
    try:
        fallback = server.wait_ready()["fallback"]
        assert (fallback["version"], fallback["registry_version"]) == ("0.5.0", None)
    finally:
        server.stop()
    # a model folder: params.yaml's fallback.evaluated_dir, found by itself
    (tmp_path / "params.yaml").write_text("project: {key: lead_id}\nprediction_log: {dir: log}\n"
                                          "fallback: {evaluated_dir: fallback-0.1.0}\n")
    server = start(tmp_path, str(primary), env=env)
    try:
        assert server.wait_ready()["fallback"]["version"] == "0.1.0"
    finally:
        server.stop()


@pytest.mark.parametrize("args, words", [
    (["--fallback", "nobody-fallback@champion"], "--fallback 'nobody-fallback@champion': registry"),
    (["--fallback", "no-such-folder"], "--fallback 'no-such-folder': no such model folder"),
    (["--fallback", "x@champion", "--no-fallback"], "not allowed with argument"),
])
def test_a_bad_fallback_ref_is_one_clear_message_and_exit_2(registry, tmp_path, args, words):
    primary, _, _ = train_models(tmp_path)
    done = subprocess.run([sys.executable, "-m", "mlprod", "serve", str(primary), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]})
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
