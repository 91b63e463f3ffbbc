"""Writing the prediction log: one writer per worker process, rows buffered in memory, segments written whole.

Order of work (and why):
1. :meth:`PredictionLogWriter.log_request` turns a request's outputs into rows (raw feature values only for
   ``log_features``) and appends them to the buffer under a lock: serving threads log concurrently, and
   the request path never does file I/O. :meth:`~PredictionLogWriter.log_frame` does the same for a whole batch
   at once (``mlprod score``'s shadow rows): the columns are built with numpy/pyarrow and buffered as one Arrow
   table, with the same values as ``log_request`` gives the same rows (many times faster for large batches;
   slower for a 1-row request, which keeps ``log_request``).
2. A daemon thread writes the buffer as one segment when it holds ``segment_rows`` rows or its oldest row
   waited ``flush_seconds``; :meth:`close` (also run at interpreter exit) writes what is left.
3. A segment is serialized in memory and written through :func:`mlprod.atomic.write_bytes` (temp file,
   fsync, rename): a crash loses at most the unflushed buffer and never leaves half a segment under a
   ``.parquet`` name. The name holds host, pid, the writer's start stamp and a sequence number, so two
   processes (or a restarted one) never write the same file.
"""

from __future__ import annotations

import atexit
import io
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .schema import arrow_schema, host_name, segment_path, stamp
from .settings import PredictionLogSettings

log = logging.getLogger(__name__)

OUTPUT_FIELDS = ("score", "decision", "tier", "fallback_reason", "filled_features", "needs_review")


@dataclass(frozen=True)
class ModelRef:
    """The model that produced the rows."""

    name: str
    version: str
    sha256: str


