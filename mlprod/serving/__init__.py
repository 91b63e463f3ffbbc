"""Resilient serving, in process: a predictor that always answers, per row, and says how it did.

Public API (names are imported lazily; ``import mlprod.serving`` imports neither pandas nor scikit-learn)::

    ServingSettings.from_mapping(params["serving"]) -> ServingSettings   # strict; ConfigError on a typo
    ResilientPredictor.from_folders(primary_dir, fallback_dir=None, *, settings) -> ResilientPredictor
    ResilientPredictor(primary, *, fallback=None, settings, plan, threshold=0.5, model_version="")
    predictor.predict(frame) -> pandas.DataFrame    # one row per input row, in input order, same index
    predictor.close()                               # stop the model tiers' thread pools
    InputPlan.from_folder(folder, *, fill=None, out_of_range="clip") / InputPlan.from_model(inputs, profile, ...)
    plan.prepare(frame) -> Prepared                 # frame, filled, out_of_range, rejected, routed, counts
    fallback_for(reference, *, root=".", params=None) -> str | None   # NAME-fallback@alias / fallback.evaluated_dir

``predict``'s columns: ``score`` (float, NaN when rejected), ``decision`` (score >= threshold as 0/1; Int8 with
NA when a row is rejected), ``tier`` (``primary`` | ``fallback`` | ``rules`` | ``default`` | ``rejected``),
``fallback_reason`` (None for ``primary``; else the first reason the row left the primary:
``error:<ExceptionType>``, ``timeout``, ``circuit_open``, ``nan``, ``out_of_bounds``, ``bad_shape``,
``out_of_range``, or ``wrong_type:<feature>`` for a rejected row), ``filled_features`` (tuple of feature names
filled because missing or null, in input-column order; ``()`` when none), ``needs_review`` (bool: score inside ``review_band``), ``model_version``.
``result.attrs["inputs"]`` counts rows per feature: ``filled``, ``out_of_range``, ``unseen_categories``, and
``rejected``.

The tiers (:mod:`.tiers`): primary model -> fallback model -> ``serving.rules`` -> ``serving.default_score``.
Model calls run under a per-tier time budget on a bounded thread pool with a circuit breaker (:mod:`.budget`).
See docs/serving.md.

Subpackages: :mod:`.predictionlog` (the prediction log every served row is written to; docs/prediction_log.md) and
:mod:`.metrics` (the ``/metrics`` collectors, multiprocess-safe; docs/serving_metrics.md). :mod:`.registration`
registers the predictor as the MLflow pyfunc ``NAME-serving`` (models-from-code: :mod:`.pyfunc`, which only MLflow
loads) whose ``champion`` alias follows NAME's.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "ServingSettings": "mlprod.serving.settings",
    "BreakerSettings": "mlprod.serving.settings",
    "Rule": "mlprod.serving.settings",
    "InputPlan": "mlprod.serving.inputs",
    "Prepared": "mlprod.serving.inputs",
    "ResilientPredictor": "mlprod.serving.predictor",
    "Breaker": "mlprod.serving.budget",
    "fallback_for": "mlprod.serving.fallbacks",
    "BoundedCaller": "mlprod.serving.budget",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
