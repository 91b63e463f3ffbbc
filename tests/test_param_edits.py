"""Edited parameters in JupyterLab: the diff init_stage prints, the use_cell opt-in, save_params writing values
back to params.yaml byte for byte, scratch outputs and the interactive lineage in the manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Project
from sklearn.linear_model import LogisticRegression

import mlprod
from mlprod.errors import ManifestError, MlprodError, ParamsError
from mlprod.manifest import lineage as lineage_mod
from mlprod.manifest.schema import loads as load_manifest
from mlprod.stages.interactive import applied_stage, init_stage
from mlprod.stages.saveparams import save_params

PARAMS = """\
# parameters of the demo
project:                    # the dataset's facts
  target: converted         # the label column
  slice_columns: [a, b]
train:                      # the train stage
  model: 'hist'             # or "logistic"
  learning_rate: 0.1
  label: "007"
  epochs: 10                # rounds
  tags:
    - x
    - y
  model_dir: models/trained
  metrics_file: metrics/train.json
  train_path: data/train.parquet
other: {keep: [1,
               2]}
"""

CELL = """\
target = "converted"
slice_columns = ["a", "b"]
model = "hist"
learning_rate = 0.1
label = "007"
epochs = 10
tags = ["x", "y"]
model_dir = "models/trained"
metrics_file = "metrics/train.json"
train_path = "data/train.parquet"
plots_dir = "plots"
"""

DVC = """\
stages:
  train:
    cmd: mlprod run notebooks/train.ipynb
    deps: [notebooks/train.ipynb, data/train.parquet]
    outs: [models/trained]
    metrics:
      - metrics/train.json:
          cache: false
    plots:
      - plots/roc.csv:
          cache: false
