"""Checks on the rows drift detection reads (current batches, the baseline) before they are scored and
profiled, so bad data ends in one message that names the file, the column and the row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import DriftError
from ..profile.build import Profile, _is_numeric
from ..profile.columns import CATEGORICAL, NUMERIC
from .importance import score

MAX_EXAMPLES = 3


def checked_types(frame: pd.DataFrame, reference: Profile, columns: list[str], source: str,
                  first_row: int = 0) -> pd.DataFrame:
    """``frame`` with the types of ``columns`` (those compared or scored) checked against the reference.

    A column that is numeric in the reference but holds values that are not numbers here is an error
    naming the column, the rows (counted from 1 in file order; ``first_row`` rows came before this
    frame) and the values. A column without any value here has no type of its own: when the
    reference holds categories it becomes an object column, so models and profiles treat it as
    missing categories rather than as numbers.
    """
    changed: dict[str, pd.Series] = {}
    for name in columns:
        ref = reference.columns.get(name)
        if ref is None or not ref.count or name not in frame.columns or ref.dtype.startswith("datetime"):
            continue  # datetimes stored as text are reported when the profiles are compared
        series = frame[name]
        if isinstance(series, pd.DataFrame):
            continue  # duplicate names: the profile reports them
        numeric = _is_numeric(series)
        if ref.kind == NUMERIC and not numeric and not pd.api.types.is_bool_dtype(series.dtype):
            _no_text(series, name, source, first_row)
        elif ref.kind == CATEGORICAL and numeric and len(series) and series.isna().all():
            changed[name] = series.astype(object)
    return frame.assign(**changed) if changed else frame


def _no_text(series: pd.Series, name: str, source: str, first_row: int) -> None:
    present = series.notna().to_numpy()
    values = series.to_numpy(dtype=object)
    parsed = pd.to_numeric(pd.Series(values[present], dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    bad_positions = np.flatnonzero(present)[np.isnan(parsed)]
    if not bad_positions.size:
        return
    shown = ", ".join(f"row {first_row + i + 1}: {values[i]!r}" for i in bad_positions[:MAX_EXAMPLES])
    more = f" and {bad_positions.size - MAX_EXAMPLES} more" if bad_positions.size > MAX_EXAMPLES else ""
    raise DriftError(f"{source}: column {name!r} holds numbers in the reference but values that are not numbers "
                     f"here ({shown}{more}); fix or remove those values (or make them empty, i.e. missing) "
                     f"and run again")


def scored(model: Any, frame: pd.DataFrame, prediction: str, source: str, first_row: int = 0) -> pd.DataFrame:
    """``frame`` with the model's positive-class probability in ``prediction`` (nothing to score: empty)."""
    frame = frame.copy()
    if not len(frame):
        frame[prediction] = np.zeros(0, dtype=np.float64)
        return frame
    try:
        frame[prediction] = score(model, frame)
    except DriftError as exc:
        raise DriftError(f"{source}: {exc}") from exc
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DriftError(f"{source}: the model could not score rows {first_row + 1}-{first_row + len(frame)} "
                         f"({type(exc).__name__}: {first}); check that the columns the model uses hold the "
                         f"types it was trained on") from exc
    return frame
