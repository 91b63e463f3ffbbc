"""Reading and writing tables (CSV, Parquet) with clear errors and deterministic, atomic writes."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pandas as pd

from mlprod.atomic import write_bytes
from mlprod.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: str | Path, *, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension), optionally only ``columns`` in that order.

    Raises :class:`DataError` naming the file if it is missing, empty (no columns or no rows),
    unreadable, has duplicated column names or lacks any of the requested columns.
    """
    requested = check_table(path, columns=columns)
    path = Path(path)
    suffix = _suffix(path)
    try:
        if suffix in _PARQUET_SUFFIXES:
            frame = pd.read_parquet(path, engine="pyarrow", columns=requested)
        else:
            frame = pd.read_csv(path, usecols=requested, index_col=False)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _unreadable(path, exc) from exc
    if requested is not None:
        frame = frame[requested]
    if len(frame) == 0:
        raise DataError(
            f"Data file {str(path)!r} has columns {list(frame.columns)} but no rows. "
            f"Check that the step that wrote it produced data."
        )
    return frame


def check_table(path: str | Path, *, columns: list[str] | None = None) -> list[str] | None:
    """The checks :func:`read_table` makes before reading (the file exists, is not empty, has unique column
    names and the requested ones); returns the requested columns."""
    path = Path(path)
    suffix = _suffix(path)
    if not path.exists():
        raise DataError(
            f"Data file {str(path)!r} does not exist. Check the path (relative paths start at {Path.cwd()})."
        )
    if not path.is_file():
        raise DataError(f"Data path {str(path)!r} is a folder, expected a {suffix} file. Point it at a single file.")
    if path.stat().st_size == 0:
        raise DataError(f"Data file {str(path)!r} is empty (0 bytes), expected a table with a header and rows.")
    requested = _check_requested(path, columns)

    if suffix in _PARQUET_SUFFIXES:
        available = _parquet_columns(path)
    else:
        available = _csv_columns(path)
    _check_unique(path, available)
    _check_columns(path, available, requested)
    return requested


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to ``path`` as Parquet or CSV (by extension), atomically and without the index.

    The same frame always gives the same bytes (with the same pandas and pyarrow versions).
    """
    path = Path(path)
    suffix = _suffix(path)
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"Cannot write {str(path)!r}: expected a pandas DataFrame, got {type(df).__name__}.")
    names = list(df.columns)
    bad = [name for name in names if not isinstance(name, str)]
    if bad:
        raise DataError(
            f"Cannot write {str(path)!r}: column names must be strings, got {bad!r}. "
            f"Rename them, e.g. df.columns = df.columns.map(str)."
        )
    _check_unique(path, names)
    if suffix in _PARQUET_SUFFIXES:
        data = _parquet_bytes(df)
    else:
        data = df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return write_bytes(path, data)


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"Data file {str(path)!r} has the unsupported extension {path.suffix or '(none)'!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}. Convert the file or rename it to one of these."
        )
    return suffix


def _check_requested(path: Path, columns: list[str] | None) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [columns]
    requested = list(columns)
    if not requested:
        raise DataError(f"Reading {str(path)!r}: columns=[] asks for no columns; pass None to read them all.")
    twice = sorted(name for name, count in Counter(requested).items() if count > 1)
    if twice:
        raise DataError(f"Reading {str(path)!r}: columns {twice} are requested more than once; list each once.")
    return requested


def _check_unique(path: Path, names: list) -> None:
    twice = sorted({str(name) for name, count in Counter(names).items() if count > 1})
    if twice:
        raise DataError(
            f"Data file {str(path)!r} has duplicated column names {twice}; each column name must be unique. "
            f"Rename the duplicates."
        )


def _check_columns(path: Path, available: list[str], requested: list[str] | None) -> None:
    if requested is None:
        return
    missing = [name for name in requested if name not in available]
    if missing:
        raise DataError(
            f"Data file {str(path)!r} lacks the requested column(s) {missing}; "
            f"available columns: {available}. Fix the column names in the request or in the file."
        )


def _csv_columns(path: Path) -> list[str]:
    """The column names pandas will use; raises on duplicated names in the raw header row."""
    try:
        raw = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, index_col=False)
        names = pd.read_csv(path, nrows=0, index_col=False).columns
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"Data file {str(path)!r} has no columns (only blank lines), expected a CSV header and rows."
        ) from exc
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _unreadable(path, exc) from exc
    # pandas renames duplicates to 'a.1'; check the header as written (blank names become 'Unnamed: i').
    _check_unique(path, [name for name in raw.iloc[0].tolist() if name != ""])
    return [str(name) for name in names]


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        schema = pq.ParquetFile(path).schema_arrow
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for a damaged file
        raise _unreadable(path, exc) from exc
    index_columns = set()
    metadata = schema.pandas_metadata or {}
    for entry in metadata.get("index_columns", []):
        if isinstance(entry, str):
            index_columns.add(entry)
    return [name for name in schema.names if name not in index_columns]


def _unreadable(path: Path, exc: BaseException) -> DataError:
    kind = "Parquet" if path.suffix.lower() in _PARQUET_SUFFIXES else "CSV (UTF-8, comma-separated)"
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(
        f"Data file {str(path)!r} could not be read as {kind}: {reason}. "
        f"Check that the file is complete and really is {kind}; re-export it if needed."
    )
