"""``mlprod backtest``: replay a stream window by window (score, monitor, decide, retrain, gates, promote) with the
same library functions as the pipelines, for the policy in params.yaml, never retraining and retraining every
window, and compare them. See ``docs/backtest.md``.

Modules: :mod:`.settings` (the ``backtest:`` section), :mod:`.streams` (demo, folder, table), :mod:`.context` (the
project's settings), :mod:`.replay` (one strategy), :mod:`.retraining` (one retrain), :mod:`.summary`,
:mod:`.report`, :mod:`.run` (the whole command).
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "BacktestSettings": "mlprod.backtest.settings",
    "run_backtest": "mlprod.backtest.run",
    "demo_stream": "mlprod.backtest.streams",
    "folder_stream": "mlprod.backtest.streams",
    "table_stream": "mlprod.backtest.streams",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