class PredictionLogWriter:
    """Buffers prediction rows and writes them as segments; thread-safe, one per process (fork-aware)."""

    def __init__(self, settings: PredictionLogSettings, *, key: str | None = None, root: str | Path | None = None):
        self.settings = settings
        self.key = key  # the input column whose value is logged as unit_id
        self.folder = Path(root) / settings.dir if root is not None else Path(settings.dir)
        self._closed = False
        self._start_process()
        _track(self)

    def _start_process(self) -> None:
        """Fresh state for this process (at start, and in a child after ``fork``: the parent's buffer, locks,
        numbering and flush thread are not the child's)."""
        self._lock = threading.Lock()  # the buffer
        self._write_lock = threading.Lock()  # segment numbering and writing
        self._wake = threading.Event()
        self.rows_written = 0
        self.rows_dropped = 0  # rows lost to a failed segment write (disk full, ...)
        self.segments: list[Path] = []
        self.last_error: str | None = None
        self._pid = os.getpid()
        self._host = host_name()
        self._start = stamp(datetime.now(timezone.utc))
        self._seq = 0
        self._buffer: list[Any] = []  # chunks: lists of row dicts (log_request) or Arrow tables (log_frame)
        self._buffered = 0  # rows in the buffer
        self._oldest: float | None = None
        self._thread: threading.Thread | None = None

    # -- logging -------------------------------------------------------------------------------------------
    def log_request(self, request_id: str, outputs: Any, *, model: ModelRef, inputs: Any = None,
                    experiment: str | None = None, arm: str | None = None, logged_at: datetime | None = None,
                    row_numbers: Sequence[int] | None = None) -> int:
        """Append one request's rows; ``outputs`` is a DataFrame or a sequence of mappings with
        score, decision, tier, fallback_reason, filled_features, needs_review (one per input row, in order).
        ``inputs`` (a DataFrame or sequence of mappings) supplies unit_id and the logged feature values.
        ``row_numbers``: each output's row index in the request (default 0, 1, ...; a request split across arms
        logs each arm's rows with their places in the request). Returns the number of rows appended."""
        records = _records(outputs)
        wanted = ([self.key] if self.key else []) + list(self.settings.log_features)
        in_rows = _columns(inputs, wanted) if inputs is not None else None
        if in_rows is not None and len(in_rows) != len(records):
            raise ValueError(f"request {request_id!r}: {len(in_rows)} input rows but {len(records)} outputs")
        moment = (logged_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        rows = []
        for i, out in enumerate(records):
            given = in_rows[i] if in_rows is not None else {}
            unit = given.get(self.key) if self.key else None
            rows.append({
                "request_id": str(request_id), "row": i if row_numbers is None else int(row_numbers[i]),
                "logged_at": moment,
                "unit_id": None if _missing(unit) else unit_id_text(unit),
                "model_name": model.name, "model_version": str(out.get("model_version") or model.version),
                "model_sha256": model.sha256,
                "score": None if _missing(out.get("score")) else float(out["score"]),
                "decision": None if _missing(out.get("decision")) else int(out["decision"]),
                "tier": str(out["tier"]),
                "fallback_reason": None if _missing(out.get("fallback_reason")) else str(out["fallback_reason"]),
                "filled_features": [str(f) for f in (out.get("filled_features") or ())],
                "needs_review": bool(out.get("needs_review", False)),
                "experiment": experiment, "arm": arm,
                "features": _features_json(given, self.settings.log_features) if in_rows is not None else None,
            })
        self.append(rows)
        return len(rows)

    def log_frame(self, request_id: str, outputs: Any, *, model: ModelRef, inputs: Any = None,
                  experiment: str | None = None, arm: str | None = None, logged_at: datetime | None = None,
                  row_numbers: Sequence[int] | None = None) -> int:
        """:meth:`log_request` for a whole batch, column by column: the same arguments, the same rows (value for
        value, in the same segment format), built with numpy/pyarrow and buffered as one Arrow table. Use it for
        large batches; for a request of a few rows ``log_request`` is faster. Returns the number of rows
        appended."""
        from .columnar import frame_table

        wanted = ([self.key] if self.key else []) + list(self.settings.log_features)
        moment = (logged_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        table = frame_table(request_id, outputs, model=model, inputs=inputs, key=self.key,
                            log_features=self.settings.log_features, wanted=wanted, experiment=experiment, arm=arm,
                            logged_at=moment, row_numbers=row_numbers)
        self._append_chunk(table, table.num_rows)
        return table.num_rows

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append ready rows (every column of the schema) to the buffer."""
        self._append_chunk(list(rows), len(rows))

    def _append_chunk(self, chunk: Any, n: int) -> None:
        if not n:
            return
        with self._lock:
            if self._closed:
                raise RuntimeError(f"prediction log writer for {self.folder} is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="prediction-log-flush", daemon=True)
                self._thread.start()
            if not self._buffer:
                self._oldest = time.monotonic()
            self._buffer.append(chunk)
            self._buffered += n
            full = self._buffered >= self.settings.segment_rows
        if full:
            self._wake.set()

    # -- flushing ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        pid = os.getpid()
        while not self._closed and os.getpid() == pid:
            with self._lock:
                waited = time.monotonic() - self._oldest if self._oldest is not None else 0.0
            self._wake.wait(max(0.01, self.settings.flush_seconds - waited))
            self._wake.clear()
            if self._closed:
                return
            with self._lock:
                due = self._buffer and (self._buffered >= self.settings.segment_rows or
                                        time.monotonic() - self._oldest >= self.settings.flush_seconds)
            if due:
                self.flush()

    def flush(self) -> list[Path]:
        """Write the buffered rows now (in segments of at most ``segment_rows``); returns the segments written."""
        with self._write_lock:
            with self._lock:
                chunks, self._buffer, self._buffered, self._oldest = self._buffer, [], 0, None
            written = []
            size = self.settings.segment_rows
            for segment in _segments(chunks, size):
                path = self._write_segment(segment)
                if path is not None:
                    written.append(path)
            return written

    def _write_segment(self, chunks: list[Any]) -> Path | None:
        """Write one segment from its chunks (row lists and Arrow tables, at most ``segment_rows`` rows)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from mlprod.atomic import write_bytes

        first = chunks[0][0]["logged_at"] if isinstance(chunks[0], list) else chunks[0].column("logged_at")[0].as_py()
        path = segment_path(self.folder, first, self._host, self._pid, self._start, self._seq)
        self._seq += 1
        rows = sum(len(c) if isinstance(c, list) else c.num_rows for c in chunks)
        try:
            schema = arrow_schema()
            tables = [pa.Table.from_pylist(c, schema=schema) if isinstance(c, list) else c for c in chunks]
            table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
            buffer = io.BytesIO()
            pq.write_table(table.combine_chunks(), buffer)
            write_bytes(path, buffer.getvalue())
        except Exception as exc:  # never take serving down: count the loss, say where and why
            self.rows_dropped += rows
            self.last_error = f"{path}: {exc}"
            log.error("prediction log: %d row(s) lost, segment %s not written: %s", len(rows), path, exc)
            return None
        self.rows_written += rows
        self.segments.append(path)
        return path

    def close(self) -> None:
        """Write what is buffered and stop the flush thread; later log calls raise."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread() and os.getpid() == self._pid:
            self._thread.join(timeout=5)
        if os.getpid() == self._pid:
            self.flush()

    def __enter__(self) -> PredictionLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_WRITERS: weakref.WeakSet = weakref.WeakSet()
_hooks_installed = False


def _track(writer: PredictionLogWriter) -> None:
    """Close every writer at interpreter exit, and give each a fresh state in a forked child (hooks installed
    with the first writer, not at import)."""
    global _hooks_installed
    _WRITERS.add(writer)
    if not _hooks_installed:
        _hooks_installed = True
        atexit.register(_close_all)
        os.register_at_fork(after_in_child=_after_fork)


def _close_all() -> None:
    for writer in list(_WRITERS):
        writer.close()


def _after_fork() -> None:
    for writer in list(_WRITERS):
        if not writer._closed:
            writer._start_process()


def _segments(chunks: list[Any], size: int):
    """The buffered chunks cut into segments of at most ``size`` rows, in order (a chunk split where needed)."""
    segment: list[Any] = []
    room = size
    for chunk in chunks:
        n = len(chunk) if isinstance(chunk, list) else chunk.num_rows
        begin = 0
        while begin < n:
            take = min(room, n - begin)
            segment.append(chunk[begin:begin + take] if isinstance(chunk, list) else chunk.slice(begin, take))
            begin += take
            room -= take
            if not room:
                yield segment
                segment, room = [], size
    if segment:
        yield segment


def _records(data: Any) -> list[Mapping[str, Any]]:
    if hasattr(data, "columns"):  # a DataFrame, read by column (DataFrame.to_dict costs ~50 us a call)
        names = [str(c) for c in data.columns]
        columns = [data[c].tolist() for c in data.columns]
        return [dict(zip(names, values)) for values in zip(*columns)]
    return list(data)


def _columns(data: Any, names: list[str]) -> list[Mapping[str, Any]]:
    """The rows of ``data`` reduced to ``names`` (a column it lacks is None); a DataFrame is read by column,
    which is many times faster than converting whole rows."""
    if hasattr(data, "columns") and hasattr(data, "__len__"):
        n = len(data)
        values = {name: data[name].tolist() if name in data.columns else [None] * n for name in names}
        return [{name: values[name][i] for name in names} for i in range(n)]
    return [{name: row.get(name) for name in names} for row in data]


def unit_id_text(value: Any) -> str:
    """A key value as text, the same whatever pandas made of the column: a whole number read as a float (its
    column had a missing value) is written without ``.0``, so it matches the integer key of a label file."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)



def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):  # pandas.NA: its comparisons are NA, and bool(NA) raises
        return type(value).__name__ == "NAType"


def _features_json(row: Mapping[str, Any], names: Sequence[str]) -> str | None:
    if not names:
        return None
    values = {name: _plain(row.get(name)) for name in names}
    return json.dumps(values, sort_keys=True, ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> Any:
    """A JSON-safe form of an input value (numpy scalars, timestamps); missing and non-finite values are null."""
    if _missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)

