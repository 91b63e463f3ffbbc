"""A backtest's retrain, in one process: the same functions as ``mlprod retrain`` and the training pipeline.

1. the training data: the project's ingest source (rows dated before the stream only) and the labelled stream
   rows the workspace holds, in the window ``retrain:`` sets, cut at its holdout and current cutoffs
   (:func:`mlprod.monitoring.retrain_data.training_window`, :func:`mlprod.data.time_split`);
2. the model: :func:`mlprod.training.build_pipeline` with the ``train`` section,
   :func:`~mlprod.training.fit_and_save`, :func:`~mlprod.training.evaluate_and_save` on the holdout weeks
   (the train and evaluate stages' functions); its version proposed from the last registered one;
3. the registry: register, then the ``register`` section's gates against the champion on the same holdout,
   then promotion or rejection (the register stage's functions), in the workspace's own registry.

The starting model (the project's evaluated model) is registered first and made champion with a recorded
forced promotion: the backtest starts from the model in production.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import RetrainRefused


@dataclass(frozen=True)
class RetrainOutcome:
    outcome: str  # promoted | rejected | unchanged | refused
    version: str | None  # the retrained model's semantic version
    registry_version: str | None
    detail: str  # why (gates, or why it was refused)
    train_rows: int = 0
    stream_rows: int = 0
    challenger_roc_auc: float | None = None
    champion_roc_auc: float | None = None
    sha256: str | None = None  # the retrained model's artifact

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        if self.outcome == "refused":
            return f"retrain refused: {self.detail}"
        return f"retrained {self.version} on {self.train_rows:,} rows: {self.outcome} ({self.detail})"


class Retrainer:
    """Trains, registers and gates models for one replay; ``context`` holds the project's settings."""

    def __init__(self, context: Any):
        self.context = context
        self.count = 0
        self.last_model: Path | None = None  # the last registered model folder: the next version follows it
        self._source: Any = None

    def registry(self, workspace: Path) -> Any:
        from ..registry.store import Registry

        return Registry.open(workspace)

    def start(self, workspace: Path) -> str:
        """Register the starting model and make it champion; returns its semantic version."""
        from ..registry.champion import EvaluationInputs, promote, unevaluated
        from ..registry.register import register_model

        ctx = self.context
        folder = workspace / "models" / "start"
        shutil.copytree(ctx.model_dir, folder)
        registry = self.registry(workspace)
        version = register_model(folder, registry=registry)
        inputs = EvaluationInputs(policy=ctx.register.policy, holdout_path="(not evaluated)", target=ctx.target,
                                  threshold=ctx.register.threshold)
        decision = unevaluated(version.name, version.version, inputs, "the backtest's starting model",
                               registry=registry)
        promote(decision, force=True, reason="backtest: the model in production when the stream starts",
                registry=registry)
        self.last_model = folder
        return version.semver

    def source(self, first_date: Any) -> Any:
        """The ingest source's rows dated before the stream's first row (read once per replay)."""
        import pandas as pd

        from ..monitoring.retrain_data import source_rows

        if self._source is None:
            ctx = self.context
            frame = source_rows(ctx.root, ctx.ingest, target=ctx.target, positive_label=ctx.positive_label)
            if first_date is not None and ctx.date_column in frame.columns:
                frame = frame[pd.to_datetime(frame[ctx.date_column]) < first_date].reset_index(drop=True)
            self._source = frame
        return self._source

    def retrain(self, workspace: Path, batch_id: str, as_of: str, why: str, *, first_date: Any) -> RetrainOutcome:
        from ..data import time_split
        from ..data.io import write_table
        from ..monitoring.retrain_data import labelled_stream_rows, training_window
        from ..registry.champion import EvaluationInputs, evaluate, promote
        from ..registry.register import register_model
        from ..training import build_pipeline, evaluate_and_save, fit_and_save
        from .workspace import LABELS, PREDICTIONS

        ctx = self.context
        stream = labelled_stream_rows(workspace, PREDICTIONS, LABELS, key=ctx.key, target=ctx.target,
                                      positive_label=ctx.positive_label)
        try:
            window, in_window = training_window(self.source(first_date), stream, key=ctx.key,
                                                date_column=ctx.date_column, settings=ctx.retrain)
        except RetrainRefused as exc:
            return RetrainOutcome("refused", None, None, str(exc))
        self.count += 1
        folder = workspace / "retrain" / f"{self.count:03d}"
        split = time_split(window.frame, ctx.date_column, window.holdout_start, window.current_start)
        train_path = write_table(split.train, folder / "train.parquet")
        holdout_path = write_table(split.holdout, folder / "holdout.parquet")
        description = (f"Backtest retrain after window {batch_id} (as of {as_of}): {why}. Training window: "
                       f"{ctx.retrain.describe()} ({window.start} to {window.end}; {in_window} labelled stream rows); "
                       f"holdout from {window.holdout_start}.")
        pipeline = build_pipeline(ctx.model, ctx.categorical_features, ctx.numeric_features)
        trained = fit_and_save(pipeline, split.train, target=ctx.target, features=ctx.features, model_dir=folder / "trained",
                     name=ctx.model_name, training_data=train_path, description=description,
                     positive_label=ctx.positive_label, previous=self.last_model)
        evaluate_and_save(folder / "trained", split.holdout, folder / "model", target=ctx.target,
                          threshold=ctx.evaluate_threshold, evaluation_data=holdout_path, params=ctx.params)
        registry = self.registry(workspace)
        version = register_model(folder / "model", registry=registry)
        self.last_model = folder / "model"
        inputs = EvaluationInputs(policy=ctx.register.policy, holdout_path=str(holdout_path), target=ctx.target,
                                  threshold=ctx.register.threshold)
        decision = promote(evaluate(version.name, version.version, inputs, registry=registry), registry=registry)
        scores = decision.metrics or {}
        return RetrainOutcome(
            decision.outcome, version.semver, str(version.version),
            "gates passed" if decision.passed else f"gates failed: {', '.join(decision.blocking)}",
            train_rows=len(split.train), stream_rows=in_window,
            challenger_roc_auc=_auc(scores.get("challenger")), champion_roc_auc=_auc(scores.get("champion")),
            sha256=trained.manifest.artifact.sha256)


def _auc(metrics: Any) -> float | None:
    import math

    value = (metrics or {}).get("roc_auc")
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)
