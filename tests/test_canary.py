"""mlprod canary start | step | status on a real SQLite registry and a real prediction log: advance, hold,
rollback and promote, the moves in the registry history, and one clear message for bad state or settings."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_registry_toys import MODEL, copy_store

pytest_plugins = ("test_registry_toys",)
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)


def params(toys, mode: str = "canary") -> str:
    return f"""project:
  model_name: {MODEL}
  key: lead_id
  target: converted
deployment:
  mode: {mode}
  experiment: toy-canary
  unit_id: lead_id
  canary: {{model: {MODEL}, ramp: [10, 50, 100], step_hours: 1}}
register:
  holdout_path: {toys.holdout}
  target: converted
"""


@pytest.fixture
def project(tmp_path, seeded_store, toys, monkeypatch):
    """A project whose registry has toy@champion = 2 (medium) and toy@canary = 3 (good), by a logged promotion."""
    from mlprod.registry.champion import EvaluationInputs, evaluate, promote
    from mlprod.registry.gates import GatePolicy
    from mlprod.registry.store import Registry

    for var in ("MLFLOW_REGISTRY_URI", "MLPROD_STAGE"):
        monkeypatch.delenv(var, raising=False)
    copy_store(seeded_store, tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    monkeypatch.setenv("MLPROD_USER", "tester")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(params(toys))
    registry = Registry.open(tmp_path / "store")
    inputs = EvaluationInputs(policy=GatePolicy(metrics=()), holdout_path=str(toys.holdout), target="converted")
    promote(evaluate(MODEL, 2, inputs, registry=registry), registry=registry)
    registry.client.set_registered_model_alias(MODEL, "canary", "3")
    return tmp_path


def write_log(root: Path, arm: str, n: int, *, at: datetime, start: int = 0, rejected: float = 0.0,
              accuracy: float | None = None, seed: int = 0) -> pd.DataFrame:
    """``n`` rows of ``arm`` in the prediction log (one parquet segment) and their labels (decision right with
    probability ``accuracy``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlprod.serving.predictionlog.schema import arrow_schema

    rng = np.random.default_rng(seed)
    score = rng.beta(2, 3, n)
    decision = (score >= 0.5).astype("int8")
    tier = np.where(rng.random(n) < rejected, "rejected", "primary")
    units = [f"{arm}-{start + i}" for i in range(n)]
    frame = pd.DataFrame({
        "request_id": units, "row": np.zeros(n, dtype="int32"), "logged_at": pd.Timestamp(at) + pd.to_timedelta(
            np.arange(n), unit="s"), "unit_id": units, "model_name": MODEL,
        "model_version": "3" if arm == "canary" else "2", "model_sha256": "x" * 64,
        "score": np.where(tier == "rejected", np.nan, score), "decision": decision, "tier": tier,
        "fallback_reason": None, "filled_features": [[] for _ in range(n)], "needs_review": False,
        "experiment": "toy-canary", "arm": arm, "features": None})
    frame["decision"] = frame["decision"].where(tier != "rejected")
    folder = root / "monitoring" / "prediction_log" / at.strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, schema=arrow_schema(), preserve_index=False),
                   folder / f"{arm}-{start}-{seed}.parquet")
    if accuracy is not None:
        write_labels(root, frame, accuracy, seed)
    return frame


def write_labels(root: Path, frame: pd.DataFrame, accuracy: float, seed: int) -> None:
    """A label file for the log rows in ``frame``: each decision right with probability ``accuracy``."""
    rng = np.random.default_rng(seed + 1000)
    decision = frame["decision"].fillna(0).astype(int).to_numpy()
    right = rng.random(len(frame)) < accuracy
    labels = pd.DataFrame({"lead_id": frame["unit_id"], "converted": np.where(right, decision, 1 - decision)})
    (root / "monitoring" / "labels").mkdir(parents=True, exist_ok=True)
    labels.to_csv(root / "monitoring" / "labels" / f"{frame['unit_id'].iloc[0]}-{seed}.csv", index=False)


def moves(registry_root: Path) -> list[dict]:
    from mlprod.registry.history import model_history
    from mlprod.registry.store import Registry

    return model_history(Registry.open(), MODEL)["moves"]


