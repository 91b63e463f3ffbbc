"""``ResilientModel``: the resilient predictor as an MLflow pyfunc, logged as *models-from-code*.

This file is the model's code: :func:`mlprod.serving.registration.register_serving` passes its path to
``mlflow.pyfunc.log_model(python_model=<this file>, artifacts=...)``, MLflow copies it into the logged model and
runs it when the model is loaded (``mlflow.pyfunc.load_model``, ``mlflow models serve``); the
``mlflow.models.set_model`` call at the bottom names the model. Nothing is cloudpickled. mlprod itself never imports
this module. It needs mlprod installed where the model is loaded (``--env-manager local``).

The logged model's artifacts (docs/serving.md, "The MLflow pyfunc"):

- ``primary``: the primary's model folder as registered (``model_manifest.yaml``, ``model.skops``,
  ``reference_profile.json``, and ``review_calibration.json`` when the evaluate stage calibrated the review band:
  checked against the manifest's sha256 when ``serving.review.method`` is ``risk_control``);
- ``fallback`` (optional): the fallback model's folder, the same way;
- ``settings``: ``serving.json``, the ``serving:`` section of params.yaml the version was built with.

:meth:`ResilientModel.load_context` builds a :class:`mlprod.serving.ResilientPredictor` from them with
``ResilientPredictor.from_folders``: each model's artifact is checked against its manifest's sha256 before it is
deserialized, with skops and mlprod's allow-list (never pickle).
"""

from __future__ import annotations

import json

import mlflow
from mlflow.pyfunc import PythonModel

PRIMARY, FALLBACK, SETTINGS = "primary", "fallback", "settings"
SETTINGS_FILE = "serving.json"


class ResilientModel(PythonModel):
    """An MLflow pyfunc answering per row: score, decision, tier, fallback_reason, filled_features (a list),
    needs_review, model_version (docs/serving.md)."""

    def load_context(self, context):
        from mlprod.serving import ResilientPredictor, ServingSettings

        artifacts = context.artifacts
        with open(artifacts[SETTINGS], encoding="utf-8") as handle:
            raw = json.load(handle)
        settings = ServingSettings.from_mapping(raw, where=f"the logged model's {SETTINGS_FILE}")
        self.predictor = ResilientPredictor.from_folders(artifacts[PRIMARY], artifacts.get(FALLBACK),
                                                         settings=settings)
        self.predictor.warm_up()  # else the first request's model call may exceed its time budget and fall back

    def predict(self, context, model_input, params=None):
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return to_output(self.predictor.predict(frame))


def to_output(result):
    """The predictor's frame in plain JSON-friendly types: ``filled_features`` as lists, ``decision`` an int (None
    for a rejected row), no ``attrs`` (the per-feature counts are for ``mlprod serve``'s metrics)."""
    import pandas as pd

    out = result.copy()
    out.attrs = {}
    out["filled_features"] = [list(names) for names in out["filled_features"]]
    out["decision"] = [None if pd.isna(d) else int(d) for d in out["decision"]]
    out["needs_review"] = out["needs_review"].astype(bool)
    return out


mlflow.models.set_model(ResilientModel())
