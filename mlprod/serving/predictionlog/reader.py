"""Reading and pruning the prediction log.

:func:`read_log` reads every complete segment (``<dir>/<YYYY-MM-DD>/*.parquet``; temp files of a write in
progress or cut short are named ``.<name>.<random>.tmp`` and never match) into one DataFrame in time order.
A file that cannot be read or is not a prediction log segment is skipped with a warning naming it; a
segment of a newer schema version stops the read (an older mlprod would misread it).
"""

from __future__ import annotations

import shutil
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlprod.errors import PredictionLogError

from .schema import (COLUMNS, DAY_FORMAT, DAY_PATTERN, META_SCHEMA, META_VERSION, SCHEMA, SCHEMA_VERSION,
                     SEGMENT_SUFFIX, arrow_schema)


class PredictionLogWarning(UserWarning):
    """A file in the prediction log folder was skipped (unreadable or not a segment)."""


def day_folders(folder: str | Path) -> list[Path]:
    """The log's day folders (``YYYY-MM-DD``), oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and DAY_PATTERN.match(p.name) and _day(p) is not None)


def segments(folder: str | Path) -> list[Path]:
    """Every complete segment file, by day folder and name."""
    return [p for day in day_folders(folder) for p in sorted(day.glob(f"*{SEGMENT_SUFFIX}"))
            if not p.name.startswith(".") and p.is_file()]


def read_log(folder: str | Path, since: Any = None, until: Any = None):
    """The rows logged at or after ``since`` and before ``until`` (UTC; naive times are taken as UTC), in time
    order. ``result.attrs["skipped"]`` lists the files skipped (also warned about)."""
    import pandas as pd
    import pyarrow as pa

    start, end = _utc(since), _utc(until)
    if start is not None and end is not None and end < start:
        raise PredictionLogError(f"read_log: until ({end}) is before since ({start}); give since <= until")
    tables, skipped = [], []
    for day in day_folders(folder):
        moment = _day(day)
        if (start is not None and moment + timedelta(days=1) <= start) or (end is not None and moment >= end):
            continue  # a segment lies in the folder of its first row's day: later rows may spill into the next
        for path in sorted(day.glob(f"*{SEGMENT_SUFFIX}")):
            if path.name.startswith(".") or not path.is_file():
                continue
            table = _read_segment(path, skipped)
            if table is not None:
                tables.append(table)
    schema = arrow_schema()
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    frame = table.to_pandas()
    if start is not None:
        frame = frame[frame["logged_at"] >= start]
    if end is not None:
        frame = frame[frame["logged_at"] < end]
    frame = frame.sort_values("logged_at", kind="mergesort").reset_index(drop=True)
    frame.attrs["skipped"] = skipped
    return frame


def _read_segment(path: Path, skipped: list[str]):
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        metadata = parquet.schema_arrow.metadata or {}
    except Exception as exc:  # truncated, not Parquet, unreadable
        return _skip(path, f"not a readable Parquet file ({type(exc).__name__}: {exc})", skipped)
    name = metadata.get(META_SCHEMA, b"").decode(errors="replace")
    raw = metadata.get(META_VERSION, b"").decode(errors="replace")
    if name != SCHEMA or not raw.isdigit():
        return _skip(path, f"not a prediction log segment (metadata mlprod.schema={name or None!r}, "
                           f"mlprod.schema_version={raw or None!r})", skipped)
    if int(raw) > SCHEMA_VERSION:
        raise PredictionLogError(f"{path}: prediction log segment of schema version {raw}, this mlprod reads "
                                 f"versions up to {SCHEMA_VERSION}; upgrade mlprod to read the log")
    try:
        table = parquet.read()
        return table.select(list(COLUMNS)).cast(arrow_schema())
    except Exception as exc:
        return _skip(path, f"unreadable segment ({type(exc).__name__}: {exc})", skipped)


def _skip(path: Path, why: str, skipped: list[str]) -> None:
    skipped.append(str(path))
    warnings.warn(f"prediction log: skipped {path}: {why}", PredictionLogWarning, stacklevel=4)
    return None


def prune(folder: str | Path, keep_days: int, today: date | None = None) -> list[Path]:
    """Delete whole day folders dated more than ``keep_days`` days before ``today`` (UTC); returns them.

    A folder is first renamed to a hidden name (readers skip it at once), then deleted; other files and
    folders are never touched."""
    if isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 1:
        raise PredictionLogError(f"prune: keep_days must be a whole number of days >= 1, got {keep_days!r}")
    today = today or datetime.now(timezone.utc).date()
    cutoff = today - timedelta(days=keep_days)
    removed = []
    for day in day_folders(folder):
        if _day(day).date() < cutoff:
            trash = day.with_name(f".pruning-{day.name}")
            day.rename(trash)
            shutil.rmtree(trash)
            removed.append(day)
    return removed


def _day(path: Path) -> datetime | None:
    try:
        return datetime.strptime(path.name, DAY_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _utc(value: Any):
    import pandas as pd

    if value is None:
        return None
    moment = pd.Timestamp(value)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
