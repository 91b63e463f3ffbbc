"""Holdout metrics, as the ``evaluate`` stage records them in the manifest and ``metrics/evaluation.json``.

The values come from the same metric catalogue the promotion gates use
(:data:`mlprod.registry.scoring.METRICS`), rounded to six places (``DIGITS``) so that a report rounds them once,
to the digits it shows (0.815453 shows as 0.815 everywhere; four places, 0.8155, showed as 0.816 beside the
0.815 the card computes); ROC AUC and average precision are None on rows with one class only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

DIGITS = 6
HOLDOUT_METRICS = ("roc_auc", "average_precision", "log_loss", "brier", "accuracy", "precision", "recall", "f1")


def holdout_metrics(y_true: Any, y_score: Any, *, threshold: float) -> dict[str, Any]:
    """``rows``, ``positive_rate`` and every metric of :data:`HOLDOUT_METRICS` for labels ``y_true`` (0/1)."""
    import numpy as np

    from ..registry.scoring import metric_values

    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=float)
    values = metric_values(y_true, y_score, threshold=threshold, metrics=list(HOLDOUT_METRICS))
    out: dict[str, Any] = {"rows": int(len(y_true)), "positive_rate": round(float(np.mean(y_true)), DIGITS)}
    out.update({k: None if math.isnan(v) else round(v, DIGITS) for k, v in values.items()})
    return out


def evaluate_and_save(trained_dir: str | Path, holdout: Any, model_dir: str | Path, *, target: str, threshold: float,
                      evaluation_data: str | Path, params: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Score the trained model in ``trained_dir`` on ``holdout`` and write the evaluated model to ``model_dir``
    (:func:`mlprod.add_evaluation`). With the project's ``params`` (params.yaml as a mapping), under
    ``serving.review.method: risk_control`` the review band calibrated on these holdout scores goes with the model,
    as the evaluate stage does it (:func:`mlprod.serving.review.calibration_files`). Returns (the manifest, the
    holdout metrics)."""
    from ..manifest.store import add_evaluation, load_model

    model = load_model(trained_dir)
    scores = model.predict_proba(holdout)[:, 1]
    metrics = holdout_metrics(holdout[target].to_numpy(), scores, threshold=threshold)
    files = {}
    if params is not None:
        from ..serving.review import calibration_files

        files = calibration_files(trained_dir, holdout, scores, threshold=threshold, params=params)
    manifest = add_evaluation(trained_dir, model_dir, metrics={"holdout": metrics}, evaluation_data=evaluation_data,
                              files=files)
    return manifest, metrics
