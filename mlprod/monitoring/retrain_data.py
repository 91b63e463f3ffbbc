"""The training data of a retrain: the project's ingest source plus the labelled stream rows, in a window.

Order of work (and why):
1. :func:`labelled_stream_rows`: every committed predictions marker names the batch file it scored
   (``source``); those files are read and joined with the labels folder on the key (inner join: only rows
   whose label arrived). The batches are read from their files, not the predictions, because training needs
   the features; a batch file that is gone or changed since it was scored (md5) is left out and counted.
2. :func:`combine`: the source rows and the stream rows, one row per key (a stream row wins: a previous
   retrain's file already holds earlier stream rows), in time order.
3. :func:`select_window`: the window of ``retrain.window`` (``all`` or the ``last_weeks`` latest weeks),
   and the split cutoffs: the latest ``current_weeks`` weeks are ``current``, the ``holdout_weeks`` weeks
   before them the ``holdout`` (register's gates score champion and challenger on it), everything earlier
   trains. Weeks are ISO weeks (Monday to Sunday) counted back from the latest row's week.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..errors import ConfigError, DataError, RetrainRefused

WINDOWS = ("all", "last_weeks")
DEFAULTS: dict[str, Any] = {"window": "all", "last_weeks": None, "holdout_weeks": 2, "current_weeks": 1,
                            "data_dir": "data/retrain", "pipeline": "dvc.yaml"}


@dataclass(frozen=True)
class RetrainSettings:
    """The ``retrain:`` section of params.yaml, parsed strictly."""

    window: str = "all"
    last_weeks: int | None = None
    holdout_weeks: int = 2
    current_weeks: int = 1
    data_dir: str = "data/retrain"
    pipeline: str = "dvc.yaml"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, where: str = "retrain") -> "RetrainSettings":
        values = dict(values or {})
        unknown = sorted(set(values) - set(DEFAULTS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
                              f"{', '.join(DEFAULTS)}")
        merged = {**DEFAULTS, **values}
        if merged["window"] not in WINDOWS:
            raise ConfigError(f"{where}: window must be one of {', '.join(WINDOWS)}, got {merged['window']!r}")
        for name in ("holdout_weeks", "current_weeks", "last_weeks"):
            value = merged[name]
            if value is None and name == "last_weeks":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: {name} must be an integer >= 1, got {value!r}")
        if merged["window"] == "last_weeks":
            if merged["last_weeks"] is None:
                raise ConfigError(f"{where}: window: last_weeks needs last_weeks: N (the number of weeks to train "
                                  f"and evaluate on)")
            if merged["last_weeks"] <= merged["holdout_weeks"] + merged["current_weeks"]:
                raise ConfigError(f"{where}: last_weeks ({merged['last_weeks']}) must exceed holdout_weeks + "
                                  f"current_weeks ({merged['holdout_weeks']} + {merged['current_weeks']}) to leave "
                                  f"weeks to train on")
        for name in ("data_dir", "pipeline"):
            if not isinstance(merged[name], str) or not merged[name].strip():
                raise ConfigError(f"{where}: {name} must be a path, got {merged[name]!r}")
        return cls(**merged)

    def describe(self) -> str:
        return "all data" if self.window == "all" else f"the last {self.last_weeks} week(s)"


@dataclass(frozen=True)
class StreamRows:
    """The labelled stream rows and where they came from."""

    frame: pd.DataFrame
    batches: tuple[str, ...]  # batch ids that contributed rows
    skipped: tuple[str, ...]  # "<batch id>: why"
    unlabelled: int  # stream rows without a label yet


@dataclass(frozen=True)
class Window:
    """The rows of the window and the cutoffs that split them (ISO dates)."""

    frame: pd.DataFrame
    start: str  # first date in the window
    end: str  # last date
    holdout_start: str
    current_start: str

    def counts(self, date_column: str) -> dict[str, int]:
        dates = pd.to_datetime(self.frame[date_column])
        hold, cur = pd.Timestamp(self.holdout_start), pd.Timestamp(self.current_start)
        return {"train": int((dates < hold).sum()), "holdout": int(((dates >= hold) & (dates < cur)).sum()),
                "current": int((dates >= cur).sum())}


def join_labels(batch: pd.DataFrame, labels: pd.DataFrame, *, key: str, target: str) -> pd.DataFrame:
    """The rows of ``batch`` whose key has a label in ``labels``, with the label as ``target`` (the batch's own
    ``target`` column, if any, is replaced). Labels are deduplicated on the key (the last one wins)."""
    for frame, what in ((batch, "batch"), (labels, "labels")):
        if key not in frame.columns:
            raise DataError(f"retrain: the {what} has no key column {key!r} (columns: {', '.join(map(str, frame.columns))})")
    if target not in labels.columns:
        raise DataError(f"retrain: the labels have no target column {target!r}")
    known = labels[[key, target]].drop_duplicates(key, keep="last")
    joined = batch.drop(columns=[target], errors="ignore").merge(known, on=key, how="inner", sort=False)
    return joined[[*[c for c in batch.columns if c != target], target]]


def read_labels(folder: Path, *, key: str, target: str, positive_label: Any) -> pd.DataFrame:
    """Every label file in ``folder`` (CSV/Parquet, in name order), the target as 0/1."""
    from ..data import binary_target, read_table

    files = sorted(p for p in folder.glob("*") if p.suffix in (".csv", ".parquet", ".pq") and not p.name.startswith("."))
    if not files:
        return pd.DataFrame({key: [], target: []})
    frames = []
    for path in files:
        frame = read_table(path)
        frame, _ = binary_target(frame, target, positive_label=positive_label, drop_unlabelled=True,
                                 source=str(path), one_class_ok=True)
        frames.append(frame[[key, target]])
    return pd.concat(frames, ignore_index=True)


def labelled_stream_rows(root: Path, predictions_dir: str, labels_dir: str, *, key: str, target: str,
                         positive_label: Any = None) -> StreamRows:
    """The scored batches' rows (the files the markers name) that have a label (step 1 of the module docstring)."""
    from ..data import read_table
    from . import predictions

    labels = read_labels(root / labels_dir, key=key, target=target, positive_label=positive_label)
    frames, used, skipped, unlabelled = [], [], [], 0
    folder = root / predictions_dir
    for batch_id in predictions.committed(folder) if folder.is_dir() else []:
        marker = predictions.read_marker(folder, batch_id)
        source = root / str(marker.get("source", ""))
        if not source.is_file():
            skipped.append(f"{batch_id}: its batch file {marker.get('source')!r} is gone")
            continue
        if marker.get("source_md5") and hashlib.md5(source.read_bytes()).hexdigest() != marker["source_md5"]:
            skipped.append(f"{batch_id}: {marker.get('source')!r} changed since it was scored (md5)")
            continue
        batch = read_table(source)
        joined = join_labels(batch, labels, key=key, target=target)
        unlabelled += len(batch) - len(joined)
        if len(joined):
            frames.append(joined)
            used.append(batch_id)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return StreamRows(frame, tuple(used), tuple(skipped), unlabelled)


