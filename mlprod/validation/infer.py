"""``mlprod schema infer``: draft a schema file from (training) data, for a person to review.

What is proposed, and why (the observed facts go into a comment beside each column):

* ``type`` from the dtype (text columns of a CSV holding only ISO dates become ``datetime``);
* ``nullable: true`` only where values are missing; ``allow_inf: true`` only where infinities occur;
* ``unique: true`` (and ``statistics: false``) for int/text columns whose values are all distinct: ids;
* ``categories`` for text columns with few distinct values (at most ``max_categories``, each seen at
  least twice on average) and for int columns with at most two values (flags, 0/1 targets);
* bounds only where they hold by nature of the observed values: ``min: 0`` for non-negative numbers,
  ``max: 1`` for shares in [0, 1], ``[-1, 1]`` for values in that band. Observed extremes are *not*
  proposed as bounds, since the next batch legitimately exceeds them; tighten them while reviewing.
* the statistical thresholds and the policy are written out with their default values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlprod.errors import DataError

from .spec import ColumnSpec, Schema, TableSpec, default_statistics

MAX_CATEGORIES = 50


def infer_schema(frame, *, max_categories: int = MAX_CATEGORIES) -> Schema:
    """A draft :class:`Schema` for ``frame`` (see the module docstring for the choices)."""
    return _infer(frame, max_categories)[0]


def infer_with_notes(frame, *, max_categories: int = MAX_CATEGORIES) -> tuple[Schema, dict[str, str]]:
    """The draft and, per column, the observed facts written beside it (for :func:`schema_to_yaml`'s notes)."""
    return _infer(frame, max_categories)


def draft_schema_yaml(frame, *, source: str = "the data", max_categories: int = MAX_CATEGORIES) -> str:
    """The draft as YAML text, with the observed facts as comments for the reviewer."""
    from .schema_yaml import schema_to_yaml

    schema, notes = _infer(frame, max_categories)
    header = (f"Data contract drafted by `mlprod schema infer` from {source} ({len(frame):,} rows).\n"
              "REVIEW before use: tighten bounds (observed values are in the comments), check categories,\n"
              "add business rules. `mlprod validate DATA --schema FILE` checks data against this file.")
    return schema_to_yaml(schema, header=header, notes=notes)


def infer_file(path: str | Path, *, max_categories: int = MAX_CATEGORIES) -> str:
    """Read a CSV/Parquet file and draft its schema as YAML text."""
    from mlprod.data.io import read_table

    frame = _parse_csv(read_table(path)) if Path(path).suffix.lower() == ".csv" else read_table(path)
    return draft_schema_yaml(frame, source=str(path), max_categories=max_categories)


def _infer(frame, max_categories: int) -> tuple[Schema, dict[str, str]]:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"schema infer: expected a pandas DataFrame, got {type(frame).__name__}")
    names = [str(c) for c in frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"schema infer: duplicated column names {twice}; rename them first")
    if len(frame) == 0:
        raise DataError("schema infer: the data has no rows; infer the schema from representative data")
    columns, notes = [], {}
    for name in frame.columns:
        column, note = _column(str(name), frame[name], max_categories)
        columns.append(column)
        notes[column.name] = note
    schema = Schema(columns=tuple(columns), table=TableSpec(min_rows=1, extra_columns="error"),
                    statistics=default_statistics())
    return schema, notes


def _column(name: str, series, max_categories: int) -> tuple[ColumnSpec, str]:
    import pandas as pd

    kind = _kind(series)
    present = series.dropna()
    missing = len(series) - len(present)
    facts = [f"{missing / len(series):.1%} missing" if missing else "no missing values"]
    spec: dict[str, Any] = {"name": name, "type": kind, "nullable": bool(missing)}
    if kind in ("int", "float"):
        values = present.to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        if kind == "float" and finite.size < values.size:
            spec["allow_inf"] = True
            facts.append(f"{values.size - finite.size} infinite")
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
            facts.insert(0, f"observed {_num(low)} .. {_num(high)}")
            spec.update(_bounds(kind, low, high))
    elif kind == "datetime":
        if len(present):
            facts.insert(0, f"observed {_day(present.min())} .. {_day(present.max())}")
    distinct = int(present.nunique())
    facts.append(f"{distinct:,} distinct")
    if kind in ("int", "str") and distinct == len(series) and len(series) > 1:
        spec.update(unique=True, statistics=False)
        facts.append("all distinct: an id?")
    elif kind == "str" and 0 < distinct <= max_categories and distinct * 2 <= len(present):
        spec["categories"] = tuple(sorted(str(v) for v in present.unique()))
    elif kind == "int" and 0 < distinct <= 2:
        spec["categories"] = tuple(sorted(int(v) for v in present.unique()))
        spec.pop("min", None)
        spec.pop("max", None)
    if kind == "str" and pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        facts.append(f"MIXED value types ({pd.api.types.infer_dtype(series, skipna=True)}): check the source")
    return ColumnSpec(**spec), ", ".join(facts)


def _kind(series) -> str:
    import pandas as pd

    api = pd.api.types
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if api.is_bool_dtype(dtype):
        return "bool"
    if api.is_integer_dtype(dtype):
        return "int"
    if api.is_float_dtype(dtype):
        return "float"
    if api.is_datetime64_any_dtype(dtype):
        return "datetime"
    inferred = api.infer_dtype(series, skipna=True)
    return {"integer": "int", "floating": "float", "mixed-integer-float": "float", "boolean": "bool",
            "datetime64": "datetime", "datetime": "datetime"}.get(inferred, "str")


def _bounds(kind: str, low: float, high: float) -> dict[str, Any]:
    cast = int if kind == "int" else float
    if -1 <= low and high <= 1 and low < 0:
        return {"min": cast(-1), "max": cast(1)}
    if low >= 0:
        return {"min": cast(0), "max": cast(1)} if high <= 1 and kind == "float" else {"min": cast(0)}
    return {}


def _parse_csv(frame):
    """CSV has no types: text columns holding only ISO dates become datetimes, and float columns holding
    only whole numbers and gaps (read_csv's form of an int column with missing values) become ints."""
    import pandas as pd

    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_float_dtype(series.dtype) and series.isna().any():
            whole = series.dropna()
            if len(whole) and (whole == whole.round()).all() and whole.abs().max() < 2**53:
                frame[name] = series.astype("Int64")
            continue
        if not (pd.api.types.is_string_dtype(series.dtype) or pd.api.types.is_object_dtype(series.dtype)):
            continue
        present = series.dropna()
        if present.empty or not present.astype(str).str.match(r"^\d{4}-\d{2}-\d{2}").all():
            continue
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
        if not (parsed.isna() & series.notna()).any():
            frame[name] = parsed
    return frame


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:.6g}"


def _day(value) -> str:
    import pandas as pd

    stamp = pd.Timestamp(value)
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
