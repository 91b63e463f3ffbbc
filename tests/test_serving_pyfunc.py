"""``NAME-serving``: the resilient pyfunc (models-from-code, no pickle), its registration, an alias that follows the
primary's promotions and rollbacks, and plain ``mlflow models serve`` on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from serve_server import free_port
import serving_models
from serving_models import FEATURES, train_models

pytest_plugins = ("test_registry_toys",)  # the empty_store fixture: an initialised MLflow database to copy
NAME = "leads-primary"
SERVING = f"{NAME}-serving"


@pytest.fixture
def registry(tmp_path, monkeypatch, empty_store):
    return serving_models.open_registry(tmp_path, monkeypatch, empty_store,
                                        params="serving:\n  review_band: [0.4, 0.6]\n")


def train_version(root: Path, version: str, max_iter: int) -> Path:
    return serving_models.train_version(root, version, max_iter, name=NAME)


def force_promote(registry, version: str):
    from mlprod.registry.champion import EvaluationInputs, promote, unevaluated
    from mlprod.registry.gates import GatePolicy

    inputs = EvaluationInputs(policy=GatePolicy(metrics=()), holdout_path="train.csv", target="converted")
    return promote(unevaluated(NAME, version, inputs, "not evaluated in this test", registry=registry), force=True,
                   reason="test", registry=registry)


@pytest.fixture
def served(registry, tmp_path):
    """leads-primary 1.2.3 registered and champion, leads-primary-fallback 0.1.0 champion, NAME-serving registered."""
    from mlprod.registry.register import register_model
    from mlprod.serving.registration import register_serving

    primary, fallback, train = train_models(tmp_path)
    first = register_model(primary, registry=registry)
    fallback_manifest = (fallback / "model_manifest.yaml")
    fallback_manifest.write_text(fallback_manifest.read_text().replace("leads-fallback", f"{NAME}-fallback"))
    fb = register_model(fallback, registry=registry)
    registry.client.set_registered_model_alias(fb.name, "champion", fb.version)
    force_promote(registry, first.version)  # no NAME-serving yet: nothing follows
    assert registry.registered_model(SERVING) is None
    version = register_serving(NAME, registry)
    return {"registry": registry, "first": first, "train": train, "serving": version}


def test_pyfunc_fills_a_missing_column_and_answers_per_row_with_no_pickle(served, tmp_path):
    import mlflow.pyfunc

    version = served["serving"]
    assert version.created and version.primary == served["first"].version
    assert version.fallback_sha256  # NAME-fallback@champion is in it
    frame = served["train"][FEATURES].head(4).drop(columns=["income"])
    model = mlflow.pyfunc.load_model(f"models:/{SERVING}@champion")
    out = model.predict(frame)
    assert list(out.columns) == ["score", "decision", "tier", "fallback_reason", "filled_features", "needs_review",
                                 "model_version"]
    assert len(out) == 4
    assert out["filled_features"].tolist() == [["income"]] * 4
    assert set(out["tier"]) == {"primary"} and out["model_version"].tolist() == ["1.2.3"] * 4
    assert out["score"].between(0, 1).all()
    assert set(out["decision"]) <= {0, 1}
    assert out["needs_review"].tolist() == [0.4 <= s <= 0.6 for s in out["score"]]  # params.yaml's review_band
    # a value of the wrong type: MLflow's own input check refuses the request before the model runs
    wrong = served["train"][FEATURES].head(2).astype({"age": object})
    wrong.loc[wrong.index[0], "age"] = "old"
    with pytest.raises(Exception, match="age"):
        model.predict(wrong)

    # models-from-code: the code file and the verified model folders; nothing pickled anywhere in the logged model
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{SERVING}@champion", dst_path=str(tmp_path / "dl")))
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert "python_model.pkl" not in files and not [f for f in files if f.endswith((".pkl", ".pickle"))], files
    assert "pyfunc.py" in files
    # MLflow keeps each folder artifact under artifacts/<n>/<folder name>/: the primary's and the fallback's
    models = sorted(f.rsplit("/", 1)[1] for f in files if f.startswith("artifacts/") and "/model/" in f)
    assert models == sorted(["model_manifest.yaml", "model.skops", "reference_profile.json"] * 2), files
    assert "artifacts/serving.json" in files, files
    mlmodel = (local / "MLmodel").read_text()
    assert "model_code_path" in mlmodel and "python_model.pkl" not in mlmodel
    assert json.loads((local / "artifacts/serving.json").read_text()) == {"review_band": [0.4, 0.6]}
    assert all(not c.required for c in model.metadata.get_input_schema().inputs)


def test_the_serving_alias_follows_promotion_and_rollback_reusing_the_serving_version(served, tmp_path):
    import mlflow.pyfunc

    from mlprod.registry.champion import rollback
    from mlprod.registry.register import register_model

    registry, first = served["registry"], served["first"]
    assert served["serving"].version == "1"
    second = register_model(train_version(tmp_path, "1.3.0", 20), registry=registry)
    decision = force_promote(registry, second.version)
    assert decision.outcome == "forced" and not [n for n in decision.notes if "serving" in n]
    champion = registry.alias(SERVING, "champion")
    assert champion.tags["mlprod.primary_sha256"] == second.artifact_sha256
    assert str(champion.version) == "2"
    out = mlflow.pyfunc.load_model(f"models:/{SERVING}@champion").predict(served["train"][FEATURES].head(2))
    assert out["model_version"].tolist() == ["1.3.0", "1.3.0"]

    rollback(NAME, reason="test", registry=registry)
    assert str(registry.alias(NAME, "champion").version) == first.version
    champion = registry.alias(SERVING, "champion")
    assert str(champion.version) == "1"  # the first serving version, reused
    assert champion.tags["mlprod.primary_sha256"] == first.artifact_sha256
    assert [str(v.version) for v in registry.versions(SERVING)] == ["1", "2"]
    # the primary's own versions and semver sequence are untouched
    assert [v.tags["mlprod.semver"] for v in registry.versions(NAME)] == ["1.2.3", "1.3.0"]


def test_a_failing_serving_rebuild_never_undoes_the_promotion_and_is_noted(served, tmp_path):
    from mlprod.registry.register import register_model

    registry = served["registry"]
    second = register_model(train_version(tmp_path, "1.3.0", 20), registry=registry)
    (tmp_path / "params.yaml").write_text("serving:\n  review_bnad: [0.4, 0.6]\n")  # a typo: the rebuild fails
    decision = force_promote(registry, second.version)
    assert str(registry.alias(NAME, "champion").version) == second.version  # the promotion stands
    assert str(registry.alias(SERVING, "champion").version) == "1"  # the serving model still serves the first
    notes = [n for n in decision.notes if SERVING in n]
    assert notes and "review_bnad" in notes[0] and "register_serving" in notes[0], decision.notes
    from mlprod.registry.decision import render

    assert f"note: {notes[0]}" in render(decision)  # what `mlprod promote` prints


def test_registry_serving_cli_reuses_the_same_build_and_refuses_a_serving_name(served, capsys):
    from mlprod.cli import main

    assert main(["registry", "serving", NAME]) == 0
    out = capsys.readouterr().out
    assert f"{SERVING}@champion -> version 1 (reused; serves {NAME} version 1, with {NAME}-fallback@champion)" in out
    assert main(["registry", "serving", SERVING]) == 2
    err = capsys.readouterr().err
    assert "is a serving model already" in err and "Traceback" not in err
    assert main(["registry", "serving", "no-such-model"]) == 2
    assert "no model named 'no-such-model'" in capsys.readouterr().err


@pytest.mark.e2e
def test_plain_mlflow_models_serve_answers_per_row(served, tmp_path):
    port = free_port()
    log = open(tmp_path / "mlflow-serve.log", "wb")
    bin_dir = Path(sys.executable).parent  # mlflow runs `uvicorn` from PATH: the one beside this interpreter
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(
        [str(bin_dir / "mlflow"), "models", "serve", "-m", f"models:/{SERVING}@champion",
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_ping(port, process, tmp_path / "mlflow-serve.log")
        rows = served["train"][FEATURES].head(3).drop(columns=["age"])
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        predictions = answer["predictions"]
        assert len(predictions) == 3
        for row in predictions:
            assert row["tier"] == "primary" and row["filled_features"] == ["age"], row
            assert 0 <= row["score"] <= 1 and row["decision"] in (0, 1) and row["model_version"] == "1.2.3"
            assert {"fallback_reason", "needs_review"} <= set(row)
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (mlflow's CLI and its uvicorn child), SIGKILL after 20 s."""
    for sig, wait in ((15, 20), (9, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_ping(port: int, process: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mlflow models serve exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow models serve not ready in {timeout}s:\n{log.read_text()[-3000:]}")


def test_the_pyfunc_under_risk_control_serves_the_calibration_registered_with_the_primary(registry, tmp_path):
    """review_calibration.json travels inside the registered primary into NAME-serving (tagged with its sha256);
    a primary without one cannot be served under risk_control; a changed file in the logged model is refused."""
    import mlflow.pyfunc

    from mlprod.data import make_leads
    from mlprod.errors import MlprodError
    from mlprod.registry.register import register_model
    from mlprod.serving.registration import CALIBRATION_SHA_TAG, register_serving
    from mlprod.serving.review import calibrate_review

    (tmp_path / "params.yaml").write_text("serving:\n  review:\n    method: risk_control\n    alpha: 0.2\n")
    primary, _, train = train_models(tmp_path)
    record = calibrate_review(primary, make_leads(n_rows=3000, seed=11), target="converted", alpha=0.2, delta=0.1)
    first = register_model(primary, registry=registry)
    force_promote(registry, first.version)
    version = register_serving(NAME, registry)
    tags = registry.version(SERVING, version.version).tags
    assert tags[CALIBRATION_SHA_TAG]
    model = mlflow.pyfunc.load_model(f"models:/{SERVING}@champion")
    out = model.predict(train[FEATURES].head(200))
    low, high = record["band"]
    assert out["needs_review"].tolist() == [low <= s <= high for s in out["score"]]

    # without the calibration the serving model cannot be built: a clear error, never the plain band
    bare = train_version(tmp_path, "1.3.0", 20)
    second = register_model(bare, registry=registry)
    with pytest.raises(MlprodError, match=r"review_calibration\.json is missing.*re-run the evaluate stage"):
        register_serving(NAME, registry, version=second.version)

    # the run's calibration changed after registration: refused when the pyfunc loads
    run_dir = Path(mlflow.artifacts.download_artifacts(f"runs:/{first.run_id}/mlprod/model",
                                                       dst_path=str(tmp_path / "r")))
    assert (run_dir / "review_calibration.json").read_bytes() == (primary / "review_calibration.json").read_bytes()
    logged = Path(mlflow.artifacts.download_artifacts(f"models:/{SERVING}@champion", dst_path=str(tmp_path / "s")))
    calibration = next(logged.rglob("review_calibration.json"))
    data = json.loads(calibration.read_text())
    data["band"] = [0.0, 0.0]
    calibration.write_text(json.dumps(data, sort_keys=True))
    with pytest.raises(Exception, match=r"review_calibration\.json: sha256 .* does not match the manifest"):
        mlflow.pyfunc.load_model(str(logged))
