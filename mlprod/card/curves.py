"""ROC, precision-recall and calibration curves computed from labels and scores.

Used when the evaluation stage's plot files are absent; the same definitions as notebooks/evaluate.ipynb
(10 quantile bins for calibration; at most 200 points per curve).
"""

from __future__ import annotations

from typing import Any

from .schema import Curves

MAX_POINTS = 200


def compute_curves(y: Any, scores: Any, *, source: str) -> Curves:
    import numpy as np
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=float)
    if len(np.unique(y)) < 2:
        return Curves(roc=(), precision_recall=(), calibration=(), source=f"{source} (one class only: no curves)")
    fpr, tpr, _ = roc_curve(y, scores)
    precision, recall, _ = precision_recall_curve(y, scores)
    observed, predicted = calibration_curve(y, scores, n_bins=10, strategy="quantile")
    return Curves(roc=_points(fpr, tpr), precision_recall=_points(recall, precision),
                  calibration=_points(predicted, observed), source=source)


def _points(x: Any, y: Any) -> tuple[tuple[float, float], ...]:
    import numpy as np

    index = np.unique(np.linspace(0, len(x) - 1, min(MAX_POINTS, len(x))).round().astype(int))
    return tuple((round(float(x[i]), 5), round(float(y[i]), 5)) for i in index)
