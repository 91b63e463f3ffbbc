"""The metrics a promotion gate can compare, and scoring a model on a holdout file.

Each metric is registered with its direction (whether greater is better) so a gate cannot compare
``log_loss`` the wrong way round. Champion and challenger are scored by the same function on the same
rows, so their numbers differ only because the models differ.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError, DataError


class ScoringError(DataError):
    """A model could not score a data file (its inputs do not fit the rows)."""


@dataclass(frozen=True)
class Metric:
    name: str
    greater_is_better: bool
    uses_threshold: bool  # computed on decisions (score >= threshold) rather than on the scores
    description: str


def _sk(name: str) -> Callable[..., float]:
    def compute(y_true: Any, y_score: Any, y_pred: Any) -> float:
        from sklearn import metrics as skm

        if name in ("roc_auc", "average_precision") and len(set(y_true.tolist())) < 2:
            return math.nan  # undefined with one class only
        if name == "roc_auc":
            return float(skm.roc_auc_score(y_true, y_score))
        if name == "average_precision":
            return float(skm.average_precision_score(y_true, y_score))
        if name == "log_loss":
            return float(skm.log_loss(y_true, y_score, labels=[0, 1]))
        if name == "brier":
            return float(skm.brier_score_loss(y_true, y_score))
        if name == "accuracy":
            return float(skm.accuracy_score(y_true, y_pred))
        scorer = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
        return float(scorer(y_true, y_pred, zero_division=0))

    return compute


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("roc_auc", True, False, "area under the ROC curve (ranking quality)"),
    Metric("average_precision", True, False, "area under the precision-recall curve"),
    Metric("log_loss", False, False, "cross-entropy of the predicted probabilities"),
    Metric("brier", False, False, "mean squared error of the predicted probabilities"),
    Metric("accuracy", True, True, "share of correct decisions at the threshold"),
    Metric("precision", True, True, "share of predicted positives that are positive"),
    Metric("recall", True, True, "share of positives predicted positive"),
    Metric("f1", True, True, "harmonic mean of precision and recall"),
)}


def get_metric(name: str, *, where: str = "metric") -> Metric:
    """The registered metric ``name``; an unknown name is a :class:`ConfigError` listing the available ones."""
    metric = METRICS.get(name)
    if metric is None:
        close = difflib.get_close_matches(str(name), METRICS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}: no metric named {name!r}; available: {', '.join(METRICS)}.{hint}")
    return metric


def score(model: Any, frame: Any, *, target: str, threshold: float, metrics: list[str],
          source: str = "<data>") -> dict[str, float]:
    """``{metric: value}`` for ``model`` on ``frame`` (NaN where a metric is undefined on these rows)."""
    import numpy as np

    if target not in frame.columns:
        raise DataError(f"{source}: no target column {target!r} (columns: {', '.join(map(str, frame.columns))}); "
                        "set project.target in params.yaml to the 0/1 label column")
    if len(frame) == 0:
        raise DataError(f"{source}: no rows to score the models on")
    y_true = frame[target].to_numpy()
    if not set(np.unique(y_true).tolist()) <= {0, 1}:
        raise DataError(f"{source}: target column {target!r} must hold 0/1 labels, found "
                        f"{sorted(map(str, np.unique(y_true)))[:5]}")
    features = frame.drop(columns=[target])
    try:
        if hasattr(model, "predict_proba"):
            y_score = np.asarray(model.predict_proba(features))[:, 1]
            y_pred = (y_score >= threshold).astype(int)
        else:
            y_pred = np.asarray(model.predict(features)).astype(int)
            y_score = y_pred.astype(float)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        # the model's inputs do not fit these rows (missing columns, other types): a finding, not a crash
        raise ScoringError(f"{source}: the model cannot score these rows: {type(exc).__name__}: "
                           f"{_first_line(exc)}") from exc
    return {get_metric(name).name: _sk(name)(y_true, y_score, y_pred) for name in metrics}


def metric_values(y_true: Any, y_score: Any, *, threshold: float, metrics: list[str]) -> dict[str, float]:
    """``{metric: value}`` for scores ``y_score`` against 0/1 labels ``y_true`` (NaN where undefined)."""
    import numpy as np

    y_pred = (np.asarray(y_score) >= threshold).astype(int)
    return {get_metric(name).name: _sk(name)(y_true, y_score, y_pred) for name in metrics}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or repr(exc)
    line = text.splitlines()[0]
    return line if len(line) <= 300 else line[:297] + "..."
