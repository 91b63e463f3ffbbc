"""The history file: ``history.parquet``, one row per (window, metric), its schema version in the Parquet
metadata; read for every version in :data:`READS`, written atomically and deterministically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import atomic
from ..errors import MonitoringError
from .settings import MonitorSettings

# 2: ``alert_when`` (which side of ``threshold`` alerts). Version-1 files are read with it null.
SCHEMA_VERSION = 2
READS = ("1", "2")
KINDS = ("drift", "estimated", "kpi", "realised", "volume")
# "above": value > threshold (>= for drift distances); "below": value < threshold; "outside": |value| > threshold
ALERT_WHEN = ("above", "below", "outside")
COLUMNS = ("window", "window_start", "window_end", "metric", "kind", "value", "threshold", "alert", "alert_when",
           "model_version", "rows", "labelled_rows", "as_of")


def history_path(settings: MonitorSettings) -> Path:
    return settings.path(settings.monitoring_dir, "history.parquet")


def read_history(path: str | Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        return pd.DataFrame({c: [] for c in COLUMNS})
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    version = meta.get(b"mlprod.schema_version", b"?").decode()
    if meta.get(b"mlprod.schema") != b"monitoring_history" or version not in READS:
        raise MonitoringError(f"{path} is not a monitoring history of schema_version {' or '.join(READS)} (got "
                              f"{version}); rebuild it with this mlprod")
    frame = table.to_pandas()
    if "alert_when" not in frame.columns:  # version 1: the direction was not recorded
        frame.insert(list(COLUMNS).index("alert_when"), "alert_when", pd.Series([None] * len(frame), dtype=object))
    return frame


def write_history(path: str | Path, rows: pd.DataFrame) -> Path:
    """Atomically, deterministically: sorted by window start, window, kind, metric; schema in metadata."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = rows.sort_values(["window_start", "window", "kind", "metric"], kind="stable").reset_index(drop=True)
    schema = pa.schema([("window", pa.string()), ("window_start", pa.string()), ("window_end", pa.string()),
                        ("metric", pa.string()), ("kind", pa.string()), ("value", pa.float64()),
                        ("threshold", pa.float64()), ("alert", pa.bool_()), ("alert_when", pa.string()),
                        ("model_version", pa.string()),
                        ("rows", pa.int64()), ("labelled_rows", pa.int64()), ("as_of", pa.string())],
                       metadata={"mlprod.schema": "monitoring_history", "mlprod.schema_version": str(SCHEMA_VERSION)})
    table = pa.Table.from_pandas(frame[list(COLUMNS)], schema=schema, preserve_index=False)
    table = table.replace_schema_metadata(schema.metadata)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return atomic.write_bytes(path, buffer.getvalue())
