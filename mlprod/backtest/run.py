"""``mlprod backtest``: build the stream, replay it once per strategy, compare, write the report.

Each strategy gets its own workspace (a temporary folder, or ``<output_dir>/work`` with ``keep_work``) and its
own throwaway registry, and starts from the same model; the strategies are replayed one after another in this
process.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .settings import BacktestSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestResult:
    summary: dict[str, Any]
    written: tuple[Path, ...]
    replays: tuple[Any, ...]


def build_stream(settings: BacktestSettings, context: Any) -> Any:
    from .streams import demo_stream, folder_stream, table_stream

    change = None if settings.change_window in (None, "auto") else settings.change_window
    if settings.stream == "demo":
        stream = demo_stream(weeks=settings.weeks, seed=settings.seed, shift=settings.shift,
                             label_delay=settings.label_delay, rows_per_week=settings.rows_per_week)
        if settings.change_window is None:
            return type(stream)(stream.batches, stream.label_delay, None, stream.description)
        return stream if change is None else type(stream)(stream.batches, stream.label_delay, change,
                                                          stream.description)
    path = Path(settings.stream)
    path = path if path.is_absolute() else context.root / path
    if path.is_dir():
        return folder_stream(path, key=context.key, target=context.target, label_delay=settings.label_delay,
                             change=change, date_column=context.date_column)
    if path.is_file():
        return table_stream(path, key=context.key, target=context.target, date_column=context.date_column,
                            label_delay=settings.label_delay, change=change)
    raise ConfigError(f"backtest.stream {settings.stream!r}: no such folder or file; use 'demo', a folder laid out "
                      "as `mlprod demo-stream DIR` writes it (inbox/, labels/), or one table with dates and labels")


def run_backtest(root: Path, params_file: Path, settings: BacktestSettings, *, keep_work: bool = False,
                 out_dir: Path | None = None) -> BacktestResult:
    from .context import read_context
    from .replay import Replayer
    from .report import write_report
    from .retraining import Retrainer
    from .summary import summarise

    started = time.perf_counter()
    context = read_context(root, params_file, model_dir=settings.model_dir)
    stream = build_stream(settings, context)
    out_dir = out_dir or root / settings.output_dir
    work_parent = out_dir / "work" if keep_work else Path(tempfile.mkdtemp(prefix="mlprod-backtest-"))
    if keep_work and work_parent.exists():
        shutil.rmtree(work_parent)
    replays = []
    try:
        for strategy in settings.strategies:
            workspace = work_parent / strategy
            workspace.mkdir(parents=True)
            logger.info("backtest: replaying %d window(s) with strategy %s", len(stream.batches), strategy)
            replay = Replayer(stream, workspace, strategy=strategy, context=context,
                              retrainer=Retrainer(context)).run()
            replays.append(replay)
        summary = summarise(stream, replays, settings=settings, context=context,
                            seconds=time.perf_counter() - started)
        written = write_report(summary, out_dir)
    finally:
        if not keep_work:
            shutil.rmtree(work_parent, ignore_errors=True)
    return BacktestResult(summary, tuple(written), tuple(replays))
