"""Batch scoring through the resilient predictor (:mod:`mlprod.serving`): the tiers, filled inputs and review routing
of ``mlprod serve``, written into the predictions record's serving column group.

:func:`load_resilient` builds a :class:`~mlprod.serving.ResilientPredictor` from the model (a folder or
``NAME@alias``) and an optional fallback model (the same), each hash-verified before it is deserialized, with the
``serving:`` settings of params.yaml. :func:`score_frame` scores a batch with it: the record's base columns come
first, as the plain path writes them (:func:`mlprod.monitoring.scoring.record_frame`), then the serving column
group (:data:`mlprod.monitoring.predictions.SERVING_COLUMNS`): ``tier``, ``fallback_reason``, ``needs_review`` and
``filled_features`` (the filled feature names joined by ``,`` in the model's input order; ``""`` when none).

Two differences from serving, and why:

- **Time budget.** ``serving.time_budget_ms`` is a per-request latency budget; a batch has none, so by default a
  model call may take as long as it needs (as before). ``time_budget`` (seconds, per batch and model tier) sets
  one: a call still running then is abandoned and the batch's rows go to the next tier.
- **Rejected rows.** A row with a value of the wrong type is rejected by the predictor (``tier: rejected``). The
  predictions record has a score and a decision for every row, so such a batch is quarantined instead (the data
  gates with the schema stop it earlier).
"""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from . import predictions as records
from .scoring import PROFILE_FILE, ScoringModel, from_folder, check_reference, model_folder, record_frame

REJECTED = "rejected"
NO_BUDGET_MS = 1e12  # "no limit": a budget longer than any run (the thread pool's wait needs a finite number)


def check_fallback(reference: str | Path) -> None:
    """A ConfigError naming the fallback when ``reference`` is neither a model folder nor ``NAME@alias``."""
    try:
        check_reference(reference)
    except ConfigError as exc:
        raise ConfigError(f"fallback {exc}") from None


def check_time_budget(seconds: Any) -> float | None:
    if seconds is None:
        return None
    ok = isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 < seconds < NO_BUDGET_MS / 1000
    if not ok:
        raise ConfigError(f"time budget must be a number of seconds > 0, got {seconds!r}")
    return float(seconds)


def load_resilient(reference: str | Path, *, fallback: str | Path | None = None, settings: Any = None,
                   time_budget: float | None = None, root: str | Path | None = None) -> ScoringModel:
    """The model named by ``reference`` wrapped in the resilient predictor (with ``fallback`` when given).

    settings: a :class:`~mlprod.serving.ServingSettings` (default: its defaults); its ``time_budget_ms`` is
    replaced by ``time_budget`` (seconds per batch and model tier; None: no limit), see the module docstring.
    """
    from ..manifest.schema import read_manifest
    from ..serving import ResilientPredictor, ServingSettings

    if fallback is not None:
        check_fallback(fallback)
    budget = check_time_budget(time_budget)
    settings = settings if settings is not None else ServingSettings()
    settings = dataclasses.replace(settings, time_budget_ms=NO_BUDGET_MS if budget is None else budget * 1000.0)
    with ExitStack() as stack:
        primary_dir, registry_version = stack.enter_context(model_folder(reference, root=root))
        unfillable = _unfillable(primary_dir, settings)
        if unfillable and fallback is None:
            return from_folder(primary_dir, str(reference), registry_version=registry_version,
                               note=f"the model has no {PROFILE_FILE} to fill missing inputs from (and params.yaml "
                                    f"serving.fill does not name {', '.join(unfillable)}): scored by the model alone, "
                                    "without the fallback tiers, filled inputs or review routing")
        if unfillable:
            raise ConfigError(f"model {reference}: the resilient predictor needs fill values for its inputs, but the "
                              f"model has no {PROFILE_FILE} and params.yaml serving.fill does not name "
                              f"{', '.join(unfillable)}; save the model with its reference profile (the train stage "
                              "does) or set serving.fill")
        fallback_dir, fallback_record = None, None
        if fallback is not None:
            fallback_dir, fallback_version = stack.enter_context(model_folder(fallback, root=root))
            made = read_manifest(fallback_dir)
            fallback_record = {"name": made.name, "version": made.version, "sha256": made.artifact.sha256,
                               "registry_version": fallback_version}
        predictor = ResilientPredictor.from_folders(primary_dir, fallback_dir, settings=settings)
        manifest = read_manifest(primary_dir)
        profile = None
        if (primary_dir / PROFILE_FILE).is_file():
            from ..profile import read_profile

            profile = read_profile(primary_dir / PROFILE_FILE)
    return ScoringModel(model=predictor.primary.model, manifest=manifest, name=manifest.name,
                        version=manifest.version, sha256=manifest.artifact.sha256,
                        registry_version=registry_version, reference=str(reference), profile=profile,
                        predictor=predictor, fallback=fallback_record)


