"""Stage notebooks saved from JupyterLab stay in their normal form (docs/jupyterlab.md).

Unit tests of the normaliser and the save hook (through Jupyter's real FileContentsManager), the
``mlprod notebooks clean`` command, and a browser test: JupyterLab on a project copy, a stage notebook run
and saved in Chromium, then git and DVC still see the committed notebook.
"""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlprod.jupyter.clean import clean_files, default_paths
from mlprod.jupyter.config import server_config_path
from mlprod.jupyter.normal_form import dumps, is_stage_notebook, normal_text, normalise
from mlprod.jupyter.save_hook import clean_before_save, pre_save_hook

REPO = Path(__file__).resolve().parent.parent
COMMITTED = sorted([*REPO.glob("notebooks/*.ipynb"), *REPO.glob("pipelines/**/*.ipynb"),
                    *(REPO / "mlprod/project/template").glob("**/*.ipynb")])
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def executed(notebook: dict) -> dict:
    """``notebook`` as JupyterLab saves it after "Run All": outputs, counts, kernel and UI metadata."""
    run = copy.deepcopy(notebook)
    count = 0
    for cell in run["cells"]:
        if cell["cell_type"] != "code":
            continue
        count += 1
        cell["execution_count"] = count
        cell["outputs"] = [
            {"name": "stdout", "output_type": "stream", "text": [f"cell {count}\n"]},
            {"data": {"image/png": PNG, "text/plain": ["<Figure>"]}, "metadata": {}, "output_type": "display_data"}]
        cell["metadata"].update(execution={"iopub.execute_input": "2026-01-01T00:00:00.1Z"}, scrolled=True,
                                jupyter={"outputs_hidden": False}, papermill={"duration": 1.0})
    run["metadata"]["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py", "mimetype": "text/x-python",
        "name": "python", "nbconvert_exporter": "python", "pygments_lexer": "ipython3", "version": "3.11.2"}
    run["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    return run


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def make_project(tmp_path: Path, notebook: str = "ingest.ipynb") -> Path:
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    (root / "params.yaml").write_text("ingest: {}\n")
    (root / "notebooks" / notebook).write_bytes((REPO / "notebooks" / "ingest.ipynb").read_bytes())
    return root


# --- the normal form -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_notebooks_are_in_normal_form(path):
    text = path.read_text(encoding="utf-8")
    assert normal_text(text) == text, f"run `mlprod notebooks clean {path.relative_to(REPO)}`"


def test_every_committed_pipeline_notebook_is_a_stage_notebook():
    assert len(COMMITTED) >= 11
    assert all(is_stage_notebook(load(p)) for p in COMMITTED)


@pytest.mark.parametrize("name", ["ingest.ipynb", "evaluate.ipynb"])
def test_an_executed_notebook_normalises_to_the_committed_bytes(name):
    committed = (REPO / "notebooks" / name).read_text(encoding="utf-8")
    run = executed(json.loads(committed))
    once = dumps(normalise(run))
    assert once == committed
    assert dumps(normalise(json.loads(once))) == once  # idempotent
    assert run["cells"][1]["outputs"], "normalise must not change its argument"
    kept = [(c["id"], c["cell_type"], c["source"], c["metadata"].get("tags")) for c in json.loads(once)["cells"]]
    assert kept == [(c["id"], c["cell_type"], c["source"], c["metadata"].get("tags"))
                    for c in json.loads(committed)["cells"]]


def test_a_code_or_markdown_edit_is_still_a_change():
    committed = (REPO / "notebooks" / "ingest.ipynb").read_text(encoding="utf-8")
    for kind, edit in (("markdown", "\nA new sentence."), ("code", "\nn_rows = 10")):
        run = executed(json.loads(committed))
        cell = next(c for c in run["cells"] if c["cell_type"] == kind)
        cell["source"] = "".join(cell["source"]) + edit
        text = dumps(normalise(run))
        assert text != committed
        assert edit.strip() in "".join(next(c for c in json.loads(text)["cells"]
                                            if c["id"] == cell["id"])["source"])


def test_notebooks_mlprod_init_writes_are_in_normal_form():
    from mlprod.project.notebook_defaults import with_defaults

    for path in (REPO / "mlprod/project/template").glob("**/*.ipynb"):
        text = with_defaults(path.read_bytes(), {"n_rows": 1234, "target": "résultat", "seed": 7}).decode()
        assert normal_text(text) == text, path


def test_invalid_json_is_a_clear_error_and_other_files_are_still_cleaned(tmp_path):
    broken, dirty = tmp_path / "broken.ipynb", tmp_path / "dirty.ipynb"
    broken.write_text('{"cells": [')
    dirty.write_text(json.dumps(executed(load(REPO / "notebooks" / "ingest.ipynb"))))
    result = clean_files([broken, dirty])
    assert result.changed == [dirty]
    assert dirty.read_bytes() == (REPO / "notebooks" / "ingest.ipynb").read_bytes()
    assert len(result.errors) == 1 and "broken.ipynb" in result.errors[0] and "not valid JSON" in result.errors[0]
    assert broken.read_text() == '{"cells": ['  # untouched


def test_cli_check_and_clean(tmp_path):
    root = make_project(tmp_path)
    scratch = root / "notebooks" / "scratch.ipynb"
    scratch.write_text(dumps({"cells": [{"cell_type": "code", "execution_count": 3, "id": "a", "metadata": {},
                                         "outputs": [{"name": "stdout", "output_type": "stream", "text": ["hi\n"]}],
                                         "source": ["print('hi')"]}],
                              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    stage = root / "notebooks" / "ingest.ipynb"
    stage.write_text(dumps(executed(load(stage))))
    cli = [sys.executable, "-m", "mlprod", "notebooks", "clean"]
    assert default_paths(root) == [stage]  # scratch notebooks are not stage notebooks
    check = subprocess.run([*cli, "--check"], cwd=root, capture_output=True, text=True)
    assert check.returncode == 1 and "not clean: notebooks/ingest.ipynb" in check.stdout
    assert subprocess.run(cli, cwd=root, capture_output=True, text=True).returncode == 0
    assert stage.read_bytes() == (REPO / "notebooks" / "ingest.ipynb").read_bytes()
    assert load(scratch)["cells"][0]["outputs"]  # kept
    assert subprocess.run([*cli, "--check"], cwd=root, capture_output=True, text=True).returncode == 0
    (root / "notebooks" / "bad.ipynb").write_text("not json")
    bad = subprocess.run([*cli, "notebooks/bad.ipynb"], cwd=root, capture_output=True, text=True)
    assert bad.returncode == 2 and "notebooks/bad.ipynb" in bad.stderr and "Traceback" not in bad.stderr


# --- the save hook -----------------------------------------------------------------------------------------------

def contents_manager(root: Path):
    from jupyter_server.services.contents.filemanager import FileContentsManager

    manager = FileContentsManager(root_dir=str(root))
    manager.register_pre_save_hook(pre_save_hook)
    return manager


def save(manager, path: str, content: dict) -> None:
    manager.save({"type": "notebook", "format": "json", "content": copy.deepcopy(content)}, path)


def test_saving_a_run_stage_notebook_writes_the_committed_bytes_and_keeps_the_run(tmp_path):
    root = make_project(tmp_path)
    committed = (root / "notebooks" / "ingest.ipynb").read_bytes()
    run = executed(json.loads(committed))
    save(contents_manager(root), "notebooks/ingest.ipynb", run)
    assert (root / "notebooks" / "ingest.ipynb").read_bytes() == committed
    kept = load(root / "reports" / "interactive" / "ingest.ipynb")
    assert kept["cells"] == json.loads(dumps(run))["cells"]  # outputs, counts and all
    # saving again without outputs (e.g. the notebook reopened) keeps the last executed copy
    save(contents_manager(root), "notebooks/ingest.ipynb", json.loads(committed))
    assert load(root / "reports" / "interactive" / "ingest.ipynb")["cells"][1]["outputs"]


def test_a_pipelines_notebook_keeps_its_copy_under_its_own_path(tmp_path):
    root = make_project(tmp_path)
    (root / "pipelines" / "monitoring" / "notebooks").mkdir(parents=True)
    run = executed(load(root / "notebooks" / "ingest.ipynb"))
    save(contents_manager(root), "pipelines/monitoring/notebooks/ingest.ipynb", run)
    assert load(root / "reports/interactive/pipelines/monitoring/notebooks/ingest.ipynb")["cells"][1]["outputs"]
    assert not (root / "reports/interactive/ingest.ipynb").exists()


def test_another_kernel_of_the_same_language_is_not_a_change(tmp_path):
    root = make_project(tmp_path)
    committed = (root / "notebooks" / "ingest.ipynb").read_bytes()
    run = executed(json.loads(committed))
    run["metadata"]["kernelspec"] = {"display_name": "My env", "language": "python", "name": "myenv"}
    save(contents_manager(root), "notebooks/ingest.ipynb", run)
    assert (root / "notebooks" / "ingest.ipynb").read_bytes() == committed
    run["metadata"]["kernelspec"] = {"display_name": "R", "language": "R", "name": "ir"}
    save(contents_manager(root), "notebooks/ingest.ipynb", run)
    assert load(root / "notebooks" / "ingest.ipynb")["metadata"]["kernelspec"]["name"] == "ir"  # a real change


def test_an_edited_markdown_cell_is_saved_as_a_change(tmp_path):
    root = make_project(tmp_path)
    committed = (root / "notebooks" / "ingest.ipynb").read_text(encoding="utf-8")
    run = executed(json.loads(committed))
    run["cells"][0]["source"] = ["# Ingest, edited\n"]
    save(contents_manager(root), "notebooks/ingest.ipynb", run)
    saved = (root / "notebooks" / "ingest.ipynb").read_text(encoding="utf-8")
    assert saved != committed and "Ingest, edited" in saved
    assert saved == normal_text(saved)  # still without outputs


def test_scratch_notebooks_and_executed_copies_keep_their_outputs(tmp_path):
    root = make_project(tmp_path)
    run = executed(load(root / "notebooks" / "ingest.ipynb"))
    scratch = copy.deepcopy(run)
    for cell in scratch["cells"]:
        cell["metadata"].pop("tags", None)  # no parameters cell: not a stage notebook
    opted_out = copy.deepcopy(run)
    opted_out["metadata"]["mlprod"] = {"clean_save": False}
    manager = contents_manager(root)
    save(manager, "notebooks/scratch.ipynb", scratch)
    save(manager, "notebooks/opted_out.ipynb", opted_out)
    (root / "reports" / "notebooks" / "ingest").mkdir(parents=True)
    save(manager, "reports/notebooks/ingest/ingest.ipynb", run)
    for path in ("notebooks/scratch.ipynb", "notebooks/opted_out.ipynb", "reports/notebooks/ingest/ingest.ipynb"):
        assert load(root / path)["cells"][1]["outputs"], path
    assert not (root / "reports" / "interactive").exists()


def test_a_stage_notebook_outside_a_project_is_saved_as_is_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    run = executed(load(REPO / "notebooks" / "ingest.ipynb"))
    with caplog.at_level(logging.WARNING):
        save(contents_manager(folder), "ingest.ipynb", run)
    assert load(folder / "ingest.ipynb")["cells"][1]["outputs"]
    assert "no params.yaml" in caplog.text


@pytest.mark.parametrize("blocker", ["reports", "reports/interactive", "reports/interactive/ingest.ipynb"])
def test_when_the_executed_copy_cannot_be_written_the_save_keeps_the_outputs(tmp_path, caplog, blocker):
    root = make_project(tmp_path)
    target = root / blocker
    if blocker.endswith(".ipynb"):
        target.mkdir(parents=True)  # a folder where the file goes
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("a file where a folder is expected")
    run = executed(load(root / "notebooks" / "ingest.ipynb"))
    with caplog.at_level(logging.WARNING):
        save(contents_manager(root), "notebooks/ingest.ipynb", run)
    assert load(root / "notebooks" / "ingest.ipynb")["cells"][1]["outputs"]  # the save happened, nothing lost
    assert "could not keep the executed copy" in caplog.text


def test_odd_models_are_left_alone(tmp_path):
    root = make_project(tmp_path)
    for model in ({"type": "file", "content": "text"}, {"type": "notebook", "content": None},
                  {"type": "notebook", "content": {"cells": "not a list"}},
                  {"type": "notebook", "content": {"nbformat": 3, "cells": [
                      {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "init_stage(1)",
                       "outputs": [1]}]}}):
        before = copy.deepcopy(model)
        assert clean_before_save(model, root / "notebooks" / "x.ipynb") is None
        assert model == before


def test_jupyter_config_command_writes_the_packaged_config(tmp_path):
    from mlprod.jupyter.config import SOURCE, install_server_config

    written = install_server_config(tmp_path)
    assert written == tmp_path / "etc/jupyter/jupyter_server_config.d/mlprod.json"
    assert written.read_bytes() == SOURCE.read_bytes()


def test_the_server_config_enabling_the_hook_is_installed():
    config = server_config_path()
    assert config.is_file(), "run `mlprod notebooks jupyter-config` (python3 -m mlprod.quickstart does it)"
    assert json.loads(config.read_text())["ServerApp"]["jpserver_extensions"] == {"mlprod.jupyter": True}


# --- in a real JupyterLab ------------------------------------------------------------------------------------------

def _api(lab, what: str) -> list[dict]:
    import urllib.request

    with urllib.request.urlopen(f"{lab.url}api/{what}?token={lab.token}", timeout=5) as answer:
        return json.loads(answer.read())


def _wait_for_the_notebook_kernel(lab, path: str, timeout: float = 30.0) -> None:
    """Wait until ``path`` has one session whose kernel is connected and idle (JupyterLab may start a second
    kernel while it restores the session and drop the first: a Run All sent then runs nothing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = {s["kernel"]["id"] for s in _api(lab, "sessions") if s["path"] == path}
        kernels = [k for k in _api(lab, "kernels") if k["id"] in ids]
        if len(kernels) == 1 and kernels[0]["connections"] >= 1 and kernels[0]["execution_state"] == "idle":
            return
        time.sleep(0.3)
    raise AssertionError(f"no single idle kernel for {path} within {timeout} s: {_api(lab, 'sessions')}")


def _run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def _run_all_and_save(page, lab, copy_path: Path, cells: int, timeout: float = 60.0) -> dict:
    """Run all cells from the Run menu and save (Ctrl+S) until the executed copy shows every code cell run.

    A Run All sent while the kernel connection is replaced runs only part of the notebook: when the kernel is
    idle and the copy is still incomplete, Run All is sent again (at most twice).
    """
    deadline, retries, idle_incomplete = time.monotonic() + timeout, 2, 0
    _run_all(page)
    while time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        page.keyboard.press("Control+s")
        page.wait_for_timeout(500)
        counts = []
        if copy_path.is_file():
            counts = [c.get("execution_count") for c in load(copy_path)["cells"] if c["cell_type"] == "code"]
            if len(counts) == cells and all(counts):
                return load(copy_path)
        idle = all(k["execution_state"] == "idle" for k in _api(lab, "kernels"))
        idle_incomplete = idle_incomplete + 1 if idle else 0
        if idle_incomplete >= 3 and retries:
            retries, idle_incomplete = retries - 1, 0
            _run_all(page)
    page.screenshot(path=str(copy_path.parents[2] / "jupyterlab-timeout.png"))
    raise AssertionError(f"the notebook did not finish running and saving within {timeout} s (screenshot: "
                         f"{copy_path.parents[2] / 'jupyterlab-timeout.png'})")


def _run_and_save_in_jupyterlab(project: Path, cells: int) -> None:
    from browser import chromium, jupyterlab

    with jupyterlab(project) as lab, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(lab.lab_url("notebooks/ingest.ipynb"))
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=30_000)
        _wait_for_the_notebook_kernel(lab, "notebooks/ingest.ipynb")
        page.locator(".jp-Notebook .jp-Cell").first.click()
        _run_all_and_save(page, lab, project / "reports" / "interactive" / "ingest.ipynb", cells)


@pytest.mark.e2e
def test_running_and_saving_a_stage_notebook_in_jupyterlab_leaves_git_and_dvc_clean(tmp_path):
    from pipeline import copy_project, dvc, repro, sh

    project = copy_project(tmp_path / "project", n_rows=3000)
    repro(project, "ingest")
    notebook = project / "notebooks" / "ingest.ipynb"
    committed = notebook.read_bytes()
    cells = sum(c["cell_type"] == "code" for c in json.loads(committed)["cells"])
    # JupyterLab's workspaces and settings in the test's folder: no notebooks restored from other sessions
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JUPYTERLAB_WORKSPACES_DIR", str(tmp_path / "lab-workspaces"))
        env.setenv("JUPYTERLAB_SETTINGS_DIR", str(tmp_path / "lab-settings"))
        _run_and_save_in_jupyterlab(project, cells)
    kept = load(project / "reports" / "interactive" / "ingest.ipynb")
    assert any(c.get("outputs") for c in kept["cells"]), "the executed copy keeps the outputs"
    assert notebook.read_bytes() == committed
    assert sh(["git", "status", "--porcelain", "notebooks/"], project).stdout == ""
    assert sh(["git", "check-ignore", "-q", "reports/interactive/ingest.ipynb"], project, check=False).returncode == 0
    status = json.loads(dvc(project, "status", "ingest", "--json").stdout or "{}")
    assert "notebooks/ingest.ipynb" not in json.dumps(status), status
    # a code edit saved the same way is a change DVC sees
    run = json.loads((project / "reports" / "interactive" / "ingest.ipynb").read_text())
    cell = next(c for c in run["cells"] if c["cell_type"] == "code" and c["id"] != "parameters")
    cell["source"] = "".join(cell["source"]) + "\nprint('edited')"
    save(contents_manager(project), "notebooks/ingest.ipynb", run)
    status = json.loads(dvc(project, "status", "ingest", "--json").stdout or "{}")
    assert "notebooks/ingest.ipynb" in json.dumps(status), status
