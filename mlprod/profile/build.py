"""Building profiles from data frames, merging them, and the bounded row sample."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ProfileError
from .columns import (
    CATEGORICAL,
    NUMERIC,
    KIND_WORDS,
    ColumnProfile,
    categorical_column,
    merge_columns,
    numeric_column,
    text_examples,
)

DEFAULT_SAMPLE_SIZE = 1000
DEFAULT_MAX_CATEGORIES = 1000
_PARALLEL_ROWS = 200_000


@dataclass(frozen=True, eq=False)
class Sample:
    """Up to ``sample_size`` whole rows: those with the smallest ``priority`` (a hash of the row's
    values), so the sample does not depend on row order or chunking. Identical rows share a priority
    and are kept or left out together. ``values`` maps each column to
    one JSON value per row (numbers as float, datetimes in epoch seconds, categories as text, None)."""

    priority: np.ndarray
    values: dict[str, list]

    def __len__(self) -> int:
        return int(self.priority.size)


@dataclass(frozen=True, eq=False)
class Profile:
    """A compact, mergeable summary of a table. ``columns`` keeps the table's column order."""

    n_rows: int
    columns: dict[str, ColumnProfile]
    sample: Sample
    sample_size: int = DEFAULT_SAMPLE_SIZE
    max_categories: int = DEFAULT_MAX_CATEGORIES

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise ProfileError(f"the profile has no column {name!r}; its columns: {list(self.columns)}") from None

    def save(self, path: str | Path) -> Path:
        """Write the profile as versioned, deterministic JSON (atomically)."""
        from .files import save_profile

        return save_profile(self, path)

    def to_dict(self) -> dict[str, Any]:
        from .files import profile_to_dict

        return profile_to_dict(self)

    def sample_frame(self) -> pd.DataFrame:
        """The row sample as a data frame with the columns' original dtypes where they can be restored."""
        frame = {}
        for name, column in self.columns.items():
            values = self.sample.values[name]
            if column.kind == CATEGORICAL:
                series = pd.Series(values, dtype=object)
                if column.dtype == "bool" and series.notna().all():
                    series = series.map({"True": True, "False": False})
            elif column.dtype.startswith("datetime64"):
                series = pd.to_datetime(pd.Series(values, dtype="float64"), unit="s")
            else:
                series = pd.Series(values, dtype="float64")
                if column.dtype.startswith(("int", "uint")) and series.notna().all():
                    series = series.astype(column.dtype)
            frame[name] = series
        return pd.DataFrame(frame, columns=list(self.columns))


class ProfileBuilder:
    """Estimator-style builder: ``fit(df)`` profiles a frame, ``partial_fit(df)`` adds the next chunk;
    the result is ``profile_``. Parameters are only stored here; the work happens in ``fit``.

    columns: the columns to profile (default: all). categorical: numeric columns to treat as
    categories (e.g. codes). sample_size: rows kept in the sample (0 for none). max_categories:
    categories kept per column (the rest are counted in ``other``).
    """

    def __init__(self, *, columns: Iterable[str] | None = None, categorical: Iterable[str] = (),
                 sample_size: int = DEFAULT_SAMPLE_SIZE, max_categories: int = DEFAULT_MAX_CATEGORIES):
        self.columns = columns
        self.categorical = categorical
        self.sample_size = sample_size
        self.max_categories = max_categories

    def fit(self, df: pd.DataFrame) -> ProfileBuilder:
        self.__dict__.pop("profile_", None)
        return self.partial_fit(df)

    def partial_fit(self, df: pd.DataFrame) -> ProfileBuilder:
        part = _profile_frame(df, columns=self.columns, categorical=self.categorical,
                              sample_size=_positive("sample_size", self.sample_size, allow_zero=True),
                              max_categories=_positive("max_categories", self.max_categories))
        previous = getattr(self, "profile_", None)
        if previous is not None:
            _check_kinds(previous, part)
        self.profile_ = part if previous is None else merge_profiles(previous, part)
        return self


