"""The profile file format (versioned JSON) and profiling data files in chunks with bounded memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import atomic
from ..errors import DataError, ProfileError
from . import grid as g
from .build import (
    DEFAULT_MAX_CATEGORIES,
    DEFAULT_SAMPLE_SIZE,
    Profile,
    ProfileBuilder,
    Sample,
)
from .columns import column_from_dict, column_to_dict

SCHEMA_VERSION = 1
FORMAT = "mlprod-profile"
DEFAULT_BATCH_ROWS = 100_000
_TOP_KEYS = {"schema_version", "format", "n_rows", "settings", "columns", "sample"}
_SETTINGS = {"sample_size", "max_categories", "log_alpha", "log_min", "linear_max_buckets"}

Progress = Callable[[int, "int | None"], None]


def _settings(profile: Profile) -> dict[str, Any]:
    return {"sample_size": profile.sample_size, "max_categories": profile.max_categories,
            "log_alpha": g.LOG_ALPHA, "log_min": g.LOG_MIN, "linear_max_buckets": g.LINEAR_MAX_BUCKETS}


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "format": FORMAT,
        "n_rows": profile.n_rows,
        "settings": _settings(profile),
        "columns": [column_to_dict(column) for column in profile.columns.values()],
        "sample": {"priority": [f"{int(p):016x}" for p in profile.sample.priority],
                   "values": {name: list(values) for name, values in profile.sample.values.items()}},
    }


def save_profile(profile: Profile, path: str | Path) -> Path:
    return atomic.write_json(path, profile_to_dict(profile))


def read_profile(path: str | Path) -> Profile:
    """Read a profile file written by :meth:`Profile.save`; anything unexpected is a :class:`ProfileError`."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProfileError(f"profile file {str(path)!r} does not exist; build one with build_profile(...).save(path) "
                           f"or `mlprod drift` with a data file") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ProfileError(f"profile file {str(path)!r} is not readable JSON ({exc}); rebuild it") from exc
    try:
        return profile_from_dict(data)
    except ValueError as exc:
        raise ProfileError(f"profile file {str(path)!r}: {exc}") from exc


