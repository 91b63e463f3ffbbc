"""``mlprod run`` as a user runs it: a subprocess, its exit code and what it prints."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
    assert "invalid choice: 'runn' (choose from 'init', 'check', 'run', 'manifest'" in unknown.stderr
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
                            cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    pid_file = project.root / "kernel.pid"
    deadline = time.monotonic() + 60
    while not (pid_file.is_file() and pid_file.read_text()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (project.root / "models" / "model.txt").is_file()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 128 + signal.SIGTERM
    assert stderr.strip().splitlines()[-3:] == [
        "mlprod run: writes_then_waits.ipynb stopped by SIGTERM in cell 3 (id 'writes-then-waits-3')",
        "  partially executed notebook: reports/failed/writes_then_waits/writes_then_waits.ipynb",
        "  removed outputs written by the stopped run: models"]
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


# --- one run of a stage at a time; signals at the edges of a run -------------------------------------------------

def interruptible() -> None:
    """In the child before exec: Ctrl-C as in a terminal, even when the tests run in a background job (a shell
    starts those with SIGINT ignored, a child inherits that, and Python then installs no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(project: Project, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mlprod", *args], cwd=project.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env}, preexec_fn=interruptible)


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 90) -> None:
    """Until ``path`` exists (written by the notebook or the runner's test pause); fails if ``proc`` ends first."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {path.name} appeared: {proc.communicate()}")
        assert time.monotonic() < deadline, f"{path} did not appear within {seconds} s"
        time.sleep(0.02)


def state(root: Path, *folders: str) -> dict[str, tuple]:
    """Every file and folder under ``folders``: identity (inode), modification time and content."""
    found = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            info = path.lstat()
            found[str(path.relative_to(root))] = (info.st_ino, info.st_mtime_ns,
                                                  path.read_bytes() if path.is_file() else None)
    return found


def kill_kernel(pid_file: Path) -> None:
    """Stop a kernel a test left waiting (its parent was killed), if it is still there."""
    if pid_file.is_file():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def waiting_stage(project: Project) -> None:
    project.notebook("waits_for_file")
    project.params("waits_for_file: {}\n")
    project.write("dvc.yaml", """
        stages:
          waits_for_file:
            cmd: mlprod run waits_for_file.ipynb
            outs:
              - models
        """)


def test_a_second_run_of_a_running_stage_stops_at_once_and_touches_nothing(project: Project) -> None:
    waiting_stage(project)
    project.write("reports/failed/waits_for_file/run.json", '{"an": "earlier failed run"}\n')
    first = start(project, "run", "waits_for_file.ipynb", "--no-html", "-p", "label=first", "-p", "release=go-first")
    try:
        wait_for(project.root / "first.pid", first)  # the first run is inside its waiting cell
        before = state(project.root, "reports", "models")
        assert "reports/running/waits_for_file" in before
        assert (project.root / "models" / "model.txt").read_text() == "first: started"

        second = mlprod(project, "run", "waits_for_file.ipynb", "--no-html", "-p", "label=second")
        assert second.returncode == 75
        assert second.stdout == "" and len(second.stderr.splitlines()) == 1, second.stderr
        assert second.stderr.startswith(
            f"mlprod run: stage 'waits_for_file' is already running (pid {first.pid}, started ")
        assert f"; a second run at the same time would mix its outputs with that run's, so nothing was run. " \
               f"Wait for it to finish or stop it (kill {first.pid}), or pass --wait SECONDS" in second.stderr
        assert second.stderr.endswith("Lock file: .mlprod/locks/waits_for_file.lock\n")

        waited = mlprod(project, "run", "waits_for_file.ipynb", "--no-html", "-p", "label=second", "--wait", "0.5")
        assert waited.returncode == 75
        assert waited.stderr.splitlines()[0].startswith(
            f"mlprod: stage 'waits_for_file' is already running (pid {first.pid}, ")
        assert waited.stderr.splitlines()[0].endswith("; waiting up to 0.5 s for it to finish")
        assert waited.stderr.splitlines()[1].startswith(
            f"mlprod run: stage 'waits_for_file' is still running after waiting 0.5 s (pid {first.pid}, ")

        assert state(project.root, "reports", "models") == before  # nothing removed, replaced or touched
        assert not (project.root / "second.pid").exists()
    finally:
        (project.root / "go-first").touch()
        _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert (project.root / "models" / "model.txt").read_text() == "first: finished"
    assert json.loads((project.root / "reports/notebooks/waits_for_file/run.json").read_text())["parameters"] == {
        "label": "first", "release": "go-first"}
    assert (project.root / ".mlprod" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_a_run_told_to_wait_starts_when_the_first_one_ends(project: Project) -> None:
    waiting_stage(project)
    (project.root / "go-second").touch()
    first = start(project, "run", "waits_for_file.ipynb", "--no-html", "-p", "label=first", "-p", "release=go-first")
    second = None
    try:
        wait_for(project.root / "first.pid", first)
        second = start(project, "run", "waits_for_file.ipynb", "--no-html", "-p", "label=second",
                       "-p", "release=go-second", "--wait", "120")
        line = second.stderr.readline()  # said as soon as it starts waiting
        assert line.startswith(f"mlprod: stage 'waits_for_file' is already running (pid {first.pid}, "), line
        assert line.endswith("; waiting up to 120 s for it to finish\n")
        # the first run cannot end before go-first exists, so the second is still waiting, not running
        assert second.poll() is None and not (project.root / "second.pid").exists()
        assert (project.root / "models" / "model.txt").read_text() == "first: started"
    finally:
        (project.root / "go-first").touch()
        first.communicate(timeout=120)
        if second is not None:
            _, rest = second.communicate(timeout=120)
    assert (first.returncode, second.returncode) == (0, 0), rest
    assert (project.root / "models" / "model.txt").read_text() == "second: finished"
    record = json.loads((project.root / "reports/notebooks/waits_for_file/run.json").read_text())
    assert record["parameters"]["label"] == "second"


def test_a_killed_run_releases_its_lock(project: Project) -> None:
    # `dvc repro` killed hard, or mlprod itself SIGKILLed: the operating system releases the lock
    waiting_stage(project)
    (project.root / "go-second").touch()
    first = start(project, "run", "waits_for_file.ipynb", "--no-html", "-p", "label=first", "-p", "release=go-first")
    try:
        wait_for(project.root / "first.pid", first)
        first.kill()
        first.wait(timeout=30)
        assert (project.root / "reports" / "running" / "waits_for_file").is_dir()  # left behind by the kill
        second = mlprod(project, "run", "waits_for_file.ipynb", "--no-html", "-p", "label=second",
                        "-p", "release=go-second")
    finally:
        kill_kernel(project.root / "first.pid")  # its parent is gone; the test stops it
    assert second.returncode == 0, second.stderr
    assert (project.root / "models" / "model.txt").read_text() == "second: finished"
    assert not (project.root / "reports" / "running").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_before_the_commit_point_stops_the_run(project: Project, signum: int) -> None:
    waiting_stage(project)
    (project.root / "release").touch()
    earlier = project.write("reports/notebooks/waits_for_file/run.json", '{"an": "earlier successful run"}\n')
    pause = project.root / "paused"
    proc = start(project, "run", "waits_for_file.ipynb", MLPROD_TEST_PAUSE=f"before-commit={pause}")
    wait_for(pause, proc)  # every cell ran, the results are ready in reports/running, not yet renamed
    assert (project.root / "models" / "model.txt").read_text() == "run: finished"
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 128 + signum
    name = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else "SIGTERM"
    assert stderr.strip().splitlines()[-3:] == [
        f"mlprod run: waits_for_file.ipynb stopped by {name} after its last cell, before its results were saved",
        ("  executed notebook: reports/failed/waits_for_file/waits_for_file.ipynb "
         "(HTML: reports/failed/waits_for_file/waits_for_file.html)"),
        "  removed outputs written by the stopped run: models"]
    assert "Traceback" not in stderr
    assert not (project.root / "models").exists()
    assert earlier.read_text() == '{"an": "earlier successful run"}\n'  # the previous results stay
    failed = json.loads((project.root / "reports/failed/waits_for_file/run.json").read_text())
    assert (failed["status"], failed["failure"]["kind"]) == ("failed", "interrupted")
    assert not (project.root / "reports" / "running").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_after_the_commit_point_is_held_back_and_the_run_succeeds(project: Project, signum: int) -> None:
    waiting_stage(project)
    (project.root / "release").touch()
    project.write("reports/failed/waits_for_file/run.json", '{"an": "earlier failed run"}\n')
    pause = project.root / "paused"
    proc = start(project, "run", "waits_for_file.ipynb", "--no-html", MLPROD_TEST_PAUSE=f"after-commit={pause}")
    wait_for(pause, proc)  # the results have been renamed into place
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 0, stderr
    name = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else "SIGTERM"
    lines = stderr.strip().splitlines()
    assert lines[-2] == f"mlprod: {name} arrived after the results of 'waits_for_file' were saved; the run has succeeded"
    assert lines[-1].startswith("mlprod run: waits_for_file.ipynb (waits_for_file) succeeded in ")
    record = json.loads((project.root / "reports/notebooks/waits_for_file/run.json").read_text())
    assert record["status"] == "succeeded"
    assert (project.root / "models" / "model.txt").read_text() == "run: finished"
    assert not (project.root / "reports" / "failed" / "waits_for_file").exists()  # its own clean-up was done
    assert not (project.root / "reports" / "running").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_kernel_starts_leaves_nothing_behind(project: Project, tmp_path_factory: pytest.TempPathFactory,
                                                                signum: int) -> None:
    waiting_stage(project)
    (project.root / "release").touch()
    failed = project.write("reports/failed/waits_for_file/run.json", '{"an": "earlier failed run"}\n')
    temp = tmp_path_factory.mktemp("tmpdir")  # where the kernel's connection file (its HMAC key) is written
    pause = project.root / "paused"
    proc = start(project, "run", "waits_for_file.ipynb", MLPROD_TEST_PAUSE=f"kernel-start={pause}", TMPDIR=str(temp))
    wait_for(pause, proc)  # the kernel process exists, its connection file is written
    kernel = int(pause.read_text())
    assert [p.name for p in temp.iterdir()][0].startswith("mlprod-kernel-")
    assert (project.root / "reports" / "running" / "waits_for_file").is_dir()
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)

    name = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else "SIGTERM"
    assert (proc.returncode, stderr) == (128 + signum, (
        f"mlprod run: waits_for_file.ipynb: stopped by {name} while the kernel was starting; "
        "no cell ran and nothing was saved\n"))
    assert list(temp.iterdir()) == []
    assert not (project.root / "reports" / "running").exists()
    assert failed.read_text() == '{"an": "earlier failed run"}\n'
    assert not (project.root / "models").exists() and not (project.root / "run.pid").exists()
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(kernel, 0)


def test_ctrl_c_outside_a_run_still_says_what_happened(project: Project) -> None:
    # a Ctrl-C while mlprod waits for a busy stage (or anywhere outside a run) is not "mlprod run: " alone
    waiting_stage(project)
    first = start(project, "run", "waits_for_file.ipynb", "--no-html", "-p", "label=first", "-p", "release=go-first")
    try:
        wait_for(project.root / "first.pid", first)
        second = start(project, "run", "waits_for_file.ipynb", "--no-html", "--wait", "inf")
        assert second.stderr.readline().endswith("; waiting as long as it takes for it to finish\n")
        second.send_signal(signal.SIGINT)
        _, stderr = second.communicate(timeout=60)
        assert (second.returncode, stderr) == (130, "mlprod run: interrupted by Ctrl-C (SIGINT)\n")
    finally:
        (project.root / "go-first").touch()
        first.communicate(timeout=120)
    assert first.returncode == 0


def test_a_long_multi_line_error_is_shown_whole_on_the_console(project: Project) -> None:
    project.notebook("fails_with_long_message")
    project.params("fails_with_long_message: {}\n")
    result = mlprod(project, "run", "fails_with_long_message.ipynb", "--no-html")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == ("mlprod run: fails_with_long_message.ipynb failed in cell 3 (id 'fails-with-long-message-3'): "
                        "ValueError: Input X contains NaN.")
    message = " ".join(line.strip() for line in lines[1:-1])
    # scikit-learn's advice, on the second line of its message, reaches the console in full
    assert "by using an imputer transformer in a pipeline or drop samples with missing values" in message
    assert message.endswith("https://scikit-learn.org/stable/modules/impute.html#estimators-that-handle-nan-values")
    # every line of the message whole (greppable), not wrapped: scikit-learn's message has two lines
    assert len(lines) == 3 and lines[1].startswith("    LogisticRegression does not accept missing values")
    assert lines[-1] == "  partially executed notebook: reports/failed/fails_with_long_message/fails_with_long_message.ipynb"


def test_params_file_outside_the_project_is_only_read(project: Project,
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    project.notebook("calls_init_stage")
    project.params("calls_init_stage:\n  label: from-the-project\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    other = elsewhere / "params.yaml"
    other.write_text("calls_init_stage:\n  label: from-elsewhere\n", encoding="utf-8")
    inside = project.write("experiments/big.yaml", "calls_init_stage:\n  label: an-experiment\n")
    root = project.root.resolve()

    for params_file, label, note in [
            (other, "from-elsewhere", f"mlprod: parameters from {other.resolve()} (outside the project, only read); "
                                      f"the notebook runs in the project root {root} (found from the working directory)"),
            (inside, "an-experiment", f"mlprod: parameters from {inside.resolve()}; "
                                      f"the notebook runs in the project root {root} (found from the working directory)")]:
        result = mlprod(project, "run", "calls_init_stage.ipynb", "--no-html", "--params-file", str(params_file))
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines()[0] == note
        executed = json.loads((project.root / "reports/notebooks/calls_init_stage/calls_init_stage.ipynb").read_text())
        printed = json.loads("".join(executed["cells"][-1]["outputs"][0]["text"]))
        assert (printed["label"], printed["cwd"]) == (label, str(root))
        record = json.loads((project.root / "reports/notebooks/calls_init_stage/run.json").read_text())
        assert record["params_file"] == (str(other) if params_file == other else "experiments/big.yaml")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["params.yaml"]  # nothing written there
    assert sorted(p.name for p in inside.parent.iterdir()) == ["big.yaml"]
    # the project's own params.yaml named explicitly: nothing to say
    plain = mlprod(project, "run", "calls_init_stage.ipynb", "--no-html", "--params-file", "params.yaml")
    assert plain.returncode == 0 and not plain.stderr.startswith("mlprod: parameters from"), plain.stderr
