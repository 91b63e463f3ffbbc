"""A batch's prediction-log rows built column by column (:meth:`PredictionLogWriter.log_frame`).

Each column gets the value ``log_request`` gives its row (the rule is repeated here per column, as a comment), built
with numpy/pyarrow where the column's type allows it and with the per-value rule where it does not (object columns
of mixed types): the fast path is an optimisation, never a second meaning. tests/test_prediction_log.py checks
that both paths write the same segment bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .schema import arrow_schema


def frame_table(request_id: str, outputs: Any, *, model: Any, inputs: Any, key: str | None,
                log_features: Sequence[str], wanted: list[str], experiment: str | None, arm: str | None,
                logged_at: datetime, row_numbers: Sequence[int] | None):
    """The rows of one batch as an Arrow table with the prediction log's schema."""
    import numpy as np
    import pyarrow as pa

    from .writer import _missing, unit_id_text

    out = _Columns(outputs)
    n = out.n
    given = _Columns(inputs, wanted) if inputs is not None else None
    if given is not None and given.n != n:
        raise ValueError(f"request {request_id!r}: {given.n} input rows but {n} outputs")
    schema = arrow_schema()

    def same(value: Any, kind: Any):
        return pa.repeat(pa.scalar(value, kind), n)

    # row: i, or row_numbers[i] as int
    rows = np.arange(n, dtype=np.int64) if row_numbers is None else np.asarray([int(r) for r in row_numbers],
                                                                               dtype=np.int64)
    if len(rows) != n:
        raise ValueError(f"request {request_id!r}: {len(rows)} row numbers but {n} outputs")
    # unit_id: None if missing, else unit_id_text(value)
    units = given.get(key) if (given is not None and key) else None
    if units is None:
        unit_id = same(None, pa.string())
    elif _numeric(units) is not None and units.dtype.kind in "iu":
        unit_id = pa.array(_numeric(units)).cast(pa.string())
    else:
        unit_id = pa.array([None if _missing(v) else unit_id_text(v) for v in units.tolist()], pa.string())
    # model_version: str(out["model_version"] or model.version)
    versions = out.get("model_version")
    model_version = (same(str(model.version), pa.string()) if versions is None else
                     pa.array([str(v or model.version) for v in versions.tolist()], pa.string()))
    # features: JSON of the log_features values, only when inputs are given
    if given is None or not log_features:
        features = same(None, pa.string())
    else:
        features = pa.array(features_json(given, log_features, n), pa.string())
    tier = out.get("tier")
    if tier is None:
        raise KeyError("tier")  # as log_request: every output row has a tier
    columns = {
        "request_id": same(str(request_id), pa.string()),
        "row": pa.array(rows).cast(pa.int32()),
        "logged_at": same(logged_at, pa.timestamp("us", tz="UTC")),
        "unit_id": unit_id,
        "model_name": same(model.name, pa.string()),
        "model_version": model_version,
        "model_sha256": same(model.sha256, pa.string()),
        "score": _floats(out.get("score"), n),
        "decision": _ints(out.get("decision"), n, pa.int8()),
        "tier": _texts(tier, nullable=False),
        "fallback_reason": _texts(out.get("fallback_reason"), n=n),
        "filled_features": _lists(out.get("filled_features"), n),
        "needs_review": _bools(out.get("needs_review"), n),
        "experiment": same(experiment, pa.string()),
        "arm": same(arm, pa.string()),
        "features": features,
    }
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


class _Columns:
    """The columns of a DataFrame (each a Series) or of a sequence of mappings (each an object array); a missing
    column is None. ``.tolist()`` gives the values ``log_request`` sees."""

    def __init__(self, data: Any, names: list[str] | None = None):
        import numpy as np

        if hasattr(data, "columns") and hasattr(data, "__len__"):
            self.n = len(data)
            self.values = {str(c): data[c] for c in data.columns if names is None or c in names}
        else:
            records: list[Mapping[str, Any]] = list(data)
            self.n = len(records)
            keys = sorted({k for r in records for k in r}) if names is None else names
            self.values = {}
            for name in keys:
                column = np.empty(self.n, dtype=object)
                column[:] = [r.get(name) for r in records]
                self.values[name] = column

    def get(self, name: str):
        return self.values.get(name)


def features_json(given: _Columns, names: Sequence[str], n: int) -> list[str]:
    """Per row, the JSON object of ``names``' values, byte for byte what ``log_request`` writes (sorted keys,
    non-finite and missing values as null), built a column at a time: each column's values turned to JSON text
    (numbers and booleans with numpy, a text column once per distinct value), then one format per row."""
    ordered = sorted(set(names))
    template = "{" + ", ".join(json.dumps(name, ensure_ascii=False).replace("%", "%%") + ": %s"
                               for name in ordered) + "}"
    return list(map(template.__mod__, zip(*(_json_values(given.get(name), n) for name in ordered))))


