"""Concept drift: did the relation between features and label change?

Three views, all computed from streams of labelled, scored rows (chunk by chunk, bounded memory):

* **Residuals by feature**: for each feature, rows are put in the reference-quantile bins of that
  feature (or its categories) and the mean residual ``label - score`` per bin is compared between the
  baseline and the current rows. Without concept drift the model's calibration per bin stays what it
  was, whatever the covariate shift, so a change points at the feature whose relation changed.
  Test: chi-square = sum over bins of (diff of mean residuals)^2 / var, var from sum p(1-p)/n^2 of
  both sides; a feature drifts when p < concept_alpha / n_features and the largest change is at least
  concept_min_effect.
* **Windowed performance**: ROC AUC, Brier score, positive rate and mean score per window of
  current rows, in time order.
* **Sequential detector**: river's ADWIN (delta 0.002) on the per-row Brier error, averaged over
  blocks of ``DETECTOR_BLOCK`` rows, fed the baseline rows first and the current rows after.
  A detection where the recent error is higher than before counts as an error increase.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..profile.build import Profile
from .performance import exact_auc, labels_and_scores
from .results import ConceptDrift, Window

DETECTOR_BLOCK = 25
DETECTOR_DELTA = 0.002
MIN_BIN_ROWS = 30


class Residuals:
    """Per-feature, per-bin sums of residuals for one stream of rows (baseline or current)."""

    def __init__(self, reference: Profile, features: list[str], n_bins: int):
        self.bins: dict[str, tuple[str, Any, list[str]]] = {}
        for name in features:
            column = reference.columns[name]
            if column.kind == "numeric":
                edges = np.asarray(column.bin_edges(n_bins)[1:-1], dtype=np.float64)
                labels = [f"<= {e:.4g}" for e in edges] + [f"> {edges[-1]:.4g}" if edges.size else "all"]
                self.bins[name] = ("numeric", edges, labels)
            else:
                labels = sorted(column.frequencies) + ["(other)"]
                self.bins[name] = ("categorical", {v: i for i, v in enumerate(labels[:-1])}, labels)
        self.sums = {name: np.zeros((3, len(spec[2]))) for name, spec in self.bins.items()}

    def update(self, frame: pd.DataFrame, y: np.ndarray, p: np.ndarray) -> None:
        residual, variance = y - p, p * (1 - p)
        for name, (kind, spec, labels) in self.bins.items():
            if name not in frame.columns:
                continue
            if kind == "numeric":
                values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
                index = np.searchsorted(spec, values, side="left")
                keep = ~np.isnan(values)
            else:
                codes, uniques = pd.factorize(frame[name], use_na_sentinel=True)
                table = np.array([spec.get(str(v), len(labels) - 1) for v in uniques] + [-1], dtype=np.int64)
                index = table[codes]  # code -1 (missing) picks the last entry
                keep = index >= 0
            index = index[keep]
            size = len(labels)
            self.sums[name] += np.vstack([np.bincount(index, minlength=size),
                                          np.bincount(index, weights=residual[keep], minlength=size),
                                          np.bincount(index, weights=variance[keep], minlength=size)])


def compare_residuals(baseline: Residuals, current: Residuals, alpha: float, min_effect: float) -> dict[str, dict]:
    from scipy import stats

    out = {}
    features = list(baseline.bins)
    for name in features:
        base, cur = baseline.sums[name], current.sums[name]
        usable = (base[0] >= MIN_BIN_ROWS) & (cur[0] >= MIN_BIN_ROWS)
        labels = baseline.bins[name][2]
        if not usable.any():
            out[name] = {"drifted": False, "note": f"no bin has {MIN_BIN_ROWS}+ labelled rows on both sides"}
            continue
        b_mean = base[1][usable] / base[0][usable]
        c_mean = cur[1][usable] / cur[0][usable]
        variance = base[2][usable] / base[0][usable] ** 2 + cur[2][usable] / cur[0][usable] ** 2
        change = c_mean - b_mean
        statistic = float(np.sum(change**2 / np.maximum(variance, 1e-12)))
        p_value = float(stats.chi2.sf(statistic, int(usable.sum())))
        largest = float(np.max(np.abs(change)))
        out[name] = {
            "statistic": statistic, "p_value": p_value, "max_change": largest,
            "drifted": bool(p_value < alpha / len(features) and largest >= min_effect),
            "bins": [{"bin": label, "baseline": float(b), "current": float(c)}
                     for label, b, c in zip([l for l, u in zip(labels, usable) if u], b_mean, c_mean)],
        }
    return out


class Windows:
    """Performance per window of ``size`` consecutive current rows."""

    def __init__(self, size: int):
        self.size = size
        self.windows: list[Window] = []
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._buffered = 0
        self._start = 0

    def update(self, y: np.ndarray, p: np.ndarray, when: np.ndarray | None) -> None:
        self._parts.append((y, p, when))
        self._buffered += y.size
        while self._buffered >= self.size:
            self._close(self.size)

    def finish(self) -> list[Window]:
        if self._buffered >= max(self.size // 2, 1) or (self._buffered and not self.windows):
            self._close(self._buffered)
        return self.windows

    def _close(self, rows: int) -> None:
        y = np.concatenate([part[0] for part in self._parts])
        p = np.concatenate([part[1] for part in self._parts])
        has_when = all(part[2] is not None for part in self._parts)
        when = np.concatenate([part[2] for part in self._parts]) if has_when else None
        label = f"rows {self._start + 1}-{self._start + rows}"
        first = last = None
        dated = pd.Series(when[:rows]).dropna() if when is not None else pd.Series([], dtype=object)
        if len(dated):  # rows are in date order; a row without a date (NaT) is skipped
            first, last = str(pd.Timestamp(dated.iloc[0]).date()), str(pd.Timestamp(dated.iloc[-1]).date())
            label = f"{first} to {last}"
        wy, wp = y[:rows], p[:rows]
        self.windows.append(Window(self._start, rows, label, exact_auc(wy, wp), float(np.mean((wy - wp) ** 2)),
                                   float(wy.mean()), float(wp.mean()), first=first, last=last))
        rest = (y[rows:], p[rows:], when[rows:] if when is not None else None)
        self._parts = [rest] if rest[0].size else []
        self._buffered -= rows
        self._start += rows


class ErrorDetector:
    """ADWIN on block means of the per-row Brier error; remembers where it detected changes."""

    def __init__(self, block: int = DETECTOR_BLOCK, delta: float = DETECTOR_DELTA):
        from river.drift import ADWIN

        self.block, self.delta = block, delta
        self.adwin = ADWIN(delta=delta)
        self.values: list[float] = []
        self.detections: list[dict[str, Any]] = []
        self._carry = np.zeros(0)
        self.baseline_blocks = 0
        self.phase = "baseline"
        self._current_rows = 0

    def update(self, y: np.ndarray, p: np.ndarray, phase: str) -> None:
        if phase != self.phase:
            self._carry, self.phase = np.zeros(0), phase  # blocks never mix baseline and current rows
        errors = np.concatenate([self._carry, (y - p) ** 2])
        whole = errors.size // self.block * self.block
        self._carry = errors[whole:]
        for value in errors[:whole].reshape(-1, self.block).mean(axis=1) if whole else ():
            self._step(float(value), phase)

    def _step(self, value: float, phase: str) -> None:
        width_before = int(self.adwin.width)
        self.values.append(value)
        if phase == "baseline":
            self.baseline_blocks += 1
        else:
            self._current_rows += self.block
        self.adwin.update(value)
        if self.adwin.drift_detected and phase == "current":
            kept = int(self.adwin.width)
            history = np.asarray(self.values)
            after = history[-kept:].mean()
            dropped = history[-(width_before + 1):-kept] if width_before + 1 > kept else history[:0]
            before = dropped.mean() if dropped.size else float("nan")
            self.detections.append({"current_row": self._current_rows, "error_before": float(before),
                                    "error_after": float(after), "increase": bool(after > before)})


def concept_drift(baseline_name: str, base_res: Residuals, cur_res: Residuals, windows: list[Window],
                  detector: ErrorDetector, baseline_auc: float | None, settings) -> ConceptDrift:
    relations = compare_residuals(base_res, cur_res, settings.concept_alpha, settings.concept_min_effect)
    below = 0
    if baseline_auc is not None and settings.max_auc_drop is not None:
        below = sum(1 for w in windows if w.roc_auc is not None and w.roc_auc < baseline_auc - settings.max_auc_drop)
    drifted = tuple(name for name, r in relations.items() if r.get("drifted"))
    summary = {name: {k: v for k, v in r.items() if k != "bins"} for name, r in relations.items()}
    return ConceptDrift(
        baseline=baseline_name, relations=summary, windows=tuple(windows), detections=tuple(detector.detections),
        detector={"name": "river.drift.ADWIN", "delta": detector.delta, "block_rows": detector.block,
                  "signal": "Brier error (label - score)^2", "baseline_blocks": detector.baseline_blocks},
        windows_below=below, drifted_features=drifted,
        error_increase_detected=any(d["increase"] for d in detector.detections),
    ), relations


def labelled(frame: pd.DataFrame, target: str, prediction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, scores and a row mask (rows with both) of a frame."""
    y_raw, p_raw = frame[target].to_numpy(), frame[prediction].to_numpy(dtype=np.float64)
    keep = ~(pd.isna(frame[target]).to_numpy() | np.isnan(p_raw))
    y, p = labels_and_scores(y_raw[keep], p_raw[keep])
    return y, p, keep
