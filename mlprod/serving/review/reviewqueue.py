"""The review queue: rows the predictor routed to people (``needs_review``), their export for reviewers, and the
import of reviewers' decisions as a label file.

- queued: a prediction log row with ``needs_review`` and a ``unit_id``, whose unit is neither decided (the review
  folder's ``decided.csv``) nor labelled (any file of the labels folder); the latest row per unit;
- import order (and why): the whole file is checked first (columns, units, labels) and nothing is written on any
  problem; then the label file is written atomically under a new name (``<UTC stamp>-review.csv``, never an
  existing one), then ``decided.csv`` is rewritten atomically. A crash between the two leaves the units labelled,
  which already takes them out of the queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import DataError, ReviewError

DECIDED_FILE = "decided.csv"
EXPORT_COLUMNS = ["request_id", "row", "unit_id", "score", "logged_at"]


@dataclass(frozen=True)
class ReviewPaths:
    """Where the queue's inputs and records are (absolute, or relative to the working folder)."""

    log_dir: Path  # prediction_log.dir
    labels_dir: Path  # monitor.labels_dir
    review_dir: Path  # serving.review.dir: decided.csv
    key: str  # project.key: the label files' key column
    target: str  # project.target
    positive_label: Any = None


@dataclass(frozen=True)
class ImportResult:
    label_file: Path | None  # None when every unit was labelled already
    written: int
    already_labelled: tuple[str, ...]


def read_decided(paths: ReviewPaths) -> pd.DataFrame:
    path = paths.review_dir / DECIDED_FILE
    if not path.is_file():
        return pd.DataFrame({"unit_id": pd.Series(dtype=object), "label_file": pd.Series(dtype=object),
                             "decided_at": pd.Series(dtype=object)})
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ReviewError(f"{path}: unreadable review record ({exc}); restore it or delete it (decided units "
                          "keep their labels in the labels folder)") from exc


def labelled_units(paths: ReviewPaths) -> set[str]:
    from ...monitoring.retrain_data import read_labels

    if not paths.labels_dir.is_dir():
        return set()
    labels = read_labels(paths.labels_dir, key=paths.key, target=paths.target, positive_label=paths.positive_label)
    return set(labels[paths.key].astype(str))


def queue(paths: ReviewPaths, *, since: Any = None, limit: int | None = None) -> pd.DataFrame:
    """The queued rows, oldest first (see the module docstring); ``attrs["no_unit_id"]`` counts rows routed to
    review that have no unit id (they cannot be labelled: log requests with the key column)."""
    from ..predictionlog import read_log

    log = read_log(paths.log_dir, since=since)
    routed = log[log["needs_review"].astype(bool)]
    no_unit = int(routed["unit_id"].isna().sum())
    routed = routed[routed["unit_id"].notna()]
    done = set(read_decided(paths)["unit_id"]) | labelled_units(paths)
    routed = routed[~routed["unit_id"].isin(done)].drop_duplicates("unit_id", keep="last")
    out = routed.reset_index(drop=True)
    if limit is not None:
        out = out.head(limit)
    out.attrs["no_unit_id"] = no_unit
    return out