def build_profile(df: pd.DataFrame, *, columns: Iterable[str] | None = None, categorical: Iterable[str] = (),
                  sample_size: int = DEFAULT_SAMPLE_SIZE, max_categories: int = DEFAULT_MAX_CATEGORIES) -> Profile:
    """Profile ``df`` in one vectorized pass (see :class:`ProfileBuilder` for the parameters)."""
    return ProfileBuilder(columns=columns, categorical=categorical, sample_size=sample_size,
                          max_categories=max_categories).fit(df).profile_


def merge_profiles(a: Profile, b: Profile) -> Profile:
    """The profile of ``a``'s rows followed by ``b``'s rows: equal to profiling them together (counts,
    histograms, min/max and sample exactly; mean and variance too while both hold their exact sums, i.e.
    before saving; otherwise up to float rounding)."""
    if list(a.columns) != list(b.columns):
        raise ProfileError(f"cannot merge profiles with different columns: {list(a.columns)} and {list(b.columns)}; "
                           f"profile the same columns in every part")
    if (a.sample_size, a.max_categories) != (b.sample_size, b.max_categories):
        raise ProfileError(f"cannot merge profiles built with different settings: sample_size {a.sample_size} vs "
                           f"{b.sample_size}, max_categories {a.max_categories} vs {b.max_categories}")
    columns = {}
    for name in a.columns:
        try:
            columns[name] = merge_columns(a.columns[name], b.columns[name], a.max_categories)
        except ValueError as exc:
            raise ProfileError(f"cannot merge profiles: {exc}. Read every part with the same dtypes, or list the "
                               f"column in categorical=[...]") from exc
    priority = np.concatenate([a.sample.priority, b.sample.priority])
    order = np.argsort(priority, kind="stable")[: a.sample_size]
    values = {}
    for name in a.columns:
        both = a.sample.values[name] + b.sample.values[name]
        values[name] = [both[i] for i in order]
    return Profile(a.n_rows + b.n_rows, columns, Sample(priority[order], values), a.sample_size, a.max_categories)


def _check_kinds(before: Profile, part: Profile) -> None:
    """A column that holds numbers in earlier rows and text in later ones (or the reverse) cannot be
    summarised as either; say which column, where and what (all-missing parts take the other's kind)."""
    for name, column in part.columns.items():
        earlier = before.columns.get(name)
        if earlier is None or earlier.kind == column.kind or not earlier.count or not column.count:
            continue
        text = column if column.kind == CATEGORICAL else earlier
        examples = ", ".join(repr(v) for v in text_examples(text))
        first, last = before.n_rows + 1, before.n_rows + part.n_rows
        raise ProfileError(f"column {name!r} holds {KIND_WORDS[earlier.kind]} in rows 1-{before.n_rows} but "
                           f"{KIND_WORDS[column.kind]} in rows {first}-{last} (e.g. {examples}); make the column one "
                           f"type (clean the values that are not numbers, or cast it), or list it in "
                           f"categorical=[...] to profile it as categories")


# --- one frame --------------------------------------------------------------------------------------

def _profile_frame(df: pd.DataFrame, *, columns, categorical, sample_size: int, max_categories: int) -> Profile:
    if not isinstance(df, pd.DataFrame):
        raise ProfileError(f"build_profile: expected a pandas DataFrame, got {type(df).__name__}")
    names = _names(df, columns)
    forced = _forced(categorical, names)
    series = []
    for name in names:
        column = df[name]
        if isinstance(column, pd.DataFrame):
            raise ProfileError(f"build_profile: the frame has more than one column named {name!r}; rename them")
        series.append(column)

    def work(column: pd.Series) -> tuple[ColumnProfile, np.ndarray | None, Any]:
        return _column(column, column.name in forced, sample_size, max_categories)

    if len(df) >= _PARALLEL_ROWS and len(names) > 1:  # numpy and pandas release the GIL in the heavy parts
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            results = list(pool.map(work, series))
    else:
        results = [work(column) for column in series]
    profiles = {name: result[0] for name, result in zip(names, results)}
    sample = _sample(names, results, sample_size, len(df))
    return Profile(len(df), profiles, sample, sample_size, max_categories)


