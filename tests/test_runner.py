"""``run_notebook`` against real kernels, one fixture notebook per behaviour."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import Project

from mlprod.errors import CellError, CellTimeoutError, ExecutionError, KernelDiedError, ParamsError
from mlprod.stages.runner import run_notebook
from mlprod.stages.runrecord import read_run_record


def run_json(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text(encoding="utf-8"))


def cell_by_id(nb, cell_id: str):
    return next(c for c in nb.cells if c.get("id") == cell_id)


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_parameters_reach_the_notebook_and_are_recorded(project: Project) -> None:
    nb_path = project.notebook("params_simple")
    project.params("""
        params_simple:
          alpha: 2            # an int for a float parameter
          features: [x, y]
          limit: 3
        """)
    record = run_notebook(nb_path, overrides=["epochs=7", "weights={b: 1}", "name=007"])

    out = project.root / "reports" / "notebooks" / "params_simple"
    executed = nbformat.read(out / "params_simple.ipynb", as_version=4)
    report = json.loads(stream_text(cell_by_id(executed, "params-simple-4")))
    assert report == {
        "alpha": {"value": 2.0, "type": "float"},
        "epochs": {"value": 7, "type": "int"},
        "name": {"value": "007", "type": "str"},
        "features": {"value": ["x", "y"], "type": "list"},
        "weights": {"value": {"b": 1.0}, "type": "dict"},
        "limit": {"value": 3, "type": "int"},
        "threshold": {"value": 0.25, "type": "float"},
        "verbose": {"value": False, "type": "bool"},
    }
    # papermill's convention: the values are injected in a tagged cell right after the parameters cell
    tags = [c.metadata.get("tags", []) for c in executed.cells]
    assert tags.index(["parameters"]) + 1 == tags.index(["injected-parameters"])
    assert executed.metadata.papermill.parameters == {
        "alpha": 2.0, "epochs": 7, "features": ["x", "y"], "limit": 3, "name": "007", "weights": {"b": 1.0}}

    data = run_json(out)
    assert data["status"] == "succeeded"
    assert data["stage"] == "params_simple"
    assert data["notebook"] == "params_simple.ipynb"
    assert data["notebook_sha256"] == hashlib.sha256(nb_path.read_bytes()).hexdigest()
    assert data["parameters"] == {
        "alpha": 2.0, "epochs": 7, "features": ["x", "y"], "limit": 3, "name": "007", "weights": {"b": 1.0}}
    assert data["defaults_used"] == ["threshold", "verbose"]
    assert data["overrides"] == ["epochs", "name", "weights"]
    assert data["params_file"] == "params.yaml"
    assert data["executed_notebook"] == "reports/notebooks/params_simple/params_simple.ipynb"
    assert data["html"] == "reports/notebooks/params_simple/params_simple.html"
    assert "failure" not in data
    assert data["python"]["executable"] == sys.executable
    assert data["schema_version"] == 3
    assert data["shared"] == []  # no project: section
    assert len(data["run_id"]) == 32
    html = (project.root / data["html"]).read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "Simple parameters" in html
    assert read_run_record(out / "run.json") == record
    assert sorted(p.name for p in (project.root / "reports").iterdir()) == ["notebooks"]  # no running/, failed/
    assert (project.root / "kernel_started.marker").is_file()


def test_failing_cell_is_reported_against_the_source_cell(project: Project) -> None:
    nb_path = project.notebook("fails_in_cell")
    project.params("fails_in_cell:\n  n: 3\n")  # a value is injected: executed cells are shifted by one
    with pytest.raises(CellError) as err:
        run_notebook(nb_path)
    message = str(err.value)
    failed = project.root / "reports" / "failed" / "fails_in_cell"
    assert message.splitlines() == [
        "fails_in_cell.ipynb failed in cell 4 (id 'fails-in-cell-4'): ValueError: boom: n=3 is not allowed",
        ("  partially executed notebook: reports/failed/fails_in_cell/fails_in_cell.ipynb "
         "(HTML: reports/failed/fails_in_cell/fails_in_cell.html)"),
    ]
    assert err.value.exit_code == 1

    executed = nbformat.read(failed / "fails_in_cell.ipynb", as_version=4)
    errors = [o for o in cell_by_id(executed, "fails-in-cell-4").outputs if o.output_type == "error"]
    assert [(o.ename, o.evalue) for o in errors] == [("ValueError", "boom: n=3 is not allowed")]
    assert stream_text(cell_by_id(executed, "fails-in-cell-3")) == "prepared 1.5\n"  # the cells before ran
    assert cell_by_id(executed, "fails-in-cell-5").get("outputs") == []  # the cells after did not
    assert (failed / "fails_in_cell.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html>")

    data = run_json(failed)
    assert data["status"] == "failed"
    assert data["parameters"] == {"n": 3}
    assert data["executed_notebook"] == "reports/failed/fails_in_cell/fails_in_cell.ipynb"
    assert data["failure"] == {
        "kind": "cell_error", "cell": 4, "cell_id": "fails-in-cell-4", "ename": "ValueError",
        "evalue": "boom: n=3 is not allowed", "message": "cell 4: ValueError: boom: n=3 is not allowed"}
    assert err.value.record.status == "failed"
    assert not (project.root / "reports" / "notebooks").exists()
    assert not (project.root / "reports" / "running").exists()


def test_failing_cell_number_without_injected_parameters_then_a_fixed_rerun(project: Project) -> None:
    nb_path = project.notebook("fails_in_cell")
    project.params("fails_in_cell: {}\n")  # nothing injected: executed cells are the source cells
    with pytest.raises(CellError, match=r"^fails_in_cell.ipynb failed in cell 4 \(id 'fails-in-cell-4'\): "
                                        r"ValueError: boom: n=1 is not allowed\n"):
        run_notebook(nb_path, html=False)
    failed = project.root / "reports" / "failed" / "fails_in_cell"
    assert run_json(failed)["defaults_used"] == ["n"]
    assert "html" not in run_json(failed)

    record = run_notebook(nb_path, overrides={"n": 0}, html=False)
    assert record.status == "succeeded"
    assert not failed.exists(), "a successful run clears the previous failure report"
    executed = nbformat.read(project.root / record.executed_notebook, as_version=4)
    assert stream_text(cell_by_id(executed, "fails-in-cell-5")) == "finished\n"


def test_stale_injected_cell_does_not_shift_cell_numbers(project: Project) -> None:
    nb_path = project.notebook("stale_injected_parameters")
    project.params("stale_injected_parameters:\n  n: 2\n")
    with pytest.raises(CellError) as err:
        run_notebook(nb_path, html=False)
    # papermill overwrote the stale cell 3 in place (n=2, not 5), so source and executed numbering agree
    assert str(err.value).startswith("stale_injected_parameters.ipynb failed in cell 4 "
                                     "(id 'stale-injected-parameters-4'): ValueError: boom: n=2 is not allowed")


def test_kernel_death_is_reported_without_hanging(project: Project) -> None:
    nb_path = project.notebook("kernel_dies")
    project.params("kernel_dies:\n  code: 3\n")
    t0 = time.monotonic()
    with pytest.raises(KernelDiedError) as err:
        run_notebook(nb_path, html=False)
    assert time.monotonic() - t0 < 30
    message = str(err.value)
    assert message.startswith("kernel_dies.ipynb failed in cell 3 (id 'kernel-dies-3'): DeadKernelError: "
                              "the kernel process died")
    assert "partially executed notebook: reports/failed/kernel_dies/kernel_dies.ipynb" in message
    failed = project.root / "reports" / "failed" / "kernel_dies"
    assert run_json(failed)["failure"]["kind"] == "kernel_died"
    assert run_json(failed)["status"] == "failed"
    assert (failed / "kernel_dies.ipynb").is_file()
    assert not (project.root / "reports" / "notebooks").exists()


def test_cell_timeout_names_the_cell_and_stops_early(project: Project) -> None:
    nb_path = project.notebook("sleeps")
    project.params("sleeps:\n  seconds: 60\n")
    t0 = time.monotonic()
    with pytest.raises(CellTimeoutError) as err:
        run_notebook(nb_path, timeout=2, html=False)
    assert time.monotonic() - t0 < 20
    assert str(err.value).startswith("sleeps.ipynb failed in cell 3 (id 'sleeps-3'): CellTimeoutError: "
                                     "the cell ran longer than the timeout of 2 s")
    failure = run_json(project.root / "reports" / "failed" / "sleeps")["failure"]
    assert (failure["kind"], failure["cell"], failure["cell_id"]) == ("timeout", 3, "sleeps-3")
    assert isinstance(err.value, ExecutionError)


def test_kernel_is_this_interpreter_whatever_the_kernelspec(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "no-such-kernel" in (Path(__file__).parent / "notebooks" / "reports_interpreter.ipynb").read_text()
    # run from a sub-folder: the kernel works in the project root (where params.yaml is)
    project.params("reports_interpreter: {}\n")
    (project.root / "notebooks").mkdir()
    nb_path = project.notebook("reports_interpreter")
    os.replace(nb_path, project.root / "notebooks" / nb_path.name)
    monkeypatch.chdir(project.root / "notebooks")
    record = run_notebook(nb_path.name, reports_dir=project.root / "elsewhere", html=False)
    assert (project.root / "interpreter.txt").read_text() == sys.executable
    out = project.root / "elsewhere" / "notebooks" / "reports_interpreter"
    assert record.html is None and not (out / "reports_interpreter.html").exists()
    assert (out / "reports_interpreter.ipynb").is_file()
    assert not (project.root / "reports").exists()
    executed = nbformat.read(out / "reports_interpreter.ipynb", as_version=4)
    assert stream_text(cell_by_id(executed, "reports-interpreter-3")).strip() == sys.executable


def test_failed_run_removes_the_outputs_it_wrote(project: Project) -> None:
    nb_path = project.notebook("writes_outputs_then_fails")
    project.params("writes_outputs_then_fails: {}\n")
    project.write("dvc.yaml", """
        stages:
          writes_outputs_then_fails:
            cmd: mlprod run writes_outputs_then_fails.ipynb
            outs:
              - models
              - untouched.txt
              - state/history.txt:
                  persist: true
          other:
            cmd: echo
            outs:
              - other.txt
        """)
    untouched = project.write("untouched.txt", "from an earlier run\n")
    history = project.write("state/history.txt", "earlier run\n")
    other = project.write("other.txt", "another stage's output\n")
    for path in (untouched, history, other):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))

    with pytest.raises(CellError) as err:
        run_notebook(nb_path, html=False)
    message = str(err.value)
    assert "cell 4 (id 'writes-outputs-then-fails-4'): RuntimeError: training diverged" in message
    assert "  removed outputs written by the failed run: models" in message.splitlines()
    assert "  kept persistent outputs it modified (check them): state/history.txt" in message.splitlines()
    assert not (project.root / "models").exists()
    assert untouched.read_text() == "from an earlier run\n"
    assert history.read_text() == "earlier run\nrun started\n"
    assert other.read_text() == "another stage's output\n"
    assert "untouched.txt" not in message


def test_reruns_do_not_leave_running_folders(project: Project) -> None:
    nb_path = project.notebook("no_parameters_cell")
    first = run_notebook(nb_path, html=False)
    second = run_notebook(nb_path, html=False)
    assert first.executed_notebook == second.executed_notebook
    reports = project.root / "reports"
    assert sorted(str(p.relative_to(reports)) for p in reports.rglob("*")) == [
        "notebooks", "notebooks/no_parameters_cell", "notebooks/no_parameters_cell/no_parameters_cell.ipynb",
        "notebooks/no_parameters_cell/run.json"]
    assert run_json(reports / "notebooks" / "no_parameters_cell")["parameters"] == {}


def test_first_outputs_are_kept_and_the_kernel_is_gone_when_the_run_returns(project: Project) -> None:
    # the kernel handshake does not wait for IOPub to go quiet; it must still see every output
    project.params("prints_at_once: {}\n")
    nb_path = project.notebook("prints_at_once")
    pids = set()
    for _ in range(3):
        run_notebook(nb_path, html=False)
        executed = nbformat.read(project.root / "reports" / "notebooks" / "prints_at_once" / "prints_at_once.ipynb",
                                 as_version=4)
        first = cell_by_id(executed, "prints-at-once-2")
        text = stream_text(first)
        assert text.startswith("kernel pid ")
        assert [o.data["text/plain"] for o in first.outputs if o.output_type == "display_data"] == ["shown at once"]
        assert stream_text(cell_by_id(executed, "prints-at-once-3")) == "second cell\n"
        pid = int(text.split()[2])
        with pytest.raises(ProcessLookupError):  # stopped and reaped, not left running or a zombie
            os.kill(pid, 0)
        pids.add(pid)
    assert len(pids) == 3


def test_slow_cells_are_reported_by_their_number_in_the_source_notebook(
        project: Project, caplog: pytest.LogCaptureFixture) -> None:
    nb_path = project.notebook("sleeps")  # 4 cells; papermill's injected cell makes 5 in the executed copy
    project.params("sleeps:\n  seconds: 1.2\n")
    with caplog.at_level(logging.INFO, logger="mlprod.stages.engine"):
        run_notebook(nb_path, html=False)
    finished = [r.getMessage() for r in caplog.records if "finished in" in r.getMessage()]
    assert len(finished) == 1
    assert finished[0].startswith("sleeps (sleeps.ipynb): cell 3/4 finished in 1.")


def test_an_interrupted_cell_is_not_reported_as_finished(project: Project, caplog: pytest.LogCaptureFixture) -> None:
    nb_path = project.notebook("sleeps")
    project.params("sleeps:\n  seconds: 60\n")
    with caplog.at_level(logging.INFO, logger="mlprod.stages.engine"), pytest.raises(CellTimeoutError):
        run_notebook(nb_path, timeout=1.5, html=False)  # whole seconds for nbclient: 2 s
    assert not [r for r in caplog.records if "finished in" in r.getMessage()]
    failure = run_json(project.root / "reports" / "failed" / "sleeps")["failure"]
    assert failure["evalue"] == "the cell ran longer than the timeout of 2 s"


@pytest.mark.parametrize("limit", [0, -1, float("nan"), float("inf")])
def test_time_limits_must_be_positive_numbers(project: Project, limit: float) -> None:
    nb_path = project.notebook("sleeps")
    project.params("sleeps:\n  seconds: 60\n")
    with pytest.raises(ParamsError, match=r"the timeout must be a positive number of seconds, got"):
        run_notebook(nb_path, timeout=limit, html=False)
    with pytest.raises(ParamsError, match=r"the start timeout must be a positive number of seconds"):
        run_notebook(nb_path, start_timeout=limit, html=False)
    assert not (project.root / "reports").exists()  # nothing ran


def test_a_long_cell_is_reported_while_it_runs(project: Project, caplog: pytest.LogCaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import mlprod.stages.engine

    monkeypatch.setattr(mlprod.stages.engine, "STILL_RUNNING_EVERY", 1.0)
    nb_path = project.notebook("sleeps")
    project.params("sleeps:\n  seconds: 2.6\n")
    with caplog.at_level(logging.INFO, logger="mlprod.stages.engine"):
        run_notebook(nb_path, html=False)
    notes = [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    # about one a second while the 2.6 s cell runs (the exact count depends on the machine's load)
    assert 1 <= len(notes) <= 3 and len(set(notes)) == len(notes)
    assert all(n.startswith("sleeps (sleeps.ipynb): cell 3/4 still running after ") for n in notes)
    finished = [r.getMessage() for r in caplog.records if "finished in" in r.getMessage()]
    assert finished[0].startswith("sleeps (sleeps.ipynb): cell 3/4 finished in ")


def test_a_run_of_a_stage_that_is_running_stops_at_once_or_after_waiting(project: Project) -> None:
    from mlprod.errors import StageBusyError
    from mlprod.stages.stagelock import stage_lock

    nb_path = project.notebook("no_parameters_cell")
    with stage_lock(project.root, "no_parameters_cell"):  # another run of the stage holds its lock
        with pytest.raises(StageBusyError, match=rf"^stage 'no_parameters_cell' is already running \(pid {os.getpid()}, ") \
                as err:
            run_notebook(nb_path, html=False)
        assert err.value.exit_code == 75
        t0 = time.monotonic()
        with pytest.raises(StageBusyError, match=r"is still running after waiting 0.3 s \(pid "):
            run_notebook(nb_path, html=False, wait=0.3)
        assert time.monotonic() - t0 >= 0.3
        project.assert_no_kernel_started()  # nothing was created, nothing ran
    assert run_notebook(nb_path, html=False).status == "succeeded"  # released with the `with` block
    with pytest.raises(ParamsError, match=r"must be a number of seconds >= 0, got -1"):
        run_notebook(nb_path, html=False, wait=-1)


def test_stage_names_map_to_distinct_lock_files(tmp_path: Path) -> None:
    from mlprod.stages.stagelock import lock_path

    names = ["train", "a/b", "a_b", "..", "train@1"]
    paths = [lock_path(tmp_path, name) for name in names]
    assert len(set(paths)) == len(names)
    assert all(p.parent == tmp_path / ".mlprod" / "locks" for p in paths)
    assert paths[0].name == "train.lock"


def test_a_file_where_the_lock_folder_belongs_is_a_clear_error(project: Project) -> None:
    from mlprod.errors import ConfigError

    nb_path = project.notebook("no_parameters_cell")
    project.write(".mlprod", "a file, not a folder\n")
    with pytest.raises(ConfigError, match=r"cannot create the stage's lock file .*\.mlprod/ in the project root must be "
                                          r"a writable folder"):
        run_notebook(nb_path, html=False)
    project.assert_no_kernel_started()


def test_a_failure_before_the_first_cell_reads_well() -> None:
    from mlprod.stages.failures import execution_error
    from mlprod.stages.notebook import NotebookInfo
    from mlprod.stages.runrecord import CellFailure, RunRecord

    info = NotebookInfo(path=Path("train.ipynb"), sha256="0", language="python", cell_ids=(), parameters_cell=None,
                        parameters={})
    failure = CellFailure(kind="kernel_start", ename="RuntimeError", evalue="Kernel didn't respond in 1 seconds",
                          message="before the first cell: the kernel did not become ready within 1 s")
    record = RunRecord(stage="train", notebook="train.ipynb", notebook_sha256="0", status="failed", started_at="",
                       ended_at="", duration_seconds=0, parameters={}, defaults_used=[], overrides=[], params_file=None,
                       executed_notebook="reports/failed/train/train.ipynb", html=None, failure=failure)
    error = execution_error(info, record, [], [])
    assert isinstance(error, KernelDiedError)
    assert str(error).splitlines()[0] == (
        "train.ipynb failed before its first cell: RuntimeError: Kernel didn't respond in 1 seconds")


def test_a_very_long_error_message_is_bounded_and_says_where_the_rest_is(project: Project) -> None:
    nb_path = project.notebook("fails_with_long_message")
    project.params("fails_with_long_message:\n  lines: 40\n")
    with pytest.raises(CellError) as err:
        run_notebook(nb_path, html=False)
    lines = str(err.value).splitlines()
    assert lines[0].endswith("failed in cell 3 (id 'fails-with-long-message-3'): ValueError: problem 1")
    assert lines[1:14] == [f"    problem {i}" for i in range(2, 15)]
    assert lines[14] == "    … 26 more line(s); full message in reports/failed/fails_with_long_message/run.json"
    assert lines[15] == "  partially executed notebook: reports/failed/fails_with_long_message/fails_with_long_message.ipynb"
    evalue = run_json(project.root / "reports" / "failed" / "fails_with_long_message")["failure"]["evalue"]
    assert evalue.splitlines() == [f"problem {i}" for i in range(1, 41)]


def test_the_run_record_lists_the_shared_facts_and_the_notebook_names_where_each_value_is_set(
        project: Project) -> None:
    nb_path = project.notebook("uses_project_facts")
    project.params("""
        project:
          target: converted
          key: lead_id
          model_name: not-declared-by-this-notebook
        uses_project_facts:
          key: row_id         # the stage's section wins over the project's fact
          label: from-section
        """)
    record = run_notebook(nb_path, overrides=["threshold=0.9"], html=False)
    assert record.shared == ["target"]
    data = run_json(project.root / "reports" / "notebooks" / "uses_project_facts")
    assert data["shared"] == ["target"]
    assert data["parameters"] == {"target": "converted", "key": "row_id", "label": "from-section", "threshold": 0.9}
    keys = json.loads((project.root / "keys.json").read_text())
    assert keys == {"target": "project.target", "key": "uses_project_facts.key", "threshold": "-p threshold",
                    "label": "uses_project_facts.label"}
    assert read_run_record(project.root / "reports" / "notebooks" / "uses_project_facts" / "run.json").shared == \
        ["target"]


def test_a_version_2_run_record_stays_readable(tmp_path: Path) -> None:
    record = {"schema_version": 2, "stage": "train", "notebook": "train.ipynb", "notebook_sha256": "0",
              "status": "succeeded", "started_at": "", "ended_at": "", "duration_seconds": 1.0, "parameters": {},
              "defaults_used": [], "overrides": [], "params_file": None, "executed_notebook": "x.ipynb", "html": None,
              "python": {}, "run_id": "0" * 32}
    (tmp_path / "run.json").write_text(json.dumps(record))
    assert read_run_record(tmp_path / "run.json").shared == []