def _unfillable(folder: Path, settings: Any) -> list[str]:
    """The primary's inputs with no fill value when it has no reference profile (none when it has one)."""
    from ..manifest.schema import read_manifest

    if (folder / PROFILE_FILE).is_file():
        return []
    return [c.name for c in read_manifest(folder).inputs if c.name not in settings.fill]


def score_frame(model: ScoringModel, frame: Any, *, threshold: float, batch_id: str, scored_at: str,
                key: str | None = None, date_column: str | None = None,
                source: str | Path = "<data>") -> tuple[Any, dict[str, Any]]:
    """``(record, serving)``: the predictions record's columns for ``frame`` with the serving column group, and
    what the marker's ``serving`` entry says about the batch (tiers, fallback reasons, review, filled inputs)."""
    import numpy as np
    import pandas as pd

    from ..data.columns import require_columns

    require_columns(frame, {"project.key": key, "project.date_column": date_column}, source=source)
    predictor = model.predictor
    predictor.threshold = float(threshold)
    result = predictor.predict(frame)
    tier = result["tier"].to_numpy(dtype=object)
    reason = result["fallback_reason"].to_numpy(dtype=object)
    rejected = tier == REJECTED
    if rejected.any():
        counts = pd.Series(reason[rejected]).value_counts()
        named = ", ".join(f"{str(r).split(':', 1)[-1]} in {n} row(s)" for r, n in counts.items())
        raise DataError(f"{source}: {int(rejected.sum())} of {len(frame)} row(s) have a value of the wrong type "
                        f"({named}); {model.name} {model.version} cannot score them. Fix the values (the data gates "
                        "with the schema stop such a batch) and score it again")
    score = result["score"].to_numpy(dtype="float64")
    decision = result["decision"].to_numpy(dtype="int8")
    out = record_frame(model, frame, score, decision, batch_id=batch_id, scored_at=scored_at, key=key,
                       date_column=date_column)
    tiers, tier_codes = _codes(tier)
    reasons, reason_codes = _codes(reason)
    out["tier"] = pd.Categorical.from_codes(tier_codes, categories=tiers or ["primary"])
    # text even when every row is null (as plain text in the file, like the constant columns)
    out["fallback_reason"] = pd.Categorical.from_codes(reason_codes, categories=reasons or ["none"])
    out["needs_review"] = result["needs_review"].to_numpy(dtype=bool)
    out["filled_features"] = _filled_text(result["filled_features"].tolist())
    return out, _summary(tiers, tier_codes, reasons, reason_codes, out["needs_review"].to_numpy(),
                         result.attrs.get("inputs") or {}, model.fallback)


def _codes(values: Any) -> tuple[list[str], Any]:
    """(sorted distinct texts, int8 code per row; -1 for None) of an object array of texts and None; one pass when
    every row has the same value (the common case: every row answered by the primary)."""
    import numpy as np
    import pandas as pd

    n = len(values)
    first = values[0] if n else None
    if n and (first is None and pd.isna(values).all() or first is not None and (values == first).all()):
        return ([] if first is None else [str(first)]), np.full(n, -1 if first is None else 0, dtype="int8")
    known = pd.notna(values)
    names = sorted({str(v) for v in values[known]})
    codes = np.full(n, -1, dtype="int8")
    codes[known] = np.searchsorted(np.array(names, dtype=object), values[known].astype(str))
    return names, codes


def _filled_text(filled: list[tuple[str, ...]]) -> Any:
    """Per row the filled features as one text (``a,b``; ``""`` for none): a constant column when no row has any."""
    import numpy as np
    import pandas as pd

    if not any(filled):
        return pd.Categorical.from_codes(np.zeros(len(filled), dtype="int8"), categories=[""])
    cache: dict[tuple[str, ...], str] = {}
    return np.array([cache[names] if names in cache else cache.setdefault(names, ",".join(names))
                     for names in filled], dtype=object)


def _summary(tiers: list[str], tier_codes: Any, reasons: list[str], reason_codes: Any, review: Any,
             inputs: dict[str, Any], fallback: dict | None) -> dict[str, Any]:
    import numpy as np

    def count(names: list[str], codes: Any) -> dict[str, int]:
        found = np.bincount(codes[codes >= 0], minlength=len(names))
        return {name: int(n) for name, n in zip(names, found) if n}

    return {"columns_version": records.SERVING_COLUMNS_VERSION, "fallback": fallback,
            "tiers": count(tiers, tier_codes), "fallback_reasons": count(reasons, reason_codes),
            "review_rows": int(review.sum()), "filled": dict(sorted((inputs.get("filled") or {}).items())),
            "out_of_range": dict(sorted((inputs.get("out_of_range") or {}).items()))}
