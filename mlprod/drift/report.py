"""``detect_drift``: compare a reference with a current batch and decide whether to retrain."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DriftError, ProfileError
from ..profile.build import DEFAULT_SAMPLE_SIZE, Profile, ProfileBuilder, build_profile
from ..profile.files import iter_batches, profile_file, read_profile
from . import concept as c
from .features import absent_columns, compare_column, display, feature_columns, feature_drift
from .findings import data_findings
from .importance import (
    METHOD,
    importance_shift,
    model_features,
    permutation_importance,
)
from .inputs import checked_types, scored
from .performance import ScoreStats
from .policy import decide
from .results import DriftReport, Performance
from .settings import DriftSettings

DEFAULT_BATCH_ROWS = 250_000
MAX_WINDOWS = 200

Progress = Callable[[str, int, "int | None"], None]


def detect_drift(reference: Any, current: Any, *, settings: DriftSettings | None = None, model: Any = None,
                 baseline: Any = None, progress: Progress | None = None,
                 batch_rows: int = DEFAULT_BATCH_ROWS, dask: Any = None) -> DriftReport:
    """Compare ``current`` with ``reference`` and return a :class:`DriftReport` with a retrain decision.

    reference: a :class:`Profile`, a DataFrame, a profile ``.json`` or a CSV/Parquet file.
    current: a DataFrame or a CSV/Parquet file (streamed in ``batch_rows`` batches, in file order).
    model: a fitted probabilistic classifier; when given, rows without the ``prediction`` column are
    scored with it. baseline: labelled rows from before the current period (DataFrame or file) whose
    scores are out-of-sample: the reference for prediction drift, concept drift and performance. Without
    it the reference profile's sample is used when it holds labels and scores.
    progress(stage, rows_done, rows_total_or_None) is called while data is read.
    reference and current data files may be partitioned Parquet datasets (a folder or a glob).
    dask: a Dask scheduler address or client: the data files' partitions are profiled (and scored) on its
    workers (:mod:`mlprod.scale`), with the same report as without.
    """
    settings = settings or DriftSettings()
    notes: list[str] = []
    ref_profile, ref_info = _reference(reference, progress, batch_rows, dask)
    base_frame, base_info = _baseline(baseline, ref_profile, model, settings, notes)

    stream = _CurrentStream(ref_profile, base_frame, model, settings)
    if dask is not None and isinstance(current, (str, Path)):
        from ..scale.drift import run_current

        cur_profile, cur_info = run_current(stream, current, dask, progress, batch_rows)
    else:
        cur_profile, cur_info = stream.run(current, progress, batch_rows)

    if progress:
        progress("comparing", 0, None)
    sides = (_side("reference", ref_info), _side("current data", cur_info))
    features, plots = feature_drift(ref_profile, cur_profile, settings, sides)
    findings, finding_notes = data_findings(ref_profile, cur_profile, settings,
                                            [c.column for c in features.columns],
                                            absent_columns(ref_profile, cur_profile, settings))
    notes += finding_notes
    special = {settings.target, settings.prediction, settings.date_column, *settings.exclude}
    extra = [c for c in cur_profile.columns if c not in ref_profile.columns and c not in special]
    if extra:
        notes.append(f"column(s) only in the current data, not compared: {extra}")
    plots = {"features": plots}
    prediction = None
    pred_name = settings.prediction
    pred_reference = stream.base_profile if stream.base_profile is not None else ref_profile
    if pred_name and pred_name in pred_reference.columns and pred_name in cur_profile.columns:
        pred_sides = (_side("baseline", base_info) if stream.base_profile is not None else sides[0], sides[1])
        prediction, aligned = compare_column(pred_reference, cur_profile, pred_name, settings, sides=pred_sides)
        plots["prediction"] = display(aligned)
    elif pred_name:
        notes.append(f"prediction drift not computed: no {pred_name!r} column on both sides (pass a model, or "
                     f"data with scores)")
    concept, performance = stream.concept_and_performance(base_info, notes, plots)
    importance = _importance(model, base_frame, stream, settings, features, notes)
    findings = tuple(findings)
    decision = decide(settings, features, prediction, concept, performance, importance, findings)
    return DriftReport(reference=ref_info, current=cur_info | ({"baseline": base_info} if base_info else {}),
                       features=features, prediction=prediction, concept=concept, performance=performance,
                       importance=importance, retrain=decision, settings=settings.to_dict(), notes=tuple(notes),
                       findings=findings, plots=plots)


def _side(name: str, info: dict) -> str:
    source = info.get("source")
    return f"{name} ({source})" if source and source not in ("data frame", "profile") else name


def _reference(source: Any, progress: Progress | None, batch_rows: int, dask: Any = None) -> tuple[Profile, dict]:
    if isinstance(source, Profile):
        profile, info = source, {"source": "profile", "rows": source.n_rows}
    elif isinstance(source, pd.DataFrame):
        profile, info = build_profile(source), {"source": "data frame", "rows": len(source)}
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix.lower() == ".json":
            profile = read_profile(path)
            info = {"source": str(source), "kind": "profile", "rows": profile.n_rows}
        else:
            tick = (lambda done, total: progress("profiling reference", done, total)) if progress else None
            parquet = path.suffix.lower() in (".parquet", ".pq") or path.suffix.lower() != ".csv" and dask is not None
            profile = profile_file(path, batch_rows=batch_rows, progress=tick, dask=dask if parquet else None)
            info = {"source": str(source), "kind": "data", "rows": profile.n_rows}
    else:
        raise DriftError(f"reference must be a Profile, a DataFrame or a file path, got {type(source).__name__}")
    if profile.n_rows == 0:
        raise DriftError(f"the reference {info['source']} has no rows; nothing to compare against. Use a reference "
                         f"with data (e.g. the training rows)")
    return profile, info


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
            frame = scored(model, frame, pred, "the reference profile's sample")
        notes.append(f"baseline for scores and labels: the reference profile's sample ({len(frame)} rows). If the "
                     f"reference is the training data, its scores are in-sample and look better than the model is; "
                     f"pass a labelled baseline from after training (e.g. the holdout) for a fair comparison")
        return _sorted(frame, settings), {"source": "reference profile sample", "rows": len(frame)}
    if isinstance(source, (str, Path)):
        from ..data.io import read_table

        frame, info = read_table(source), {"source": str(source)}
        name = f"baseline {str(source)!r}"
    elif isinstance(source, pd.DataFrame):
        frame, info, name = source.copy(), {"source": "data frame"}, "the baseline data frame"
    else:
        raise DriftError(f"baseline must be a DataFrame or a file path, got {type(source).__name__}")
    if not len(frame):
        raise DriftError(f"{name} has no rows; pass labelled rows from before the current period, or no baseline")
    if not target or target not in frame.columns:
        raise DriftError(f"the baseline needs the target column {target!r} (settings.target); "
                         f"its columns: {list(frame.columns)}")
    frame = checked_types(frame, reference, _checked_columns(reference, settings), name)
    if pred not in frame.columns:
        if model is None:
            raise DriftError(f"the baseline has no {pred!r} score column and no model was given to score it")
        frame = scored(model, frame, pred, name)
    return _sorted(frame, settings), info | {"rows": len(frame)}


def _checked_columns(reference: Profile, settings: DriftSettings) -> list[str]:
    """Columns whose values must have the reference's type: features, labels, scores (not dates, ids)."""
    extra = [c for c in (settings.target, settings.prediction) if c and c in reference.columns]
    return feature_columns(reference, reference, settings) + extra


