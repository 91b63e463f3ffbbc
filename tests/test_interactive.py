"""``init_stage``: a stage notebook opened in JupyterLab gets the values ``mlprod run`` would inject."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from conftest import Project

from mlprod.errors import ParamsError
from mlprod.stages.interactive import init_stage
from mlprod.stages.runner import run_notebook

PARAMETERS_CELL = """\
import math
from typing import Optional

alpha: float = 0.5
epochs = 10
features: list[str] = ["a"]
weights: dict[str, float] = {"a": 1.0}
limit: Optional[int] = None
threshold: float | None = None
"""


def notebook_globals() -> dict:
    """What a kernel's globals() hold after the parameters cell ran (annotations evaluated, as in IPython)."""
    namespace: dict = {"__name__": "__main__", "In": ["", PARAMETERS_CELL], "Out": {}, "get_ipython": lambda: None}
    exec(compile(PARAMETERS_CELL, "<parameters cell>", "exec"), namespace)  # noqa: S102 - our own fixture text
    return namespace


@pytest.fixture
def in_notebooks_folder(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """JupyterLab runs a notebook with its own folder as the working directory."""
    (project.root / "notebooks").mkdir()
    monkeypatch.chdir(project.root / "notebooks")
    return project


def test_values_are_applied_and_cwd_moves_to_the_project_root(in_notebooks_folder: Project, capsys) -> None:
    project = in_notebooks_folder
    project.params("""
        train:
          alpha: 1
          features: [x, y]
          limit: 5
        other:
          alpha: 9.0
        """)
    namespace = notebook_globals()
    assert init_stage(namespace, "train") is None  # nothing for the notebook to display
    assert {k: namespace[k] for k in ("alpha", "features", "limit")} == {"alpha": 1.0, "features": ["x", "y"],
                                                                         "limit": 5}
    assert type(namespace["alpha"]) is float
    assert (namespace["epochs"], namespace["weights"], namespace["threshold"]) == (10, {"a": 1.0}, None)
    assert Path.cwd() == project.root.resolve()
    assert f"mlprod: 3 parameter(s) from {project.root.resolve() / 'params.yaml'} [train]" in capsys.readouterr().out


def test_unknown_key_is_rejected_and_nothing_changes(in_notebooks_folder: Project) -> None:
    in_notebooks_folder.params("train:\n  epoch: 3\n  alpha: 0.1\n")
    namespace = notebook_globals()
    with pytest.raises(ParamsError, match=r"\[train\] 'epoch': not a parameter of the notebook; did you mean 'epochs'"):
        init_stage(namespace, "train")
    assert namespace["alpha"] == 0.5
    assert Path.cwd().name == "notebooks"


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("epochs: ten", "'epochs': expected int"),
        ("epochs: true", "'epochs': expected int"),
        ("alpha: fast", "'alpha': expected float"),
        # evaluated generic annotations are checked as strictly as mlprod run checks the cell's source
        ("features: [1, 2]", "'features': expected list[str]"),
        ("weights: {a: heavy}", "'weights': expected dict[str, float]"),
        ("limit: many", "'limit': expected int | None"),
        ("threshold: high", "'threshold': expected float | None"),
    ],
)
def test_wrong_types_are_rejected(in_notebooks_folder: Project, yaml_value: str, expected: str) -> None:
    in_notebooks_folder.params(f"train:\n  {yaml_value}\n")
    namespace = notebook_globals()
    before = dict(namespace)
    with pytest.raises(ParamsError) as err:
        init_stage(namespace, "train")
    assert expected in str(err.value)
    assert namespace == before
    assert Path.cwd().name == "notebooks"


def test_missing_section_is_rejected(in_notebooks_folder: Project) -> None:
    in_notebooks_folder.params("evaluate: {}\n")
    with pytest.raises(ParamsError, match=r"no section 'train' .*\(sections: evaluate\)"):
        init_stage(notebook_globals(), "train")


def test_outside_a_project_is_rejected(in_notebooks_folder: Project) -> None:
    with pytest.raises(ParamsError, match=r"init_stage\('train'\): no params.yaml in .*notebooks or its parents"):
        init_stage(notebook_globals(), "train")


def test_under_mlprod_run_it_does_nothing(in_notebooks_folder: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    in_notebooks_folder.params("train:\n  alpha: wrong type and unknown keys are not its business\n  zzz: 1\n")
    monkeypatch.setenv("MLPROD_STAGE", "train")
    namespace = notebook_globals()
    before = dict(namespace)
    assert init_stage(namespace, "train") is None
    assert namespace == before
    assert Path.cwd().name == "notebooks"


def test_notebook_calling_init_stage_runs_under_mlprod_run(project: Project) -> None:
    # no params.yaml anywhere: had init_stage looked for one inside the kernel, the run would fail
    params_file = project.write("conf/stages.yaml", "calls_init_stage:\n  label: from-yaml\n")
    nb_path = project.notebook("calls_init_stage")
    record = run_notebook(nb_path, params_file=params_file, cwd=project.root, overrides=["rate=2"], html=False)
    executed = nbformat.read(project.root / record.executed_notebook, as_version=4)
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs if o.output_type == "stream")
    assert json.loads(printed) == {"rate": 2.0, "label": "from-yaml", "cwd": os.fspath(project.root.resolve()),
                                   "stage": "calls_init_stage"}


def test_the_running_cell_source_decides_what_is_a_parameter(in_notebooks_folder: Project) -> None:
    """In JupyterLab, globals left by other cells are not parameters; errors name the cell's line."""
    project = in_notebooks_folder
    cell = 'epochs = 10\nrate: float = 0.1\nimport mlprod; mlprod.init_stage(globals(), "train")\n'
    namespace = {"In": ["", "frame = [1, 2]", cell], "frame": [1, 2], "epochs": 10, "rate": 0.1}
    project.params("train:\n  frame: [3]\n  rate: fast\n")
    with pytest.raises(ParamsError) as err:
        init_stage(namespace, "train")
    message = str(err.value)
    assert "params.yaml [train] 'frame': not a parameter of the notebook" in message
    assert "expected float (declared on line 2 of the parameters cell), got str 'fast'" in message
    assert "(the parameters cell)" in message and "cell 1" not in message and "line 0" not in message
    project.params("train:\n  epochs: 3\n")
    init_stage(namespace, "train")
    assert (namespace["epochs"], namespace["rate"], namespace["frame"]) == (3, 0.1, [1, 2])


def test_the_project_facts_are_applied_and_params_key_names_where_each_is_set(in_notebooks_folder: Project,
                                                                               capsys) -> None:
    from mlprod import params_key

    in_notebooks_folder.params("""
        project:
          target: converted
          slice_columns: [region]
        train:
          alpha: 0.25
        """)
    cell = 'target = "y"\nslice_columns: list[str] | None = None\nalpha = 0.5\nepochs = 3\n'
    namespace: dict = {"__name__": "__main__", "In": ["", cell + 'init_stage(globals(), "train")'], "Out": {}}
    exec(compile(cell, "<parameters cell>", "exec"), namespace)  # noqa: S102 - our own fixture text
    init_stage(namespace, "train")
    assert (namespace["target"], namespace["slice_columns"], namespace["alpha"]) == ("converted", ["region"], 0.25)
    assert "[train] (shared from [project]: target, slice_columns)" in capsys.readouterr().out
    assert [params_key(n) for n in ("target", "slice_columns", "alpha", "epochs")] == \
        ["project.target", "project.slice_columns", "train.alpha", "train.epochs"]