def profile_from_dict(data: Any) -> Profile:
    """Check and parse the JSON form; raises ``ValueError`` saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"schema_version {version!r} is not supported (this mlprod reads {SCHEMA_VERSION}); "
                         f"rebuild the profile with this version of mlprod")
    if data.get("format") != FORMAT:
        raise ValueError(f"'format' must be {FORMAT!r}, got {data.get('format')!r}; is this a profile file?")
    _keys(data, _TOP_KEYS, "the file")
    settings = data["settings"]
    if not isinstance(settings, dict):
        raise ValueError("'settings' must be an object")
    _keys(settings, _SETTINGS, "settings")
    expected = {"log_alpha": g.LOG_ALPHA, "log_min": g.LOG_MIN, "linear_max_buckets": g.LINEAR_MAX_BUCKETS}
    for key, value in expected.items():
        if settings[key] != value:
            raise ValueError(f"settings.{key} is {settings[key]!r} but this mlprod uses {value!r}; "
                             f"rebuild the profile with this version of mlprod")
    n_rows = data["n_rows"]
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 0:
        raise ValueError(f"'n_rows' must be a non-negative integer, got {n_rows!r}")
    if not isinstance(data["columns"], list):
        raise ValueError("'columns' must be a list of column objects")
    columns = {}
    for index, entry in enumerate(data["columns"]):
        column = column_from_dict(entry, f"columns[{index}]")
        if column.name in columns:
            raise ValueError(f"columns[{index}]: column {column.name!r} appears twice")
        if column.rows != n_rows:
            raise ValueError(f"columns[{index}] ({column.name!r}): count + missing = {column.rows}, "
                             f"expected n_rows {n_rows}")
        columns[column.name] = column
    sample = _sample(data["sample"], list(columns), settings["sample_size"])
    return Profile(n_rows, columns, sample, settings["sample_size"], settings["max_categories"])


def _sample(data: Any, names: list[str], size: Any) -> Sample:
    if not isinstance(data, dict):
        raise ValueError("'sample' must be an object with 'priority' and 'values'")
    _keys(data, {"priority", "values"}, "sample")
    priority, values = data["priority"], data["values"]
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= len(priority) <= size:
        raise ValueError(f"sample: {len(priority)} rows but settings.sample_size is {size!r}")
    try:
        parsed = np.array([int(p, 16) for p in priority], dtype=np.uint64)
    except (TypeError, ValueError) as exc:
        raise ValueError("sample.priority must be a list of 16-digit hexadecimal texts") from exc
    if not isinstance(values, dict) or sorted(values) != sorted(names):
        raise ValueError(f"sample.values must have one list per column {sorted(names)}")
    for name, column in values.items():
        if not isinstance(column, list) or len(column) != len(priority):
            raise ValueError(f"sample.values[{name!r}] must be a list of {len(priority)} values")
        if not all(v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in column):
            raise ValueError(f"sample.values[{name!r}] may only hold numbers, text and null")
    return Sample(parsed, {name: list(values[name]) for name in names})


def _keys(data: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    absent = sorted(allowed - set(data))
    if absent:
        raise ValueError(f"{where}: missing key(s) {absent}")


# --- data files in chunks --------------------------------------------------------------------------

def iter_batches(path: str | Path, *, columns: Iterable[str] | None = None,
                 batch_rows: int = DEFAULT_BATCH_ROWS) -> tuple[Iterator[pd.DataFrame], int | None]:
    """Batches of at most ``batch_rows`` rows of a CSV or Parquet file, or of a partitioned Parquet dataset
    (a folder or a glob; :mod:`mlprod.data.partitions`), and the total rows if known."""
    from ..data.partitions import dataset_batches, is_dataset

    if is_dataset(path):
        batches = dataset_batches(path, columns=columns, batch_rows=batch_rows)
        return iter(batches), batches.rows
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"Data file {str(path)!r} has the unsupported extension {path.suffix or '(none)'!r}; "
                        f"supported: .csv, .parquet, .pq (or a profile .json where a profile is accepted)")
    if not path.is_file():
        raise DataError(f"Data file {str(path)!r} does not exist or is not a file. Check the path "
                        f"(relative paths start at {Path.cwd()}).")
    names = None if columns is None else list(columns)
    if suffix == ".csv":
        try:
            if names is not None:
                _check_csv_columns(path, names)
            reader = pd.read_csv(path, chunksize=batch_rows, usecols=names, index_col=False)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"Data file {str(path)!r} could not be read as CSV: {exc}") from exc
        return _checked(reader, path), None
    from ..data.stream import parquet_batches

    batches = parquet_batches(path, columns=names, batch_rows=batch_rows)  # bounded memory, see there
    return iter(batches), batches.rows


def _check_csv_columns(path: Path, names: list[str]) -> None:
    available = [str(c) for c in pd.read_csv(path, nrows=0, index_col=False).columns]
    absent = [name for name in names if name not in available]
    if absent:
        raise DataError(f"Data file {str(path)!r} lacks column(s) {absent}; available: {available}")


def _checked(frames: Iterator[pd.DataFrame], path: Path) -> Iterator[pd.DataFrame]:
    try:
        yield from frames
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"Data file {str(path)!r} could not be read to the end: {exc}") from exc


def profile_file(path: str | Path, *, columns: Iterable[str] | None = None, categorical: Iterable[str] = (),
                 sample_size: int = DEFAULT_SAMPLE_SIZE, max_categories: int = DEFAULT_MAX_CATEGORIES,
                 batch_rows: int = DEFAULT_BATCH_ROWS, progress: Progress | None = None,
                 transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None, dask: Any = None) -> Profile:
    """Profile a CSV or Parquet file, or a partitioned Parquet dataset (folder or glob), ``batch_rows`` rows at
    a time; memory stays bounded by one batch.

    ``transform`` is applied to each batch before profiling (e.g. to add model scores);
    ``progress(rows_done, total_rows_or_None)`` is called after each batch.
    ``dask``: a Dask scheduler address or ``distributed.Client``: each partition is profiled on a worker and
    the profiles are tree-reduced there (:mod:`mlprod.scale`); the same profile as without.
    """
    if dask is not None:
        from ..scale.profile import profile_dataset

        return profile_dataset(path, dask, columns=columns, categorical=categorical, sample_size=sample_size,
                               max_categories=max_categories, batch_rows=batch_rows, transform=transform)
    builder = ProfileBuilder(columns=None if transform else columns, categorical=categorical,
                             sample_size=sample_size, max_categories=max_categories)
    batches, total = iter_batches(path, columns=columns, batch_rows=batch_rows)
    done = 0
    for batch in batches:
        if transform is not None:
            batch = transform(batch)
        try:
            builder.partial_fit(batch)
        except ProfileError as exc:
            raise DataError(f"Data file {str(path)!r}: {exc}") from exc
        done += len(batch)
        if progress is not None:
            progress(done, total)
    if done == 0:  # no batch at all, or a header without rows
        raise DataError(f"Data file {str(path)!r} has no rows; nothing to profile")
    return builder.profile_

