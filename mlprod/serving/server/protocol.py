"""MLflow's scoring protocol on ``POST /invocations``: a request body to a DataFrame, results to the answer.

Accepted bodies (the formats of ``mlflow.pyfunc.scoring_server``):

- ``application/json`` with exactly one of
  ``{"dataframe_split": {"columns": [...], "data": [[...], ...], "index": [...]?}}``,
  ``{"dataframe_records": [{column: value, ...}, ...]}``,
  ``{"instances": [...]}`` / ``{"inputs": [...]}`` (a list of row objects, or an object of column -> list);
- ``text/csv`` with a header row.

The answer is ``{"predictions": [{score, decision, tier, fallback_reason, filled_features, needs_review,
model_version}, ...]}``, one object per input row, in order. A request that cannot be read is a
:class:`RequestError` (HTTP status, ``error_code``, message), answered as ``{"error_code", "message"}``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import Any

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)
BAD_REQUEST, TOO_LARGE, UNSUPPORTED = 400, 413, 415


class RequestError(Exception):
    """A request the server cannot read: answered with ``status`` and ``{"error_code", "message"}``."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"error_code": self.error_code, "message": self.message}).encode()


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str | None) -> Any:
    """The request's rows as a pandas DataFrame; a :class:`RequestError` for anything malformed."""
    kind = media_type(content_type)
    if kind not in JSON_TYPES + CSV_TYPES:
        raise RequestError(UNSUPPORTED, "UNSUPPORTED_MEDIA_TYPE",
                           f"Content-Type {content_type or '(none)'!r} is not supported; send application/json "
                           f"(one of {', '.join(FORMATS)}) or text/csv")
    if not body.strip():
        raise RequestError(BAD_REQUEST, "BAD_REQUEST", "the request body is empty; send the rows to score as "
                           f"JSON (one of {', '.join(FORMATS)}) or CSV with a header row")
    if kind in CSV_TYPES:
        return _from_csv(body)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(BAD_REQUEST, "MALFORMED_REQUEST", f"the body is not valid JSON: {exc}") from None
    return _from_json(data)


def _from_json(data: Any) -> Any:
    import pandas as pd

    if not isinstance(data, Mapping):
        raise RequestError(BAD_REQUEST, "MALFORMED_REQUEST", f"expected a JSON object with one of the keys "
                           f"{', '.join(FORMATS)}, got a JSON {type(data).__name__}")
    keys = [k for k in data if not (k == "params" and not data[k])]  # MLflow's params: none taken here
    given = [k for k in keys if k in FORMATS]
    unknown = [k for k in keys if k not in FORMATS]
    if len(given) != 1 or unknown:
        got = ", ".join(map(repr, keys)) or "no keys"
        raise RequestError(BAD_REQUEST, "BAD_REQUEST", f"expected exactly one of the keys {', '.join(FORMATS)} "
                           f"(MLflow's scoring protocol), got {got}")
    key = given[0]
    value = data[key]
    try:
        if key == "dataframe_split":
            return _split(value)
        if key == "dataframe_records":
            return _records(value, key)
        if isinstance(value, Mapping):  # instances/inputs as columns: {"age": [1, 2], ...}
            lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
            if -1 in lengths or len(lengths) > 1:
                raise RequestError(BAD_REQUEST, "MALFORMED_REQUEST", f"{key!r} as an object must map each column "
                                   "to a list of values, all lists of the same length")
            return pd.DataFrame(dict(value))
        return _records(value, key)
    except RequestError:
        raise
    except (TypeError, ValueError) as exc:
        raise RequestError(BAD_REQUEST, "MALFORMED_REQUEST", f"{key!r} could not be read as rows: {exc}") from None


def _split(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, Mapping) or not isinstance(value.get("columns"), list) \
            or not isinstance(value.get("data"), list) or set(value) - {"columns", "data", "index"}:
        raise RequestError(BAD_REQUEST, "MALFORMED_REQUEST", "'dataframe_split' must be an object "
                           '{"columns": [...], "data": [[...], ...]} (and optionally "index")')
    columns, rows = value["columns"], value["data"]
    width = len(columns)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise RequestError(BAD_REQUEST, "MALFORMED_REQUEST", f"'dataframe_split' data row {i} must be a list "
                               f"of {width} value(s), one per column, got {json.dumps(row)[:100]}")
    return pd.DataFrame(rows, columns=[str(c) for c in columns]) if rows else pd.DataFrame(columns=columns)


def _records(value: Any, key: str) -> Any:
    import pandas as pd

    if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
        raise RequestError(BAD_REQUEST, "MALFORMED_REQUEST", f"{key!r} must be a list of row objects "
                           '[{"column": value, ...}, ...]')
    return pd.DataFrame.from_records(value) if value else pd.DataFrame()


def _from_csv(body: bytes) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise RequestError(BAD_REQUEST, "MALFORMED_REQUEST", f"the CSV body could not be read: {exc}") from None


def predictions(result: Any) -> list[dict[str, Any]]:
    """The answer's rows (JSON-ready) for a :meth:`ResilientPredictor.predict` result, read by column."""
    cols = {c: result[c].tolist() for c in ("score", "decision", "tier", "fallback_reason", "filled_features",
                                            "needs_review", "model_version")}
    out = []
    for score, decision, tier, reason, filled, review, version in zip(*cols.values()):
        known = isinstance(score, float) and math.isfinite(score)
        out.append({"score": score if known else None,
                    "decision": int(decision) if known and decision is not None and decision == decision else None,
                    "tier": tier, "fallback_reason": reason if isinstance(reason, str) else None,
                    "filled_features": list(filled or ()), "needs_review": bool(review), "model_version": version})
    return out


def answer(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps({"predictions": rows}, allow_nan=False).encode()
