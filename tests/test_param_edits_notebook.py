"""The train notebook run as in JupyterLab (no MLPROD_STAGE, the notebook's folder as working directory) with an
edited parameters cell: the diff is printed, the model goes to scratch/ with an interactive lineage, the parameter
panel shows its widget and table; under ``mlprod run`` the panel is the static table only."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from pipeline import BIN, copy_project, sh

import mlprod

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("interactive"), n_rows=2000)
    sh([str(BIN / "mlprod"), "run", "notebooks/ingest.ipynb"], root)  # the train split the notebook reads
    return root


def outputs(cell) -> tuple[str, dict]:
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    data = next((o["data"] for o in cell.outputs if o.output_type in ("display_data", "execute_result")), {})
    return text, data


def test_an_edited_cell_in_jupyterlab_prints_the_diff_and_writes_to_scratch(project: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MLPROD_STAGE", "MLPROD_RUN", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    notebook = nbformat.read(project / "notebooks" / "train.ipynb", as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert "learning_rate = 0.1" in parameters.source
    parameters.source = parameters.source.replace("learning_rate = 0.1", "learning_rate = 0.2")
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(project / "notebooks")}}).execute()

    printed, _ = outputs(parameters)
    assert "1 parameter(s) in the parameters cell differ from params.yaml; running with params.yaml's values" in printed
    assert ["learning_rate", "0.2", "0.1", "[train]"] in [line.split() for line in printed.splitlines()]
    assert "the stage's outputs go to scratch/train/" in printed
    assert "model_dir = 'scratch/train/models/trained'" in printed

    _, panel = outputs(next(c for c in notebook.cells if c.get("id") == "parameter-panel"))
    assert WIDGET_VIEW in panel  # JupyterLab draws the controls
    assert "<th>params.yaml value</th><th>differs</th>" in panel["text/html"]
    assert "<td><code>learning_rate</code></td><td><code>0.2</code></td><td><code>0.1 [train]</code></td><td>yes" \
        in panel["text/html"]

    manifest = mlprod.read_manifest(project / "scratch/train/models/trained")
    assert not (project / "models").exists() and (project / "scratch/train/metrics/train.json").is_file()
    interactive = manifest.lineage.runs[0].interactive
    assert (interactive.values, interactive.outputs) == ("params.yaml", "scratch")
    assert {k: (d.cell, d.params_yaml, d.section) for k, d in interactive.differences.items()} == {
        "learning_rate": (0.2, 0.1, "train")}
    assert manifest.parameters["train"]["learning_rate"] == 0.1  # what the model was trained with
    assert sh(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout.count("scratch/") == 0


def test_under_mlprod_run_the_panel_is_the_static_table(project: Path) -> None:
    sh([str(BIN / "mlprod"), "run", "notebooks/train.ipynb", "-p", "max_iter=20"], project)
    executed = nbformat.read(project / "reports/notebooks/train/train.ipynb", as_version=4)
    _, panel = outputs(next(c for c in executed.cells if c.get("id") == "parameter-panel"))
    assert WIDGET_VIEW not in panel
    assert "<td><code>max_iter</code></td><td><code>20</code></td><td><code>200 [train]</code></td><td>yes" \
        in panel["text/html"]
    manifest = mlprod.read_manifest(project / "models/trained")
    assert manifest.lineage.runs[0].interactive is None
    # version 2 only because the data references name the project's DVC remote (docs/team.md)
    assert manifest.schema_version == 2 and {ref.remote.name for ref in manifest.data} == {"shared"}
    assert "interactive" not in (project / "models/trained/model_manifest.yaml").read_text()
    assert not os.environ.get("MLPROD_STAGE")
