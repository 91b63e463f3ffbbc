"""One strategy replayed window by window, in its own workspace, against a throwaway registry.

Order of work per window (and why):
1. the window's batch arrives in the workspace's inbox, and the labels of the batch ``label_delay`` windows back
   arrive in its labels folder: the workspace only ever holds what was known at that point, so nothing later
   can leak into a decision or a retrain;
2. score (:func:`mlprod.monitoring.inbox.score_inbox`) with ``NAME@champion``, through the data gates;
3. monitor and decide (:func:`mlprod.monitoring.loop.monitor`, :func:`~mlprod.monitoring.loop.decide`), as of
   the window's end: the functions the monitoring pipeline's stages call;
4. the strategy acts: ``policy`` follows the decision, ``never`` never retrains, ``every_window`` always does;
5. a retrain (:mod:`.retraining`): the functions of ``mlprod retrain``, the train and evaluate stages, and the
   register stage's gates and promotion. The new champion scores from the next window on.

After the last window every label is let in and the monitoring history is updated once more: that gives each
window's realised metrics and KPIs for the report. It happens after all decisions, so it cannot steer them.
The registry is a SQLite store in the workspace; ``MLFLOW_TRACKING_URI``/``MLFLOW_REGISTRY_URI`` are
cleared while a replay runs, so a configured team registry is never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .. import atomic
from .retraining import Retrainer, RetrainOutcome
from .streams import Batch, Stream
from .workspace import INBOX, LABELS, MONITORING, PREDICTIONS, QUARANTINE

logger = logging.getLogger(__name__)
STEPS = ("score", "monitor", "decide", "retrain")


@dataclass(frozen=True)
class WindowRecord:
    index: int
    batch_id: str
    as_of: str
    model_version: str | None  # the semantic version that scored the batch (None: quarantined)
    status: str  # scored | quarantined
    retrain_due: bool  # the policy's decision (recorded for every strategy)
    reasons: tuple[str, ...]
    triggers: tuple[str, ...]  # the triggers that fired
    retrain: RetrainOutcome | None  # what this strategy's retrain did (None: it did not retrain)
    seconds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["reasons"], out["triggers"] = list(self.reasons), list(self.triggers)
        out["retrain"] = self.retrain.to_dict() if self.retrain else None
        out["seconds"] = {k: round(v, 3) for k, v in self.seconds.items()}
        return out


@dataclass(frozen=True)
class Replay:
    strategy: str
    windows: tuple[WindowRecord, ...]
    history: pd.DataFrame  # the monitoring history after every label arrived
    seconds: float
    start_version: str
    workspace: Path
    step_seconds: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def throwaway_registry() -> Iterator[None]:
    """Clear the registry variables for the duration, so the workspace's own ``mlflow.db`` is used."""
    saved = {k: os.environ.pop(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI") if k in os.environ}
    try:
        yield
    finally:
        for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            os.environ.pop(key, None)
        os.environ.update(saved)


def window_end(batch: Batch, date_column: str | None) -> str:
    """The end of the ISO week of the batch's latest date, as an ISO time (``...T23:59:59Z``)."""
    if date_column is None or date_column not in batch.frame.columns:
        from ..monitoring.loop import now

        return now()
    last = pd.to_datetime(batch.frame[date_column], utc=True).max().tz_convert(None).normalize()
    end = last + pd.Timedelta(days=6 - last.weekday())
    return f"{end.date()}T23:59:59Z"


class Replayer:
    """Replays ``stream`` for one strategy in ``workspace`` (see the module docstring)."""

    def __init__(self, stream: Stream, workspace: Path, *, strategy: str, context: Any, retrainer: Retrainer):
        self.stream, self.workspace, self.strategy = stream, Path(workspace), strategy
        self.context, self.retrainer = context, retrainer

    def path(self, rel: str) -> Path:
        return self.workspace / rel

    def run(self) -> Replay:
        from ..data.io import write_table
        from ..monitoring import loop
        from ..monitoring.inbox import score_inbox

        started = time.perf_counter()
        ctx = self.context
        for rel in (INBOX, LABELS, PREDICTIONS, QUARANTINE):
            self.path(rel).mkdir(parents=True, exist_ok=True)
        settings = dataclasses.replace(ctx.monitor, root=str(self.workspace), predictions_dir=PREDICTIONS,
                                       labels_dir=LABELS, monitoring_dir=MONITORING)
        model = f"{ctx.model_name}@champion"
        history_file = self.path(MONITORING) / "history.parquet"
        records: list[WindowRecord] = []
        totals = dict.fromkeys(STEPS, 0.0)
        with throwaway_registry():
            start = self.retrainer.start(self.workspace)
            for index, batch in enumerate(self.stream.batches):
                seconds: dict[str, float] = {}
                as_of = window_end(batch, ctx.date_column)
                tick = time.perf_counter()
                write_table(batch.frame, self.path(INBOX) / f"{batch.batch_id}.parquet")
                for arrived in self.stream.arriving(index):
                    write_table(arrived.labels, self.path(LABELS) / f"{arrived.batch_id}.parquet")
                run = score_inbox(model, self.path(INBOX), self.path(PREDICTIONS), threshold=ctx.threshold,
                                  schema=ctx.schema, quarantine=self.path(QUARANTINE), key=ctx.key,
                                  date_column=ctx.date_column, target=ctx.target, root=self.workspace,
                                  serving=ctx.serving)
                seconds["score"] = time.perf_counter() - tick
                result = next(r for r in run.results if r.batch_id == batch.batch_id)
                tick = time.perf_counter()
                loop.monitor(settings, model=model, reference_roc_auc=ctx.reference_roc_auc, as_of=as_of)
                seconds["monitor"] = time.perf_counter() - tick
                tick = time.perf_counter()
                decision = loop.decide(history_file, ctx.policy, last_retrain=ctx.last_retrain, as_of=as_of)
                seconds["decide"] = time.perf_counter() - tick
                act = {"policy": decision.retrain, "never": False, "every_window": True}[self.strategy]
                outcome = None
                if act:
                    tick = time.perf_counter()
                    why = "; ".join(decision.reasons) if self.strategy == "policy" else "retrain every window"
                    outcome = self.retrainer.retrain(self.workspace, batch.batch_id, as_of, why,
                                                     first_date=self._first_date())
                    seconds["retrain"] = time.perf_counter() - tick
                for step, value in seconds.items():
                    totals[step] += value
                version = self._scored_by(batch.batch_id) if result.status != "quarantined" else None
                records.append(WindowRecord(
                    index=index, batch_id=batch.batch_id, as_of=as_of, model_version=version, status=result.status,
                    retrain_due=bool(decision.retrain), reasons=tuple(decision.reasons),
                    triggers=tuple(c.name for c in decision.checks if c.kind == "trigger" and c.passed),
                    retrain=outcome, seconds=seconds))
                logger.info("backtest %s %s: %s%s", self.strategy, batch.batch_id,
                            "retrain due" if decision.retrain else "no retrain",
                            f"; {outcome.line()}" if outcome else "")
            history = self._evaluate(settings, model)
        atomic.write_json(self.workspace / "windows.json", [r.to_dict() for r in records])
        return Replay(self.strategy, tuple(records), history, time.perf_counter() - started, start,
                      self.workspace, totals)

    def _first_date(self) -> Any:
        column = self.context.date_column
        first = self.stream.batches[0].frame
        return pd.to_datetime(first[column]).min() if column and column in first.columns else None

    def _scored_by(self, batch_id: str) -> str | None:
        from ..monitoring import predictions

        marker = predictions.read_marker(self.path(PREDICTIONS), batch_id)
        model = marker.get("model") or {}
        return str(model.get("version")) if isinstance(model, dict) and model.get("version") else None

    def _evaluate(self, settings: Any, model: str) -> pd.DataFrame:
        """Every label in, then the history once more (realised metrics for every window)."""
        from ..data.io import write_table
        from ..monitoring import loop
        from ..monitoring.history import history_path, read_history

        for batch in self.stream.batches:
            target = self.path(LABELS) / f"{batch.batch_id}.parquet"
            if not target.is_file() and len(batch.labels):
                write_table(batch.labels, target)
        loop.monitor(settings, model=model, reference_roc_auc=self.context.reference_roc_auc,
                     as_of=window_end(self.stream.batches[-1], self.context.date_column))
        return read_history(history_path(settings))
