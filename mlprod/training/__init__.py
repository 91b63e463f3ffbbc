"""Training the model: the estimator the ``train`` section describes, fitting and saving it with its manifest and
reference profile, and the holdout metrics the ``evaluate`` stage records.

The example pipeline's ``train`` and ``evaluate`` notebooks call these functions, and so does ``mlprod backtest``
when it retrains in one process: a backtest's models are built exactly as the pipeline builds them.
Names are imported lazily, so ``import mlprod.training`` does not import scikit-learn.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "ModelSettings": "mlprod.training.estimators",
    "build_pipeline": "mlprod.training.estimators",
    "TrainedModel": "mlprod.training.fit",
    "fit_and_save": "mlprod.training.fit",
    "holdout_metrics": "mlprod.training.evaluation",
    "evaluate_and_save": "mlprod.training.evaluation",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
