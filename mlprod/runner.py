"""``mlprod run``: execute a notebook as a pipeline stage with papermill.

Order of work, chosen so a user mistake costs nothing and the run costs little:

1. read the notebook and check the stage's parameters against its ``parameters`` cell (no kernel yet);
2. start the kernel on this interpreter, then import papermill while the kernel boots;
3. execute with papermill (parameters injected after the ``parameters`` cell);
4. on success, move the executed notebook, its HTML and the run record into ``reports/notebooks/<stage>/``
   in one rename; on failure, put them in ``reports/failed/<stage>/``, remove the stage outputs the
   failed run wrote, and raise an :class:`~mlprod.errors.ExecutionError` naming the source cell.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from . import outputs
from .atomic import replace_dir, write_text
from .errors import (CellError, CellTimeoutError, ExecutionError, KernelDiedError, NotebookError, ParamsError,
                     StopRequested)
from .notebook import NotebookInfo, read_notebook
from .outpaths import check_dir
from .params import ResolvedParams, find_params_file, parse_overrides, resolve_params
from .runrecord import RUN_RECORD_FILE, CellFailure, RunRecord
from .startup import papermill_imports

logger = logging.getLogger(__name__)

REPORTS_DIR = Path("reports")
ENV_STAGE = "MLPROD_STAGE"
ENV_PARAMS_FILE = "MLPROD_PARAMS_FILE"
ENV_RUN = "MLPROD_RUN"  # JSON run context for the kernel: what a model manifest records as its lineage


@dataclass(frozen=True)
class RunPaths:
    """Where a run's executed notebook, HTML and run record go."""

    root: Path
    stage: str

    @property
    def succeeded(self) -> Path:
        return self.root / "notebooks" / self.stage

    @property
    def failed(self) -> Path:
        return self.root / "failed" / self.stage

    @property
    def running(self) -> Path:
        return self.root / "running" / self.stage


def run_notebook(
    notebook: str | Path,
    *,
    stage: str | None = None,
    params_file: str | Path | None = None,
    overrides: Iterable[str] | dict[str, Any] = (),
    reports_dir: str | Path | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,
    start_timeout: float = 60,
    html: bool = True,
    log_output: bool = False,
    lean_imports: bool = False,
) -> RunRecord:
    """Run ``notebook`` as ``stage`` and return its run record; raises :class:`ExecutionError` on failure.

    ``log_output`` copies what the notebook prints (stdout, stderr) to this process's stdout and stderr
    while it runs. ``lean_imports`` trims papermill's imports for a short-lived process (see
    :mod:`mlprod.startup`).
    """
    started = _now()
    t0 = time.monotonic()
    timeout = _whole_seconds("timeout", timeout)
    start_timeout = _whole_seconds("start timeout", start_timeout)
    info = read_notebook(notebook)
    stage = stage or info.path.stem
    params_path = Path(params_file) if params_file else find_params_file(cwd)
    workdir = Path(cwd) if cwd else (params_path.parent if params_path else Path.cwd())
    parsed = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    resolved = resolve_params(info, stage, params_path, parsed)
    if info.injected_cell is not None and not resolved.values:
        raise NotebookError(
            f"{info.path}: {info.cell_label(info.injected_cell)} is papermill's 'injected-parameters' cell, saved "
            "from an executed copy; with no parameters to inject it would rerun stale values. Delete that cell.")
    paths = RunPaths(check_dir(reports_dir if reports_dir else workdir / REPORTS_DIR, what="reports folder",
                               folders=[f"{kind}/{stage}" for kind in ("running", "notebooks", "failed")]), stage)
    logger.debug("parameters checked at %.3fs", time.monotonic() - t0)
    snap = outputs.snapshot(outputs.declared_outputs(workdir, os.environ.get("DVC_STAGE") or stage))
    _reset_dir(paths.running)
    executed = paths.running / f"{stage}.ipynb"

    from .kernel import start_kernel

    run_id = uuid.uuid4().hex
    context = {"run_id": run_id, "stage": stage, "notebook": _display(info.path), "notebook_sha256": info.sha256,
               "parameters": resolved.values, "started_at": started,
               "run_record": _display(paths.succeeded / RUN_RECORD_FILE)}
    env = {ENV_STAGE: stage, ENV_PARAMS_FILE: str(params_path.resolve()) if params_path else "",
           ENV_RUN: json.dumps(context, sort_keys=True, default=str)}
    try:
        kernel = start_kernel(cwd=workdir.resolve(), env=env)
    except Exception as exc:  # the interpreter or ipykernel is broken: nothing ran
        shutil.rmtree(paths.running, ignore_errors=True)
        raise KernelDiedError(f"{info.path}: could not start a Python kernel ({sys.executable} -m "
                              f"ipykernel_launcher): {exc}. Is ipykernel installed in this environment?") from exc

    logger.debug("kernel launched at %.3fs", time.monotonic() - t0)
    try:
        with papermill_imports(lean=lean_imports):
            import papermill
            from papermill.exceptions import PapermillExecutionError

            from .engine import ENGINE_NAME, Progress, register
        from .html import HtmlRenderer

        register()
        _drop_papermill_parameter_warnings()
        logger.debug("papermill imported at %.3fs", time.monotonic() - t0)
        renderer = HtmlRenderer() if html else None
        # nbconvert loads while the cells run, not while this process is still getting the kernel ready
        progress = Progress(label=f"{stage} ({info.path.name})", total=len(info.cell_ids),
                            source_index=_source_indexer(info, resolved),
                            on_first_cell=renderer.start if renderer else None)
        failure: CellFailure | None = None
        try:
            nb = papermill.execute_notebook(
                str(info.path), str(executed), parameters=resolved.values, engine_name=ENGINE_NAME,
                kernel_name="mlprod-python", language="python", progress_bar=False, start_timeout=start_timeout,
                execution_timeout=timeout, km=kernel.manager, progress=progress,
                stdout_file=sys.stdout if log_output else None, stderr_file=sys.stderr if log_output else None)
        except PapermillExecutionError as exc:
            failure = _cell_failure(info, resolved, exc.cell_index, "cell_error", exc.ename, exc.evalue)
        except BaseException as exc:  # noqa: BLE001 - every way a run can end must be reported
            failure = _classify(info, resolved, progress.started, exc, timeout, start_timeout)
            if failure is None:
                raise
        finally:
            logger.debug("execution ended at %.3fs", time.monotonic() - t0)
            stopper = threading.Thread(target=kernel.shutdown, name="mlprod-kernel-shutdown")
            stopper.start()  # stopping the kernel overlaps writing the results
        if failure is None:
            record = _finish(info, resolved, paths, executed, nb, renderer, started, t0, None, run_id)
            stopper.join()
            shutil.rmtree(paths.failed, ignore_errors=True)
            return record
        nb = _load(executed) or progress.notebook
        record = _finish(info, resolved, paths, executed, nb, renderer, started, t0, failure, run_id)
        stopper.join()
    finally:
        shutil.rmtree(paths.running, ignore_errors=True)
        _remove_if_empty(paths.running.parent)

    removed, kept = outputs.remove_changed(snap)
    raise _execution_error(info, record, paths, removed, kept)


