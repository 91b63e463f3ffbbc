"""A registry that cannot be polluted by mistake: incompatible models under one name, gates that never crash
on a champion that cannot score the holdout, and removal of versions nothing points to (real SQLite registry)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from test_registry_toys import MODEL

pytest_plugins = ("test_registry_toys",)

import mlprod
from mlprod.errors import RegistryError
from mlprod.registry.champion import CHAMPION, EvaluationInputs, evaluate, promote, rollback
from mlprod.registry.compatibility import incompatibilities
from mlprod.registry.gates import GatePolicy, MetricGate
from mlprod.registry.history import model_history, render_history
from mlprod.registry.register import register_model
from mlprod.registry.remove import remove_version
from mlprod.registry.store import Registry

POLICY = GatePolicy(metrics=(MetricGate("roc_auc", True, threshold=0.5, min_change=0.0),))


@pytest.fixture
def registry(monkeypatch, tmp_path, empty_store) -> Registry:
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLPROD_STAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLPROD_USER", "tester")
    monkeypatch.chdir(tmp_path)  # the CLI's default store is the working directory's mlflow.db
    shutil.copy(empty_store / "mlflow.db", tmp_path / "mlflow.db")
    return Registry.open(tmp_path)


def other_model(root, version="1.0.0"):
    """A model of another dataset (one column 'visits') under the toys' name, with its own holdout."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"visits": rng.poisson(3, 400).astype("int64")})
    frame["converted"] = (frame["visits"] + rng.normal(size=400) > 3).astype("int64")
    frame.to_parquet(root / "visits.parquet", index=False)
    model = LogisticRegression().fit(frame[["visits"]], frame["converted"])
    mlprod.save_model(model, root / "models" / "visits", name=MODEL, X=frame[["visits"]], version=version)
    return root / "models" / "visits", root / "visits.parquet"


def test_dtype_kinds_decide_compatibility():
    assert incompatibilities([("a", "int64"), ("b", "object")], [("a", "float64"), ("b", "category"), ("c", "x")]) == []
    assert incompatibilities([("a", "int64"), ("b", "object")], [("a", "object")]) == [
        "column(s) 'b' missing", "column 'a' is object (text), the champion expects int64 (numeric)"]


def test_a_model_its_champion_cannot_score_is_refused_under_the_same_name(registry, toys, tmp_path, capsys):
    from mlprod.cli import main

    visits_dir, visits = other_model(tmp_path)
    register_model(visits_dir, registry=registry)
    promote(evaluate(MODEL, 1, EvaluationInputs(POLICY, str(visits), "converted"), registry=registry),
            registry=registry)
    with pytest.raises(RegistryError, match=r"champion version 1 \(1.0.0\), which could not score this model's data: "
                                             r"column\(s\) 'visits' missing.*own name.*'toy-2'.*--allow-incompatible"):
        register_model(toys.model_dir("good"), registry=registry)
    assert [str(v.version) for v in registry.versions(MODEL)] == ["1"]  # nothing was logged or registered
    assert main(["register", str(toys.model_dir("good"))]) == 2
    assert "Traceback" not in capsys.readouterr().err

    added = register_model(toys.model_dir("good"), registry=registry, allow_incompatible=True)
    decision = evaluate(MODEL, added.version, EvaluationInputs(POLICY, str(toys.holdout), "converted"),
                        registry=registry)  # the champion cannot score this holdout: a finding, not a crash
    assert decision.blocking == ("champion",)
    gate = decision.gates[0]
    assert gate.kind == "comparison" and gate.passed is False
    assert "cannot be compared" in gate.message and "visits" in gate.message
    assert decision.gates[1].rules[1].note == "the champion cannot score these rows"
    assert promote(decision, registry=registry).outcome == "rejected"
    assert str(registry.alias(MODEL, CHAMPION).version) == "1"
    forced = promote(decision, registry=registry, force=True, reason="replaces the visits model")
    assert forced.outcome == "forced" and str(registry.alias(MODEL, CHAMPION).version) == added.version


def test_remove_deletes_only_versions_nothing_points_to_and_records_it(registry, toys, capsys):
    from mlprod.cli import main

    for kind in ("weak", "medium", "good"):
        register_model(toys.model_dir(kind), registry=registry)
    inputs = EvaluationInputs(POLICY, str(toys.holdout), "converted")
    promote(evaluate(MODEL, 1, inputs, registry=registry), registry=registry)
    promote(evaluate(MODEL, 3, inputs, registry=registry), registry=registry)  # champion line 1 -> 3
    with pytest.raises(RegistryError, match="carries the alias.*champion"):
        remove_version(MODEL, 3, registry=registry)
    with pytest.raises(RegistryError, match="is a rollback target"):
        remove_version(MODEL, 1, registry=registry)
    run_id = registry.version(MODEL, 2).run_id
    removal = remove_version(MODEL, 2, reason="trained on the wrong extract", registry=registry)
    assert removal.semver == "1.1.0" and removal.run_deleted
    assert [str(v.version) for v in registry.versions(MODEL)] == ["1", "3"]
    assert registry.client.get_run(run_id).info.lifecycle_stage == "deleted"
    data = model_history(registry, MODEL)
    assert data["moves"][-1]["action"] == "remove" and data["moves"][-1]["reason"] == "trained on the wrong extract"
    assert "version 2 deleted" in render_history(data)
    assert rollback(MODEL, registry=registry).to_version == "1"  # the champion line is unaffected

    assert main(["registry", "remove", MODEL, "1"]) == 2  # now the champion again
    assert "carries the alias" in capsys.readouterr().err
    assert main(["registry", "remove", MODEL, "3", "--reason", "rolled back"]) == 0  # popped off the champion line
    assert "removed toy version 3 (1.2.0)" in capsys.readouterr().out


def test_registering_leaves_the_process_pointed_where_it_was(registry, toys, tmp_path, monkeypatch):
    import os

    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = mlflow.get_tracking_uri()
    register_model(toys.model_dir("weak"), registry=registry)
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI: left set, every later Registry.open would use it
    assert "MLFLOW_TRACKING_URI" not in os.environ and mlflow.get_tracking_uri() == before
    other = tmp_path / "other"
    other.mkdir()
    assert Registry.open(other).location.tracking_uri == f"sqlite:///{other.resolve() / 'mlflow.db'}"
