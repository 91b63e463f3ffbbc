"""What ``mlprod init`` learns from the data: the label, the date column, the key, which columns are features
and why the others are left out, and split cutoffs that give every split enough rows of both classes.

Everything here is computed from a DataFrame and returns values; nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

MAX_CATEGORIES = 50  # text columns with more distinct values are not one-hot encoded
MAX_SLICE_CATEGORIES = 12  # a slice column has 2..12 segments
MIN_SPLIT_ROWS = 30  # every split (train, holdout, current) needs this many rows ...
MIN_SPLIT_CLASS = 5  # ... and this many rows of each class
_SPLITS = ((0.65, 0.15), (0.6, 0.2), (0.7, 0.15), (0.6, 0.15), (0.55, 0.2), (0.5, 0.25), (0.7, 0.1), (0.45, 0.25),
           (0.4, 0.3))
_DATE_TEXT = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_ID_NAME = re.compile(r"(^|[^a-z])(id|ids|uuid|guid|key|code|number|no)$|^id[^a-z]", re.IGNORECASE)


@dataclass(frozen=True)
class Label:
    """The target column: its values, which one is positive (None: already 0/1 or boolean), and counts."""

    column: str
    positive_label: Any  # None, or the value (str, int, bool) that means positive
    values: tuple[Any, Any]  # (negative, positive)
    positives: int
    negatives: int
    missing: int


@dataclass(frozen=True)
class Column:
    """One column's role: ``categorical``, ``numeric``, or ``None`` (left out, ``reason`` says why)."""

    name: str
    kind: str | None
    reason: str = ""


@dataclass(frozen=True)
class Split:
    """Split cutoffs (ISO dates) or None (split by fractions), and the rows/positives each split gets."""

    holdout_start: str | None
    current_start: str | None
    rows: tuple[int, int, int] = (0, 0, 0)
    positives: tuple[int, int, int] = (0, 0, 0)


def analyse_label(frame: pd.DataFrame, target: str, positive: str | None) -> Label:
    """The label column; raises :class:`ConfigError` when it is not binary or ``positive`` is needed/wrong."""
    series = frame[target]
    present = series.dropna()
    values = sorted(present.unique().tolist(), key=lambda v: (str(type(v)), v))
    shown = ", ".join(repr(_plain(v)) for v in values[:10]) + (f" and {len(values) - 10} more" if len(values) > 10
                                                                 else "")
    if len(values) < 2:
        raise ConfigError(f"--target {target!r}: the column holds {len(values)} distinct value(s) ({shown or 'none'}); "
                          "a model needs both classes. Choose the label column, or data with both outcomes")
    if len(values) > 2:
        raise ConfigError(f"--target {target!r}: {len(values)} distinct values ({shown}); mlprod's pipeline trains a "
                          "binary classifier. Choose a yes/no label, or derive one (e.g. a column 'is_X') first")
    binary = pd.api.types.is_bool_dtype(series.dtype) or set(_plain(v) for v in values) <= {0, 1, True, False}
    if positive is None:
        if not binary:
            raise ConfigError(f"--target {target!r} holds {shown}, not 0/1 or true/false: pass --positive VALUE "
                              f"naming the value that means positive (one of {shown})")
        negative, positive_value = sorted(values, key=lambda v: int(_plain(v)))
        label_value = None
    else:
        match = [v for v in values if str(_plain(v)) == str(positive) or
                 (isinstance(_plain(v), bool) and str(positive).lower() == str(_plain(v)).lower())]
        if not match:
            raise ConfigError(f"--positive {positive!r} is not a value of --target {target!r} (values: {shown}); "
                              "pass one of them")
        positive_value = match[0]
        negative = next(v for v in values if v is not positive_value and v != positive_value)
        label_value = _plain(positive_value)
        if binary and label_value in (1, True) and not isinstance(label_value, str):
            label_value = None  # already 0/1: nothing to map
    positives = int((present == positive_value).sum())
    return Label(column=target, positive_label=label_value, values=(_plain(negative), _plain(positive_value)),
                 positives=positives, negatives=int(len(present) - positives), missing=int(series.isna().sum()))


def binary_target(frame: pd.DataFrame, label: Label) -> pd.Series:
    """0/1 labels of the labelled rows (what ingest makes of the target column)."""
    present = frame[label.column].dropna()
    return (present.map(_plain) == label.values[1]).astype("int64")