def test_hold_advance_and_promote_through_the_gates_with_the_moves_in_the_history(project):
    from mlprod.registry.store import Registry
    from mlprod.traffic import canary

    proj = canary.load_project()
    state = canary.start(proj, now=T0)
    assert (state.step, state.status, state.canary_version, state.champion_version) == (0, "running", "3", "2")
    write_log(project, "champion", 900, at=T0, accuracy=0.8, seed=1)
    write_log(project, "canary", 150, at=T0, accuracy=0.8, seed=2)

    early = canary.step(proj, now=T0 + timedelta(minutes=20))
    assert early["action"] == "hold" and "has run 0.33 of 1 hours" in early["reasons"][0]
    checks = {c["name"]: c["verdict"] for c in early["checks"]}
    assert checks == {"error_rate": "pass", "fallback_rate": "pass", "score_psi": "pass",
                      "estimated_accuracy": "pass", "realised_accuracy": "pass", "kpi": "pass"}

    first = canary.step(proj, now=T0 + timedelta(hours=1, minutes=1))
    assert (first["action"], first["next_step"], first["next_share"]) == ("advance", 1, 50.0)
    again = canary.step(proj, now=T0 + timedelta(hours=1, minutes=2))  # idempotent: the new step just began
    assert again["action"] == "hold" and canary.status(proj).step == 1

    assert canary.step(proj, now=T0 + timedelta(hours=2, minutes=5))["next_step"] == 2
    final = canary.step(proj, now=T0 + timedelta(hours=3, minutes=10))
    assert final["action"] == "promote" and final["status"] == "promoted"
    assert final["promotion"]["outcome"] == "promoted"
    assert str(Registry.open().alias(MODEL, "champion").version) == "3"
    last = moves(project)[-1]
    assert (last["alias"], last["action"], last["from_version"], last["to_version"]) == ("champion", "promote", "2", "3")
    assert canary.step(proj, now=T0 + timedelta(hours=9))["action"] == "none"  # over: nothing moves again
    assert [h["action"] for h in canary.status(proj).history] == ["start", "hold", "advance", "hold", "advance",
                                                                 "promote"]


def test_a_breach_rolls_the_canary_alias_back_with_a_decision_record_in_the_history(project, capsys):
    from mlprod.cli import main
    from mlprod.registry.store import Registry

    assert main(["canary", "start"]) == 0
    write_log(project, "champion", 900, at=datetime.now(timezone.utc), seed=1)
    write_log(project, "canary", 200, at=datetime.now(timezone.utc), rejected=0.1, seed=2)
    capsys.readouterr()
    assert main(["canary", "step"]) == 0
    out = capsys.readouterr().out
    assert "error_rate" in out and "BREACH" in out and out.strip().splitlines()[-1].startswith("ROLLBACK: error_rate")
    decision = json.loads((project / "monitoring/canary/decision.json").read_text())
    assert decision["action"] == "rollback" and decision["status"] == "rolled_back"
    assert decision["schema_version"] == 1
    registry = Registry.open()
    assert str(registry.alias(MODEL, "canary").version) == "2"  # moved back onto the champion
    assert str(registry.alias(MODEL, "champion").version) == "2"
    move = moves(project)[-1]
    assert (move["alias"], move["action"], move["from_version"], move["to_version"]) == ("canary", "rollback", "3", "2")
    assert move["decision"].endswith(f"{decision['decision_id']}.json")
    assert main(["registry", "history", MODEL]) == 0
    history = capsys.readouterr().out
    assert any("canary" in line and "3 -> 2" in line and "rollback" in line for line in history.splitlines())
    assert f"{decision['decision_id']}.json" in history
    before = len(moves(project))
    assert main(["canary", "step"]) == 0  # idempotent: the rollout is over, nothing moves
    assert json.loads((project / "monitoring/canary/decision.json").read_text())["action"] == "none"
    assert len(moves(project)) == before  # no new move
    assert main(["canary", "status"]) == 0
    assert "rolled_back" in capsys.readouterr().out


def test_a_realised_regression_is_rolled_back_once_labels_arrive(project):
    from mlprod.traffic import canary

    proj = canary.load_project()
    canary.start(proj, now=T0)
    champion = write_log(project, "champion", 3000, at=T0, seed=1)
    canary_rows = write_log(project, "canary", 1500, at=T0, seed=2)
    held = canary.step(proj, now=T0 + timedelta(minutes=30))
    assert held["action"] == "hold"
    assert {c["name"]: c["verdict"] for c in held["checks"]}["realised_accuracy"] == "wait"
    write_labels(project, champion, 0.85, seed=1)  # the labels arrive: the canary's decisions are worse
    write_labels(project, canary_rows, 0.70, seed=2)
    rolled = canary.step(proj, now=T0 + timedelta(minutes=40))
    verdicts = {c["name"]: c["verdict"] for c in rolled["checks"]}
    assert rolled["action"] == "rollback" and verdicts["realised_accuracy"] == "breach", rolled
    assert verdicts["estimated_accuracy"] == "pass"  # the scores alone did not show it


