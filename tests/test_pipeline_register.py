"""End to end: the register stage under real `dvc repro` on a temporary copy of the project.

First run: no champion yet, the model is promoted. Parameters that make the model worse: the challenger
is registered, rejected with a readable gate table, the champion stays, and `dvc repro` still succeeds
(unless `fail_on_reject` is set).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from pipeline import BIN, copy_project, set_param, sh

pytestmark = pytest.mark.e2e

def history(project: Path, name: str = "lead-scoring") -> dict:
    return json.loads(sh([str(BIN / "mlprod"), "registry", "history", name, "--json"], project).stdout)


def register_output(project: Path, cell_id: str = "gates-code") -> str:
    nb = nbformat.read(project / "reports" / "notebooks" / "register" / "register.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return "".join(o.get("text", "") for o in cell.outputs)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("e2e-register") / "project")
    first = sh([str(BIN / "dvc"), "repro"], root)
    assert "Running stage 'register'" in first.stdout, first.stdout
    return root


def test_first_run_registers_and_promotes_the_model(project):
    decision = json.loads((project / "reports" / "register" / "decision.json").read_text())
    assert decision["outcome"] == "promoted" and decision["champion"] is None
    assert decision["challenger"]["version"] == "1" and decision["challenger"]["semver"] == "1.0.0"
    assert decision["holdout"]["path"] == "data/prepared/holdout.parquet"
    assert {g["name"] for g in decision["gates"]} >= {"roc_auc", "validation", "drift"}
    metrics = json.loads((project / "metrics" / "register.json").read_text())
    assert metrics["promoted"] is True and metrics["challenger_version"] == 1
    assert "PROMOTED: champion none -> version 1 (1.0.0)" in register_output(project)
    assert (project / "mlflow.db").is_file() and (project / "mlartifacts").is_dir()
    data = history(project)
    assert data["aliases"] == {"champion": "1"} and data["moves"][0]["action"] == "promote"
    run = json.loads((project / "reports" / "notebooks" / "register" / "run.json").read_text())
    print(f"register stage took {run['duration_seconds']:.1f}s (first run, creates mlflow.db)")


def test_first_run_also_registers_and_gates_the_fallback_in_a_decision_file_of_its_own(project):
    fallback = json.loads((project / "reports" / "register" / "fallback_decision.json").read_text())
    assert fallback["model"] == "lead-scoring-fallback" and fallback["outcome"] == "promoted"
    assert fallback["champion"] is None and fallback["challenger"]["version"] == "1"
    assert fallback["holdout"]["path"] == "data/prepared/holdout.parquet"
    assert {g["name"] for g in fallback["gates"]} >= {"roc_auc", "validation", "drift"}  # the primary's policy
    primary = json.loads((project / "reports" / "register" / "decision.json").read_text())
    assert primary["model"] == "lead-scoring" and "fallback" not in json.dumps(sorted(primary))  # format unchanged
    assert set(json.loads((project / "metrics" / "register.json").read_text())["challenger"]) == \
        set(primary["metrics"]["challenger"])  # the primary's summary, not the fallback's
    assert history(project, "lead-scoring-fallback")["aliases"] == {"champion": "1"}
    assert "lead-scoring-fallback: challenger version 1" in register_output(project, "fallback-code")


def test_worse_parameters_are_rejected_and_the_champion_stays(project):
    set_param(project, "learning_rate: 0.1", "learning_rate: 0.5")  # overfits: lower AUC, much higher log loss
    result = sh([str(BIN / "dvc"), "repro"], project)  # a rejection is a normal outcome: repro succeeds
    assert "Running stage 'register'" in result.stdout
    decision = json.loads((project / "reports" / "register" / "decision.json").read_text())
    assert decision["outcome"] == "rejected", decision
    assert decision["challenger"]["version"] == "2" and decision["champion"]["version"] == "1"
    assert "roc_auc" in decision["blocking"]
    roc = next(g for g in decision["gates"] if g["name"] == "roc_auc")
    assert roc["challenger"] < roc["champion"]
    table = register_output(project)
    assert "REJECTED (" in table and "champion stays version 1 (1.0.0)" in table
    assert "min_change" in table and "FAIL" in table
    data = history(project)
    assert data["aliases"] == {"champion": "1"}
    assert [(v["version"], v.get("gates")) for v in data["versions"]] == [("1", "passed"), ("2", "failed")]
    assert len(data["moves"]) == 1
    run = json.loads((project / "reports" / "notebooks" / "register" / "run.json").read_text())
    print(f"register stage took {run['duration_seconds']:.1f}s (challenger against champion)")


def test_restored_parameters_rerun_the_stage_against_the_registry_not_the_run_cache(project):
    set_param(project, "learning_rate: 0.5", "learning_rate: 0.1")
    try:
        result = sh([str(BIN / "dvc"), "repro"], project)
        assert "Running stage 'register'" in result.stdout  # train/evaluate may come from the run cache; not this
        decision = json.loads((project / "reports" / "register" / "decision.json").read_text())
        assert decision["outcome"] == "unchanged" and decision["challenger"]["version"] == "1"
        assert history(project)["aliases"] == {"champion": "1"}
    finally:
        set_param(project, "learning_rate: 0.1", "learning_rate: 0.5")


def test_fail_on_reject_makes_a_rejection_fail_the_stage(project):
    set_param(project, "fail_on_reject: false", "fail_on_reject: true")
    try:
        result = sh([str(BIN / "dvc"), "repro"], project, check=False)
        assert result.returncode != 0
        err = result.stderr + result.stdout
        assert "notebooks/register.ipynb failed in cell" in err and "PromotionRejected" in err, err
        assert "champion stays version 1" in err
        assert history(project)["aliases"] == {"champion": "1"}
    finally:
        set_param(project, "fail_on_reject: true", "fail_on_reject: false")


FALLBACK_C = "  C: 1.0\n  max_iter: 200\n  seed: 42\n  threshold: 0.5"  # the fallback section's (train has no max_iter there)


def test_a_worse_fallback_is_rejected_by_the_same_gates_and_its_champion_stays(project):
    set_param(project, FALLBACK_C, FALLBACK_C.replace("C: 1.0", "C: 0.0001"))  # barely fitted: far worse log loss
    try:
        result = sh([str(BIN / "dvc"), "repro"], project)
        assert "Running stage 'fallback'" in result.stdout and "Running stage 'register'" in result.stdout
        fallback = json.loads((project / "reports" / "register" / "fallback_decision.json").read_text())
        assert fallback["outcome"] == "rejected" and fallback["challenger"]["version"] == "2", fallback
        assert fallback["champion"]["version"] == "1" and "log_loss" in fallback["blocking"]
        assert "REJECTED (" in register_output(project, "fallback-code")
        assert history(project, "lead-scoring-fallback")["aliases"] == {"champion": "1"}
    finally:
        set_param(project, FALLBACK_C.replace("C: 1.0", "C: 0.0001"), FALLBACK_C)


def test_without_a_fallback_model_register_skips_it_with_a_note(project):
    set_param(project, "fallback_dir: models/fallback", "fallback_dir: models/no_fallback")
    try:
        result = sh([str(BIN / "dvc"), "repro", "register"], project)
        assert "Running stage 'register'" in result.stdout
        assert not (project / "reports" / "register" / "fallback_decision.json").exists()
        assert (project / "reports" / "register" / "decision.json").is_file()
        note = register_output(project, "fallback-code")
        assert "no fallback model (register.fallback_dir: models/no_fallback not found)" in note, note
    finally:
        set_param(project, "fallback_dir: models/no_fallback", "fallback_dir: models/fallback")
