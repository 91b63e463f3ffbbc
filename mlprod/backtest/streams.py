"""The streams a backtest replays: batches in time order, each with the labels that arrive ``label_delay``
windows after it.

Three sources, one shape (:class:`Stream`):
- :func:`demo_stream`: the demo's weekly batches (:mod:`mlprod.data.stream_demo`), with or without its shift;
- :func:`folder_stream`: a folder laid out as ``mlprod demo-stream`` writes it, ``inbox/`` (one file per batch,
  replayed in name order) and optionally ``labels/`` (key and target; any files, joined to the batches on the
  key). Without ``labels/`` each batch's own target column is its labels;
- :func:`table_stream`: one table with the date and target columns, cut into ISO-week batches.

A batch's labels are those of its rows (joined on the key), whatever file they came from; they become
visible ``label_delay`` windows after the batch (0: with the batch itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError, DataError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class Batch:
    batch_id: str
    frame: pd.DataFrame  # the rows as scoring sees them: key, date and features, no target
    labels: pd.DataFrame  # key and target of the rows that have a label

    @property
    def rows(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class Stream:
    batches: tuple[Batch, ...]
    label_delay: int
    change: str | None  # the batch the behaviour changes in (detection delay is counted from it); None: unknown
    description: str

    def __post_init__(self) -> None:
        if not self.batches:
            raise DataError(f"backtest: the stream ({self.description}) has no batches")
        ids = [b.batch_id for b in self.batches]
        if len(set(ids)) != len(ids):
            raise DataError(f"backtest: the stream ({self.description}) repeats a batch id")
        if self.change is not None and self.change not in ids:
            raise ConfigError(f"backtest: change_window {self.change!r} is not a batch of the stream ({ids[0]} to "
                              f"{ids[-1]})")

    @property
    def ids(self) -> list[str]:
        return [b.batch_id for b in self.batches]

    def arriving(self, index: int) -> list[Batch]:
        """The batches whose labels arrive at window ``index`` (0-based): the one ``label_delay`` windows back."""
        j = index - self.label_delay
        return [self.batches[j]] if j >= 0 else []


def demo_stream(*, weeks: int, seed: int, shift: bool, label_delay: int, rows_per_week: int | None = None) -> Stream:
    """The demo stream (:class:`mlprod.data.stream_demo.StreamSpec`); the change is its shift week."""
    from ..data.stream_demo import KEY, ROWS_PER_WEEK, SHIFT_WEEK, StreamSpec, make_week
    from ..data.demo import LEADS_TARGET

    spec = StreamSpec(n_weeks=weeks, seed=seed, shift_week=SHIFT_WEEK if shift else None, label_delay=label_delay,
                      rows_per_week=rows_per_week or ROWS_PER_WEEK)
    batches = []
    for week in range(1, weeks + 1):
        frame = make_week(spec, week)
        batches.append(Batch(spec.week_id(week), frame.drop(columns=[LEADS_TARGET]),
                             frame[[KEY, LEADS_TARGET]].reset_index(drop=True)))
    what = f"demo stream, seed {seed}, {weeks} weeks, " + (
        f"shift from week {SHIFT_WEEK} ({spec.shift_id})" if spec.shift_id else "no shift")
    return Stream(tuple(batches), label_delay, spec.shift_id, what + f", labels after {label_delay} week(s)")


def folder_stream(folder: str | Path, *, key: str | None, target: str, label_delay: int,
                  change: str | None = None, date_column: str | None = None) -> Stream:
    """Batches from ``folder/inbox`` (name order), labels from ``folder/labels`` or the batches' target column.
    ``date_column`` is parsed as dates (a CSV file holds them as text)."""
    from ..data import read_table

    folder = Path(folder)
    inbox = folder / "inbox"
    files = _tables(inbox)
    if not files:
        raise DataError(f"backtest: {inbox} holds no batch files (CSV or Parquet); expected the layout `mlprod "
                        f"demo-stream DIR` writes: DIR/inbox/<batch>.parquet and DIR/labels/")
    labels_dir = folder / "labels"
    label_files = _tables(labels_dir) if labels_dir.is_dir() else []
    if label_files and key is None:
        raise ConfigError("backtest: labels in a labels/ folder are joined to the batches on the key; set "
                          "project.key in params.yaml")
    labels = pd.concat([_read_labels(p, key, target) for p in label_files], ignore_index=True) if label_files else None
    batches = []
    for path in files:
        frame = _parse_dates(read_table(path), date_column, path)
        batches.append(_split_batch(path.stem, frame, labels, key=key, target=target, source=str(path)))
    return Stream(tuple(batches), label_delay, change, f"{folder}: {len(batches)} batches, labels "
                  f"{'from ' + str(labels_dir) if label_files else 'from the batches'} after {label_delay} window(s)")


def table_stream(path: str | Path, *, key: str | None, target: str, date_column: str | None, label_delay: int,
                 change: str | None = None) -> Stream:
    """One table cut into ISO-week batches by ``date_column``; labels from its target column."""
    from ..data import read_table
    from ..monitoring.windows import iso_week

    if date_column is None:
        raise ConfigError("backtest: a history table is cut into weekly batches by project.date_column; set it in "
                          "params.yaml")
    frame = read_table(path)
    if date_column not in frame.columns:
        raise DataError(f"{path}: no date column {date_column!r} (project.date_column); columns: "
                        f"{', '.join(map(str, frame.columns))}")
    frame = _parse_dates(frame, date_column, path)
    weeks = iso_week(frame[date_column])
    batches = [_split_batch(str(week), part.reset_index(drop=True), None, key=key, target=target, source=str(path))
               for week, part in frame.groupby(weeks, sort=True)]
    return Stream(tuple(batches), label_delay, change, f"{path}: {len(batches)} weekly batches, labels after "
                  f"{label_delay} week(s)")


def _parse_dates(frame: pd.DataFrame, date_column: str | None, path: Path) -> pd.DataFrame:
    """``frame`` with ``date_column`` as datetimes; a value that is missing or not a date is a DataError."""
    if date_column is None or date_column not in frame.columns \
            or pd.api.types.is_datetime64_any_dtype(frame[date_column]):
        return frame
    dates = pd.to_datetime(frame[date_column], errors="coerce")
    if dates.isna().any():
        raise DataError(f"{path}: {int(dates.isna().sum())} row(s) of {date_column!r} are missing or not dates; "
                        "every row needs a date to fall in a window")
    return frame.assign(**{date_column: dates})


def _tables(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES
                  and not p.name.startswith("."))


def _read_labels(path: Path, key: str, target: str) -> pd.DataFrame:
    from ..data import read_table

    frame = read_table(path)
    missing = [c for c in (key, target) if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: a label file needs the key and target columns; missing "
                        f"{', '.join(map(repr, missing))}")
    return frame[[key, target]]


def _split_batch(batch_id: str, frame: pd.DataFrame, labels: pd.DataFrame | None, *, key: str | None, target: str,
                 source: str) -> Batch:
    from ..monitoring.predictions import check_batch_id

    check_batch_id(batch_id, source=source)
    if labels is None:
        if target not in frame.columns:
            raise DataError(f"{source}: no labels folder and no target column {target!r} in the batch; a backtest "
                            "needs the outcome of every batch")
        own = frame[[key, target]] if key is not None else frame[[target]]
        own = own[own[target].notna()].reset_index(drop=True)
    else:
        if key not in frame.columns:
            raise DataError(f"{source}: no key column {key!r} (project.key) to join the labels on")
        own = labels[labels[key].isin(frame[key])].drop_duplicates(key, keep="last").reset_index(drop=True)
    return Batch(batch_id, frame.drop(columns=[target], errors="ignore").reset_index(drop=True), own)


def describe(stream: Stream) -> dict[str, Any]:
    return {"description": stream.description, "batches": len(stream.batches), "first": stream.ids[0],
            "last": stream.ids[-1], "rows": sum(b.rows for b in stream.batches), "label_delay": stream.label_delay,
            "change": stream.change}