def combine(source: pd.DataFrame, stream: pd.DataFrame, *, key: str | None, date_column: str) -> pd.DataFrame:
    """The source rows and the stream rows with the source's columns, one row per key (a stream row wins), in
    time order (stable)."""
    if stream.empty:
        frame = source.copy()
    else:
        missing = [c for c in source.columns if c not in stream.columns]
        if missing:
            raise DataError(f"retrain: the stream batches lack the training data's column(s) "
                            f"{', '.join(map(repr, missing))}; a batch must hold every feature, the key and the date")
        frame = pd.concat([source, stream[list(source.columns)].astype(source.dtypes.to_dict(), errors="ignore")],
                          ignore_index=True)
        if key is not None:
            frame = frame.drop_duplicates(key, keep="last")
    frame[date_column] = pd.to_datetime(frame[date_column])
    return frame.sort_values(date_column, kind="stable").reset_index(drop=True)


def week_start(day: pd.Timestamp) -> pd.Timestamp:
    day = pd.Timestamp(day).normalize()
    return day - pd.Timedelta(days=day.weekday())


def select_window(frame: pd.DataFrame, date_column: str, settings: RetrainSettings) -> Window:
    """The rows of the window and the split cutoffs (step 3 of the module docstring)."""
    if frame.empty:
        raise DataError("retrain: no rows to train on")
    dates = pd.to_datetime(frame[date_column])
    latest = week_start(dates.max())
    current_start = latest - pd.Timedelta(weeks=settings.current_weeks - 1)
    holdout_start = current_start - pd.Timedelta(weeks=settings.holdout_weeks)
    if settings.window == "last_weeks":
        first = latest - pd.Timedelta(weeks=settings.last_weeks - 1)
        frame = frame[dates >= first].reset_index(drop=True)
        dates = pd.to_datetime(frame[date_column])
    if not (dates < holdout_start).any():
        raise DataError(f"retrain: no rows before the holdout (from {holdout_start.date()}) to train on; widen the "
                        f"window or lower retrain.holdout_weeks / current_weeks")
    return Window(frame, str(dates.min().date()), str(dates.max().date()), str(holdout_start.date()),
                  str(current_start.date()))


def source_rows(root: Path, ingest: Mapping[str, Any], *, target: str, positive_label: Any) -> pd.DataFrame:
    """The training pipeline's ingest source (``ingest.source``: ``demo`` or a file), its target as 0/1 and
    unlabelled rows left out, as the ingest stage reads it."""
    from ..data import binary_target, make_leads, read_table

    source = ingest.get("source", "demo")
    if source == "demo":
        frame = make_leads(n_rows=ingest.get("n_rows", 50_000), seed=ingest.get("seed", 42))
    else:
        frame = read_table(root / str(source))
    if target in frame.columns:
        frame, _ = binary_target(frame, target, positive_label=positive_label, drop_unlabelled=True,
                                 source=str(source))
    return frame


def training_window(source: pd.DataFrame, stream: StreamRows, *, key: str | None, date_column: str,
                    settings: RetrainSettings, predictions_dir: str = "", labels_dir: str = "") -> tuple[Window, int]:
    """The window to retrain on and how many labelled stream rows it holds; no labelled stream row at all, or
    none in the window, is a :class:`RetrainRefused` (retraining would only repeat the training data)."""
    if stream.frame.empty:
        raise RetrainRefused(f"no labelled stream rows: none of the {len(stream.batches) + len(stream.skipped)} "
                             f"scored batch(es) in {predictions_dir or 'the predictions folder'} has labels in "
                             f"{labels_dir or 'the labels folder'} yet; wait for labels")
    window = select_window(combine(source, stream.frame, key=key, date_column=date_column), date_column, settings)
    stream_keys = set(stream.frame[key]) if key else set()
    in_window = int(window.frame[key].isin(stream_keys).sum()) if key else len(stream.frame)
    if in_window == 0:
        raise RetrainRefused(f"no labelled stream rows in the window ({settings.describe()}, "
                             f"{window.start} to {window.end})")
    return window, in_window
