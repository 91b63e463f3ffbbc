"""Time windows and their mergeable summaries.

A prediction row belongs to the ISO week of the project's date column (``2024-W31``), or to its batch
(the batch id) when the project has no date column. Per window and batch, a *part* keeps what the
metrics need, all of it mergeable by addition: rows, a score histogram on fixed bins (rows, score sum,
labelled rows' positives/negatives/score sum per bin), the expected and realised confusion counts at
the model's decision, the log-loss sum, the automatically decided rows (not routed to review) with their labelled
rows and errors, and the feature profile (:mod:`mlprod.profile`). A window is the
merge of its parts in batch-id order, so it does not depend on the order batches arrived in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MonitoringError

N_BINS = 1000  # fixed score bins of width 1/1000: bin i holds i/1000 <= score < (i+1)/1000 (1.0 in the last)
EPS = 1e-15  # scores are clipped to [EPS, 1-EPS] for log loss
_BIN_FIELDS = ("rows", "score_sum", "labelled_score_sum", "positives", "negatives")
_COUNTS = ("flagged", "expected_tp", "expected_fn", "tp", "fp", "fn", "tn", "labelled", "log_loss_sum",
           "auto_decided", "auto_labelled", "auto_errors")
_AUTO_COUNTS = ("auto_decided", "auto_labelled", "auto_errors")  # window summary version 2 (absent from version 1)


def iso_week(dates: pd.Series) -> pd.Series:
    """``YYYY-Www`` (ISO 8601 year and week) of each date; timezone-aware dates are taken in UTC."""
    parsed = pd.to_datetime(dates, utc=True, errors="coerce")
    if parsed.isna().any():
        bad = dates[parsed.isna()].head(3).tolist()
        raise MonitoringError(f"the date column holds values that are not dates (e.g. {bad}); expected dates "
                              f"for every prediction row; fix the batch's date column")
    calendar = parsed.dt.isocalendar()
    return calendar["year"].astype(str) + "-W" + calendar["week"].astype(int).map("{:02d}".format)


def week_bounds(window: str) -> tuple[str, str]:
    """First and last day (UTC ISO dates, Monday and Sunday) of an ISO week ``YYYY-Www``."""
    try:
        year, week = window.split("-W")
        start = pd.Timestamp.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise MonitoringError(f"{window!r} is not an ISO week (expected YYYY-Www, e.g. 2024-W31)") from None
    return start.date().isoformat(), (start + pd.Timedelta(days=6)).date().isoformat()


def assign_windows(predictions: pd.DataFrame, date_column: str | None, batch_id: str) -> pd.Series:
    """The window of each prediction row: ISO week of ``date_column``, else the batch id."""
    if date_column is None:
        return pd.Series(batch_id, index=predictions.index, dtype=object)
    if date_column not in predictions.columns:
        raise MonitoringError(f"the predictions of batch {batch_id!r} have no date column {date_column!r} "
                              f"(project.date_column); its columns: {list(predictions.columns)}")
    return iso_week(predictions[date_column])


@dataclass(frozen=True, eq=False)
class ScoreSummary:
    """Sums over rows on the fixed score bins plus the confusion counts; ``merge`` adds them."""

    bins: dict[str, np.ndarray]
    counts: dict[str, float]

    @classmethod
    def empty(cls) -> ScoreSummary:
        bins = {name: np.zeros(N_BINS, dtype=np.int64 if name in ("rows", "positives", "negatives") else np.float64)
                for name in _BIN_FIELDS}
        return cls(bins, {name: 0 for name in _COUNTS})

    @classmethod
    def of(cls, score: np.ndarray, decision: np.ndarray, label: np.ndarray | None,
           needs_review: np.ndarray | None = None) -> ScoreSummary:
        """Summarise rows: ``label`` holds 1/0 for labelled rows and -1 for those without a label yet;
        ``needs_review`` True for rows routed to people (None: none was, every row was decided automatically)."""
        score = np.asarray(score, dtype=np.float64)
        if score.size and (not np.all(np.isfinite(score)) or score.min() < 0 or score.max() > 1):
            raise MonitoringError("predictions hold scores outside [0, 1] or missing; expected probabilities of "
                                  "the positive class; rescore the batch")
        decision = np.asarray(decision).astype(bool)
        label = np.full(score.size, -1, dtype=np.int64) if label is None else np.asarray(label, dtype=np.int64)
        index = np.minimum((score * N_BINS).astype(np.int64), N_BINS - 1)
        labelled = label >= 0
        pos, neg = label == 1, label == 0
        bins = {"rows": np.bincount(index, minlength=N_BINS).astype(np.int64),
                "score_sum": np.bincount(index, weights=score, minlength=N_BINS).astype(np.float64),
                "labelled_score_sum": np.bincount(index[labelled], weights=score[labelled],
                                                  minlength=N_BINS).astype(np.float64),
                "positives": np.bincount(index[pos], minlength=N_BINS).astype(np.int64),
                "negatives": np.bincount(index[neg], minlength=N_BINS).astype(np.int64)}
        auto = np.ones(score.size, dtype=bool) if needs_review is None else ~np.asarray(needs_review, dtype=bool)
        clipped = np.clip(score[labelled], EPS, 1 - EPS)
        y = label[labelled]
        counts = {"flagged": int(decision.sum()),
                  "expected_tp": float(score[decision].sum()), "expected_fn": float(score[~decision].sum()),
                  "tp": int((decision & pos).sum()), "fp": int((decision & neg).sum()),
                  "fn": int((~decision & pos).sum()), "tn": int((~decision & neg).sum()),
                  "labelled": int(labelled.sum()),
                  "log_loss_sum": float(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).sum()),
                  "auto_decided": int(auto.sum()), "auto_labelled": int((auto & labelled).sum()),
                  "auto_errors": int((auto & labelled & (decision != pos)).sum())}
        return cls(bins, counts)

    @property
    def rows(self) -> int:
        return int(self.bins["rows"].sum())

    def merge(self, other: ScoreSummary) -> ScoreSummary:
        return ScoreSummary({k: self.bins[k] + other.bins[k] for k in _BIN_FIELDS},
                            {k: self.counts[k] + other.counts[k] for k in _COUNTS})

    def to_dict(self) -> dict[str, Any]:
        used = np.flatnonzero(self.bins["rows"])
        out: dict[str, Any] = {"index": used.tolist()}
        for name in _BIN_FIELDS:
            out[name] = self.bins[name][used].tolist()
        out["counts"] = dict(self.counts)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ScoreSummary:
        """A version-1 summary has no automatically-decided counts: they read as 0 (no labelled auto-decided row
        known); relabelling the window recomputes them from its predictions."""
        expected = {"index", "counts", *_BIN_FIELDS}
        if not isinstance(data, dict) or set(data) != expected or not (
                set(_COUNTS) - set(_AUTO_COUNTS) <= set(data["counts"]) <= set(_COUNTS)):
            raise MonitoringError(f"{where}: the score summary is not in the expected format (keys "
                                  f"{sorted(expected)}); delete the monitoring folder's windows and rebuild")
        summary = cls.empty()
        index = np.asarray(data["index"], dtype=np.int64)
        for name in _BIN_FIELDS:
            summary.bins[name][index] = data[name]
        summary.counts.update(data["counts"])
        return summary


@dataclass(frozen=True, eq=False)
class Part:
    """What one batch contributed to one window."""

    batch_id: str
    rows: int
    model_version: str
    scored_at: str
    first_date: str | None
    last_date: str | None
    scores: ScoreSummary
    profile: Any  # mlprod.profile.Profile of the features and the score (None without features)
    label_files: dict[str, str] = field(default_factory=dict)

    def with_scores(self, scores: ScoreSummary, label_files: dict[str, str]) -> Part:
        return replace(self, scores=scores, label_files=dict(label_files))

    def to_dict(self) -> dict[str, Any]:
        from ..profile.files import profile_to_dict

        return {"batch_id": self.batch_id, "rows": self.rows, "model_version": self.model_version,
                "scored_at": self.scored_at, "first_date": self.first_date, "last_date": self.last_date,
                "scores": self.scores.to_dict(), "label_files": dict(sorted(self.label_files.items())),
                "profile": None if self.profile is None else profile_to_dict(self.profile)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Part:
        from ..profile.files import profile_from_dict

        keys = {"batch_id", "rows", "model_version", "scored_at", "first_date", "last_date", "scores",
                "label_files", "profile"}
        if not isinstance(data, dict) or set(data) != keys:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise MonitoringError(f"{where}: a window part needs the keys {sorted(keys)}, got {got}")
        profile = None if data["profile"] is None else profile_from_dict(data["profile"])
        return cls(data["batch_id"], int(data["rows"]), data["model_version"], data["scored_at"],
                   data["first_date"], data["last_date"], ScoreSummary.from_dict(data["scores"], where), profile,
                   dict(data["label_files"]))


SCHEMA_VERSION = 2  # 2: the automatically decided counts
READS = (1, 2)


@dataclass(frozen=True, eq=False)
class WindowSummary:
    """A window and its parts (by batch id); totals are merged in batch-id order."""

    window: str
    start: str
    end: str
    parts: dict[str, Part]

    def scores(self) -> ScoreSummary:
        total = ScoreSummary.empty()
        for batch in sorted(self.parts):
            total = total.merge(self.parts[batch].scores)
        return total

    def profile(self):
        from ..profile.build import merge_profiles

        profiles = [self.parts[b].profile for b in sorted(self.parts) if self.parts[b].profile is not None]
        if not profiles:
            return None
        total = profiles[0]
        for other in profiles[1:]:
            total = merge_profiles(total, other)
        return total

    @property
    def rows(self) -> int:
        return sum(part.rows for part in self.parts.values())

    def model_version(self) -> str:
        """The model version that scored most of the window's rows (ties: the highest text)."""
        rows: dict[str, int] = {}
        for part in self.parts.values():
            rows[part.model_version] = rows.get(part.model_version, 0) + part.rows
        return max(sorted(rows), key=lambda v: rows[v]) if rows else ""

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "window": self.window, "window_start": self.start,
                "window_end": self.end, "parts": {b: self.parts[b].to_dict() for b in sorted(self.parts)}}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> WindowSummary:
        if not isinstance(data, dict) or data.get("schema_version") not in READS:
            got = data.get("schema_version") if isinstance(data, dict) else type(data).__name__
            raise MonitoringError(f"{where}: unknown window summary schema_version {got!r}; this mlprod reads "
                                  f"versions {list(READS)}; rebuild the monitoring history")
        parts = {b: Part.from_dict(p, f"{where} part {b!r}") for b, p in data["parts"].items()}
        return cls(data["window"], data["window_start"], data["window_end"], parts)
