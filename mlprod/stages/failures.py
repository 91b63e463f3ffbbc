"""How a notebook run failed: which source cell, what kind of failure, and the one message the user reads.

A failure is recorded as a :class:`~mlprod.stages.runrecord.CellFailure` (in ``run.json``) and raised as an
:class:`~mlprod.errors.ExecutionError` whose message names the notebook, the cell as numbered in the
source notebook (papermill's injected cell is not counted) and the exception, kept readable on a console.
"""

from __future__ import annotations

import functools
import signal
from pathlib import Path
from typing import Callable

from ..errors import CellError, CellTimeoutError, ExecutionError, KernelDiedError, RunStopped, StopRequested
from .notebook import NotebookInfo
from .params import ResolvedParams
from .runrecord import RUN_RECORD_FILE, CellFailure, RunRecord, display_path
from .signals import signal_name


def classify(info: NotebookInfo, resolved: ResolvedParams, index: int | None, exc: BaseException,
             timeout: float | None, start_timeout: float) -> CellFailure | None:
    from nbclient.exceptions import CellTimeoutError as NbCellTimeout
    from nbclient.exceptions import DeadKernelError

    if isinstance(exc, NbCellTimeout):
        return cell_failure(info, resolved, index, "timeout", "CellTimeoutError",
                            f"the cell ran longer than the timeout of {timeout:g} s")
    if isinstance(exc, DeadKernelError) or (isinstance(exc, RuntimeError) and "Kernel died" in str(exc)):
        return cell_failure(info, resolved, index, "kernel_died", "DeadKernelError",
                            "the kernel process died (killed, out of memory, or os._exit() in the notebook)")
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or the CLI's StopRequested for SIGTERM
        return cell_failure(info, resolved, index, "interrupted", *stop_reason(exc))
    if isinstance(exc, RuntimeError) and "Kernel didn't respond" in str(exc):
        return CellFailure(kind="kernel_start", ename="RuntimeError",
                           message=f"before the first cell: the kernel did not become ready within {start_timeout:g} s",
                           evalue=str(exc))
    return None


def stop_reason(exc: BaseException) -> tuple[str, str]:
    """``(ename, evalue)`` for a run stopped by Ctrl-C (KeyboardInterrupt) or SIGTERM (the CLI's StopRequested)."""
    if isinstance(exc, StopRequested):
        return "StopRequested", f"the run was {exc}"
    return "KeyboardInterrupt", "interrupted by the user"


def cell_failure(info: NotebookInfo, resolved: ResolvedParams, exec_index: int | None, kind: str,
                 ename: str | None, evalue: str | None) -> CellFailure:
    source_index = source_indexer(info, resolved)(exec_index)
    cell, cell_id = None, None
    if source_index is not None:
        cell, cell_id = source_index + 1, info.cell_ids[source_index] or None
    where = f"cell {cell}" if cell else "before the first cell"
    if source_index is None and exec_index is not None:
        where = "in the injected parameters cell"
    message = f"{ename}: {evalue}" if evalue else str(ename)
    return CellFailure(kind=kind, message=f"{where}: {message}", cell=cell, cell_id=cell_id, ename=ename,
                       evalue=evalue)


def source_indexer(info: NotebookInfo, resolved: ResolvedParams) -> Callable[[int | None], int | None]:
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


def _where(failure: CellFailure) -> str:
    """Where in the notebook ``failure`` happened, as it reads after "failed" or "stopped"."""
    if failure.cell:
        return f"in cell {failure.cell}" + (f" (id {failure.cell_id!r})" if failure.cell_id else "")
    if failure.message.startswith("in the injected parameters cell"):
        return "in the injected parameters cell"
    if failure.message.startswith("after the last cell"):
        return "after its last cell, before its results were saved"
    return "before its first cell"


def execution_error(info: NotebookInfo, record: RunRecord, removed: list[Path], kept: list[Path]) -> ExecutionError:
    failure = record.failure
    assert failure is not None
    where = _where(failure)
    if failure.kind == "interrupted":
        signum = signal.SIGTERM if failure.ename == "StopRequested" else signal.SIGINT
        first = f"{display_path(info.path)} stopped by {signal_name(signum)} {where}"
    else:
        detail = f"{failure.ename}: {failure.evalue}" if failure.evalue else str(failure.ename)
        full = display_path(Path(record.executed_notebook).parent / RUN_RECORD_FILE)
        first = f"{display_path(info.path)} failed {where}: {_short_message(detail, full)}"
    done = "executed" if where.startswith("after its last cell") else "partially executed"
    lines = [first, f"  {done} notebook: {record.executed_notebook}" + (f" (HTML: {record.html})" if record.html else "")]
    if removed:
        run = "stopped" if failure.kind == "interrupted" else "failed"
        lines.append(f"  removed outputs written by the {run} run: " + ", ".join(display_path(p) for p in removed))
    if kept:
        lines.append("  kept persistent outputs it modified (check them): " + ", ".join(display_path(p) for p in kept))
    if failure.kind == "interrupted":
        error: ExecutionError = RunStopped("\n".join(lines), record=record)
        error.exit_code = 128 + signum  # the shell's convention
        return error
    cls = {"timeout": CellTimeoutError, "kernel_died": KernelDiedError, "kernel_start": KernelDiedError}.get(
        failure.kind, CellError)
    return cls("\n".join(lines), record=record)


def stopped_at_start(info: NotebookInfo, exc: BaseException) -> RunStopped:
    signum = exc.signum if isinstance(exc, StopRequested) else signal.SIGINT
    error = RunStopped(f"{display_path(info.path)}: stopped by {signal_name(signum)} while the kernel was starting; "
                       "no cell ran and nothing was saved")
    error.exit_code = 128 + signum
    return error


def _short_message(text: str, full_text_in: str, max_lines: int = 15, max_chars: int = 2000) -> str:
    """The exception message for the console: every line of it whole (so it can be searched), at most
    ``max_lines`` lines of at most ``max_chars`` characters (then "…" and where the full text is).

    A one-line message stays one line; a message of several lines (scikit-learn's advice after "Input X
    contains NaN.", a data gate naming each failing check) keeps them, indented under the first.
    """
    lines: list[str] = []
    for raw in str(text).strip().splitlines():
        line = " ".join(raw.split())
        if len(line) > max_chars:
            line = line[: max_chars - 1] + f"… (full message in {full_text_in})"
        if line:
            lines.append(line)
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [f"… {len(lines) - max_lines + 1} more line(s); full message in {full_text_in}"]
    return "\n    ".join(lines)
