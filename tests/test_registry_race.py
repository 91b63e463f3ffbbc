"""Reliability of promotion with real concurrent processes against one SQLite registry.

* Two promotions racing: both challengers pass their gates against the old champion, then both try to
  move the alias at the same moment. Whatever the order, the champion must end on a version that passed
  its gates against the champion it replaced.
* A promotion killed (SIGKILL) in the middle leaves the previous champion in place, does not leave the
  lock held, and the log records what happened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_registry_toys import MODEL, copy_store

pytest_plugins = ("test_registry_toys",)  # the toys, empty_store and seeded_store fixtures

from mlprod.registry.champion import CHAMPION, EvaluationInputs, evaluate, promote, rollback
from mlprod.registry.gates import GatePolicy, MetricGate
from mlprod.registry.history import read_moves
from mlprod.registry.store import Registry

POLICY = GatePolicy(metrics=(MetricGate("roc_auc", True, min_change=0.0),))  # never worse than the champion

PRELUDE = """
import json, os, signal, sys, time
from pathlib import Path
from mlprod.registry.champion import EvaluationInputs, evaluate, promote
from mlprod.registry.gates import GatePolicy, MetricGate
from mlprod.registry.store import Registry

store, holdout, version = sys.argv[1:4]
registry = Registry.open(store)
inputs = EvaluationInputs(policy=GatePolicy(metrics=(MetricGate("roc_auc", True, min_change=0.0),)),
                          holdout_path=holdout, target="converted")
decision = evaluate("toy", version, inputs, registry=registry)
"""

RACER = PRELUDE + """
barrier, out, delay = Path(sys.argv[4]), Path(sys.argv[5]), float(sys.argv[6])
(barrier / version).touch()
deadline = time.monotonic() + 120
while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:  # both evaluated: now race
    time.sleep(0.005)
time.sleep(delay)
out.write_text(json.dumps(promote(decision, registry=registry).to_dict()))
"""

KILLED = PRELUDE + """
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[4] == "before-alias":
    registry.client.set_registered_model_alias = die
else:  # after the alias moved, before the log entry is marked done
    import mlprod.registry.history as history
    history.finish_move = die
promote(decision, registry=registry)
"""


@pytest.fixture
def store(tmp_path, monkeypatch, seeded_store, toys) -> Path:
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    copy_store(seeded_store, tmp_path / "store")
    registry = Registry.open(tmp_path / "store")
    first = evaluate(MODEL, 1, EvaluationInputs(policy=POLICY, holdout_path=str(toys.holdout), target="converted"),
                     registry=registry)
    assert promote(first, registry=registry).outcome == "promoted"  # weak is the champion
    return tmp_path / "store"


def spawn(script: str, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("medium_delay", [0.0, 1.0], ids=["simultaneous", "good-moves-first"])
def test_racing_promotions_never_leave_the_champion_on_a_version_that_failed_its_gates(store, toys, tmp_path,
                                                                                         medium_delay):
    """Both evaluate against weak (1), then move: medium (2) and good (3) both beat weak, medium does not beat
    good. With good moving first (the order that breaks a naive promotion), medium must be judged again."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    delays = {"2": medium_delay, "3": 0.0}
    racers = {v: spawn(RACER, str(store), str(toys.holdout), v, str(barrier), str(tmp_path / f"{v}.json"),
                       str(delays[v])) for v in ("2", "3")}
    for version, proc in racers.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"racer {version} failed:\n{err}"
    decisions = {v: json.loads((tmp_path / f"{v}.json").read_text()) for v in racers}

    registry = Registry.open(store)
    assert registry.alias(MODEL, CHAMPION).version == 3  # in either order, good ends as champion
    second = next(d for d in decisions.values() if d["notes"])  # whoever moved second saw the champion change
    assert "evaluated again against the new champion" in second["notes"][0]
    assert second["champion"]["version"] != "1"  # ... and was judged against the new champion
    moves = [m for m in read_moves(registry, MODEL) if m.state == "done"]
    assert moves[0].from_version is None and all(m.action == "promote" for m in moves)
    for move in moves[1:]:  # every move replaced the version it was gated against
        judged = next(d for d in decisions.values() if d["challenger"]["version"] == move.to_version)
        assert judged["champion"]["version"] == move.from_version and judged["passed"]
    if decisions["2"]["outcome"] == "rejected" or medium_delay:
        assert decisions["2"]["champion"]["version"] == "3" and "roc_auc" in decisions["2"]["blocking"]
    assert {d["outcome"] for d in decisions.values()} <= {"promoted", "rejected"}


@pytest.mark.parametrize("kill_at, moved", [("before-alias", False), ("after-alias", True)])
def test_a_promotion_killed_midway_leaves_a_consistent_champion_and_no_lock(store, toys, kill_at, moved):
    proc = spawn(KILLED, str(store), str(toys.holdout), "3", kill_at)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -9, err

    registry = Registry.open(store)
    assert registry.alias(MODEL, CHAMPION).version == (3 if moved else 1)
    assert read_moves(registry, MODEL)[-1].state == "started"  # the process died before settling its entry
    inputs = EvaluationInputs(policy=POLICY, holdout_path=str(toys.holdout), target="converted")
    decision = promote(evaluate(MODEL, 2, inputs, registry=registry), registry=registry)  # the lock is free
    if moved:  # 3 is champion and medium (2) is worse: rejected
        assert decision.outcome == "rejected" and registry.alias(MODEL, CHAMPION).version == 3
    else:  # still weak: medium beats it
        assert decision.outcome == "promoted" and registry.alias(MODEL, CHAMPION).version == 2
    assert rollback(MODEL, registry=registry).to_version == "1"  # the interrupted move is not in the line
    states = [(m.to_version, m.state) for m in read_moves(registry, MODEL)]
    assert states[1] == ("3", "done" if moved else "interrupted")  # settled by the next process holding the lock
