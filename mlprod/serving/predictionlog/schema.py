"""The prediction log's file format: columns in a fixed order, their Arrow types, the schema version, and
where a segment goes (``<dir>/<YYYY-MM-DD>/<host>-<pid>-<start stamp>-<seq>.parquet``)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = "prediction_log"
SCHEMA_VERSION = 1
META_SCHEMA = b"mlprod.schema"
META_VERSION = b"mlprod.schema_version"
DAY_FORMAT = "%Y-%m-%d"
DAY_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SEGMENT_SUFFIX = ".parquet"

#: column -> (Arrow type name, nullable); the order is the file's column order
COLUMNS: dict[str, tuple[str, bool]] = {
    "request_id": ("string", False),
    "row": ("int32", False),  # the row's index in its request
    "logged_at": ("timestamp", False),  # UTC, microseconds
    "unit_id": ("string", True),  # the key column's value (as text), when the request has one
    "model_name": ("string", False),
    "model_version": ("string", False),
    "model_sha256": ("string", False),
    "score": ("float64", True),  # null when every tier failed for the row
    "decision": ("int8", True),
    "tier": ("string", False),
    "fallback_reason": ("string", True),
    "filled_features": ("list<string>", False),
    "needs_review": ("bool", False),
    "experiment": ("string", True),  # null until traffic experiments
    "arm": ("string", True),
    "features": ("string", True),  # JSON of the raw values of prediction_log.log_features only; else null
}


def arrow_schema():
    import pyarrow as pa

    types = {"string": pa.string(), "int32": pa.int32(), "int8": pa.int8(), "float64": pa.float64(),
             "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"), "list<string>": pa.list_(pa.string())}
    fields = [pa.field(name, types[kind], nullable=nullable) for name, (kind, nullable) in COLUMNS.items()]
    return pa.schema(fields, metadata={META_SCHEMA: SCHEMA.encode(), META_VERSION: str(SCHEMA_VERSION).encode()})


def host_name() -> str:
    """This machine's name, reduced to characters safe in a file name."""
    import socket

    return re.sub(r"[^A-Za-z0-9.]+", "_", socket.gethostname()) or "host"


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def segment_path(folder: Path, day: datetime, host: str, pid: int, start: str, seq: int) -> Path:
    return folder / day.astimezone(timezone.utc).strftime(DAY_FORMAT) / f"{host}-{pid}-{start}-{seq:06d}{SEGMENT_SUFFIX}"