@pytest.mark.parametrize("setup, expected", [
    ("mode-none", "deployment.mode is 'none'"),
    ("no-state", "no canary rollout has started"),
    ("bad-state", "not a readable canary state file"),
    ("bad-step", "at step 7 but deployment.canary.ramp has 3 step(s)"),
    ("alias-moved", "toy@canary points to version 1"),
    ("no-canary-alias", "has no 'canary' alias"),
])
def test_bad_state_or_settings_end_in_one_clear_message_and_exit_2(project, toys, capsys, setup, expected):
    from mlprod.cli import main
    from mlprod.registry.store import Registry

    verb = "step"
    if setup == "mode-none":
        (project / "params.yaml").write_text(params(toys, mode="none"))
    elif setup == "bad-state":
        (project / "monitoring/canary").mkdir(parents=True)
        (project / "monitoring/canary/state.json").write_text("{not json")
    elif setup in ("bad-step", "alias-moved"):
        assert main(["canary", "start"]) == 0
        if setup == "bad-step":
            path = project / "monitoring/canary/state.json"
            path.write_text(path.read_text().replace('"step": 0', '"step": 7'))
        else:
            Registry.open().client.set_registered_model_alias(MODEL, "canary", "1")
    elif setup == "no-canary-alias":
        Registry.open().client.delete_registered_model_alias(MODEL, "canary")
        verb = "start"
    capsys.readouterr()
    assert main(["canary", verb]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_unit_id_defaults_to_project_key(project, toys):
    from mlprod.traffic import canary

    (project / "params.yaml").write_text(params(toys).replace("  unit_id: lead_id\n", ""))
    proj = canary.load_project()
    assert proj.deployment.unit_id == "lead_id" == proj.key


def test_status_answers_before_a_rollout_and_after_it_started(project, toys, capsys):
    from mlprod.cli import main

    assert main(["canary", "status"]) == 0
    assert "no canary rollout has started" in capsys.readouterr().out
    assert main(["canary", "start"]) == 0
    capsys.readouterr()
    assert main(["canary", "status"]) == 0
    assert "running, step 0 of" in capsys.readouterr().out


def test_start_with_a_version_points_the_canary_alias_through_the_registry_history(project, capsys):
    """A user's way to a canary: `mlprod canary start --version N` moves NAME@canary (logged, compare-and-set),
    refusing the champion's version and a version that does not exist, and never while a rollout runs."""
    from mlprod.cli import main
    from mlprod.registry.store import Registry

    registry = Registry.open()
    registry.client.delete_registered_model_alias(MODEL, "canary")
    assert main(["canary", "start"]) == 2
    assert "--version" in capsys.readouterr().err
    assert main(["canary", "start", "--version", "2"]) == 2  # the champion
    assert "is the champion" in capsys.readouterr().err
    assert main(["canary", "start", "--version", "99"]) == 2
    assert "no version 99" in capsys.readouterr().err
    assert registry.alias(MODEL, "canary") is None  # nothing moved by the refusals
    assert main(["canary", "start", "--version", "3"]) == 0
    assert str(registry.alias(MODEL, "canary").version) == "3"
    move = moves(project)[-1]
    assert (move["alias"], move["action"], move.get("from_version"), move["to_version"]) == ("canary", "canary", None, "3")
    assert main(["canary", "start", "--version", "1"]) == 2  # a rollout is running: the alias stays
    assert str(registry.alias(MODEL, "canary").version) == "3"


def test_register_alias_canary_points_the_canary_at_a_challenger_that_passes_and_leaves_the_champion(project, toys):
    """params.yaml register.alias: canary: the register stage's promote() gives a passing challenger NAME@canary
    (outcome canary, logged), the champion stays; `mlprod canary start` then needs no --version."""
    from mlprod.cli import main
    from mlprod.registry.champion import EvaluationInputs, evaluate, promote
    from mlprod.registry.decision import verdict_line
    from mlprod.registry.gates import GatePolicy
    from mlprod.registry.settings import parse_settings
    from mlprod.registry.store import Registry

    registry = Registry.open()
    registry.client.delete_registered_model_alias(MODEL, "canary")
    inputs = EvaluationInputs(policy=GatePolicy(metrics=()), holdout_path=str(toys.holdout), target="converted")
    decision = promote(evaluate(MODEL, 3, inputs, registry=registry), registry=registry, alias="canary")
    assert decision.outcome == "canary" and "CANARY" in verdict_line(decision)
    assert str(registry.alias(MODEL, "canary").version) == "3"
    assert str(registry.alias(MODEL, "champion").version) == "2"
    move = moves(project)[-1]
    assert (move["alias"], move["action"], move["to_version"]) == ("canary", "canary", "3")
    assert move["decision"].endswith(f"{decision.decision_id}.json")
    assert main(["canary", "start"]) == 0
    with pytest.raises(Exception, match="alias: expected one of champion, canary"):
        parse_settings({"alias": "production"})
