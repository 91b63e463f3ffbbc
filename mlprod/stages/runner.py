"""``mlprod run``: execute a notebook as a pipeline stage with papermill.

Order of work, chosen so a user mistake costs nothing and the run costs little:

1. read the notebook and check the stage's parameters against its ``parameters`` cell, and the project's facts
   it uses (target, features, ...) against the header of the data files it names (no kernel yet);
2. take the stage's lock (:mod:`mlprod.stages.stagelock`): a second run of the stage stops (or waits) here,
   before it touches anything of the first one;
3. start the kernel on this interpreter, then import papermill while the kernel boots;
4. execute with papermill (parameters injected after the ``parameters`` cell);
5. on success, move the executed notebook, its HTML and the run record into ``reports/notebooks/<stage>/``
   in one rename: the commit point. Ctrl-C or SIGTERM before it stops the run (as a failure, exit
   130/143); one after it is held back and the run ends as succeeded. On failure, put them in
   ``reports/failed/<stage>/``, remove the stage outputs the failed run wrote, and raise an
   :class:`~mlprod.errors.ExecutionError` naming the source cell.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from . import outputs
from ..atomic import replace_dir, write_text
from ..errors import KernelDiedError, NotebookError, ParamsError
from ..project.stagecheck import check_stage_facts
from .failures import cell_failure, classify, execution_error, source_indexer, stop_reason, stopped_at_start
from .notebook import NotebookInfo, read_notebook
from ..outpaths import check_dir
from .params import PARAMS_FILE, ResolvedParams, parse_overrides, project_root, resolve_params
from .scratch import declared_outputs
from .runrecord import RUN_RECORD_FILE, CellFailure, RunRecord, display_path
from .signals import DeferredSignals, signal_name
from .stagelock import check_wait, describe_holder, stage_lock
from .startup import papermill_imports

logger = logging.getLogger(__name__)

REPORTS_DIR = Path("reports")
ENV_STAGE = "MLPROD_STAGE"
ENV_PARAMS_FILE = "MLPROD_PARAMS_FILE"
ENV_RUN = "MLPROD_RUN"  # JSON run context for the kernel: what a model manifest records as its lineage
ENV_TEST_PAUSE = "MLPROD_TEST_PAUSE"  # tests only: "<point>=<file>" pauses the run at <point> (see _pause_point)


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
    wait: float = 0,
) -> RunRecord:
    """Run ``notebook`` as ``stage`` and return its run record; raises :class:`ExecutionError` on failure.

    The notebook runs in the project root: ``cwd`` if given, else the folder of the ``params.yaml``
    found from the working directory (else the working directory); ``params_file`` only chooses the
    file the parameters are read from. One run of a stage at a time: if another run of ``stage`` holds
    its lock, wait up to ``wait`` seconds (``math.inf``: as long as it takes), then raise
    :class:`StageBusyError` without touching anything. ``log_output`` copies what the notebook prints
    (stdout, stderr) to this process's stdout and stderr while it runs. ``lean_imports`` trims
    papermill's imports for a short-lived process (see :mod:`mlprod.stages.startup`).
    """
    started = _now()
    t0 = time.monotonic()
    timeout = _whole_seconds("timeout", timeout)
    start_timeout = _whole_seconds("start timeout", start_timeout)
    wait = check_wait(wait)
    info = read_notebook(notebook)
    stage = stage or info.path.stem
    root, params_path = project_root(cwd, params_file)
    parsed = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    resolved = resolve_params(info, stage, params_path, parsed)
    # the facts it uses name columns of its data files (header reads only; not the files it writes)
    check_stage_facts(resolved, root, declared_outputs(root, stage))
    if info.injected_cell is not None and not resolved.values:
        raise NotebookError(
            f"{info.path}: {info.cell_label(info.injected_cell)} is papermill's 'injected-parameters' cell, saved "
            "from an executed copy; with no parameters to inject it would rerun stale values. Delete that cell.")
    if params_file:
        _say_params_file(root, params_path, from_cwd=cwd is not None)
    paths = RunPaths(check_dir(reports_dir if reports_dir else root / REPORTS_DIR, what="reports folder",
                               folders=[f"{kind}/{stage}" for kind in ("running", "notebooks", "failed")]), stage)
    logger.debug("parameters checked at %.3fs", time.monotonic() - t0)
    waited: list[dict] = []
    # held from the commit point (or a failed run's clean-up) until the run has ended
    with DeferredSignals(hold=False) as signals:
        with stage_lock(root, stage, wait=wait, on_wait=functools.partial(_say_waiting, stage, wait, waited)):
            if waited:  # the run starts now, not when it began to wait
                started, t0 = _now(), time.monotonic()
            job = _Job(info=info, resolved=resolved, paths=paths, root=root, started=started, t0=t0,
                       run_id=uuid.uuid4().hex)
            snap = outputs.snapshot(outputs.declared_outputs(root, os.environ.get("DVC_STAGE") or stage))
            created_reports = not paths.root.exists()
            _reset_dir(paths.running)
            try:
                record = _execute(job, snap, params_path, signals, timeout=timeout, start_timeout=start_timeout,
                                  html=html, log_output=log_output, lean_imports=lean_imports)
            finally:
                signals.hold()
                shutil.rmtree(paths.running, ignore_errors=True)
                _remove_if_empty(paths.running.parent)
                if created_reports:
                    _remove_if_empty(paths.root)
        if signals.received:
            logger.warning("%s arrived after the results of %r were saved; the run has succeeded",
                           ", ".join(map(signal_name, signals.received)), stage)
        return record


@dataclass(frozen=True)
class _Job:
    """One run of a stage: what runs, where its results go, and its identity."""

    info: NotebookInfo
    resolved: ResolvedParams
    paths: RunPaths
    root: Path
    started: str
    t0: float
    run_id: str


def _execute(job: _Job, snap: outputs.OutputSnapshot, params_path: Path | None, signals: DeferredSignals, *,
             timeout: int | None, start_timeout: int, html: bool, log_output: bool, lean_imports: bool) -> RunRecord:
    """Start the kernel, execute, then commit the results or clean up after a failure (holding the lock).

    ``signals`` is held from the commit point, or from the start of a failed run's clean-up, so that
    neither is cut short."""
    from .kernel import start_kernel

    info, resolved, paths, stage = job.info, job.resolved, job.paths, job.resolved.stage
    executed = paths.running / f"{stage}.ipynb"
    context = {"run_id": job.run_id, "stage": stage, "notebook": display_path(info.path),
               "notebook_sha256": info.sha256, "parameters": resolved.values, "started_at": job.started,
               "run_record": display_path(paths.succeeded / RUN_RECORD_FILE),
               "shared": list(resolved.shared), "overrides": list(resolved.overrides),  # for mlprod.params_key
               # files the notebook keeps with its run (mlprod.run_file): written here, moved with the run
               "results_dir": str(paths.running.resolve()), "failed_dir": display_path(paths.failed)}
    env = {ENV_STAGE: stage, ENV_PARAMS_FILE: str(params_path.resolve()) if params_path else "",
           ENV_RUN: json.dumps(context, sort_keys=True, default=str)}
    try:
        kernel = start_kernel(cwd=job.root.resolve(), env=env,
                              on_launched=lambda pid: _pause_point("kernel-start", detail=str(pid)))
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: start_kernel has killed the process it started
        raise stopped_at_start(info, exc) from None
    except Exception as exc:  # the interpreter or ipykernel is broken: nothing ran
        raise KernelDiedError(f"{info.path}: could not start a Python kernel ({sys.executable} -m "
                              f"ipykernel_launcher): {exc}. Is ipykernel installed in this environment?") from exc

    logger.debug("kernel launched at %.3fs", time.monotonic() - job.t0)
    stopper: threading.Thread | None = None
    try:
        try:
            with papermill_imports(lean=lean_imports):
                import papermill
                from papermill.exceptions import PapermillExecutionError

                from .engine import ENGINE_NAME, Progress, register
            from .html import HtmlRenderer

            register()
            _drop_papermill_parameter_warnings()
            logger.debug("papermill imported at %.3fs", time.monotonic() - job.t0)
            renderer = HtmlRenderer() if html else None
            # nbconvert loads while the cells run, not while this process is still getting the kernel ready
            progress = Progress(label=f"{stage} ({info.path.name})", total=len(info.cell_ids),
                                source_index=source_indexer(info, resolved),
                                on_first_cell=renderer.start if renderer else None)
        except KeyboardInterrupt as exc:  # the kernel is still starting: stopped before anything ran
            raise stopped_at_start(info, exc) from None
        failure: CellFailure | None = None
        nb = None
        try:
            nb = papermill.execute_notebook(
                str(info.path), str(executed), parameters=resolved.values, engine_name=ENGINE_NAME,
                kernel_name="mlprod-python", language="python", progress_bar=False, start_timeout=start_timeout,
                execution_timeout=timeout, km=kernel.manager, progress=progress,
                stdout_file=sys.stdout if log_output else None, stderr_file=sys.stderr if log_output else None)
        except PapermillExecutionError as exc:
            failure = cell_failure(info, resolved, exc.cell_index, "cell_error", exc.ename, exc.evalue)
        except BaseException as exc:  # noqa: BLE001 - every way a run can end must be reported
            failure = classify(info, resolved, progress.started, exc, timeout, start_timeout)
            if failure is None:
                raise
            if failure.kind == "interrupted" and progress.started is None:  # no cell ran: nothing to keep
                raise stopped_at_start(info, exc) from None
        finally:
            logger.debug("execution ended at %.3fs", time.monotonic() - job.t0)
            stopper = threading.Thread(target=kernel.shutdown, name="mlprod-kernel-shutdown")
            stopper.start()  # stopping the kernel overlaps writing the results
        if failure is None:
            try:
                return _commit(job, executed, nb, renderer, stopper, signals)
            except KeyboardInterrupt as exc:  # before the commit point: the run is stopped
                ename, evalue = stop_reason(exc)
                failure = CellFailure(kind="interrupted", message=f"after the last cell: {ename}: {evalue}",
                                      ename=ename, evalue=evalue)
        signals.hold()  # cleaning up after a failed or stopped run is not cut short
        nb = _load(executed) or nb or progress.notebook
        record = _write_results(job, executed, nb, renderer if failure.kind != "interrupted" else None, failure)
        replace_dir(paths.running, paths.failed)
        logger.debug("results moved to %s at %.3fs", display_path(paths.failed), time.monotonic() - job.t0)
        stopper.join()
        removed, kept = outputs.remove_changed(snap)
        if signals.received:
            logger.warning("%s arrived while the failed run of %r was cleaned up; ignored",
                           ", ".join(map(signal_name, signals.received)), stage)
        raise execution_error(info, record, removed, kept)
    finally:
        signals.hold()
        if stopper is None:
            kernel.shutdown()
        else:
            stopper.join()


def _commit(job: _Job, executed: Path, nb: Any, renderer: Any, stopper: threading.Thread,
            signals: DeferredSignals) -> RunRecord:
    """Publish a successful run's results. The commit point is the rename into ``reports/notebooks/<stage>``:
    a signal before it stops the run (KeyboardInterrupt, raised here); one after it is held back until the
    run has ended, and the run has succeeded."""
    record = _write_results(job, executed, nb, renderer, None)  # a signal meanwhile acts at once
    signals.hold()
    _pause_point("before-commit", signals)
    signals.deliver()  # a signal that arrived before the commit point stops the run
    replace_dir(job.paths.running, job.paths.succeeded)  # the commit point
    logger.debug("results moved to %s at %.3fs", display_path(job.paths.succeeded), time.monotonic() - job.t0)
    _pause_point("after-commit", signals)
    stopper.join()
    shutil.rmtree(job.paths.failed, ignore_errors=True)
    return record


def _write_results(job: _Job, executed: Path, nb: Any, renderer: Any, failure: CellFailure | None) -> RunRecord:
    """Executed notebook, HTML and run record into ``reports/running/<stage>``, named for where they go."""
    paths, info, resolved = job.paths, job.info, job.resolved
    target = paths.failed if failure else paths.succeeded
    stage = resolved.stage
    if nb is not None and not executed.is_file():
        import nbformat

        write_text(executed, nbformat.writes(nb))
    html_file = paths.running / f"{stage}.html"
    if renderer is not None and nb is not None:
        try:
            from .html import page_title

            write_text(html_file, renderer.render(nb, page_title(stage, resolved.values, job.root,
                                                                  resolved.params_file)))
        except Exception as exc:  # noqa: BLE001 - a failed rendering must not hide the run's outcome
            logger.warning("could not render %s as HTML: %s", executed, exc)
        logger.debug("HTML rendered at %.3fs", time.monotonic() - job.t0)
    record = RunRecord(
        stage=stage, run_id=job.run_id, notebook=display_path(info.path), notebook_sha256=info.sha256,
        status="failed" if failure else "succeeded", started_at=job.started, ended_at=_now(),
        duration_seconds=round(time.monotonic() - job.t0, 3), parameters=resolved.values,
        defaults_used=list(resolved.defaults_used), overrides=list(resolved.overrides), shared=list(resolved.shared),
        params_file=display_path(resolved.params_file) if resolved.params_file else None,
        executed_notebook=display_path(target / f"{stage}.ipynb"),
        html=display_path(target / f"{stage}.html") if html_file.is_file() else None, failure=failure)
    record.write(paths.running / RUN_RECORD_FILE)
    return record


def _pause_point(point: str, deferred: DeferredSignals | None = None, detail: str = "") -> None:
    """For tests only, so they signal a run at an exact point instead of guessing a time.

    With ``MLPROD_TEST_PAUSE="<point>=<file>"`` (points: ``kernel-start``, ``before-commit``,
    ``after-commit``), the runner writes ``<file>`` (holding ``detail``) when it reaches ``point`` and
    waits until the file is removed or a held-back signal has arrived.
    """
    name, _, file = os.environ.get(ENV_TEST_PAUSE, "").partition("=")
    if name != point or not file:
        return
    flag = Path(file)
    write_text(flag, detail)
    while flag.exists() and not (deferred is not None and deferred.received):
        time.sleep(0.01)


def _say_waiting(stage: str, wait: float, waited: list[dict], holder: dict) -> None:
    waited.append(holder)
    limit = "as long as it takes" if math.isinf(wait) else f"up to {wait:g} s"
    logger.info("stage %r is already running (%s); waiting %s for it to finish", stage, describe_holder(holder),
                limit)


def _say_params_file(root: Path, params_path: Path | None, from_cwd: bool) -> None:
    """Say which project root a run uses when ``--params-file`` names another file than the root's params.yaml."""
    if params_path is None or params_path.resolve() == (root / PARAMS_FILE).resolve():
        return
    how = "as given" if from_cwd else ("found from the working directory" if (root / PARAMS_FILE).is_file()
                                      else "the working directory: no params.yaml in it or its parents")
    outside = not params_path.resolve().is_relative_to(root.resolve())
    logger.info("parameters from %s%s; the notebook runs in the project root %s (%s)", params_path.resolve(),
                " (outside the project, only read)" if outside else "", root.resolve(), how)


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
    """The executed notebook papermill saved, or None when there is none (or a stop cut its writing short)."""
    if not path.is_file():
        return None
    import nbformat

    try:
        return nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - the notebook kept in memory is used instead
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
