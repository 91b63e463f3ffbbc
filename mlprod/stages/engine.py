"""The papermill engine mlprod registers: nbclient execution with lighter saving and progress tracking.

papermill's default engine rewrites the output notebook before and after every cell; for short stages
that costs more than the cells. This engine saves at most every ``save_every`` seconds while running
(so a long run can still be watched) and always at the end, and it records which cell was running so a
dead kernel or a timeout can be reported against the right cell.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

ENGINE_NAME = "mlprod"
STILL_RUNNING_EVERY = 60.0  # seconds: a long cell is reported as still running this often
logger = logging.getLogger(__name__)
# nbclient logs "Kernel died" / "Timeout waiting" itself; mlprod reports those failures in one message
_CLIENT_LOG = logging.getLogger("mlprod.stages.engine.nbclient")
_CLIENT_LOG.setLevel(logging.CRITICAL)


@dataclass
class Progress:
    """Mutable view of a run in progress, shared with the runner."""

    label: str = ""
    total: int = 0  # cells in the source notebook
    started: int | None = None  # index of the last cell that started (executed notebook)
    # executed-notebook index -> source-notebook index (None for papermill's injected cell)
    source_index: Callable[[int], int | None] = lambda index: index
    completed: int = 0
    notebook: object | None = None  # the live nbformat.NotebookNode
    slow_cell_seconds: float = 1.0
    cell_times: list[float] = field(default_factory=list)
    on_first_cell: Callable[[], None] | None = None  # called once, as the first cell is sent to the kernel


class _ExecutionManager(NotebookExecutionManager):
    def __init__(self, nb, *, progress: Progress, save_every: float, **kwargs):
        super().__init__(nb, progress_bar=False, **kwargs)
        self.progress = progress
        self.save_every = save_every
        self._last_write = time.monotonic()
        self._final = False
        progress.notebook = nb
        self._failed = False
        self.running: tuple[int, float] | None = None  # (executed index, start) of the cell now running

    def save(self, **kwargs):
        now = time.monotonic()
        if self._final or now - self._last_write >= self.save_every:
            super().save(**kwargs)
            self._last_write = now

    def cell_start(self, cell, cell_index=None, **kwargs):
        if self.progress.started is None and self.progress.on_first_cell is not None:
            self.progress.on_first_cell()
        self.progress.started = cell_index
        self.running = (cell_index or 0, time.monotonic())
        super().cell_start(cell, cell_index, **kwargs)

    def cell_exception(self, cell, cell_index=None, **kwargs):
        self._failed = True
        super().cell_exception(cell, cell_index, **kwargs)

    def cell_complete(self, cell, cell_index=None, **kwargs):
        started = self.running[1] if self.running else time.monotonic()
        self.running = None
        super().cell_complete(cell, cell_index, **kwargs)
        seconds = time.monotonic() - started
        # papermill calls this in a `finally`: an error in the cell, a dead kernel, a timeout or an
        # interruption is on its way to the runner, which reports it; this cell did not finish
        if self._failed or sys.exc_info()[0] is not None:
            return
        if cell.get("cell_type") == "code" and cell.get("execution_count") is None:
            return
        self.progress.completed += 1
        self.progress.cell_times.append(seconds)
        source = self.progress.source_index(cell_index or 0)
        if source is not None and seconds >= self.progress.slow_cell_seconds:
            logger.info("%s: cell %d/%d finished in %.1fs", self.progress.label, source + 1, self.progress.total,
                        seconds)

    def notebook_complete(self, **kwargs):
        self._final = True
        super().notebook_complete(**kwargs)


class _Heartbeat(threading.Thread):
    """Reports a cell that has been running for a while (every ``every`` seconds), so a long stage under
    ``dvc repro`` shows where it is instead of going quiet."""

    def __init__(self, manager: _ExecutionManager, every: float) -> None:
        super().__init__(name="mlprod-still-running", daemon=True)
        self.manager = manager
        self.every = every
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def run(self) -> None:
        cell, notes = None, 0
        while not self._stop_event.wait(min(1.0, self.every / 4)):
            running = self.manager.running
            if running is None:
                continue
            index, started = running
            if (index, started) != cell:
                cell, notes = (index, started), 0
            elapsed = time.monotonic() - started
            if elapsed < self.every * (notes + 1):
                continue
            notes = int(elapsed // self.every)
            progress = self.manager.progress
            source = progress.source_index(index)
            where = f"cell {source + 1}/{progress.total}" if source is not None else "the injected parameters cell"
            logger.info("%s: %s still running after %s", progress.label, where, _duration(elapsed))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min" + (f" {rest} s" if rest else "")


class MlprodEngine(NBClientEngine):
    """nbclient execution driven by :class:`_ExecutionManager`."""

    @classmethod
    def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=False, log_output=False,
                         autosave_cell_every=30, *, progress: Progress, save_every: float = 10.0, **kwargs):
        nb_man = _ExecutionManager(nb, output_path=output_path, log_output=log_output,
                                   autosave_cell_every=autosave_cell_every, progress=progress,
                                   save_every=save_every)
        nb_man.notebook_start()
        heartbeat = _Heartbeat(nb_man, STILL_RUNNING_EVERY)
        heartbeat.start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            heartbeat.stop()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                 start_timeout=60, execution_timeout=None, **kwargs):
        kwargs.pop("input_path", None)
        client = PapermillNotebookClient(
            nb_man, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
            log=_CLIENT_LOG, log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file,
            # no widget state in the executed notebook: nbconvert then shows each explorer's static HTML
            # (mlprod.widgets.display) instead of an empty widget that needs the widget manager from a CDN
            store_widget_state=False, **kwargs)
        try:
            return client.execute()
        finally:
            # the caller owns the kernel, so nbclient leaves the client's channels open: close them here
            if client.kc is not None:
                client.kc.stop_channels()


def register() -> None:
    """Add the engine to papermill's registry (idempotent)."""
    papermill_engines.register(ENGINE_NAME, MlprodEngine)
