"""Repeated keys over batches of rows in bounded memory: the ``unique`` checks of a streamed file.

Each row's key (one column's value, or a combination of columns) becomes 128 bits: for a single
number column its hash and its own 64 bits (so two keys are equal exactly when the values are); for
text and for combinations two independent 64-bit hashes (a false repeat needs a 128-bit collision).
Missing values are one key, as in ``pandas.Series.duplicated``, and -0.0 equals 0.0. The keys, with
each row's position, go to ``PARTITIONS`` temporary files chosen by their first bits (24 bytes a row
on disk); ``finish`` reads one file at a time, so memory holds about 1/``PARTITIONS`` of the keys.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from .rules import NotStreamable

PARTITIONS = 64
_RECORD = np.dtype([("a", "<u8"), ("b", "<u8"), ("p", "<i8")])
_KEYS = ("mlprod-keys-0001", "mlprod-keys-0002")
_MISSING_B = np.uint64(0x6D697373696E6721)


class RepeatedKeys:
    """Rows whose key appears more than once among all rows ``add``-ed (in row order)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.rows = 0
        self.folder: Path | None = None

    def add(self, frame) -> None:
        a, b = key_hashes(frame, self.columns)
        records = np.empty(a.size, dtype=_RECORD)
        records["a"], records["b"] = a, b
        records["p"] = np.arange(self.rows, self.rows + a.size, dtype=np.int64)
        self.rows += a.size
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="mlprod-keys-"))
        part = (a >> np.uint64(64 - 6)).astype(np.intp)
        order = np.argsort(part, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(part, minlength=PARTITIONS))])
        records = records[order]
        for index in range(PARTITIONS):
            if bounds[index + 1] > bounds[index]:
                with open(self.folder / f"{index:02d}.keys", "ab") as handle:
                    records[bounds[index]:bounds[index + 1]].tofile(handle)

    def merge(self, other: RepeatedKeys) -> RepeatedKeys:
        """Append ``other``'s keys (the rows after these) to these, in place; ``other`` is emptied."""
        if other.folder is not None:
            if self.folder is None:
                self.folder = Path(tempfile.mkdtemp(prefix="mlprod-keys-"))
            for path in sorted(other.folder.glob("*.keys")):
                records = np.fromfile(path, dtype=_RECORD)
                records["p"] += self.rows
                with open(self.folder / path.name, "ab") as handle:
                    records.tofile(handle)
        self.rows += other.rows
        other.close()
        return self

    def finish(self, limit: int) -> tuple[int, np.ndarray]:
        """(rows whose key repeats, the first ``limit`` of their positions in row order); removes the files."""
        count, first = 0, np.zeros(0, dtype=np.int64)
        try:
            for index in range(PARTITIONS if self.folder else 0):
                path = self.folder / f"{index:02d}.keys"
                if not path.exists():
                    continue
                records = np.fromfile(path, dtype=_RECORD)
                records = records[np.lexsort((records["b"], records["a"]))]
                same = (records["a"][1:] == records["a"][:-1]) & (records["b"][1:] == records["b"][:-1])
                repeated = np.zeros(records.size, dtype=bool)
                repeated[1:] |= same
                repeated[:-1] |= same
                count += int(repeated.sum())
                if limit:
                    first = np.sort(np.concatenate([first, records["p"][repeated]]))[:limit]
        finally:
            self.close()
        return count, first

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def key_hashes(frame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two uint64 arrays that together identify each row's key."""
    if len(columns) == 1:
        return _column(frame[columns[0]])
    a = np.zeros(len(frame), dtype=np.uint64)
    b = np.zeros(len(frame), dtype=np.uint64)
    for name in columns:
        x, y = _column(frame[name])
        a = _mix(a * np.uint64(1_000_003) ^ x)
        b = _mix(b * np.uint64(998_244_353) ^ y ^ np.uint64(0x9E3779B97F4A7C15))
    return a, b


def _column(series) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    api = pd.api.types
    dtype = series.dtype
    missing = series.isna().to_numpy()
    if api.is_bool_dtype(dtype):
        bits = series.to_numpy(dtype=bool, na_value=False).astype(np.uint64)
    elif api.is_integer_dtype(dtype):
        unsigned = api.is_unsigned_integer_dtype(dtype)
        bits = series.to_numpy(dtype=np.uint64 if unsigned else np.int64, na_value=0).view(np.uint64)
    elif api.is_float_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=0.0) + 0.0  # -0.0 is 0.0, as pandas compares
        bits = values.view(np.uint64)
    elif api.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        bits = np.asarray(series.to_numpy()).view(np.int64).view(np.uint64)
    elif api.is_string_dtype(dtype) and (not api.is_object_dtype(dtype)
                                         or api.infer_dtype(series, skipna=True) in ("string", "empty")):
        text = series.to_numpy(dtype=object, na_value="")
        a = pd.util.hash_array(text, hash_key=_KEYS[0])
        b = pd.util.hash_array(text, hash_key=_KEYS[1])
        return _missing(a, b, missing)
    else:
        raise NotStreamable(f"column {series.name!r} (dtype {dtype}) has no exact key across batches")
    bits = np.where(missing, np.uint64(0), bits)
    return _missing(_mix(bits.copy()), bits, missing)


def _missing(a: np.ndarray, b: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if missing.any():
        a = np.where(missing, _mix(np.array([_MISSING_B]))[0] ^ np.uint64(1), a)
        b = np.where(missing, _MISSING_B, b)
    return a, b


def _mix(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finalizer."""
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h
