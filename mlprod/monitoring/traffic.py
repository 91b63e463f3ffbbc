"""Batch scoring under params.yaml's ``deployment:`` (docs/traffic.md, "Batch scoring and shadow analysis").

:func:`plan_traffic` turns the settings into which model scores which row:

- ``ab``: each row's unit (column ``deployment.unit_id``) is assigned with :func:`mlprod.traffic.assignment.assign`
  and scored by its arm's model; a row without a unit id (or outside the coverage) is answered by the first arm,
  with ``experiment`` and ``arm`` null;
- ``canary``: arms ``champion`` (MODEL) and ``canary`` (``NAME@canary``) at the share of the canary state file
  (``monitoring/canary/state.json``; no file: step 0 when ``NAME@canary`` exists, else no canary);
- ``shadow``: MODEL answers as without a deployment; the shadow model scores the same rows and its rows go only
  to the prediction log (:func:`log_shadow`);
- ``none`` / ``blue_green``: MODEL scores everything (blue-green switches the alias MODEL names).

:func:`score_arms` scores a batch arm by arm and adds the record's traffic column group (``experiment``, ``arm``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import predictions as records


@dataclass(frozen=True)
class TrafficPlan:
    mode: str
    arms: dict[str, str]  # arm name -> model reference, in the experiment's order
    default_arm: str  # answers the rows not in the experiment (experiment and arm null)
    experiment: Any = None  # the mlprod.traffic.assignment.Experiment; None: no arm split (shadow)
    unit_id: str | None = None
    shadow: str | None = None  # the shadow model's reference
    experiment_key: str | None = None
    canary_share: float | None = None  # percent, canary mode


def plan_traffic(settings: Any, model: str | Path, *, root: str | Path, key: str | None = None) -> TrafficPlan | None:
    """The plan for ``settings`` (a :class:`~mlprod.traffic.deployment.DeploymentSettings`) with MODEL ``model``;
    None when MODEL alone scores every row (modes none and blue_green, a canary not started or finished).
    ``key`` (project.key) is the unit id column when ``deployment.unit_id`` is not set."""
    import dataclasses

    if settings is not None and settings.unit_id is None and key:
        settings = dataclasses.replace(settings, unit_id=key)

    if settings is None or settings.mode in ("none", "blue_green"):
        return None
    if settings.mode == "shadow":
        return TrafficPlan("shadow", {"champion": str(model)}, "champion", unit_id=settings.unit_id,
                           shadow=settings.shadow.model.text, experiment_key=settings.experiment)
    if settings.mode == "ab":
        arms = {a.name: a.model.text for a in settings.ab.arms}
        return TrafficPlan("ab", arms, settings.ab.arms[0].name, experiment=settings.to_experiment(),
                           unit_id=settings.unit_id, experiment_key=settings.experiment)
    # canary
    from ..traffic.canary_state import read_state, state_path

    canary = settings.canary
    state = read_state(state_path(root), canary.ramp)
    if state is None:
        if not _alias_exists(canary.model, "canary", root):
            return None
        share, key = canary.ramp[0], settings.experiment
    else:
        share, key = state.share(canary.ramp), state.experiment
    if share <= 0:
        return None
    experiment = settings.canary_experiment(key, share)
    return TrafficPlan("canary", {"champion": str(model), "canary": canary.challenger.text}, "champion",
                       experiment=experiment, unit_id=settings.unit_id, experiment_key=key, canary_share=share)


def _alias_exists(name: str, alias: str, root: str | Path) -> bool:
    from ..registry.register import alias_version
    from ..registry.store import Registry

    try:
        alias_version(Registry.open(root), name, alias)
    except Exception:  # no registry, no such model or alias: no canary
        return False
    return True


def score_arms(plan: TrafficPlan, models: dict[str, Any], thresholds: dict[str, float], frame: Any, score_one: Any,
               *, source: Any) -> tuple[Any, dict[str, Any] | None, dict[str, Any]]:
    """``(record, serving entry, traffic entry)`` for ``frame``: each row scored by its arm's model through
    ``score_one(model, rows, threshold) -> (record, serving entry or None)``, back in the batch's row order, with
    the traffic column group."""
    import numpy as np
    import pandas as pd

    from ..data.columns import require_columns
    from ..traffic.assignment import assign, column_ids

    require_columns(frame, {"deployment.unit_id": plan.unit_id}, source=source)
    names = list(plan.arms)
    arm = assign(plan.experiment, column_ids(frame[plan.unit_id])) if len(frame) else np.array([], dtype=object)
    route = np.where(pd.isna(arm), plan.default_arm, arm).astype(object)
    parts, entries, counts = [], {}, {}
    for name in names:
        rows = np.flatnonzero(route == name)
        if not len(rows) and not (name == plan.default_arm and not len(frame)):
            continue
        scored, entry = score_one(models[name], frame.iloc[rows], thresholds[name])
        scored.index = rows
        parts.append(scored)
        entries[name], counts[name] = entry, len(rows)
    serving_any = any(e is not None for e in entries.values())
    if serving_any:
        parts = [p if records.serving_columns(p) else _primary_group(p) for p in parts]
    out = pd.concat(parts).sort_index().reset_index(drop=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    codes = np.full(len(frame), -1, dtype="int8")
    known = ~pd.isna(arm)
    codes[known] = np.searchsorted(np.array(sorted(names), dtype=object), arm[known].astype(object))
    out["experiment"] = pd.Categorical.from_codes(np.where(known, 0, -1).astype("int8"),
                                                  categories=[plan.experiment_key])
    out["arm"] = pd.Categorical.from_codes(codes, categories=sorted(names))
    traffic = {"columns_version": records.TRAFFIC_COLUMNS_VERSION, "mode": plan.mode, "experiment": plan.experiment_key,
               "unit_id": plan.unit_id, "not_in_experiment": int((~known).sum()),
               "arms": {name: {"model": models[name].record, "threshold": thresholds[name],
                               "rows": int((arm[known] == name).sum())} for name in names}}
    if plan.canary_share is not None:
        traffic["canary_share"] = plan.canary_share
    return out, _merge_serving(entries) if serving_any else None, traffic


def _primary_group(part: Any) -> Any:
    """The serving column group for rows scored by a model alone: the primary answered, nothing filled."""
    import numpy as np
    import pandas as pd

    n = len(part)
    part = part.copy()
    part["tier"] = pd.Categorical.from_codes(np.zeros(n, dtype="int8"), categories=["primary"])
    part["fallback_reason"] = pd.Categorical.from_codes(np.full(n, -1, dtype="int8"), categories=["none"])
    part["needs_review"] = np.zeros(n, dtype=bool)
    part["filled_features"] = pd.Categorical.from_codes(np.zeros(n, dtype="int8"), categories=[""])
    return part


def _merge_serving(entries: dict[str, dict | None]) -> dict[str, Any]:
    """One marker serving entry for the arms' entries: counts added up, the first arm's fallback."""
    merged: dict[str, Any] = {"columns_version": records.SERVING_COLUMNS_VERSION, "fallback": None, "tiers": {},
                              "fallback_reasons": {}, "review_rows": 0, "filled": {}, "out_of_range": {}}
    for name, entry in entries.items():
        if entry is None:
            continue
        merged["fallback"] = merged["fallback"] or entry.get("fallback")
        merged["review_rows"] += entry.get("review_rows", 0)
        for key in ("tiers", "fallback_reasons", "filled", "out_of_range"):
            for k, n in (entry.get(key) or {}).items():
                merged[key][k] = merged[key].get(k, 0) + n
    for key in ("tiers", "fallback_reasons", "filled", "out_of_range"):
        merged[key] = dict(sorted(merged[key].items()))
    return merged


def log_rows(writer: Any, batch_id: str, scored: Any, frame: Any, model: Any, *, arm: str,
             experiment: str | None) -> int:
    """Log a scored batch's rows (request_id = the batch id, row = the row's index in the batch) through the
    writer's columnar path (:meth:`~mlprod.serving.predictionlog.PredictionLogWriter.log_frame`)."""
    import numpy as np
    import pandas as pd

    from ..serving.predictionlog import ModelRef

    n = len(scored)
    outputs = {"score": scored["score"].to_numpy(), "decision": scored["decision"].to_numpy()}
    if records.serving_columns(scored):
        filled = scored["filled_features"]  # comma-joined names: split once per distinct value
        if not isinstance(filled.dtype, pd.CategoricalDtype) or filled.isna().any():
            filled = filled.astype(str).astype("category")
        lists = np.empty(len(filled.cat.categories), dtype=object)
        lists[:] = [tuple(str(t).split(",")) if str(t) else () for t in filled.cat.categories]
        outputs.update({"tier": scored["tier"].astype(object).to_numpy(),
                        "fallback_reason": scored["fallback_reason"].astype(object).to_numpy(),
                        "needs_review": scored["needs_review"].to_numpy(),
                        "filled_features": lists[filled.cat.codes.to_numpy()]})
    else:
        outputs.update({"tier": np.full(n, "primary", dtype=object), "fallback_reason": np.full(n, None, dtype=object),
                        "needs_review": np.zeros(n, dtype=bool), "filled_features": [()] * n})
    return writer.log_frame(batch_id, pd.DataFrame(outputs), model=ModelRef(model.name, model.version, model.sha256),
                            inputs=frame, experiment=experiment, arm=arm)


def check_log_settings(settings: Any) -> Any:
    if settings is None:
        from ..serving.predictionlog import PredictionLogSettings

        return PredictionLogSettings()
    if not hasattr(settings, "log_features"):
        raise ConfigError(f"prediction log settings: expected PredictionLogSettings, got {settings!r}")
    return settings