def _sorted(frame: pd.DataFrame, settings: DriftSettings) -> pd.DataFrame:
    if settings.date_column and settings.date_column in frame.columns:
        return frame.sort_values(settings.date_column, kind="stable").reset_index(drop=True)
    return frame


class _CurrentStream:
    """Reads the current rows once: profiles them and feeds the labelled accumulators."""

    def __init__(self, reference: Profile, baseline: pd.DataFrame | None, model: Any, settings: DriftSettings):
        self.reference, self.baseline, self.model, self.settings = reference, baseline, model, settings
        self.checked = _checked_columns(reference, settings)
        self.name = "current data"
        self.base_profile = None
        self.frame: pd.DataFrame | None = None
        self.labelled = False

    def run(self, source: Any, progress: Progress | None, batch_rows: int) -> tuple[Profile, dict]:
        if isinstance(source, pd.DataFrame):
            name = self.name = "the current data frame"
            self.frame = self._scored(_sorted(source, self.settings), name, 0)
            chunks, total, info = iter([self.frame]), len(source), {"source": "data frame"}
            sample_size = DEFAULT_SAMPLE_SIZE if len(source) <= 50_000 else 0
        elif isinstance(source, (str, Path)):
            if Path(source).suffix.lower() == ".json":
                raise DriftError(f"current data {str(source)!r} is a profile; the current batch must be data "
                                 f"(CSV/Parquet) so that labels and scores can be read row by row")
            batches, total = iter_batches(source, batch_rows=batch_rows)
            name = self.name = f"current data {str(source)!r}"
            chunks, info = self._scored_batches(batches, name), {"source": str(source)}
            sample_size = DEFAULT_SAMPLE_SIZE
        else:
            raise DriftError(f"current must be a DataFrame or a file path, got {type(source).__name__}")
        self._start(total)
        builder = ProfileBuilder(sample_size=sample_size)
        done = 0
        for chunk in chunks:
            self._feed(chunk)
            try:
                builder.partial_fit(chunk)
            except ProfileError as exc:
                raise DriftError(f"{name}: {exc}") from exc
            done += len(chunk)
            if progress:
                progress("profiling current", done, total)
        if done == 0:
            raise DriftError(f"{name} has no rows (only a header, or an empty table); nothing to compare")
        profile = builder.profile_
        self.profile = profile
        return profile, info | {"rows": profile.n_rows}

    def _scored_batches(self, batches, name: str):
        first = 0
        for batch in batches:
            yield self._scored(batch, name, first)
            first += len(batch)

    def _scored(self, chunk: pd.DataFrame, name: str, first_row: int) -> pd.DataFrame:
        chunk = checked_types(chunk, self.reference, self.checked, name, first_row)
        pred = self.settings.prediction
        if self.model is not None and pred and pred not in chunk.columns:
            chunk = scored(self.model, chunk, pred, name, first_row)
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
        try:
            y, p, keep = c.labelled(chunk, s.target, s.prediction)
        except DriftError as exc:
            raise DriftError(f"{self.name}: {exc}") from exc
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