def export_frame(rows: pd.DataFrame, target: str) -> pd.DataFrame:
    """The columns reviewers see: request_id, row, unit_id, score, logged_at, the logged raw features (if any),
    and an empty ``target`` column to fill in."""
    out = rows[EXPORT_COLUMNS].copy()
    out["logged_at"] = pd.to_datetime(out["logged_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    features = [json.loads(v) if isinstance(v, str) else {} for v in rows["features"]]
    names = sorted({name for f in features for name in f} - set(out.columns) - {target})
    for name in names:
        out[name] = [f.get(name) for f in features]
    out[target] = ""
    return out


def export(paths: ReviewPaths, file: str | Path, *, since: Any = None) -> int:
    """Write the queue to ``file`` (CSV, atomically); returns the number of rows."""
    from ...data.io import write_table

    rows = queue(paths, since=since)
    write_table(export_frame(rows, paths.target), Path(file))
    return len(rows)


def import_decisions(paths: ReviewPaths, file: str | Path, *, now: datetime | None = None) -> ImportResult:
    """Check ``file`` (``unit_id`` + ``target``) whole, then write its new labels as a label file in the labels
    folder and record the units as decided; units labelled already are reported, not written."""
    from ...atomic import write_text
    from ...data.io import check_table, read_table
    from ...data.labels import binary_target
    from ..predictionlog import read_log

    file = Path(file)
    try:
        check_table(file)
        if file.suffix.lower() == ".csv":  # unit ids as written ("007" stays "007")
            frame = pd.read_csv(file, dtype={"unit_id": str}, index_col=False)
        else:
            frame = read_table(file)
    except (DataError, ValueError) as exc:
        raise ReviewError(f"review import: {exc}") from exc
    missing = [c for c in ("unit_id", paths.target) if c not in frame.columns]
    if missing:
        raise ReviewError(f"{file}: missing column(s) {', '.join(map(repr, missing))}; expected unit_id and the label "
                          f"column {paths.target!r} (project.target), as `mlprod review export` writes them")
    frame = frame[["unit_id", paths.target]].copy()
    frame["unit_id"] = [None if pd.isna(v) else _text(v) for v in frame["unit_id"]]
    _check_rows(file, "unit_id", frame["unit_id"].isna(), "have no unit_id")
    _check_rows(file, paths.target, frame[paths.target].isna(), "have no label: fill in every row, or delete the "
                "rows not decided yet")
    try:
        encoded, _ = binary_target(frame, paths.target, positive_label=paths.positive_label, drop_unlabelled=False,
                                   source=str(file), one_class_ok=True)
    except DataError as exc:
        raise ReviewError(f"{exc} (column {paths.target!r})") from exc
    _check_conflicts(file, frame["unit_id"], encoded[paths.target], paths.target)
    routed = read_log(paths.log_dir)
    known = set(routed.loc[routed["needs_review"].astype(bool), "unit_id"].dropna())
    _check_rows(file, "unit_id", ~frame["unit_id"].isin(known), "name units the prediction log never routed to review")
    labelled = labelled_units(paths)
    fresh = frame[~frame["unit_id"].isin(labelled)].drop_duplicates("unit_id", keep="last")
    already = tuple(sorted(set(frame["unit_id"]) & labelled))
    if fresh.empty:
        return ImportResult(None, 0, already)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    label_file = _new_name(paths.labels_dir, now)
    out = pd.DataFrame({paths.key: fresh["unit_id"].to_numpy(), paths.target: fresh[paths.target].to_numpy()})
    write_text(label_file, out.to_csv(index=False, lineterminator="\n"))
    decided = read_decided(paths)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    added = pd.DataFrame({"unit_id": fresh["unit_id"].to_numpy(), "label_file": label_file.name, "decided_at": stamp})
    record = pd.concat([decided, added], ignore_index=True).drop_duplicates("unit_id", keep="last")
    write_text(paths.review_dir / DECIDED_FILE, record.to_csv(index=False, lineterminator="\n"))
    return ImportResult(label_file, len(fresh), already)


def _text(value: Any) -> str:
    """A unit id as the log writes it (str of the key's value): 12.0 read from a CSV of integers is ``12``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _check_rows(file: Path, column: str, bad: pd.Series, what: str) -> None:
    rows = np.flatnonzero(np.asarray(bad, dtype=bool)) + 1
    if rows.size:
        shown = ", ".join(map(str, rows[:10])) + (", ..." if rows.size > 10 else "")
        raise ReviewError(f"{file}: column {column!r}: {rows.size} row(s) {what} (data row(s) {shown}); nothing was "
                          "imported")


def _check_conflicts(file: Path, units: pd.Series, labels: pd.Series, target: str) -> None:
    both = pd.DataFrame({"u": units.to_numpy(), "y": np.asarray(labels)})
    bad = both.groupby("u")["y"].transform("nunique") > 1
    _check_rows(file, target, bad, "give one unit two different labels")


def _new_name(folder: Path, now: datetime) -> Path:
    base = now.strftime("%Y%m%dT%H%M%S%fZ")
    for i in range(1000):
        path = folder / f"{base}{'' if i == 0 else f'-{i}'}-review.csv"
        if not path.exists():
            return path
    raise ReviewError(f"{folder}: cannot find a free label file name for {base}")
