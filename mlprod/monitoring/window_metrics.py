"""The history rows of one monitoring window: volume, realised and estimated performance, the estimate's
disagreement with arriving labels, the review guarantee, KPIs, and feature and prediction drift against the
reference profile.

Each row with a threshold says on which side of it the alert fires (``alert_when``), written here by whoever
decides the alert: below the ROC AUC floor and the KPI floors, outside the disagreement tolerance (either
sign), above alpha for the error among automatically decided rows, and for drift what the test's result says (below a
p-value threshold, above a distance).

The review guarantee (``settings.review_band`` or ``settings.review_alpha`` set): ``auto_decided_labelled``
(volume) counts the window's labelled rows that were decided automatically (not routed to people), and
``auto_decided_error`` (realised) is the share of them whose decision disagrees with the label. It is judged against
alpha (set only under ``serving.review.method: risk_control``, whose band promises it) and only with at least
``guarantee_min_labelled`` of them: below that the row has no threshold (the count row says why), so a handful of
labels never raises the alert; a plain band promises nothing, so its rate is recorded without a threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .estimate import disagreement, estimated_metrics, realised_metrics
from .kpi import compute_kpis, parse_kpis
from .windows import WindowSummary

if TYPE_CHECKING:
    from .settings import MonitorSettings


def window_rows(summary: WindowSummary, reference, settings: MonitorSettings, as_of: str) -> list[dict]:
    """The history rows of one window (unsorted)."""
    scores = summary.scores()
    rows, labelled = scores.rows, int(scores.counts["labelled"])
    out = []

    def add(metric, kind, value, threshold=None, alert=False, alert_when=None):
        if value is None:
            return
        out.append({"window": summary.window, "window_start": summary.start, "window_end": summary.end,
                    "metric": metric, "kind": kind, "value": float(value),
                    "threshold": None if threshold is None else float(threshold), "alert": bool(alert),
                    "alert_when": None if threshold is None else alert_when,
                    "model_version": summary.model_version(), "rows": rows, "labelled_rows": labelled,
                    "as_of": as_of})

    add("rows", "volume", rows)
    add("labelled_share", "volume", labelled / rows if rows else None)
    auc_floor = (settings.reference_roc_auc - settings.max_auc_drop
                 if settings.reference_roc_auc is not None else None)
    for kind, metrics in (("estimated", estimated_metrics(scores)), ("realised", realised_metrics(scores))):
        for metric, value in sorted(metrics.items()):
            floor = auc_floor if metric == "roc_auc" else None
            add(metric, kind, value, floor, floor is not None and value is not None and value < floor, "below")
    check = disagreement(scores, tolerance=settings.disagreement_tolerance,
                         min_labelled=settings.disagreement_min_labelled)
    add("estimate_disagreement", "realised", check.difference, check.tolerance, check.flagged, "outside")
    if settings.review_alpha is not None or settings.review_band is not None:
        _guarantee_rows(scores.counts, settings, add)
    for name, estimated, value, floor in compute_kpis(scores, parse_kpis(settings.kpis)):
        add(f"{name}_estimated" if estimated else name, "kpi", value, floor,
            floor is not None and value is not None and value < floor, "below")
    profile = summary.profile()
    if reference is not None and profile is not None:
        _drift_rows(reference, profile, settings, add)
    return out


def _guarantee_rows(counts, settings: MonitorSettings, add) -> None:
    labelled, errors = int(counts["auto_labelled"]), int(counts["auto_errors"])
    add("auto_decided_labelled", "volume", labelled)
    if not labelled:
        return
    rate, alpha = errors / labelled, settings.review_alpha
    if alpha is None or labelled < settings.guarantee_min_labelled:
        add("auto_decided_error", "realised", rate)  # no promise (a plain band), or too few labels to judge it
    else:
        add("auto_decided_error", "realised", rate, alpha, rate > alpha, "above")


def _drift_rows(reference, profile, settings: MonitorSettings, add) -> None:
    from ..drift.features import compare_column, feature_drift

    drift = settings.drift_settings()
    features, _ = feature_drift(reference, profile, drift)
    for column in features.columns:
        add(f"feature_drift:{column.column}", "drift", column.alert_figure, column.threshold, column.drifted,
            column.alert_when)
    if features.columns:
        add("feature_drift_share", "drift", features.share_drifted, drift.max_drifted_share,
            features.share_drifted > drift.max_drifted_share, "above")
    name = drift.prediction
    if name and name in reference.columns and name in profile.columns:
        result, _ = compare_column(reference, profile, name, drift)
        add("prediction_drift", "drift", result.alert_figure, result.threshold, result.drifted, result.alert_when)
