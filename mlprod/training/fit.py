"""Fit a pipeline on the training rows and save it: the model file and manifest (:func:`mlprod.save_model`), the
training metrics, and the reference profile drift is measured against.

The reference profile summarises the training rows (features, target and the model's in-sample scores under
``prediction``) and is saved next to the model, so drift is computed without the training data. Scores on
training rows are optimistic; the drift report compares scores and labels with the holdout period instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROFILE_FILE = "reference_profile.json"


@dataclass(frozen=True)
class TrainedModel:
    pipeline: Any
    manifest: Any  # mlprod.manifest.schema.Manifest
    metrics: dict[str, Any]  # rows, positive_rate, roc_auc (in-sample)
    profile_path: Path


def fit_and_save(pipeline: Any, train: Any, *, target: str, features: list[str], model_dir: str | Path, name: str,
                 training_data: str | Path, version: str | None = None, description: str = "",
                 positive_label: Any = None, previous: Any = None) -> TrainedModel:
    """Fit ``pipeline`` on ``train[features]`` against ``train[target]`` (0/1) and save it in ``model_dir``.

    ``previous``: the model folder or manifest the version is proposed from (default: the one in ``model_dir``).
    """
    from sklearn.metrics import roc_auc_score

    from ..manifest.store import save_model
    from ..profile import build_profile

    X, y = train[features], train[target]
    pipeline.fit(X, y)
    scores = pipeline.predict_proba(X)[:, 1]
    metrics = {"rows": len(train), "positive_rate": round(float(y.mean()), 6),  # reports round once, on display
               "roc_auc": round(float(roc_auc_score(y, scores)), 6)}
    manifest = save_model(pipeline, model_dir, name=name, version=version, X=X, training_data=training_data,
                          metrics={"training": metrics}, description=description, previous=previous,
                          output=f"probability that {target} is {1 if positive_label is None else positive_label!r}")
    reference = train.assign(prediction=scores)
    profile_path = build_profile(reference).save(Path(model_dir) / PROFILE_FILE)
    return TrainedModel(pipeline, manifest, metrics, Path(profile_path))
