"""Slice analysis: the model's metric per segment of each input, and the segments that fall well below overall.

Segments are the values of each categorical input and quantile bins of each numeric input (edges
from the evaluation data; missing values are their own segment). Each segment also records how many of its rows
are selected at the decision threshold (score >= threshold), so the share selected per group can be compared.
Intersections: the cells of pairs of inputs (``intersection_columns``, default the categorical inputs; at most
``max_intersections`` pairs in input order; cells of at least ``min_intersection_rows`` rows), judged by the same rule. A segment is a *known limitation*
when it has enough support (``min_slice_rows`` rows, and for ranking metrics ``min_slice_class_rows``
of each class), its metric is worse than the overall value by at least ``min_gap``, and by more than
``z`` standard errors of the segment's metric (so small noisy segments are not flagged). Every
segment is reported with its counts and the reason it was or was not flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .info import CardSettings
from .metrics import get_metric

MISSING_SEGMENT = "(missing)"


@dataclass(frozen=True)
class Segment:
    feature: str
    segment: str
    rows: int
    positives: int
    mean_score: float
    value: float | None  # the slice metric; None when undefined for this segment
    se: float | None
    gap: float | None  # how much worse than overall (positive = worse), None when undefined
    flagged: bool
    note: str  # why it is (not) flagged
    selected: int = 0  # rows with score >= the decision threshold

    @property
    def positive_rate(self) -> float:
        return self.positives / self.rows if self.rows else 0.0

    @property
    def selected_share(self) -> float:
        return self.selected / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class SliceAnalysis:
    metric: str
    label: str
    higher_is_better: bool
    overall: float | None
    overall_se: float | None
    rows: int
    positives: int
    segments: tuple[Segment, ...]
    features: tuple[str, ...]  # sliced inputs, in model order
    selected: int = 0  # rows with score >= the decision threshold, overall
    threshold: float = 0.5
    pairs: tuple[tuple[str, str], ...] = ()  # the input pairs sliced together
    intersections: tuple[Segment, ...] = ()  # their cells ("a × b"), those with at least min_intersection_rows rows

    @property
    def selected_share(self) -> float:
        return self.selected / self.rows if self.rows else 0.0

    @property
    def intersection_limitations(self) -> list[Segment]:
        return sorted((s for s in self.intersections if s.flagged), key=lambda s: (-(s.gap or 0), s.feature, s.segment))

    @property
    def limitations(self) -> list[Segment]:
        """Flagged segments, worst first (ties by feature and segment name)."""
        return sorted((s for s in self.segments if s.flagged), key=lambda s: (-(s.gap or 0), s.feature, s.segment))

    def for_feature(self, feature: str) -> list[Segment]:
        return [s for s in self.segments if s.feature == feature]


def analyse_slices(frame: Any, y: Any, scores: Any, features: Sequence[tuple[str, str]], threshold: float,
                   settings: CardSettings) -> SliceAnalysis:
    """``features`` are ``(name, kind)`` with kind ``categorical`` or ``numeric``; ``y`` 0/1, ``scores`` in [0, 1]."""
    import numpy as np

    metric = get_metric(settings.slice_metric)
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=float)
    overall, overall_se = metric.score(y, scores, threshold)
    selected = scores >= threshold
    measure = _measure(y, scores, selected, metric, overall, threshold, settings)
    segments = [measure(name, label, mask) for name, kind in features
                for label, mask in segment_masks(frame[name], kind, settings.numeric_bins)]
    kinds = dict(features)
    chosen = [n for n in settings.intersection_columns if n in kinds] if settings.intersection_columns else \
        [n for n, k in features if k == "categorical"]
    pairs = [(a, b) for i, a in enumerate(chosen) for b in chosen[i + 1:]][:settings.max_intersections]
    cells = []
    for a, b in pairs:
        masks_b = segment_masks(frame[b], kinds[b], settings.numeric_bins)
        for label_a, mask_a in segment_masks(frame[a], kinds[a], settings.numeric_bins):
            for label_b, mask_b in masks_b:
                mask = mask_a & mask_b
                if int(mask.sum()) >= max(settings.min_intersection_rows, 1):
                    cells.append(measure(f"{a} × {b}", f"{label_a} × {label_b}", mask))
    return SliceAnalysis(metric=metric.name, label=metric.label, higher_is_better=metric.higher_is_better,
                         overall=overall, overall_se=overall_se, rows=int(len(y)), positives=int(y.sum()),
                         segments=tuple(s for s in segments if s is not None),
                         features=tuple(name for name, _ in features), selected=int(selected.sum()),
                         threshold=float(threshold), pairs=tuple(pairs), intersections=tuple(cells))


def _measure(y, scores, selected, metric, overall, threshold, settings: CardSettings):
    """A function ``(feature, label, mask) -> Segment`` (None for an empty mask)."""

    def measure(name: str, label: str, mask: Any) -> Segment | None:
        ys, ps = y[mask], scores[mask]
        if len(ys) == 0:
            return None
        value, se = metric.score(ys, ps, threshold)
        gap = None if value is None or overall is None else (overall - value if metric.higher_is_better
                                                              else value - overall)
        flagged, note = _judge(ys, value, se, gap, metric.needs_both_classes, settings)
        return Segment(feature=name, segment=label, rows=int(len(ys)), positives=int(ys.sum()),
                       mean_score=float(ps.mean()), value=value, se=se, gap=gap, flagged=flagged, note=note,
                       selected=int(selected[mask].sum()))

    return measure


def _judge(ys, value, se, gap, needs_both, settings: CardSettings) -> tuple[bool, str]:
    rows, positives = len(ys), int(ys.sum())
    if rows < settings.min_slice_rows:
        return False, f"too few rows to judge (< {settings.min_slice_rows})"
    if needs_both and min(positives, rows - positives) < settings.min_slice_class_rows:
        return False, f"too few positives or negatives to judge (< {settings.min_slice_class_rows} each)"
    if value is None or gap is None:
        return False, "metric undefined for this segment"
    if gap < settings.min_gap:
        return False, "within the tolerated gap" if gap > 0 else "at or above overall"
    if se is not None and gap <= settings.z * se:
        return False, f"gap within noise (<= {settings.z:g} standard errors of {se:.3f})"
    return True, "well below overall"


def segment_masks(column: Any, kind: str, bins: int) -> list[tuple[str, Any]]:
    """``[(label, boolean mask)]`` in a stable order: sorted categories or ascending bins, missing last."""
    import numpy as np
    import pandas as pd

    missing = column.isna().to_numpy()
    out: list[tuple[str, Any]] = []
    if kind == "numeric":
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        present = values[~np.isnan(values)]
        distinct = np.unique(present)
        if len(distinct) <= bins:
            for v in distinct:
                out.append((format_number(v), values == v))
        elif len(present):
            edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
            index = np.searchsorted(edges[1:-1], values, side="right")
            last = len(edges) - 2
            for i in range(last + 1):
                close = "]" if i == last else ")"
                label = f"[{format_number(edges[i])}, {format_number(edges[i + 1])}{close}"
                out.append((label, (index == i) & ~np.isnan(values)))
    else:
        text = column.astype("object").where(~missing, None)
        for value in sorted({str(v) for v in text if v is not None}):
            out.append((value, (text.astype(str) == value).to_numpy() & ~missing))
    if missing.any():
        out.append((MISSING_SEGMENT, missing))
    return out


def format_number(value: float) -> str:
    """Short, stable text for bin edges: 52,000 / 44 / 0.125 / -0.3."""
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