def _finish(info: NotebookInfo, resolved: ResolvedParams, paths: RunPaths, executed: Path, nb: Any,
            renderer: Any, started: str, t0: float, failure: CellFailure | None, run_id: str) -> RunRecord:
    target = paths.failed if failure else paths.succeeded
    stage = resolved.stage
    if nb is not None and not executed.is_file():
        import nbformat

        write_text(executed, nbformat.writes(nb))
    html_path = None
    if renderer is not None and nb is not None:
        try:
            write_text(paths.running / f"{stage}.html", renderer.render(nb))
            html_path = str(target / f"{stage}.html")
        except Exception as exc:  # noqa: BLE001 - a failed rendering must not hide the run's outcome
            logger.warning("could not render %s as HTML: %s", executed, exc)
        logger.debug("HTML rendered at %.3fs", time.monotonic() - t0)
    record = RunRecord(
        stage=stage, run_id=run_id, notebook=_display(info.path), notebook_sha256=info.sha256,
        status="failed" if failure else "succeeded", started_at=started, ended_at=_now(),
        duration_seconds=round(time.monotonic() - t0, 3), parameters=resolved.values,
        defaults_used=list(resolved.defaults_used), overrides=list(resolved.overrides),
        params_file=_display(resolved.params_file) if resolved.params_file else None,
        executed_notebook=_display(target / f"{stage}.ipynb"),
        html=_display(Path(html_path)) if html_path else None, failure=failure)
    record.write(paths.running / RUN_RECORD_FILE)
    replace_dir(paths.running, target)
    logger.debug("results moved to %s at %.3fs", _display(target), time.monotonic() - t0)
    return record


def _classify(info: NotebookInfo, resolved: ResolvedParams, index: int | None, exc: BaseException,
              timeout: float | None, start_timeout: float) -> CellFailure | None:
    from nbclient.exceptions import CellTimeoutError as NbCellTimeout
    from nbclient.exceptions import DeadKernelError

    if isinstance(exc, NbCellTimeout):
        return _cell_failure(info, resolved, index, "timeout", "CellTimeoutError",
                             f"the cell ran longer than the timeout of {timeout:g} s")
    if isinstance(exc, DeadKernelError) or (isinstance(exc, RuntimeError) and "Kernel died" in str(exc)):
        return _cell_failure(info, resolved, index, "kernel_died", "DeadKernelError",
                             "the kernel process died (killed, out of memory, or os._exit() in the notebook)")
    if isinstance(exc, StopRequested):
        return _cell_failure(info, resolved, index, "interrupted", "StopRequested", f"the run was {exc}")
    if isinstance(exc, KeyboardInterrupt):
        return _cell_failure(info, resolved, index, "interrupted", "KeyboardInterrupt", "interrupted by the user")
    if isinstance(exc, RuntimeError) and "Kernel didn't respond" in str(exc):
        return CellFailure(kind="kernel_start", ename="RuntimeError",
                           message=f"the kernel did not become ready within {start_timeout:g} s",
                           evalue=str(exc))
    return None


