"""Model registry on MLflow: registration from a manifest, champion/challenger gates, promotion, rollback.

* :mod:`.store` - where the registry lives (project SQLite by default, ``MLFLOW_TRACKING_URI``), errors
* :mod:`.lock` - mutual exclusion for registry writes (file lock locally, a registry lease on a server)
* :mod:`.register` - ``register_model(dir)``: run, artifacts, MLflow model, version linked to the semver
* :mod:`.runlog`, :mod:`.download`, :mod:`.compatibility` - the run logged for a version, reading it back
  verified, whether the champion can score a new model's data
* :mod:`.scoring`, :mod:`.gates`, :mod:`.upstream` - metrics, gate arithmetic and policy, data/drift gates
* :mod:`.decision` - the decision record (JSON) and the gate table
* :mod:`.champion` - ``evaluate``, ``promote``, ``rollback``
* :mod:`.history` - the alias-move log kept in the registry, and the history view
* :mod:`.settings` - the ``register`` section of ``params.yaml``

From a notebook::

    from mlprod import registry
    version = registry.register_model("models/model")
    decision = registry.evaluate(version.name, version.version, inputs)
    decision = registry.promote(decision)
    print(registry.render(decision))

Names are imported lazily: ``import mlprod.registry`` does not import MLflow.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "Registry": "mlprod.registry.store",
    "register_model": "mlprod.registry.register",
    "RegisteredVersion": "mlprod.registry.register",
    "GatePolicy": "mlprod.registry.gates",
    "MetricGate": "mlprod.registry.gates",
    "parse_gates": "mlprod.registry.gates",
    "evaluate_gate": "mlprod.registry.gates",
    "EvaluationInputs": "mlprod.registry.champion",
    "evaluate": "mlprod.registry.champion",
    "promote": "mlprod.registry.champion",
    "rollback": "mlprod.registry.champion",
    "CHAMPION": "mlprod.registry.champion",
    "Decision": "mlprod.registry.decision",
    "render": "mlprod.registry.decision",
    "verdict_line": "mlprod.registry.decision",
    "write_decision": "mlprod.registry.decision",
    "model_history": "mlprod.registry.history",
    "render_history": "mlprod.registry.history",
    "parse_settings": "mlprod.registry.settings",
    "load_settings": "mlprod.registry.settings",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
