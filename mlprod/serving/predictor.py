"""The resilient predictor: a request's rows through the input plan and the tier chain, one result row per input row.

Order of work in :meth:`ResilientPredictor.predict` (and why):
1. the input plan fills, clips and type-checks the rows (:mod:`mlprod.serving.inputs`); rows of the wrong type
   are rejected here, so no model sees them;
2. the primary scores the other rows (under ``route``, not the out-of-range ones); rows it fails go on with the
   reason, to the fallback model if there is one; the reason recorded is the first one (why the primary did not
   serve the row);
3. the rules, then the constant default, score whatever is left: a request never fails as a whole because a
   model did;
4. the decision (score >= threshold) and ``needs_review`` (score inside ``review_band``, inclusive; under
   ``serving.review.method: risk_control`` the band calibrated for the model, :mod:`mlprod.serving.review`) are
   computed once, on the final scores.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .budget import BoundedCaller, Breaker
from .inputs import InputPlan
from .settings import ServingSettings
from .tiers import ModelTier, RuleTier

PRIMARY, FALLBACK, RULES, DEFAULT, REJECTED = "primary", "fallback", "rules", "default", "rejected"
OUT_OF_RANGE = "out_of_range"
COLUMNS = ["score", "decision", "tier", "fallback_reason", "filled_features", "needs_review", "model_version"]
DEFAULT_THRESHOLD = 0.5


class ResilientPredictor:
    """Scores rows with ``primary`` and falls back per row; see the module docstring and docs/serving.md."""

    def __init__(self, primary: Any, *, fallback: Any = None, settings: ServingSettings, plan: InputPlan,
                 threshold: float = DEFAULT_THRESHOLD, model_version: str = "") -> None:
        self.settings = settings
        self.plan = plan
        self.threshold = float(threshold)
        self.model_version = str(model_version)
        self.rules = RuleTier(settings.rules, plan.column_types, default_score=settings.default_score)
        self.primary = self._tier(PRIMARY, primary)
        self.fallback = self._tier(FALLBACK, fallback) if fallback is not None else None

    def _tier(self, name: str, model: Any) -> ModelTier:
        s = self.settings
        breaker = Breaker(s.breaker.failures, s.breaker.reset_seconds)
        caller = BoundedCaller(max_workers=s.max_workers, budget_seconds=s.time_budget_ms / 1000.0,
                               breaker=breaker, name=name)
        return ModelTier(name, model, caller)

    @classmethod
    def from_folders(cls, primary_dir: str | Path, fallback_dir: str | Path | None = None, *,
                     settings: ServingSettings) -> ResilientPredictor:
        """Load the models with :func:`mlprod.load_model` (sha256 checked before deserializing); the input plan
        from the primary's manifest and reference profile; threshold and version from the primary's manifest.
        With ``settings.review.method: risk_control`` the review band is the one calibrated for the primary
        (``review_calibration.json`` in its folder, checked against the manifest's sha256; a ReviewError when it is
        missing, changed, or was calibrated for another model or another alpha/delta: never the plain band)."""
        from ..manifest.schema import read_manifest
        from ..manifest.store import load_model

        manifest = read_manifest(primary_dir)
        if settings.review.method == "risk_control":
            from dataclasses import replace

            from .review.calibration import calibrated_band

            settings = replace(settings, review_band=calibrated_band(primary_dir, manifest, settings.review))
        plan = InputPlan.from_folder(primary_dir, fill=settings.fill, out_of_range=settings.out_of_range,
                                     manifest=manifest)
        fallback = None
        if fallback_dir is not None:
            extra = sorted({c.name for c in read_manifest(fallback_dir).inputs} - set(plan.columns))
            if extra:
                raise ConfigError(f"fallback model {fallback_dir}: it needs input(s) {', '.join(map(repr, extra))} "
                                  f"the primary ({primary_dir}) does not have; train the fallback on the primary's "
                                  "features or a subset of them")
            fallback = load_model(fallback_dir)
        return cls(load_model(primary_dir), fallback=fallback, settings=settings, plan=plan,
                   threshold=manifest_threshold(manifest), model_version=manifest.version)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per input row, in input order and with its index: ``score``, ``decision``, ``tier``,
        ``fallback_reason``, ``filled_features``, ``needs_review``, ``model_version``.

        ``result.attrs["inputs"]`` counts per feature the rows ``filled``, ``out_of_range`` and with
        ``unseen_categories`` (and ``rejected`` rows), for metrics.
        """
        steps = self._steps(frame)
        try:
            model, rows = next(steps)
            while True:
                model, rows = steps.send(model.score(rows))
        except StopIteration as done:
            return done.value

    async def apredict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """:meth:`predict` on an event loop: the same steps, the model calls awaited (the loop hands each call to
        the tier's pool and waits without blocking, so a request costs one thread hand-off, not two)."""
        steps = self._steps(frame)
        try:
            model, rows = next(steps)
            while True:
                model, rows = steps.send(await model.ascore(rows))
        except StopIteration as done:
            return done.value

    def _steps(self, frame: pd.DataFrame) -> Generator[tuple[ModelTier, pd.DataFrame], Any, pd.DataFrame]:
        """The work of :meth:`predict`; yields each model call ``(tier, rows)`` and is sent its ``(scores,
        reasons)``, so the same steps run with a blocking or an awaited call."""
        prepared = self.plan.prepare(frame)
        n = len(frame)
        score = np.full(n, np.nan)
        tier = np.full(n, None, dtype=object)
        reason = np.full(n, None, dtype=object)
        rejected = prepared.rejected
        scorable = pd.isna(rejected)
        all_scorable = bool(scorable.all())
        if not all_scorable:
            tier[~scorable] = REJECTED
            reason[~scorable] = rejected[~scorable]
        pending = np.arange(n) if all_scorable else np.flatnonzero(scorable)
        if prepared.routed.any():
            routed = np.flatnonzero(prepared.routed)
            reason[routed] = OUT_OF_RANGE
            pending_primary = pending[~prepared.routed[pending]]
        else:
            routed, pending_primary = None, pending
        pending = yield from self._model_tier(self.primary, prepared.frame, pending_primary, score, tier, reason)
        if routed is not None:
            pending = np.sort(np.concatenate([pending, routed]))
        if self.fallback is not None and pending.size:
            pending = yield from self._model_tier(self.fallback, prepared.frame, pending, score, tier, reason)
        if pending.size:
            rows = _rows(prepared.frame, pending)
            ruled, matched = self.rules.score(rows)
            score[pending] = ruled
            tier[pending] = np.where(matched, RULES, DEFAULT)
        return self._result(frame.index, score, tier, reason, prepared)

    def _model_tier(self, model: ModelTier, frame: pd.DataFrame, rows: np.ndarray, score: np.ndarray,
                    tier: np.ndarray, reason: np.ndarray) -> Generator[tuple[ModelTier, pd.DataFrame], Any, np.ndarray]:
        """Score ``rows`` with ``model``; the rows it did not serve (with their reason set if none yet)."""
        if not rows.size:
            return rows
        scores, problems = yield model, _rows(frame, rows)
        if scores is None:  # the call failed as a whole: every row goes down
            _first_reason(reason, rows, problems)
            return rows
        if problems is None:
            score[rows] = scores
            tier[rows] = model.name
            return rows[:0]
        good = pd.isna(problems)
        score[rows[good]] = scores[good]
        tier[rows[good]] = model.name
        bad = rows[~good]
        _first_reason(reason, bad, problems[~good])
        return bad

    def _result(self, index: pd.Index, score: np.ndarray, tier: np.ndarray, reason: np.ndarray,
                prepared: Any) -> pd.DataFrame:
        known = ~np.isnan(score)
        with np.errstate(invalid="ignore"):
            decision = score >= self.threshold
        if known.all():
            decision_col: Any = decision.astype("int8")
        else:
            decision_col = pd.array(np.where(known, decision, 0).astype("int8"), dtype="Int8")
            decision_col[~known] = pd.NA
        band = self.settings.review_band
        if band is None:
            review = np.zeros(len(score), dtype=bool)
        else:
            with np.errstate(invalid="ignore"):
                review = (score >= band[0]) & (score <= band[1])
        result = pd.DataFrame({
            "score": score, "decision": decision_col, "tier": tier, "fallback_reason": reason,
            "filled_features": prepared.filled, "needs_review": review,
            "model_version": np.full(len(score), self.model_version, dtype=object),
        }, index=index, columns=COLUMNS)
        result.attrs["inputs"] = prepared.counts
        return result

    def warm_up(self, calls: int = 3) -> None:
        """Call each model directly (no time budget, no breaker) on one row filled from the reference profile.

        A model's first calls are slow (lazy set-up in numpy/scikit-learn): through the budget they would time
        out, send the first requests down a tier and count against the breaker. A model that fails here is left to
        fail, and be counted, on real requests."""
        prepared = self.plan.prepare(pd.DataFrame(index=[0]))
        for model in (self.primary, self.fallback):
            for _ in range(calls if model is not None else 0):
                try:
                    model.model.predict_proba(prepared.frame)
                except Exception:  # noqa: BLE001 - a broken model shows on real requests, through its tier
                    break

    def close(self) -> None:
        """Stop the model tiers' thread pools (calls still hung in them are not waited for)."""
        for model in (self.primary, self.fallback):
            if model is not None:
                model.close()


def _rows(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    return frame if rows.size == len(frame) else frame.iloc[rows]


def _first_reason(reason: np.ndarray, rows: np.ndarray, value: Any) -> None:
    unset = rows[pd.isna(reason[rows])]
    if isinstance(value, np.ndarray):
        value = value[pd.isna(reason[rows])]
    reason[unset] = value


def manifest_threshold(manifest: Any) -> float:
    """The decision threshold the evaluate stage recorded in the manifest, else 0.5 (as ``mlprod score``)."""
    value = (manifest.parameters.get("evaluate") or {}).get("threshold")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else DEFAULT_THRESHOLD