def parse_dates(series: pd.Series) -> pd.Series:
    """``series`` as datetimes (unparseable values become NaT), like ingest parses a CSV's date column."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    if (parsed.isna() & series.notna()).any():
        parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    return parsed


def date_columns(frame: pd.DataFrame) -> list[str]:
    """Columns holding dates: datetime columns, and text columns whose values (nearly all) read as dates."""
    found = []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            found.append(name)
            continue
        if not (pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)):
            continue
        sample = series.dropna().astype(str).head(500)
        if sample.empty or sample.str.match(_DATE_TEXT).mean() < 0.95:
            continue
        if parse_dates(sample).notna().mean() >= 0.95:
            found.append(name)
    return found


def classify(frame: pd.DataFrame, *, skip: set[str], dates: list[str]) -> list[Column]:
    """Each column not in ``skip``: a feature (categorical or numeric) or left out with the reason."""
    return [_classify(str(name), frame[name], name in dates) for name in frame.columns if name not in skip]


def identifier_like(frame: pd.DataFrame, name: str) -> bool:
    return _classify(name, frame[name], False).reason.startswith("identifier")


def _classify(name: str, series: pd.Series, is_date: bool) -> Column:
    api = pd.api.types
    present = series.dropna()
    rows = len(present)
    if rows == 0:
        return Column(name, None, "empty: no values")
    distinct = int(present.nunique())
    missing = f", {1 - rows / len(series):.0%} missing" if rows < len(series) else ""
    if distinct == 1:
        return Column(name, None, f"constant: {_plain(present.iloc[0])!r} in every row{missing}")
    if is_date:
        return Column(name, None, "dates: not a model input (derive features from it in a notebook if useful)")
    if api.is_bool_dtype(series.dtype):
        return Column(name, "categorical")
    if api.is_numeric_dtype(series.dtype):
        whole = api.is_integer_dtype(series.dtype) or bool((present == present.round()).all())
        if whole and distinct == rows and rows > 1 and (_ID_NAME.search(name) or _consecutive(present)):
            return Column(name, None, "identifier-like: every value distinct")
        return Column(name, "numeric")
    text = present.astype(str)
    free = text.str.len().mean() >= 25 or text.str.contains(r"\s", regex=True).mean() >= 0.5
    if distinct == rows and rows > 1:
        if free and not _ID_NAME.search(name):
            return Column(name, None, f"free text: {distinct:,} distinct values in {rows:,} rows")
        return Column(name, None, "identifier-like: every value distinct")
    if distinct <= MAX_CATEGORIES and distinct * 2 <= rows:
        return Column(name, "categorical")
    if free:
        return Column(name, None, f"free text: {distinct:,} distinct values in {rows:,} rows")
    return Column(name, None, f"high-cardinality text: {distinct:,} distinct values in {rows:,} rows "
                              f"(more than {MAX_CATEGORIES} categories)")


def slice_candidates(frame: pd.DataFrame, columns: list[Column]) -> list[str]:
    """Categorical features with 2..12 segments (the first one is the suggested slice column)."""
    return [c.name for c in columns if c.kind == "categorical"
            and 2 <= frame[c.name].nunique() <= MAX_SLICE_CATEGORIES]


def choose_split(dates: pd.Series, y: pd.Series) -> Split:
    """Cutoff dates (at day starts) near 65/15/20% of the rows so that each split has at least
    ``MIN_SPLIT_ROWS`` rows and ``MIN_SPLIT_CLASS`` of each class; ``Split(None, None)`` when none does."""
    days = dates.dt.tz_localize(None) if dates.dt.tz is not None else dates
    days = days.dt.normalize()
    keep = days.notna().to_numpy()
    order = np.argsort(days.to_numpy()[keep], kind="stable")
    d = days.to_numpy()[keep][order]
    labels = y.to_numpy()[keep][order].astype(np.int64)
    n = len(d)
    if n == 0:
        return Split(None, None)
    unique_days, starts = np.unique(d, return_index=True)
    cumulative = np.concatenate([[0], np.cumsum(labels)])
    for train_share, holdout_share in _SPLITS:
        i1 = _nearest_start(starts, n * train_share)
        i2 = _nearest_start(starts, n * (train_share + holdout_share))
        if not 0 < i1 < i2 < n:
            continue
        bounds = ((0, i1), (i1, i2), (i2, n))
        rows = tuple(b - a for a, b in bounds)
        positives = tuple(int(cumulative[b] - cumulative[a]) for a, b in bounds)
        if all(r >= MIN_SPLIT_ROWS and MIN_SPLIT_CLASS <= p <= r - MIN_SPLIT_CLASS for r, p in zip(rows, positives)):
            first, second = (pd.Timestamp(unique_days[np.searchsorted(starts, i)]) for i in (i1, i2))
            return Split(first.date().isoformat(), second.date().isoformat(), rows, positives)
    return Split(None, None)


def _nearest_start(starts: np.ndarray, position: float) -> int:
    """The day start (row index) nearest to ``position``."""
    index = int(np.searchsorted(starts, position))
    options = [starts[i] for i in (index - 1, index) if 0 <= i < len(starts)]
    return int(min(options, key=lambda s: (abs(s - position), s)))


def _consecutive(values: pd.Series) -> bool:
    ordered = np.sort(values.to_numpy(dtype=np.float64))
    return len(ordered) > 2 and bool(np.all(np.diff(ordered) == 1))


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (for YAML and messages)."""
    return value.item() if isinstance(value, np.generic) else value


def require_columns(frame: pd.DataFrame, names: dict[str, str | None], source: str) -> None:
    """Raise :class:`DataError` when an option names a column the data lacks (all of them in one message)."""
    import difflib

    columns = [str(c) for c in frame.columns]
    problems = []
    for option, name in names.items():
        if name is not None and name not in columns:
            close = difflib.get_close_matches(name, columns, n=1)
            problems.append(f"{option} {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if problems:
        raise DataError(f"{source}: no column {', '.join(problems)}; columns: "
                        f"{', '.join(map(repr, columns))}")