def _cell_failure(info: NotebookInfo, resolved: ResolvedParams, exec_index: int | None, kind: str,
                  ename: str | None, evalue: str | None) -> CellFailure:
    source_index = _source_indexer(info, resolved)(exec_index)
    cell, cell_id = None, None
    if source_index is not None:
        cell, cell_id = source_index + 1, info.cell_ids[source_index] or None
    where = f"cell {cell}" if cell else "before the first cell"
    if source_index is None and exec_index is not None:
        where = "in the injected parameters cell"
    message = f"{ename}: {evalue}" if evalue else str(ename)
    return CellFailure(kind=kind, message=f"{where}: {message}", cell=cell, cell_id=cell_id, ename=ename,
                       evalue=evalue)


def _source_indexer(info: NotebookInfo, resolved: ResolvedParams) -> Callable[[int | None], int | None]:
    """Maps a cell's index in the executed notebook to its index in the source notebook."""
    injected = info.parameters_cell + 1 if resolved.values and info.parameters_cell is not None else None
    replaced = injected is not None and info.injected_cell is not None  # papermill overwrites a stale one in place
    return functools.partial(_source_index, injected=info.injected_cell if replaced else injected,
                             shifted=not replaced)


def _source_index(exec_index: int | None, injected: int | None, shifted: bool = True) -> int | None:
    """Index in the source notebook of executed cell ``exec_index`` (None for the injected cell)."""
    if exec_index is None or exec_index == injected:
        return None
    return exec_index - 1 if shifted and injected is not None and exec_index > injected else exec_index


def _execution_error(info: NotebookInfo, record: RunRecord, paths: RunPaths, removed: list[Path],
                     kept: list[Path]) -> ExecutionError:
    failure = record.failure
    assert failure is not None
    cls = {"timeout": CellTimeoutError, "kernel_died": KernelDiedError, "kernel_start": KernelDiedError}.get(
        failure.kind, CellError)
    if failure.cell:
        where = f"cell {failure.cell}" + (f" (id {failure.cell_id!r})" if failure.cell_id else "")
    elif failure.message.startswith("in the injected parameters cell"):
        where = "the injected parameters cell"
    else:
        where = "before its first cell"
    detail = f"{failure.ename}: {failure.evalue}" if failure.evalue else str(failure.ename)
    lines = [f"{_display(info.path)} failed in {where}: {_short_message(detail)}",
             f"  partially executed notebook: {record.executed_notebook}"
             + (f" (HTML: {record.html})" if record.html else "")]
    if removed:
        lines.append("  removed outputs written by the failed run: " + ", ".join(_display(p) for p in removed))
    if kept:
        lines.append("  kept persistent outputs it modified (check them): " + ", ".join(_display(p) for p in kept))
    error = cls("\n".join(lines), record=record)
    if failure.kind == "interrupted":  # the shell's convention: 128 + the signal's number
        error.exit_code = 128 + (signal.SIGTERM if failure.ename == "StopRequested" else signal.SIGINT)
    return error


class _DropParameterWarnings(logging.Filter):
    """papermill warns about parameters its regex parser cannot see (e.g. annotated ones); mlprod has
    already checked every parameter against the notebook with a real parser."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Passed unknown parameter")


def _drop_papermill_parameter_warnings() -> None:
    papermill_logger = logging.getLogger("papermill")
    if not any(isinstance(f, _DropParameterWarnings) for f in papermill_logger.filters):
        papermill_logger.addFilter(_DropParameterWarnings())


def _whole_seconds(name: str, value: float | None) -> int | None:
    """A time limit as nbclient takes it: whole seconds (a fraction rounds up); None for no limit."""
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ParamsError(f"the {name} must be a positive number of seconds, got {value!r}")
    return math.ceil(value)


def _reset_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _load(path: Path) -> Any:
    if not path.is_file():
        return None
    import nbformat

    return nbformat.read(str(path), as_version=4)


def _short_message(text: str, max_lines: int = 30, width: int = 300) -> str:
    """The exception message, kept short: its lines (at most ``max_lines``), each cut at ``width``.

    A one-line message stays one line; a message that lists several problems (a data gate naming each
    failing check) keeps its lines, indented under the first.
    """
    lines = [" ".join(line.split()) for line in str(text).strip().splitlines()]
    lines = [line if len(line) <= width else line[: width - 3] + "..." for line in lines if line]
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [f"... {len(lines) - max_lines + 1} more line(s) in the notebook"]
    return "\n    ".join(lines)


def _display(path: Path | str) -> str:
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