def _json_values(values: Any, n: int):
    """An object array of each value's JSON text."""
    import numpy as np
    import pandas as pd

    from .writer import _plain

    if values is None:
        return np.full(n, "null", dtype=object)
    plain = _numeric(values)
    if plain is not None and plain.dtype.kind in "iu":
        return plain.astype(str).astype(object)
    if plain is not None and plain.dtype.kind == "b":
        return np.where(plain, "true", "false").astype(object)
    if plain is not None:  # floats: repr is what json writes; NaN and infinities are null
        out = np.full(n, "null", dtype=object)
        finite = np.isfinite(plain)
        out[finite] = list(map(float.__repr__, plain[finite].tolist()))
        return out
    if pd.api.types.infer_dtype(values, skipna=True) == "string":  # texts (and missing): encode each distinct one
        codes, distinct = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
        texts = np.array([json.dumps(v, ensure_ascii=False) for v in distinct] + ["null"], dtype=object)
        return texts[codes]  # code -1 (missing) picks the trailing null
    out = np.empty(n, dtype=object)
    out[:] = [json.dumps(_plain(v), ensure_ascii=False, allow_nan=False) for v in values.tolist()]
    return out


def _numeric(values: Any):
    """``values`` as a numpy array when it holds plain numpy numbers or booleans (no pandas NA), else None."""
    import numpy as np

    if not isinstance(values.dtype, np.dtype) or values.dtype.kind not in "fiub":
        return None
    return np.asarray(values)


def _floats(values: Any, n: int):
    """None if missing, else float(value)."""
    import numpy as np
    import pyarrow as pa

    if values is None:
        return pa.nulls(n, pa.float64())
    if _numeric(values) is not None:
        floats = _numeric(values).astype(np.float64)
        return pa.array(floats, pa.float64(), mask=np.isnan(floats))
    from .writer import _missing

    return pa.array([None if _missing(v) else float(v) for v in values.tolist()], pa.float64())


def _ints(values: Any, n: int, kind: Any):
    """None if missing, else int(value) (the cast to int8 is checked: no silent wrap-around)."""
    import numpy as np
    import pyarrow as pa

    if values is None:
        return pa.nulls(n, kind)
    numbers = _numeric(values)
    if numbers is not None and numbers.dtype.kind in "iub":
        return pa.array(numbers.astype(np.int64)).cast(kind)
    if numbers is not None and not np.isinf(numbers).any():  # floats; int(inf) raises, so inf takes the rule below
        missing = np.isnan(numbers)
        return pa.array(np.where(missing, 0, numbers).astype(np.int64), mask=missing).cast(kind)
    from .writer import _missing

    return pa.array([None if _missing(v) else int(v) for v in values.tolist()], pa.int64()).cast(kind)


def _texts(values: Any, *, nullable: bool = True, n: int = 0):
    """Nullable: None if missing, else str(value); not nullable: str(value)."""
    import pandas as pd
    import pyarrow as pa

    if values is None:
        return pa.nulls(n, pa.string())
    if _numeric(values) is None and pd.api.types.infer_dtype(values, skipna=nullable) in ("string", "empty"):
        # str values as they are; None/NaN: null (categorical and pandas string columns read as objects)
        return pa.array(values.to_numpy(dtype=object) if hasattr(values, "to_numpy") else values, pa.string(),
                        from_pandas=nullable)
    if nullable:
        from .writer import _missing

        return pa.array([None if _missing(v) else str(v) for v in values.tolist()], pa.string())
    return pa.array([str(v) for v in values.tolist()], pa.string())


def _lists(values: Any, n: int):
    """[str(f) for f in (value or ())]; equal values share one converted list."""
    import pyarrow as pa

    kind = pa.list_(pa.string())
    if values is None:
        return pa.array([[]] * n, kind)
    seen: dict[Any, list[str]] = {}
    out = []
    for v in values.tolist():
        try:
            converted = seen.get(v)
        except TypeError:  # unhashable (a list)
            converted = None
        if converted is None:
            converted = [str(f) for f in (v or ())]
            try:
                seen[v] = converted
            except TypeError:
                pass
        out.append(converted)
    return pa.array(out, kind)


def _bools(values: Any, n: int):
    """bool(value) (a missing column: False)."""
    import numpy as np
    import pyarrow as pa

    if values is None:
        return pa.array(np.zeros(n, dtype=bool))
    if _numeric(values) is not None and values.dtype.kind == "b":
        return pa.array(_numeric(values))
    return pa.array([bool(v) for v in values.tolist()], pa.bool_())
