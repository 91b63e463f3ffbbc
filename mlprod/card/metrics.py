"""Metrics the card compares across segments, each with its direction and a standard error.

A registry by name (``roc_auc``, ``average_precision``, ``brier``, ``log_loss``, ``accuracy``);
:func:`get_metric` raises :class:`~mlprod.errors.CardError` listing the names for an unknown one.
``score(y, p, threshold)`` returns ``(value, standard_error)``; the standard error is ``None`` where
no closed form is used (average precision) and the value is ``None`` where the metric is undefined
(a ranking metric on a segment with one class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import CardError


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool
    needs_both_classes: bool
    description: str
    score: Callable[[Any, Any, float], tuple[float | None, float | None]]


def _roc_auc(y, p, threshold):
    import numpy as np
    from sklearn.metrics import roc_auc_score

    n1 = int(np.sum(y == 1))
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return None, None
    auc = float(roc_auc_score(y, p))
    return auc, hanley_mcneil_se(auc, n1, n0)


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an ROC AUC (Hanley & McNeil 1982)."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def _average_precision(y, p, threshold):
    import numpy as np
    from sklearn.metrics import average_precision_score

    if np.all(y == y[0]):
        return None, None
    return float(average_precision_score(y, p)), None


def _mean_with_se(values) -> tuple[float, float]:
    import numpy as np

    n = len(values)
    return float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def _brier(y, p, threshold):
    return _mean_with_se((p - y) ** 2)


def _log_loss(y, p, threshold):
    import numpy as np

    q = np.clip(p, 1e-15, 1 - 1e-15)
    return _mean_with_se(-(y * np.log(q) + (1 - y) * np.log(1 - q)))


def _accuracy(y, p, threshold):
    return _mean_with_se(((p >= threshold).astype(int) == y).astype(float))


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("roc_auc", "ROC AUC", True, True,
           "probability that a random positive is scored above a random negative (0.5 = chance); "
           "standard error by Hanley & McNeil (1982)", _roc_auc),
    Metric("average_precision", "average precision", True, True,
           "area under the precision-recall curve (baseline = the positive rate)", _average_precision),
    Metric("brier", "Brier score", False, False,
           "mean squared difference between the predicted probability and the 0/1 outcome", _brier),
    Metric("log_loss", "log loss", False, False, "mean negative log-likelihood of the outcomes", _log_loss),
    Metric("accuracy", "accuracy", True, False, "share of correct decisions at the threshold", _accuracy),
)}


def get_metric(name: Any) -> Metric:
    metric = METRICS.get(name) if isinstance(name, str) else None
    if metric is None:
        raise CardError(f"slice_metric: no metric named {name!r}; available: {', '.join(sorted(METRICS))}")
    return metric
