"""Checks that a table has the columns params.yaml names, with messages that say which key to change.

A notebook that reads ``frame[target]`` fails with a bare ``KeyError: 'converted'`` when the column is
not there; :func:`require_columns` fails first, naming the file, the missing column, the params.yaml key
that named it and the columns the file has::

    data/prepared/train.parquet: no column 'converted' (project.target in params.yaml); columns: ...
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import DataError

MAX_LISTED = 40  # columns listed in a message; the rest are counted


def require_columns(table: Any, required: Mapping[str, str | Iterable[str] | None], *,
                    source: str | Path | None = None) -> None:
    """Raise :class:`DataError` unless every column in ``required`` is in ``table``.

    ``table`` is a DataFrame, a list of column names, or the path of a CSV/Parquet file (only its header
    is read). ``required`` maps the params.yaml key that names a column (``"project.target"``; see
    :func:`mlprod.params_key`) to that column or a list of columns; ``None`` values are skipped.
    ``source`` names the table in the message (default: the path). All missing columns are listed in one error.
    """
    if isinstance(table, (str, Path)):
        source = source if source is not None else table
        available = table_columns(table)
    else:
        available = [str(c) for c in (table.columns if hasattr(table, "columns") else table)]
    where = str(source) if source is not None else "table"
    present = set(available)
    missing = [(key, column) for key, columns in required.items() for column in _as_list(columns)
               if column not in present]
    if not missing:
        return
    listing = describe_columns(available)
    if len(missing) == 1:
        key, column = missing[0]
        raise DataError(f"{where}: no column {column!r} ({key} in params.yaml){_hint(column, available)}; "
                        f"columns: {listing}. Set {key} to one of these columns (or fix the file).")
    lines = [f"  - no column {column!r} ({key}){_hint(column, available)}" for key, column in missing]
    keys = ", ".join(dict.fromkeys(key for key, _ in missing))
    raise DataError(f"{where}: {len(missing)} columns named in params.yaml are missing:\n" + "\n".join(lines)
                    + f"\ncolumns: {listing}\nSet {keys} in params.yaml to columns of the file (or fix the file).")


def require_numeric(frame: Any, required: Mapping[str, Iterable[str] | None], *, source: str | Path) -> None:
    """Raise :class:`DataError` when a column listed under a key (``project.numeric_features``) is not numeric.

    Numbers and booleans pass; text, dates and mixed columns fail with example values and the fix.
    """
    import pandas as pd

    problems = []
    for key, columns in required.items():
        for column in _as_list(columns):
            series = frame[column]
            if pd.api.types.is_bool_dtype(series) or (pd.api.types.is_numeric_dtype(series)
                                                       and not pd.api.types.is_complex_dtype(series)):
                continue
            examples = ", ".join(repr(v) for v in pd.unique(series.dropna())[:3].tolist())
            kind = "dates" if pd.api.types.is_datetime64_any_dtype(series) else "values that are not numbers"
            problems.append(f"column {column!r} in {key} holds {kind} ({examples or 'no values'})")
    if not problems:
        return
    raise DataError(f"{source}: " + "; ".join(problems) + ". A numeric feature must hold numbers: move the "
                    "column to project.categorical_features (or leave it out), or convert its values in the data.")


def table_columns(path: str | Path) -> list[str]:
    """The column names of a CSV or Parquet file, from its header (checked as :func:`read_table` checks it), or
    of a partitioned Parquet dataset (a folder or a glob; every partition's footer, which must agree)."""
    from .io import _csv_columns, _parquet_columns, check_table
    from .partitions import is_dataset, open_dataset

    if is_dataset(path):
        dataset = open_dataset(path)
        return _parquet_columns(dataset.partitions[0].path)
    check_table(path)
    path = Path(path)
    return _parquet_columns(path) if path.suffix.lower() in (".parquet", ".pq") else _csv_columns(path)


def describe_columns(columns: list[str]) -> str:
    """``a, b, c`` (at most :data:`MAX_LISTED`, then how many more)."""
    shown = ", ".join(columns[:MAX_LISTED]) or "none"
    more = len(columns) - MAX_LISTED
    return f"{shown} … and {more} more" if more > 0 else shown


def _as_list(columns: str | Iterable[str] | None) -> list[str]:
    if columns is None:
        return []
    return [columns] if isinstance(columns, str) else list(columns)


def _hint(column: str, available: list[str]) -> str:
    close = difflib.get_close_matches(column, available, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in available}
        close = [lowered[column.lower()]] if column.lower() in lowered else []
    return f"; did you mean {close[0]!r}?" if close else ""
