"""``mlprod run`` as a user runs it: a subprocess, its exit code and what it prints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import Project


def mlprod(project: Project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlprod", *args], cwd=project.root, capture_output=True,
                          text=True, timeout=120, check=False)


def test_success_exits_0(project: Project) -> None:
    project.notebook("params_simple")
    project.params("custom:\n  alpha: 0.3\n")
    result = mlprod(project, "run", "params_simple.ipynb", "--stage", "custom", "-p", "epochs=3",
                    "--param", "features=[z]", "--no-html")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "mlprod run: params_simple.ipynb (custom) succeeded in "
        f"{json.loads((project.root / 'reports/notebooks/custom/run.json').read_text())['duration_seconds']:.1f}s; "
        "executed notebook: reports/notebooks/custom/custom.ipynb")
    data = json.loads((project.root / "reports" / "notebooks" / "custom" / "run.json").read_text())
    assert data["parameters"] == {"alpha": 0.3, "epochs": 3, "features": ["z"]}
    assert data["stage"] == "custom"
    assert "html" not in data
    assert result.stdout == ""


def test_failing_cell_exits_1_with_one_short_message(project: Project) -> None:
    project.notebook("fails_in_cell")
    project.params("fails_in_cell:\n  n: 2\n")
    result = mlprod(project, "run", "fails_in_cell.ipynb")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "mlprod run: fails_in_cell.ipynb failed in cell 4 (id 'fails-in-cell-4'): ValueError: boom: n=2 is not allowed",
        ("  partially executed notebook: reports/failed/fails_in_cell/fails_in_cell.ipynb "
         "(HTML: reports/failed/fails_in_cell/fails_in_cell.html)"),
    ]
    assert (project.root / "reports" / "failed" / "fails_in_cell" / "fails_in_cell.ipynb").is_file()


def test_params_error_exits_2_before_running_anything(project: Project) -> None:
    project.notebook("params_simple")
    project.params("params_simple:\n  epocs: 3\n")
    result = mlprod(project, "run", "params_simple.ipynb", "-p", "alpha=high")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("mlprod run: params_simple.ipynb: parameters do not match the notebook's "
                                    "parameters cell (cell 3 (id 'params-simple-3')):\n")
    params_file = (project.root / "params.yaml").resolve()
    assert f"  - {params_file} [params_simple] 'epocs': not a parameter of the notebook; did you mean 'epochs'?\n" \
        in result.stderr
    assert "  - -p alpha=high: expected float (declared on line 3 of the parameters cell), got str 'high'\n" \
        in result.stderr
    project.assert_no_kernel_started()


def test_bad_input_files_exit_2(project: Project) -> None:
    project.params("params_simple:\n  a: 1\n  a: 2\n")
    project.notebook("params_simple")
    result = mlprod(project, "run", "params_simple.ipynb")
    assert (result.returncode, "Traceback" in result.stderr) == (2, False)
    assert "params.yaml line 3: invalid YAML: duplicate key 'a' (first defined on line 2)" in result.stderr
    result = mlprod(project, "run", "missing.ipynb")
    assert (result.returncode, result.stderr) == (2, "mlprod run: missing.ipynb: notebook not found\n")
    project.assert_no_kernel_started()


def test_help_lists_every_verb_and_a_verb_parses_with_only_its_own_parser(project: Project) -> None:
    from mlprod.cli import VERBS

    top = mlprod(project, "--help")
    assert top.returncode == 0
    for verb in VERBS:
        assert f"\n    {verb} " in top.stdout, verb
    unknown = mlprod(project, "-v", "runn")
    assert unknown.returncode == 2
    assert "invalid choice: 'runn' (choose from 'run', 'manifest'" in unknown.stderr
    for verb in VERBS:
        shown = mlprod(project, "-v", verb, "--help")
        assert shown.returncode == 0, (verb, shown.stderr)
        assert shown.stdout.startswith(f"usage: mlprod {verb} "), verb


def test_sigterm_stops_the_run_like_ctrl_c(project: Project) -> None:
    # a CI timeout or `kill`: the kernel goes, the partial notebook is kept, the new output is removed
    project.notebook("writes_then_waits")
    project.params("writes_then_waits: {}\n")
    project.write("dvc.yaml", """
        stages:
          writes_then_waits:
            cmd: mlprod run writes_then_waits.ipynb
            outs:
              - models
        """)
    proc = subprocess.Popen([sys.executable, "-m", "mlprod", "run", "writes_then_waits.ipynb", "--no-html"],
                            cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid_file = project.root / "kernel.pid"
    deadline = time.monotonic() + 60
    while not (pid_file.is_file() and pid_file.read_text()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (project.root / "models" / "model.txt").is_file()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 128 + signal.SIGTERM
    assert stderr.strip().splitlines()[-3:] == [
        "mlprod run: writes_then_waits.ipynb failed in cell 3 (id 'writes-then-waits-3'): "
        "StopRequested: the run was stopped by SIGTERM",
        "  partially executed notebook: reports/failed/writes_then_waits/writes_then_waits.ipynb",
        "  removed outputs written by the failed run: models"]
    failed = json.loads((project.root / "reports/failed/writes_then_waits/run.json").read_text())
    assert (failed["status"], failed["failure"]["kind"], failed["failure"]["cell"]) == ("failed", "interrupted", 3)
    assert not (project.root / "models").exists()
    assert not (project.root / "reports" / "running").exists()
    kernel = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(kernel, 0)


def test_log_output_prints_what_the_notebook_prints_while_it_runs(project: Project) -> None:
    project.notebook("prints_at_once")
    project.params("prints_at_once: {}\n")
    quiet = mlprod(project, "run", "prints_at_once.ipynb", "--no-html")
    assert quiet.returncode == 0 and quiet.stdout == ""
    loud = mlprod(project, "run", "prints_at_once.ipynb", "--no-html", "--log-output")
    assert loud.returncode == 0, loud.stderr
    lines = loud.stdout.splitlines()
    assert lines[0].startswith("kernel pid ") and lines[1:] == ["second cell"]
