"""Whether a column holds its declared type (``int``, ``float``, ``bool``, ``str``, ``datetime``), the way
pandas reads such a column from CSV or Parquet, and the dtype pandera is told to expect for each type."""

from __future__ import annotations

CANONICAL_DTYPES = {"int": "int64", "float": "float64", "bool": "bool", "str": "str", "datetime": "datetime64[ns]"}


def dtype_matches(kind: str, series) -> bool:
    """Whether ``series`` holds the declared column type (any int width for int, and whole-number floats
    with missing values, which is how pandas reads integers with gaps; ints or floats for float ...)."""
    import numpy as np
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):  # a categorical column holds what its categories hold
        series = pd.Series(series.cat.categories)
    dtype = series.dtype
    api = pd.api.types
    if api.is_object_dtype(dtype):  # Python objects (bools with None stay object): what the values are
        return api.infer_dtype(series, skipna=True) in _OBJECT_KINDS[kind] + ("empty",)
    if kind == "bool":
        return api.is_bool_dtype(dtype)
    if kind == "int":
        if api.is_float_dtype(dtype):  # integers with gaps: pandas reads them as floats with NaN
            values = series.to_numpy(dtype="float64", na_value=float("nan"))
            missing = np.isnan(values)
            present = values[~missing]
            return bool(missing.any() and np.all(np.isfinite(present) & (present == np.round(present))))
        return api.is_integer_dtype(dtype) and not api.is_bool_dtype(dtype)
    if kind == "float":
        return api.is_numeric_dtype(dtype) and not api.is_bool_dtype(dtype)
    if kind == "datetime":
        return api.is_datetime64_any_dtype(dtype)
    if kind == "str":
        return api.is_string_dtype(dtype)
    return False


_OBJECT_KINDS = {"bool": ("boolean",), "int": ("integer",), "float": ("floating", "integer", "mixed-integer-float"),
                 "datetime": ("datetime", "datetime64"), "str": ("string",)}
