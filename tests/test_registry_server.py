"""One end-to-end check against a real ``mlflow server`` process (loopback, SQLite backend, proxied artifacts)."""

from __future__ import annotations

import os

import pytest
from test_registry_toys import MODEL

pytest_plugins = ("test_registry_toys",)  # the toys, empty_store and seeded_store fixtures

from mlprod.registry.champion import CHAMPION, EvaluationInputs, evaluate, promote, rollback
from mlprod.registry.gates import GatePolicy, MetricGate
from mlprod.registry.history import model_history
from mlprod.registry.register import register_model
from mlprod.registry.store import LEASE_SUFFIX, Registry
from mlflow_server import mlflow_server



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real MLflow tracking server on a free loopback port, stopped after the module's tests."""
    root = tmp_path_factory.mktemp("mlflow-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with mlflow_server(root, "--artifacts-destination", str(root / "artifacts"), env=env) as url:
        yield url


def test_register_promote_reject_rollback_and_history_on_a_real_server(server, toys, monkeypatch, capfd):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(toys.root)  # input examples come from the manifests' data paths
    registry = Registry.open()
    assert registry.location.lock_file is None  # a server: promotions hold a registry lease
    inputs = EvaluationInputs(policy=GatePolicy(metrics=(MetricGate("roc_auc", True, min_change=0.0),)),
                              holdout_path=str(toys.holdout), target="converted")
    versions = {kind: register_model(toys.model_dir(kind), registry=registry) for kind in ("weak", "medium", "good")}
    assert [v.version for v in versions.values()] == ["1", "2", "3"]
    assert register_model(toys.model_dir("good"), registry=registry).created is False
    assert "View run" not in capfd.readouterr().out  # MLflow's own run links stay off mlprod's output
    assert "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT" not in os.environ  # and the setting is put back

    outcomes = [promote(evaluate(MODEL, v, inputs, registry=registry), registry=registry).outcome
                for v in ("1", "3", "2")]
    assert outcomes == ["promoted", "promoted", "rejected"]  # medium is worse than good
    assert registry.client.get_model_version_by_alias(MODEL, CHAMPION).version == "3"

    assert rollback(MODEL, reason="server test", registry=registry).to_version == "1"
    data = model_history(registry, MODEL)
    assert data["aliases"] == {"champion": "1"}
    assert [(m["action"], m.get("from_version"), m["to_version"], m["state"]) for m in data["moves"]] == [
        ("promote", None, "1", "done"), ("promote", "1", "3", "done"), ("rollback", "3", "1", "done")]
    assert [v["gates"] for v in data["versions"]] == ["passed", "failed", "passed"]
    names = [m.name for m in registry.client.search_registered_models()]
    assert names == [MODEL] and not any(n.endswith(LEASE_SUFFIX) for n in names)  # leases released
