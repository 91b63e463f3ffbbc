"""Realised and estimated performance of a window from its score summary.

Estimated performance is confidence-based (like NannyML's CBPE): assuming calibrated scores, each row
is a positive with probability equal to its score. The expected confusion matrix at the model's
decision is then TP = sum of scores of flagged rows, FP = sum of (1 - score) of flagged rows, FN and TN
likewise for the others. The expected ROC AUC is the AUC of the scores when every row counts as a
positive with weight ``score`` and as a negative with weight ``1 - score``: walking the thresholds from
the highest score down, the expected TPR and FPR are the cumulative sums of ``score`` and ``1 - score``
over the rows above the threshold, divided by their totals, and the area under that curve is taken with
the trapezoid rule. Scores are grouped on the fixed bins of :mod:`mlprod.monitoring.windows` (width
1/1000; rows in one bin count as tied), the same grouping for realised and estimated AUC.

The estimate's blind spot is a change in the relation between inputs and label (concept shift): the
scores then stay confident while the labels no longer follow them. :func:`disagreement` compares the
estimate on the labelled rows with the realised value on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .windows import ScoreSummary


def _auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """Area under the ROC curve of bin-grouped (possibly fractional) positive and negative weights:
    ties within a bin count one half (the trapezoid rule)."""
    total_pos, total_neg = float(positive.sum()), float(negative.sum())
    if total_pos <= 0 or total_neg <= 0:
        return None
    pos, neg = positive[::-1], negative[::-1]  # highest scores first
    above = np.cumsum(pos) - pos  # positives in higher bins
    return float(np.dot(neg, above + pos / 2.0) / (total_pos * total_neg))


def realised_roc_auc(summary: ScoreSummary) -> float | None:
    return _auc(summary.bins["positives"].astype(np.float64), summary.bins["negatives"].astype(np.float64))


def estimated_roc_auc(summary: ScoreSummary, *, labelled_only: bool = False) -> float | None:
    """CBPE's expected ROC AUC of all rows (or only of the labelled ones)."""
    if labelled_only:
        rows = (summary.bins["positives"] + summary.bins["negatives"]).astype(np.float64)
        score = summary.bins["labelled_score_sum"]
    else:
        rows, score = summary.bins["rows"].astype(np.float64), summary.bins["score_sum"]
    return _auc(score, np.maximum(rows - score, 0.0))


@dataclass(frozen=True)
class Confusion:
    tp: float
    fp: float
    fn: float
    tn: float

    def metrics(self) -> dict[str, float | None]:
        total = self.tp + self.fp + self.fn + self.tn

        def ratio(a: float, b: float) -> float | None:
            return a / b if b > 0 else None

        return {"precision": ratio(self.tp, self.tp + self.fp), "recall": ratio(self.tp, self.tp + self.fn),
                "accuracy": ratio(self.tp + self.tn, total)}


def expected_confusion(summary: ScoreSummary) -> Confusion:
    c = summary.counts
    rows = summary.rows
    flagged = c["flagged"]
    return Confusion(c["expected_tp"], flagged - c["expected_tp"], c["expected_fn"],
                     (rows - flagged) - c["expected_fn"])


def realised_confusion(summary: ScoreSummary) -> Confusion:
    c = summary.counts
    return Confusion(c["tp"], c["fp"], c["fn"], c["tn"])


def estimated_metrics(summary: ScoreSummary) -> dict[str, float | None]:
    """CBPE estimates over all rows of the window: roc_auc, precision, recall, accuracy, positive_rate."""
    out = {"roc_auc": estimated_roc_auc(summary), **expected_confusion(summary).metrics()}
    out["positive_rate"] = float(summary.bins["score_sum"].sum() / summary.rows) if summary.rows else None
    return out


def realised_metrics(summary: ScoreSummary) -> dict[str, float | None]:
    """Realised metrics over the labelled rows: roc_auc, log_loss, positive_rate, precision, recall, accuracy."""
    labelled = summary.counts["labelled"]
    if not labelled:
        return {}
    positives = int(summary.bins["positives"].sum())
    return {"roc_auc": realised_roc_auc(summary), "log_loss": summary.counts["log_loss_sum"] / labelled,
            "positive_rate": positives / labelled, **realised_confusion(summary).metrics()}


@dataclass(frozen=True)
class Disagreement:
    """Estimated vs realised ROC AUC on the same labelled rows; ``flagged`` when they differ by more
    than ``tolerance`` on at least ``min_labelled`` rows (the sign of a changed input-label relation)."""

    estimated: float | None
    realised: float | None
    difference: float | None
    tolerance: float
    labelled: int
    min_labelled: int

    @property
    def flagged(self) -> bool:
        return (self.difference is not None and self.labelled >= self.min_labelled
                and abs(self.difference) > self.tolerance)


def disagreement(summary: ScoreSummary, *, tolerance: float, min_labelled: int) -> Disagreement:
    estimated = estimated_roc_auc(summary, labelled_only=True)
    realised = realised_roc_auc(summary)
    difference = None if estimated is None or realised is None else realised - estimated
    return Disagreement(estimated, realised, difference, tolerance, summary.counts["labelled"], min_labelled)
