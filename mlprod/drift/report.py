"""``detect_drift``: compare a reference with a current batch and decide whether to retrain."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DriftError
from ..profile.build import DEFAULT_SAMPLE_SIZE, Profile, ProfileBuilder, build_profile
from ..profile.files import iter_batches, profile_file, read_profile
from . import concept as c
from .features import compare_column, display, feature_columns, feature_drift
from .importance import (
    METHOD,
    importance_shift,
    model_features,
    permutation_importance,
    score,
)
from .performance import ScoreStats
from .policy import decide
from .results import DriftReport, Performance
from .settings import DriftSettings

DEFAULT_BATCH_ROWS = 250_000
MAX_WINDOWS = 200

Progress = Callable[[str, int, "int | None"], None]


def detect_drift(reference: Any, current: Any, *, settings: DriftSettings | None = None, model: Any = None,
                 baseline: Any = None, progress: Progress | None = None,
                 batch_rows: int = DEFAULT_BATCH_ROWS) -> DriftReport:
    """Compare ``current`` with ``reference`` and return a :class:`DriftReport` with a retrain decision.

    reference: a :class:`Profile`, a DataFrame, a profile ``.json`` or a CSV/Parquet file.
    current: a DataFrame or a CSV/Parquet file (streamed in ``batch_rows`` batches, in file order).
    model: a fitted probabilistic classifier; when given, rows without the ``prediction`` column are
    scored with it. baseline: labelled rows from before the current period (DataFrame or file) whose
    scores are out-of-sample: the reference for prediction drift, concept drift and performance. Without
    it the reference profile's sample is used when it holds labels and scores.
    progress(stage, rows_done, rows_total_or_None) is called while data is read.
    """
    settings = settings or DriftSettings()
    notes: list[str] = []
    ref_profile, ref_info = _reference(reference, progress, batch_rows)
    base_frame, base_info = _baseline(baseline, ref_profile, model, settings, notes)

    stream = _CurrentStream(ref_profile, base_frame, model, settings)
    cur_profile, cur_info = stream.run(current, progress, batch_rows)

    if progress:
        progress("comparing", 0, None)
    features, plots = feature_drift(ref_profile, cur_profile, settings)
    plots = {"features": plots}
    prediction = None
    pred_name = settings.prediction
    pred_reference = stream.base_profile if stream.base_profile is not None else ref_profile
    if pred_name and pred_name in pred_reference.columns and pred_name in cur_profile.columns:
        prediction, aligned = compare_column(pred_reference, cur_profile, pred_name, settings)
        plots["prediction"] = display(aligned)
    elif pred_name:
        notes.append(f"prediction drift not computed: no {pred_name!r} column on both sides (pass a model, or "
                     f"data with scores)")
    concept, performance = stream.concept_and_performance(base_info, notes, plots)
    importance = _importance(model, base_frame, stream, settings, features, notes)
    decision = decide(settings, features, prediction, concept, performance, importance)
    return DriftReport(reference=ref_info, current=cur_info | ({"baseline": base_info} if base_info else {}),
                       features=features, prediction=prediction, concept=concept, performance=performance,
                       importance=importance, retrain=decision, settings=settings.to_dict(), notes=tuple(notes),
                       plots=plots)


def _reference(source: Any, progress: Progress | None, batch_rows: int) -> tuple[Profile, dict]:
    if isinstance(source, Profile):
        return source, {"source": "profile", "rows": source.n_rows}
    if isinstance(source, pd.DataFrame):
        return build_profile(source), {"source": "data frame", "rows": len(source)}
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix.lower() == ".json":
            profile = read_profile(path)
            return profile, {"source": str(source), "kind": "profile", "rows": profile.n_rows}
        tick = (lambda done, total: progress("profiling reference", done, total)) if progress else None
        profile = profile_file(path, batch_rows=batch_rows, progress=tick)
        return profile, {"source": str(source), "kind": "data", "rows": profile.n_rows}
    raise DriftError(f"reference must be a Profile, a DataFrame or a file path, got {type(source).__name__}")


def _baseline(source: Any, reference: Profile, model: Any, settings: DriftSettings,
              notes: list[str]) -> tuple[pd.DataFrame | None, dict]:
    target, pred = settings.target, settings.prediction
    if source is None:
        if not target or target not in reference.columns:
            return None, {}
        frame = reference.sample_frame()
        if pred not in frame.columns:
            if model is None:
                return None, {}
            frame[pred] = score(model, frame)
        notes.append(f"baseline for scores and labels: the reference profile's sample ({len(frame)} rows). If the "
                     f"reference is the training data, its scores are in-sample and look better than the model is; "
                     f"pass a labelled baseline from after training (e.g. the holdout) for a fair comparison")
        return _sorted(frame, settings), {"source": "reference profile sample", "rows": len(frame)}
    if isinstance(source, (str, Path)):
        from ..data.io import read_table

        frame, info = read_table(source), {"source": str(source)}
    elif isinstance(source, pd.DataFrame):
        frame, info = source.copy(), {"source": "data frame"}
    else:
        raise DriftError(f"baseline must be a DataFrame or a file path, got {type(source).__name__}")
    if not target or target not in frame.columns:
        raise DriftError(f"the baseline needs the target column {target!r} (settings.target); "
                         f"its columns: {list(frame.columns)}")
    if pred not in frame.columns:
        if model is None:
            raise DriftError(f"the baseline has no {pred!r} score column and no model was given to score it")
        frame[pred] = score(model, frame)
    return _sorted(frame, settings), info | {"rows": len(frame)}


def _sorted(frame: pd.DataFrame, settings: DriftSettings) -> pd.DataFrame:
    if settings.date_column and settings.date_column in frame.columns:
        return frame.sort_values(settings.date_column, kind="stable").reset_index(drop=True)
    return frame


class _CurrentStream:
    """Reads the current rows once: profiles them and feeds the labelled accumulators."""

    def __init__(self, reference: Profile, baseline: pd.DataFrame | None, model: Any, settings: DriftSettings):
        self.reference, self.baseline, self.model, self.settings = reference, baseline, model, settings
        self.base_profile = None
        self.frame: pd.DataFrame | None = None
        self.labelled = False

    def run(self, source: Any, progress: Progress | None, batch_rows: int) -> tuple[Profile, dict]:
        if isinstance(source, pd.DataFrame):
            self.frame = self._scored(_sorted(source, self.settings))
            chunks, total, info = iter([self.frame]), len(source), {"source": "data frame"}
            sample_size = DEFAULT_SAMPLE_SIZE if len(source) <= 50_000 else 0
        elif isinstance(source, (str, Path)):
            if Path(source).suffix.lower() == ".json":
                raise DriftError(f"current data {str(source)!r} is a profile; the current batch must be data "
                                 f"(CSV/Parquet) so that labels and scores can be read row by row")
            batches, total = iter_batches(source, batch_rows=batch_rows)
            chunks, info, sample_size = (self._scored(b) for b in batches), {"source": str(source)}, DEFAULT_SAMPLE_SIZE
        else:
            raise DriftError(f"current must be a DataFrame or a file path, got {type(source).__name__}")
        self._start(total)
        builder = ProfileBuilder(sample_size=sample_size)
        done = 0
        for chunk in chunks:
            self._feed(chunk)
            builder.partial_fit(chunk)
            done += len(chunk)
            if progress:
                progress("profiling current", done, total)
        if done == 0:
            raise DriftError(f"the current data {info['source']} has no rows; nothing to compare")
        profile = builder.profile_
        self.profile = profile
        return profile, info | {"rows": profile.n_rows}

    def _scored(self, chunk: pd.DataFrame) -> pd.DataFrame:
        pred = self.settings.prediction
        if self.model is not None and pred and pred not in chunk.columns:
            chunk = chunk.copy()
            chunk[pred] = score(self.model, chunk)
        return chunk

    def _start(self, total: int | None) -> None:
        s = self.settings
        if self.baseline is not None:
            self.base_profile = build_profile(self.baseline, sample_size=0)
        self.features = feature_columns(self.reference, self.reference, s)
        size = s.window_rows if total is None else max(s.window_rows, math.ceil(total / MAX_WINDOWS))
        self.stats = ScoreStats(decision_threshold=s.decision_threshold, kpi_top_share=s.kpi_top_share)
        self.residuals = c.Residuals(self.reference, self.features, s.n_bins)
        self.windows = c.Windows(size)
        self.detector = None  # river is imported only when there are labels to watch
        self.base_stats = None
        if self.baseline is not None and s.target in self.baseline.columns:
            self.detector = c.ErrorDetector()
            y, p, keep = c.labelled(self.baseline, s.target, s.prediction)
            self.base_stats = ScoreStats(decision_threshold=s.decision_threshold, kpi_top_share=s.kpi_top_share)
            self.base_stats.update(y, p)
            self.base_residuals = c.Residuals(self.reference, self.features, s.n_bins)
            self.base_residuals.update(self.baseline.loc[keep], y, p)
            self.detector.update(y, p, "baseline")

    def _feed(self, chunk: pd.DataFrame) -> None:
        s = self.settings
        if not (s.target and s.prediction and s.target in chunk.columns and s.prediction in chunk.columns):
            return
        self.labelled = True
        y, p, keep = c.labelled(chunk, s.target, s.prediction)
        when = None
        if s.date_column and s.date_column in chunk.columns:
            when = pd.to_datetime(chunk[s.date_column], errors="coerce").to_numpy()[keep]
        self.stats.update(y, p)
        self.residuals.update(chunk.loc[keep] if not keep.all() else chunk, y, p)
        self.windows.update(y, p, when)
        if self.detector is None:
            self.detector = c.ErrorDetector()
        self.detector.update(y, p, "current")

    def concept_and_performance(self, base_info: dict, notes: list[str], plots: dict):
        performance: dict[str, Performance] = {}
        if not self.labelled:
            if self.settings.target:
                notes.append(f"concept drift and performance not computed: the current data has no labels "
                             f"({self.settings.target!r}) with scores ({self.settings.prediction!r})")
            return None, performance
        performance["current"] = self.stats.performance()
        windows = self.windows.finish()
        plots["windows"] = [w.to_dict() for w in windows]
        if self.base_stats is None:
            notes.append("concept drift not computed: no labelled, scored baseline (pass baseline=...)")
            return None, performance
        performance["baseline"] = self.base_stats.performance()
        baseline_auc = performance["baseline"].metrics.get("roc_auc")
        concept, relations = c.concept_drift(base_info.get("source", "baseline"), self.base_residuals,
                                             self.residuals, windows, self.detector, baseline_auc, self.settings)
        plots["relations"] = relations
        plots["baseline_auc"] = baseline_auc
        return concept, performance


def _importance(model: Any, base_frame: pd.DataFrame | None, stream: _CurrentStream, settings: DriftSettings,
                features, notes: list[str]):
    if model is None or not settings.target:
        return None
    if base_frame is None or not stream.labelled:
        notes.append("importance shift not computed: it needs labelled reference and current rows")
        return None
    current = stream.frame if stream.frame is not None else stream.profile.sample_frame()
    used = model_features(model) or [f.column for f in features.columns]
    names = [f.column for f in features.columns if f.column in used]
    try:
        before = permutation_importance(model, base_frame, settings.target, names, settings.importance_rows)
        after = permutation_importance(model, current, settings.target, names, settings.importance_rows)
    except DriftError as exc:
        notes.append(f"importance shift not computed: {exc}")
        return None
    return importance_shift(before, after, settings.min_importance_correlation, METHOD)