"""


def run_cell(edits: str = "", **options) -> dict:
    """Run the parameters cell (with ``edits`` appended, as a user edits it) and init_stage, as IPython would."""
    source = CELL + edits
    namespace: dict = {"__name__": "__main__", "In": ["", source + 'init_stage(globals(), "train")'], "Out": {}}
    exec(compile(source, "<parameters cell>", "exec"), namespace)  # noqa: S102 - our own fixture text
    init_stage(namespace, "train", **options)
    return namespace


@pytest.fixture
def demo(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    project.params(PARAMS)
    project.write("dvc.yaml", DVC)
    (project.root / "notebooks").mkdir()
    monkeypatch.chdir(project.root / "notebooks")
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("MLPROD_RUN", raising=False)
    return project


# --- the diff and the opt-in ---------------------------------------------------------------------------------------

def test_each_run_prints_the_differences_and_params_yaml_wins(demo: Project, capsys) -> None:
    for _ in range(2):  # every time the cell runs, not once per session
        namespace = run_cell('learning_rate = 0.2\ntarget = "y"\nepochs = 10.0\n')
        out = capsys.readouterr().out
        assert "2 parameter(s) in the parameters cell differ from params.yaml; running with params.yaml's values" in out
        rows = [line.split() for line in out.splitlines() if line.startswith("  ") and "[" in line]
        assert ["learning_rate", "0.2", "0.1", "[train]"] in rows
        assert ["target", "'y'", "'converted'", "[project]"] in rows  # a shared fact lives in project
        assert not any(r[0] == "epochs" for r in rows)  # 10.0 == 10: an int given for a float is the same value
        assert (namespace["learning_rate"], namespace["target"]) == (0.1, "converted")
    diffs = {d.name: (d.cell, d.params_yaml, d.section) for d in applied_stage()["differences"]}
    assert diffs == {"learning_rate": (0.2, 0.1, "train"), "target": ("y", "converted", "project")}


def test_no_difference_prints_no_diff(demo: Project, capsys) -> None:
    run_cell()
    assert "differ from params.yaml" not in capsys.readouterr().out


def test_use_cell_runs_with_the_cells_values_checked_against_their_types(demo: Project, capsys) -> None:
    namespace = run_cell("learning_rate = 0.2\n", use_cell=True)
    assert namespace["learning_rate"] == 0.2 and namespace["epochs"] == 10
    assert "running with the cell's values (use_cell=True)" in capsys.readouterr().out
    with pytest.raises(ParamsError, match=r"use_cell=True.*\n  - learning_rate = 'fast': expected float, got str"):
        source = CELL + 'learning_rate: float = "fast"\n'
        namespace = {"In": ["", source + 'init_stage(globals(), "train")']}
        exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102
        init_stage(namespace, "train", use_cell=True)


# --- scratch outputs -------------------------------------------------------------------------------------------------

def test_declared_outputs_go_to_scratch_unless_write_outputs(demo: Project, capsys) -> None:
    namespace = run_cell()
    assert namespace["model_dir"] == "scratch/train/models/trained"  # an out
    assert namespace["metrics_file"] == "scratch/train/metrics/train.json"  # a metric
    assert namespace["plots_dir"] == "scratch/train/plots"  # a folder holding a declared plot
    assert namespace["train_path"] == "data/train.parquet"  # a dependency stays where the pipeline has it
    out = capsys.readouterr().out
    assert "the stage's outputs go to scratch/train/" in out and "model_dir = 'scratch/train/models/trained'" in out
    namespace = run_cell(write_outputs=True)
    assert (namespace["model_dir"], namespace["plots_dir"]) == ("models/trained", "plots")
    assert "scratch" not in capsys.readouterr().out


def test_scratch_is_ignored_by_git_and_dvc_in_the_project_and_its_template() -> None:
    from mlprod.project.template import template_path

    repo = Path(__file__).parent.parent
    for name in (".gitignore", ".dvcignore"):
        for path in (repo / name, template_path(name)):
            assert "/scratch/" in path.read_text().splitlines(), path


# --- save_params -----------------------------------------------------------------------------------------------------

def test_save_params_writes_the_cells_values_keeping_every_other_byte(demo: Project, capsys) -> None:
    run_cell('learning_rate = 0.2\ntarget = "y"\nlabel = "008"\nmodel = "logistic"\ntags = ["z"]\n')
    result = mlprod.save_params("train")
    written = (demo.root / "params.yaml").read_text()
    expected = (PARAMS.replace("  target: converted         #", "  target: y                 #")
                .replace("learning_rate: 0.1", "learning_rate: 0.2").replace('"007"', '"008"')
                .replace("  model: 'hist'             #", "  model: 'logistic'         #")
                .replace("    - x\n    - y\n", "    - z\n"))
    assert written == expected
    assert {(s, n) for s, n, _, _ in result.changes} == {("train", "learning_rate"), ("project", "target"),
                                                          ("train", "label"), ("train", "model"), ("train", "tags")}
    assert "saved 5 value(s) to" in capsys.readouterr().out
    run_cell('learning_rate = 0.2\ntarget = "y"\nlabel = "008"\nmodel = "logistic"\ntags = ["z"]\n')
    assert applied_stage()["differences"] == [] and "differ" not in capsys.readouterr().out


def test_save_params_with_explicit_values_reads_the_notebook_and_adds_missing_keys(demo: Project) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(CELL + "seed = 1\n")
    cell.metadata["tags"] = ["parameters"]
    notebook.cells.append(cell)
    nbformat.write(notebook, demo.root / "notebooks" / "train.ipynb")
    save_params("train", {"epochs": 12, "seed": 7, "learning_rate": 1e-05}, params_file=demo.root / "params.yaml")
    written = (demo.root / "params.yaml").read_text()
    assert written == PARAMS.replace("  epochs: 10                #", "  epochs: 12                #").replace(
        "learning_rate: 0.1", "learning_rate: 1.0e-05").replace(
        "  train_path: data/train.parquet\n", "  train_path: data/train.parquet\n  seed: 7\n")
    assert mlprod.stages.params.load_params_file(demo.root / "params.yaml")["train"]["learning_rate"] == 1e-05


@pytest.mark.parametrize(("values", "message"), [
    ({"learnig_rate": 0.3}, r"'learnig_rate': not a parameter of the train notebook; did you mean 'learning_rate'"),
    ({"epochs": "many"}, r"'epochs': expected int, got str 'many'"),
    ({"tags": [1]}, r"'tags': expected list, got list \[1\]|'tags': expected list\[str\]"),
    ({"slice_columns": ["a", "a"]}, r"nothing written; with these values .*'a' listed twice"),
])
def test_save_params_refuses_bad_values_and_writes_nothing(demo: Project, values: dict, message: str) -> None:
    run_cell()
    if "tags" in values:  # declared as list (of anything): a list of ints is fine for the type
        save_params("train", values)
        assert "    - 1\n" in (demo.root / "params.yaml").read_text()
        return
    with pytest.raises(ParamsError, match=message):
        save_params("train", values)
    assert (demo.root / "params.yaml").read_text() == PARAMS


def test_save_params_refuses_a_file_changed_meanwhile(demo: Project) -> None:
    run_cell("learning_rate = 0.2\n")
    changed = PARAMS.replace("epochs: 10", "epochs: 11")
    (demo.root / "params.yaml").write_text(changed)
    with pytest.raises(ParamsError, match=r"changed since its values were read .*nothing written"):
        save_params("train")
    with pytest.raises(ParamsError, match="changed since"):
        save_params("train", {"epochs": 3}, expected_sha256=hashlib.sha256(PARAMS.encode()).hexdigest())
    assert (demo.root / "params.yaml").read_text() == changed


@pytest.mark.parametrize("text", ["- just\n- a list\n", "train: [1, 2]\n"])
def test_save_params_refuses_a_params_file_that_is_not_a_mapping(demo: Project, text: str) -> None:
    run_cell()
    (demo.root / "params.yaml").write_text(text)
    with pytest.raises(ParamsError, match="expected a mapping|must be a mapping"):
        save_params("train", {"epochs": 3})
    assert (demo.root / "params.yaml").read_text() == text


def test_save_params_without_values_needs_init_stage(demo: Project) -> None:
    with pytest.raises(MlprodError, match=r"no values given and init_stage\('train'\) has not run"):
        save_params("train")


# --- lineage -------------------------------------------------------------------------------------------------------

def fit_and_save(folder: str) -> mlprod.manifest.schema.Manifest:
    frame = pd.DataFrame({"a": np.arange(40) % 7, "b": np.linspace(0.0, 1.0, 40)})
    model = LogisticRegression().fit(frame, (frame.b > 0.5).astype(int))
    return mlprod.save_model(model, folder, name="leads", X=frame)


def test_an_interactive_model_records_the_run_and_the_differences(demo: Project) -> None:
    namespace = run_cell('learning_rate = 0.2\ntarget = "y"\n', use_cell=True)
    manifest = fit_and_save(namespace["model_dir"])
    assert Path("scratch/train/models/trained/model_manifest.yaml").is_file()
    assert not Path("models").exists()  # the pipeline's output is untouched
    run = manifest.lineage.runs[0]
    assert run.run_id is None and run.interactive is not None
    assert (run.interactive.values, run.interactive.outputs) == ("cell", "scratch")
    assert {k: (d.section, d.cell, d.params_yaml) for k, d in run.interactive.differences.items()} == {
        "learning_rate": ("train", 0.2, 0.1), "target": ("project", "y", "converted")}
    assert run.interactive.redirected["model_dir"] == "scratch/train/models/trained"
    assert manifest.schema_version == 2 and mlprod.read_manifest(namespace["model_dir"]) == manifest
    text = lineage_mod.render_text(lineage_mod.trace(namespace["model_dir"], root=demo.root))
    assert "interactive: ran with the cell's values; differed from params.yaml: learning_rate (cell 0.2, [train] 0.1)" \
        in text and "outputs written to scratch/" in text


def test_a_pipeline_manifest_has_no_interactive_field_and_older_manifests_stay_readable(demo: Project,
                                                                                         monkeypatch) -> None:
    monkeypatch.chdir(demo.root)
    manifest = fit_and_save("model")
    text = Path("model/model_manifest.yaml").read_text()
    assert "    interactive:" not in text and "schema_version: 1" in text
    assert load_manifest(text).lineage.runs[0].interactive is None
    assert "interactive" not in lineage_mod.to_dict(lineage_mod.trace("model", root=demo.root))["runs"][0]
    bad = text.replace("  runs:\n  - notebook:", "  runs:\n  - interactive: {values: cell, colour: red}\n    notebook:")
    with pytest.raises(ManifestError, match=r"lineage.runs\[0\].interactive: unknown field\(s\) colour"):
        load_manifest(bad)
    assert manifest.schema_version == 1


# --- a setting outside the stages' sections: dask.address ------------------------------------------------------------

def test_dask_address_comes_from_the_dask_section_and_is_saved_there(demo: Project, capsys) -> None:
    demo.params(PARAMS + "dask:                       # the scheduler\n  address: null\n")
    namespace = run_cell('dask_address: str | None = "tcp://127.0.0.1:8786"\n')
    assert namespace["dask_address"] is None  # params.yaml wins, as for any parameter
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  ") and "[" in line]
    assert ["dask_address", "'tcp://127.0.0.1:8786'", "None", "[dask]"] in rows
    result = mlprod.save_params("train")
    assert [(s, n) for s, n, _, _ in result.changes] == [("dask", "address")]
    written = (demo.root / "params.yaml").read_text()
    assert written.endswith("dask:                       # the scheduler\n  address: tcp://127.0.0.1:8786\n")
    assert "dask_address" not in written
    assert run_cell('dask_address: str | None = "tcp://127.0.0.1:8786"\n')["dask_address"] == "tcp://127.0.0.1:8786"


def test_a_bad_dask_section_stops_init_stage_naming_it(demo: Project) -> None:
    demo.params(PARAMS + "dask: {adress: tcp://127.0.0.1:8786}\n")
    with pytest.raises(ParamsError, match=r"\[dask\]: unknown key\(s\) \['adress'\]; allowed: \['address'\]"):
        run_cell("dask_address: str | None = None\n")
