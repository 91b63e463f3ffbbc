"""Reading a Parquet file in batches of rows with bounded memory, as the same data frames
:func:`mlprod.data.io.read_table` would give, one slice at a time.

pyarrow's ``ParquetFile`` pre-buffers by default: iterating the batches of a file then caches every
row group's column chunks, so memory grows with the file (0.6 GB at 1M rows, 1.8 GB at 10M). Here the
file is read with ``pre_buffer=False`` through a buffered stream of ``BUFFER_BYTES``, so only the pages
of the current batch are in memory, also when the whole file is one row group.

The batches match the whole table: the row labels continue from batch to batch (the file's own
``RangeIndex`` when pandas wrote one), and a column's dtype does not depend on which rows a batch holds
(an integer or boolean column with a gap anywhere in the file is float64 or object in every batch, as
in the whole table; the file's statistics say where the gaps are).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlprod.errors import DataError

BUFFER_BYTES = 1 << 20


@dataclass
class ParquetBatches:
    """The batches of one Parquet file (iterate it once); ``rows`` is the file's row count.

    ``exact`` is False when a batch can differ from the same rows of the whole table (a stored index
    that is not a range, dictionary-encoded columns, integer/boolean columns without null counts in
    the file's statistics); such files are read whole where identical results matter.
    """

    path: Path
    columns: list[str]
    rows: int
    batch_rows: int
    exact: bool
    reason: str
    _start: int
    _step: int
    _to_float: frozenset[str]
    _to_object: frozenset[str]

    def __iter__(self) -> Iterator[pd.DataFrame]:
        parquet = _open(self.path)
        metadata = parquet.schema_arrow.metadata  # pandas' dtypes (Int64, boolean, ...), as read_table uses them
        position = 0
        try:
            for batch in parquet.iter_batches(batch_size=self.batch_rows, columns=self.columns):
                frame = batch.replace_schema_metadata(metadata).to_pandas()
                for name in self._to_float:
                    if isinstance(frame[name].dtype, np.dtype) and frame[name].dtype.kind in "iu":
                        frame[name] = frame[name].astype("float64")
                for name in self._to_object:
                    if isinstance(frame[name].dtype, np.dtype) and frame[name].dtype.kind == "b":
                        frame[name] = frame[name].astype(object)
                start = self._start + position * self._step
                frame.index = pd.RangeIndex(start, start + len(frame) * self._step, self._step)
                position += len(frame)
                yield frame
        except DataError:
            raise
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for a damaged file
            raise DataError(f"Data file {str(self.path)!r} could not be read to the end as Parquet: {exc}") from exc


def parquet_batches(path: str | Path, *, columns: Iterable[str] | None = None,
                    batch_rows: int = 100_000) -> ParquetBatches:
    """The batches of ``batch_rows`` rows of the Parquet file ``path`` (``columns``: only these, in order)."""
    import pyarrow as pa

    path = Path(path)
    parquet = _open(path)
    schema = parquet.schema_arrow
    metadata = schema.pandas_metadata or {}
    stored_index = [entry for entry in metadata.get("index_columns", []) if isinstance(entry, str)]
    available = [name for name in schema.names if name not in stored_index]
    names = available if columns is None else list(columns)
    missing = [name for name in names if name not in available]
    if missing:
        raise DataError(f"Data file {str(path)!r} lacks column(s) {missing}; available: {available}")
    start, step = 0, 1
    for entry in metadata.get("index_columns", []):
        if isinstance(entry, dict) and entry.get("kind") == "range":
            start, step = int(entry.get("start", 0)), int(entry.get("step", 1))
    reasons = []
    if stored_index:
        reasons.append(f"the file stores an index {stored_index}")
    to_float, to_object = set(), set()
    meta = parquet.metadata
    for name in names:
        kind = schema.field(name).type
        if pa.types.is_dictionary(kind):
            reasons.append(f"column {name!r} is dictionary-encoded")
        if not (pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
            continue
        nulls = _null_count(meta, name)
        if nulls is None:
            reasons.append(f"no null counts for column {name!r}")
        elif nulls:
            (to_float if pa.types.is_integer(kind) else to_object).add(name)
    return ParquetBatches(path, names, meta.num_rows, batch_rows, not reasons, "; ".join(reasons), start, step,
                          frozenset(to_float), frozenset(to_object))


def _open(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, pre_buffer=False, buffer_size=BUFFER_BYTES)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for a damaged file
        raise DataError(f"Data file {str(path)!r} could not be read as Parquet: {exc}") from exc


def _null_count(meta, name: str) -> int | None:
    """Missing values of a top-level column in the whole file, from the row groups' statistics."""
    total = 0
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        column = next((row_group.column(i) for i in range(row_group.num_columns)
                       if row_group.column(i).path_in_schema == name), None)
        statistics = None if column is None else column.statistics
        if statistics is None or not statistics.has_null_count:
            return None
        total += statistics.null_count
    return total