def _column(series: pd.Series, forced: bool, sample_size: int, max_categories: int):
    """The column's profile, its row hashes (when sampling) and what to draw sample values from."""
    name, n_rows = series.name, len(series)
    if not forced and _is_numeric(series):
        values = _as_float(series)
        finite = np.isfinite(values)
        if finite.all():
            kept = values
        else:
            kept = values[finite]
            values = np.where(finite, values, np.nan)
        profile = numeric_column(name, str(series.dtype), kept, n_rows)
        return profile, _mix(values + 0.0) if sample_size else None, values  # + 0.0 turns -0.0 into 0.0
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0] if (codes < 0).any() else codes, minlength=len(uniques))
    texts = [str(value) for value in uniques]
    frequencies: dict[str, int] = {}
    for text, count in zip(texts, counts.tolist()):
        if count:
            frequencies[text] = frequencies.get(text, 0) + count
    missing = n_rows - int(counts.sum())
    profile = categorical_column(name, str(series.dtype), frequencies, missing, max_categories)
    if not sample_size:
        return profile, None, None
    table = np.array(texts + [None], dtype=object)
    hashes = pd.util.hash_array(table)[codes]  # code -1 (missing) picks the last entry: the hash of None
    return profile, hashes, (codes, table)


def _mix(values: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each float's bits (murmur3's finalizer): cheap, well mixed, platform independent."""
    h = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64) ^ np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def _sample(names: list[str], results: list, size: int, n_rows: int) -> Sample:
    if size == 0 or n_rows == 0:
        return Sample(np.zeros(0, dtype=np.uint64), {name: [] for name in names})
    priority = np.zeros(n_rows, dtype=np.uint64)
    for _, hashes, _ in results:
        priority *= np.uint64(1_000_003)
        priority ^= hashes
    if n_rows > size:
        chosen = np.argpartition(priority, size - 1)[:size]
    else:
        chosen = np.arange(n_rows)
    chosen = chosen[np.argsort(priority[chosen], kind="stable")]
    values = {}
    for name, (profile, _, source) in zip(names, results):
        if profile.kind == NUMERIC:
            values[name] = [None if np.isnan(v) else float(v) for v in source[chosen].tolist()]
        else:
            codes, table = source
            values[name] = table[codes[chosen]].tolist()
    return Sample(priority[chosen], values)


def _names(df: pd.DataFrame, columns) -> list[str]:
    available = list(df.columns)
    bad = [name for name in available if not isinstance(name, str)]
    if bad:
        raise ProfileError(f"build_profile: column names must be text, got {bad!r}; rename them, "
                           f"e.g. df.columns = df.columns.map(str)")
    if columns is None:
        return available
    names = [columns] if isinstance(columns, str) else list(columns)
    missing = [name for name in names if name not in available]
    if missing:
        raise ProfileError(f"build_profile: column(s) {missing} are not in the data; available: {available}")
    return names


def _forced(categorical, names: list[str]) -> set[str]:
    forced = {categorical} if isinstance(categorical, str) else set(categorical or ())
    unknown = sorted(forced - set(names))
    if unknown:
        raise ProfileError(f"build_profile: categorical=[...] names column(s) {unknown} that are not profiled; "
                           f"profiled columns: {names}")
    return forced


def _is_numeric(series: pd.Series) -> bool:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        stamps = series.to_numpy(dtype="datetime64[ns]")
        seconds = stamps.astype(np.int64) / 1e9
        return np.where(np.isnat(stamps), np.nan, seconds)
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _positive(name: str, value: Any, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        least = 0 if allow_zero else 1
        raise ProfileError(f"build_profile: {name} must be an integer >= {least}, got {value!r}")
    return int(value)
