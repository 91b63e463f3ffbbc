"""The example project's wiring of the shared facts: params.yaml, dvc.yaml and the built-in notebooks agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlprod.project.facts import ALLOWED as FACTS
from mlprod.project.facts import read_facts
from mlprod.stages.notebook import read_notebook

REPO = Path(__file__).resolve().parent.parent
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
NOTEBOOK_STAGES = {name: stage for name, stage in STAGES.items() if stage["cmd"].startswith("mlprod run ")}


def notebook_of(stage: dict) -> Path:
    return REPO / stage["cmd"].split()[2]


def test_every_stage_runs_a_notebook() -> None:
    assert set(NOTEBOOK_STAGES) == {"ingest", "validate", "train", "fallback", "evaluate", "drift_report", "register",
                                    "model_card"}


@pytest.mark.parametrize("name", sorted(NOTEBOOK_STAGES))
def test_dvc_yaml_declares_exactly_the_facts_the_stage_notebook_uses(name: str) -> None:
    """Changing a fact reruns the stages that read it, and only those."""
    declared = set(read_notebook(notebook_of(NOTEBOOK_STAGES[name])).parameters) & set(FACTS)
    listed = {p.removeprefix("project.") for p in NOTEBOOK_STAGES[name]["params"] if p.startswith("project.")}
    assert listed == declared
    assert "project" not in NOTEBOOK_STAGES[name]["params"]  # never the whole section


@pytest.mark.parametrize("name", sorted(NOTEBOOK_STAGES))
def test_no_fact_is_written_twice_and_notebook_defaults_equal_the_demo(name: str) -> None:
    facts = read_facts(PARAMS, "params.yaml").as_params()
    section = PARAMS.get(name) or {}
    assert not set(section) & set(FACTS), f"[{name}] repeats a fact of [project]"
    parameters = read_notebook(notebook_of(NOTEBOOK_STAGES[name])).parameters
    for fact in set(parameters) & set(FACTS):  # so a notebook run by hand outside the project matches the demo
        assert parameters[fact].default == facts[fact], (name, fact)


def test_the_project_section_holds_every_fact() -> None:
    """dvc.yaml names each fact as a param: a key missing from params.yaml would fail `dvc repro`."""
    assert set(read_facts(PARAMS, "params.yaml").given) == set(FACTS)
