"""Model performance from a stream of (label, score) rows, in bounded memory.

Scores are counted on a fine histogram per class (``SCORE_BINS`` equal bins on [0, 1]), from which
ROC AUC (Mann-Whitney, ties within a bin count half) and the KPI are computed; log loss, Brier score
and the confusion counts at the decision threshold are running sums. Chunks can be added one by one.
"""

from __future__ import annotations

import numpy as np

from ..errors import DriftError
from .results import Performance

SCORE_BINS = 2000
_EPS = 1e-15


class ScoreStats:
    """Running performance statistics; ``update(y, p)`` with 0/1 labels and scores in [0, 1]."""

    def __init__(self, *, decision_threshold: float = 0.5, kpi_top_share: float = 0.2):
        self.decision_threshold = decision_threshold
        self.kpi_top_share = kpi_top_share
        self.positives = np.zeros(SCORE_BINS, dtype=np.int64)
        self.negatives = np.zeros(SCORE_BINS, dtype=np.int64)
        self.log_loss = 0.0
        self.brier = 0.0
        self.score_sum = 0.0
        self.confusion = np.zeros(4, dtype=np.int64)  # tn, fp, fn, tp

    @property
    def rows(self) -> int:
        return int(self.positives.sum() + self.negatives.sum())

    def update(self, y: np.ndarray, p: np.ndarray) -> None:
        y, p = labels_and_scores(y, p)
        index = np.minimum((p * SCORE_BINS).astype(np.int64), SCORE_BINS - 1)
        self.positives += np.bincount(index[y == 1], minlength=SCORE_BINS)
        self.negatives += np.bincount(index[y == 0], minlength=SCORE_BINS)
        clipped = np.clip(p, _EPS, 1 - _EPS)
        self.log_loss += float(-np.sum(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
        self.brier += float(np.sum((y - p) ** 2))
        self.score_sum += float(p.sum())
        predicted = p >= self.decision_threshold
        self.confusion += np.bincount(2 * y + predicted, minlength=4)

    def performance(self) -> Performance:
        n = self.rows
        if n == 0:
            return Performance(0, {})
        tn, fp, fn, tp = (int(v) for v in self.confusion)
        metrics = {
            "roc_auc": binned_auc(self.positives, self.negatives),
            "log_loss": self.log_loss / n,
            "brier": self.brier / n,
            "positive_rate": (tp + fn) / n,
            "mean_score": self.score_sum / n,
            "accuracy": (tp + tn) / n,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "kpi": top_share_precision(self.positives, self.negatives, self.kpi_top_share),
        }
        return Performance(n, metrics)


def labels_and_scores(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    keep = ~(np.isnan(p) | _missing(y))
    y, p = y[keep], p[keep]
    try:
        y = y.astype(np.int64)
    except (TypeError, ValueError) as exc:
        bad = sorted({str(v) for v in y.tolist() if str(v).strip() not in ("0", "1", "0.0", "1.0")})
        raise DriftError(f"labels must be 0/1 numbers, got values such as {bad[:5]}; map the target to 0/1 "
                         f"first") from exc
    if y.size and not np.isin(y, (0, 1)).all():
        raise DriftError(f"labels must be 0 or 1, got {sorted(set(np.unique(y).tolist()) - {0, 1})[:5]}; "
                         f"map the target to 0/1 first")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise DriftError(f"scores must be probabilities in [0, 1], got a range of [{p.min():.4g}, {p.max():.4g}]")
    return y, p


def _missing(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype == object:
        return np.array([v is None or v != v for v in y], dtype=bool)
    return np.zeros(y.shape, dtype=bool)


def binned_auc(positives: np.ndarray, negatives: np.ndarray) -> float | None:
    """P(score of a positive > score of a negative), ties (same bin) counted half."""
    n_pos, n_neg = positives.sum(), negatives.sum()
    if n_pos == 0 or n_neg == 0:
        return None
    below = np.cumsum(negatives) - negatives
    wins = np.sum(positives * (below + 0.5 * negatives))
    return float(wins / (n_pos * n_neg))


def exact_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """ROC AUC by ranks (Mann-Whitney U), for small windows."""
    from scipy.stats import rankdata

    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def top_share_precision(positives: np.ndarray, negatives: np.ndarray, share: float) -> float | None:
    """The positive rate among the ``share`` highest-scored rows (the KPI), bins split pro rata."""
    counts = (positives + negatives)[::-1]
    pos = positives[::-1]
    n = counts.sum()
    if n == 0:
        return None
    wanted = share * n
    before = np.cumsum(counts) - counts
    full = before + counts <= wanted
    taken_pos = float(pos[full].sum())
    taken = float(counts[full].sum())
    partial = np.flatnonzero(~full)
    if partial.size and taken < wanted:
        i = partial[0]
        fraction = (wanted - taken) / counts[i]
        taken_pos += fraction * pos[i]
        taken += fraction * counts[i]
    return float(taken_pos / taken) if taken else None
