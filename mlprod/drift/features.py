"""Feature and prediction drift: each column of two profiles compared with its stat test."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DriftError
from ..profile.build import Profile
from ..profile.columns import NUMERIC, ColumnProfile
from .distributions import SIDES, Pair, pair
from .results import ColumnDrift, FeatureDrift
from .settings import DriftSettings
from .stattests import EXACT, NONE, default_test, get_test

DISPLAY_BINS = 30
DISPLAY_CATEGORIES = 12


def feature_columns(reference: Profile, current: Profile, settings: DriftSettings) -> list[str]:
    """The columns compared as features: ``settings.columns`` or every reference column except the
    target, prediction, date and excluded ones (in the reference's order), if the current data has them.
    Those it lacks are :func:`absent_columns`."""
    return [c for c in _reference_features(reference, settings) if c in current.columns]


def absent_columns(reference: Profile, current: Profile, settings: DriftSettings) -> list[str]:
    """Feature columns of the reference that the current data lacks (each a ``missing_column`` finding)."""
    return [c for c in _reference_features(reference, settings) if c not in current.columns]


def _reference_features(reference: Profile, settings: DriftSettings) -> list[str]:
    special = {settings.target, settings.prediction, settings.date_column, *settings.exclude} - {None}
    if settings.columns is not None:
        missing = [c for c in settings.columns if c not in reference.columns]
        if missing:
            raise DriftError(f"columns {missing} are not in the reference data (settings.columns); its columns: "
                             f"{list(reference.columns)}")
        return list(settings.columns)
    return [c for c in reference.columns if c not in special]


def compare_column(reference: Profile, current: Profile, column: str, settings: DriftSettings,
                   test: str | None = None, sides: tuple[str, str] = SIDES) -> tuple[ColumnDrift, Pair]:
    """Compare one column; ``test`` (or the settings) picks the stat test, else the documented default.

    Two rules come first, whatever the test: a side without values runs no test (``test: none``;
    drift when only one side is empty), and two constant sides (one value each) are compared exactly
    (``test: constant``; drift when the values differ). ``sides`` name the two in error messages.
    """
    aligned = pair(reference, current, column, sides)
    chosen_by = "setting"
    name = test or settings.column_tests.get(column)
    if name is None and settings.stat_test != "auto":
        name = settings.stat_test
    if name is None:
        name, chosen_by = default_test(aligned), "default"
    spec = get_test(name)
    if aligned.kind not in spec.kinds:
        raise DriftError(f"column {column!r} is {aligned.kind}; the {name} test applies to {list(spec.kinds)} "
                         f"columns. Pick another test for it in column_tests")
    ref, cur = aligned.reference, aligned.current
    common = dict(column=column, kind=aligned.kind, n_reference=aligned.n_ref, n_current=aligned.n_cur,
                  missing_share_reference=ref.missing_share, missing_share_current=cur.missing_share)
    if aligned.n_ref == 0 or aligned.n_cur == 0:
        empty = [side for side, n in (("reference", aligned.n_ref), ("current", aligned.n_cur)) if n == 0]
        drifted = len(empty) == 1
        note = (f"no non-missing values in the {' and '.join(empty)} data; "
                + ("counted as drift" if drifted else "nothing to compare") + f" (no test ran; {name} needs values)")
        return ColumnDrift(**common, test="none", title="No test (no values on a side)", score=NONE, threshold=None,
                           chosen_by="rule", drifted=drifted, statistic=None, p_value=None, note=note), aligned
    if ref.constant and cur.constant:
        before, after = _single_value(ref), _single_value(cur)
        same = before == after
        details = {"reference_value": before, "current_value": after, "instead_of": name,
                   "statistic": "total variation distance: 0 for the same value, 1 for another value"}
        note = None if same else f"constant {before!r} in the reference, constant {after!r} in the current data"
        return ColumnDrift(**common, test="constant", title="Both sides constant: exact comparison", score=EXACT,
                           threshold=0.0, chosen_by="rule", drifted=not same, statistic=0.0 if same else 1.0,
                           p_value=None, details=details, note=note), aligned
    threshold = settings.threshold_for(name, spec.default_threshold)
    outcome = spec.compute(aligned, settings.n_bins)
    drifted = spec.drifted(outcome, threshold)
    details = dict(outcome.details)
    if chosen_by == "default" and aligned.kind == NUMERIC and name == "jensen_shannon":
        details["chosen_because"] = (f"the reference is constant (min == max == {ref.min:.6g}): wasserstein "
                                     f"would have no reference spread to scale by")
    note = None
    if aligned.n_cur < 30 or aligned.n_ref < 30:
        note = f"small sample (reference {aligned.n_ref}, current {aligned.n_cur} values): weak evidence either way"
    return ColumnDrift(**common, test=name, title=spec.title, score=spec.score, threshold=threshold,
                       chosen_by=chosen_by, drifted=drifted, statistic=outcome.statistic, p_value=outcome.p_value,
                       details=details, note=note), aligned


def _single_value(column: ColumnProfile) -> float | str:
    return column.min if column.kind == NUMERIC else next(iter(column.frequencies))


def feature_drift(reference: Profile, current: Profile, settings: DriftSettings,
                  sides: tuple[str, str] = SIDES) -> tuple[FeatureDrift, dict]:
    """Every feature column compared; also returns the aggregated histograms of each column for plots."""
    results, plots = [], {}
    for column in feature_columns(reference, current, settings):
        result, aligned = compare_column(reference, current, column, settings, sides=sides)
        results.append(result)
        plots[column] = display(aligned)
    return FeatureDrift(tuple(results)), plots


def display(aligned: Pair) -> dict[str, Any]:
    """Reference and current shares on a few readable bins: aggregated, never raw values."""
    n_ref, n_cur = max(aligned.n_ref, 1), max(aligned.n_cur, 1)
    if aligned.kind == "categorical":
        total = aligned.ref_counts / n_ref + aligned.cur_counts / n_cur
        order = np.argsort(-total, kind="stable")[:DISPLAY_CATEGORIES]
        return {"kind": "categorical", "labels": [aligned.labels[i] for i in order],
                "reference": (aligned.ref_counts[order] / n_ref).round(5).tolist(),
                "current": (aligned.cur_counts[order] / n_cur).round(5).tolist()}
    if aligned.values is None or aligned.values.size == 0:
        return {"kind": "numeric", "edges": [], "reference": [], "current": []}
    both = aligned.ref_counts + aligned.cur_counts
    cumulative = np.cumsum(both) / both.sum()
    low = aligned.values[min(np.searchsorted(cumulative, 0.005), both.size - 1)]
    high = aligned.values[min(np.searchsorted(cumulative, 0.995), both.size - 1)]
    if high <= low:
        low, high = aligned.values[0], aligned.values[-1]
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, DISPLAY_BINS + 1)
    inside = (aligned.values >= low) & (aligned.values <= high)  # the outer tails: counted in below / above
    index = np.clip(np.searchsorted(edges, aligned.values[inside], side="right") - 1, 0, DISPLAY_BINS - 1)
    ref = np.bincount(index, weights=aligned.ref_counts[inside], minlength=DISPLAY_BINS) / n_ref
    cur = np.bincount(index, weights=aligned.cur_counts[inside], minlength=DISPLAY_BINS) / n_cur
    tails = {side: {"reference": round(float(aligned.ref_counts[mask].sum() / n_ref), 5),
                    "current": round(float(aligned.cur_counts[mask].sum() / n_cur), 5)}
             for side, mask in (("below", aligned.values < low), ("above", aligned.values > high))}
    return {"kind": "numeric", "edges": [float(f"{e:.6g}") for e in edges],
            "reference": ref.round(5).tolist(), "current": cur.round(5).tolist(), **tails}
