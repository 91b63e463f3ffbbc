"""Time-based splits: train on the past, hold out the next period, monitor the most recent one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlprod.errors import ConfigError, DataError


@dataclass(frozen=True, eq=False)
class TimeSplit:
    """Three consecutive periods of one table; ``holdout_start`` and ``current_start`` are the cutoffs used.

    train: date < holdout_start; holdout: holdout_start <= date < current_start; current: date >= current_start.
    """

    train: pd.DataFrame
    holdout: pd.DataFrame
    current: pd.DataFrame
    holdout_start: pd.Timestamp
    current_start: pd.Timestamp

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "holdout": len(self.holdout), "current": len(self.current)}


def time_split(df: pd.DataFrame, date_column: str, holdout_start: str, current_start: str) -> TimeSplit:
    """Split ``df`` at two dates; rows keep their order, each part gets a fresh 0..n-1 index."""
    dates = _dates(df, date_column)
    first = _cutoff("holdout_start", holdout_start, dates)
    second = _cutoff("current_start", current_start, dates)
    if not first < second:
        raise ConfigError(
            f"time_split: holdout_start ({_show(first)}) must be before current_start ({_show(second)}), "
            f"so that train < holdout < current in time. Swap or move the cutoffs."
        )
    return _split(df, date_column, dates, first, second, hint="Move the cutoffs inside the data's date range.")


def time_split_fractions(
    df: pd.DataFrame, date_column: str, holdout_fraction: float, current_fraction: float
) -> TimeSplit:
    """Split ``df`` by time so that about the last ``current_fraction`` of rows are current and the
    ``holdout_fraction`` before them are holdout. Rows sharing a date always land in the same part
    (the later one), so the parts can be a little smaller or larger than asked."""
    hold = _fraction("holdout_fraction", holdout_fraction)
    cur = _fraction("current_fraction", current_fraction)
    if hold + cur >= 1.0:
        raise ConfigError(
            f"time_split_fractions: holdout_fraction + current_fraction must be below 1 to leave rows for "
            f"training, got {hold} + {cur} = {round(hold + cur, 6)}. Lower one of them."
        )
    dates = _dates(df, date_column)
    ordered = dates.sort_values(ignore_index=True)
    n = len(ordered)
    n_current = int(round(n * cur))
    n_train = int(round(n * (1.0 - hold - cur)))
    if n_current < 1 or n_train < 1 or n_train >= n - n_current:
        raise DataError(
            f"time_split_fractions: {n} rows in column {date_column!r} are too few for fractions "
            f"holdout={hold}, current={cur}: every part needs at least one row. Use more data or larger fractions."
        )
    first, second = ordered.iloc[n_train], ordered.iloc[n - n_current]
    hint = (
        f"Too many rows share the same dates for fractions holdout={hold}, current={cur}; "
        f"choose other fractions or use time_split with explicit dates."
    )
    if first == second:
        raise DataError(f"time_split_fractions: the holdout part of column {date_column!r} would be empty. {hint}")
    return _split(df, date_column, dates, first, second, hint=hint)


def _split(
    df: pd.DataFrame, date_column: str, dates: pd.Series, first: pd.Timestamp, second: pd.Timestamp, hint: str
) -> TimeSplit:
    later_than_first = (dates >= first).to_numpy()
    later_than_second = (dates >= second).to_numpy()
    masks = {
        "train": ~later_than_first,
        "holdout": later_than_first & ~later_than_second,
        "current": later_than_second,
    }
    empty = [name for name, mask in masks.items() if not mask.any()]
    if empty:
        low, high = dates.min(), dates.max()
        raise DataError(
            f"Time split on column {date_column!r} leaves the {' and '.join(empty)} part(s) empty: "
            f"the data spans {_show(low)} to {_show(high)}, cutoffs are holdout_start={_show(first)}, "
            f"current_start={_show(second)} "
            f"(train < holdout_start <= holdout < current_start <= current). {hint}"
        )
    parts = {name: df.loc[mask].reset_index(drop=True) for name, mask in masks.items()}
    return TimeSplit(**parts, holdout_start=first, current_start=second)


def _show(stamp: pd.Timestamp) -> str:
    """``2024-07-01`` for a midnight timestamp, the full ISO form otherwise."""
    if stamp == stamp.normalize() and stamp.tzinfo is None:
        return stamp.date().isoformat()
    return stamp.isoformat()


def _dates(df: pd.DataFrame, date_column: str) -> pd.Series:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"Time split: expected a pandas DataFrame, got {type(df).__name__}.")
    if date_column not in df.columns:
        raise DataError(
            f"Time split: the date column {date_column!r} is not in the data; "
            f"available columns: {[str(name) for name in df.columns]}. Set date_column to one of them."
        )
    column = df[date_column]
    if isinstance(column, pd.DataFrame):
        raise DataError(f"Time split: the data has more than one column named {date_column!r}; rename the duplicates.")
    if len(column) == 0:
        raise DataError(f"Time split: the data has no rows, so column {date_column!r} cannot be split.")
    missing = column.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"Time split: column {date_column!r} has {int(missing.sum())} missing date(s) of {len(column)} "
            f"(first at position {int(np.flatnonzero(missing)[0])}); every row needs a date. Fill or drop them first."
        )
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise DataError(
            f"Time split: column {date_column!r} holds numbers (dtype {column.dtype}), expected dates. "
            f"Convert it first, e.g. pd.to_datetime(df[{date_column!r}], unit='s') for epoch seconds."
        )
    try:
        parsed = pd.to_datetime(column, errors="coerce")
        if parsed.isna().any():  # the format was inferred from the first value; parse each value on its own
            parsed = pd.to_datetime(column, errors="coerce", format="mixed")
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(
            f"Time split: column {date_column!r} (dtype {column.dtype}) cannot be read as dates: {exc}. "
            f"Store dates as ISO strings like '2024-07-01' or as datetimes, all in one time zone."
        ) from exc
    bad = parsed.isna().to_numpy()
    if bad.any():
        example = column.iloc[int(np.flatnonzero(bad)[0])]
        raise DataError(
            f"Time split: {int(bad.sum())} of {len(column)} value(s) in column {date_column!r} are not dates, "
            f"e.g. {example!r}. Expected dates like '2024-07-01'; fix or drop those rows."
        )
    return parsed.reset_index(drop=True)


def _cutoff(name: str, value, dates: pd.Series) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"time_split: {name}={value!r} is not a date. Use the ISO form, e.g. '2024-07-01'.") from exc
    if pd.isna(stamp):
        raise ConfigError(f"time_split: {name} must be a date like '2024-07-01', got {value!r}.")
    tz = dates.dt.tz
    if tz is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz)
    elif tz is None and stamp.tzinfo is not None:
        raise ConfigError(
            f"time_split: {name}={value!r} has a time zone but the dates have none. Drop the time zone from {name}."
        )
    return stamp


def _fraction(name: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not 0.0 < number < 1.0:
        raise ConfigError(
            f"time_split_fractions: {name} must be a number strictly between 0 and 1, got {value!r}, e.g. 0.2."
        )
    return number
