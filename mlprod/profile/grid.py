"""Mergeable histograms of numeric values on fixed grids.

A numeric column is summarised on two grids whose buckets never depend on which rows were seen
first, so the histogram of a whole file is exactly the sum of the histograms of its chunks:

* ``log``: relative-accuracy buckets (as in DDSketch). A value ``x`` with ``|x| >= LOG_MIN`` falls in
  bucket ``i = ceil(ln|x| / ln(gamma))`` with ``gamma = (1 + LOG_ALPHA) / (1 - LOG_ALPHA)``, signed by
  ``x``; smaller magnitudes share the zero bucket. Good for heavy tails and values spanning decades.
* ``linear``: equal-width buckets of width ``2**exponent`` (key ``floor(x / 2**exponent)``), with the
  smallest exponent that keeps the occupied span within ``LINEAR_MAX_BUCKETS``. Good for values in a
  narrow band far from zero (years, coordinates). Merging takes the larger exponent and coarsens the
  other side by integer shifts, which is exact, and coarsens further if the span grew too wide.

Keys are ordered like the values they stand for, and counts are kept sparse (occupied buckets only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG_ALPHA = 0.01
GAMMA = (1.0 + LOG_ALPHA) / (1.0 - LOG_ALPHA)
LN_GAMMA = math.log(GAMMA)
LOG_MIN = 1e-9  # magnitudes below about this share the zero bucket
LOG_OFFSET = 1 - math.floor(math.log(LOG_MIN) / LN_GAMMA)  # |key| >= 1 for |x| >= LOG_MIN
LINEAR_MAX_BUCKETS = 1024
_LOG_FLOOR = LOG_MIN / GAMMA**2
EMPTY_EXPONENT = -1200  # exponent of a linear histogram that holds no value
_MAX_KEY_BITS = 62


@dataclass(frozen=True, eq=False)
class Buckets:
    """Sparse counts on one grid: ``keys`` (sorted, distinct int64) and their ``counts`` (int64 > 0).

    ``exponent`` is the bucket width ``2**exponent`` of a linear grid (0 for the log grid).
    """

    grid: str
    keys: np.ndarray
    counts: np.ndarray
    exponent: int = 0

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Buckets) and self.grid == other.grid and self.exponent == other.exponent
                and np.array_equal(self.keys, other.keys) and np.array_equal(self.counts, other.counts))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper value bound of each occupied bucket."""
        return key_bounds(self.grid, self.keys, self.exponent)

    def representatives(self) -> np.ndarray:
        """One value standing for each bucket (its midpoint; for the log grid the DDSketch estimate)."""
        if self.grid == "linear":
            return np.ldexp(self.keys.astype(np.float64) + 0.5, self.exponent)
        magnitude = np.where(self.keys == 0, 0.0, 2.0 * _log_upper(np.abs(self.keys)) / (GAMMA + 1.0))
        return np.sign(self.keys) * magnitude


def empty(grid: str) -> Buckets:
    no = np.zeros(0, dtype=np.int64)
    return Buckets(grid, no, no.copy(), EMPTY_EXPONENT if grid == "linear" else 0)


def log_buckets(values: np.ndarray) -> Buckets:
    """Histogram of finite ``values`` on the log grid."""
    return Buckets("log", *_count(log_keys(values)))


def log_keys(values: np.ndarray) -> np.ndarray:
    index = np.abs(values)
    np.maximum(index, _LOG_FLOOR, out=index)  # tiny magnitudes land at or below key 0
    np.log(index, out=index)
    index *= 1.0 / LN_GAMMA
    np.ceil(index, out=index)
    index += LOG_OFFSET
    keys = index.astype(np.int64)
    np.maximum(keys, 0, out=keys)
    np.negative(keys, out=keys, where=values < 0)
    return keys


def linear_buckets(values: np.ndarray, low: float | None = None, high: float | None = None) -> Buckets:
    """Histogram of finite ``values`` on the finest power-of-two linear grid that fits them
    (``low``/``high``: their min and max if already known)."""
    if values.size == 0:
        return empty("linear")
    if low is None or high is None:
        low, high = float(values.min()), float(values.max())
    exponent = _linear_exponent(low, high)
    return Buckets("linear", *_count(np.floor(np.ldexp(values, -exponent)).astype(np.int64)), exponent)


def merge(a: Buckets, b: Buckets) -> Buckets:
    """The histogram of the rows of ``a`` and ``b`` together (exact)."""
    if a.grid != b.grid:
        raise ValueError(f"cannot merge a {a.grid} histogram with a {b.grid} histogram")
    if a.grid == "linear":
        a, b = align(a, b)
    keys = np.concatenate([a.keys, b.keys])
    counts = np.concatenate([a.counts, b.counts])
    merged = Buckets(a.grid, *_sum_by_key(keys, counts), a.exponent)
    if merged.grid == "linear":
        while merged.keys.size and merged.keys[-1] - merged.keys[0] + 1 > LINEAR_MAX_BUCKETS:
            merged = coarsen(merged, merged.exponent + 1)
    return merged


def align(a: Buckets, b: Buckets) -> tuple[Buckets, Buckets]:
    """Both linear histograms on the coarser of their two grids."""
    exponent = max(a.exponent, b.exponent)
    return coarsen(a, exponent), coarsen(b, exponent)


def coarsen(buckets: Buckets, exponent: int) -> Buckets:
    """A linear histogram re-counted on the coarser grid of width ``2**exponent``."""
    shift = exponent - buckets.exponent
    if shift < 0:
        raise ValueError("a histogram can only be made coarser")
    if shift == 0:
        return buckets
    keys = np.right_shift(buckets.keys, min(shift, 63))
    return Buckets("linear", *_sum_by_key(keys, buckets.counts), exponent)


def key_bounds(grid: str, keys: np.ndarray, exponent: int = 0) -> tuple[np.ndarray, np.ndarray]:
    if grid == "linear":
        lower = np.ldexp(keys.astype(np.float64), exponent)
        return lower, np.ldexp(keys.astype(np.float64) + 1.0, exponent)
    magnitude = np.abs(keys)
    upper = _log_upper(magnitude)  # key 0 holds magnitudes up to _log_upper(0), just below LOG_MIN
    lower = np.where(keys == 0, -upper, upper / GAMMA)
    negative = keys < 0
    return np.where(negative, -upper, lower), np.where(negative, -lower, upper)


def _log_upper(magnitude: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.exp((magnitude - LOG_OFFSET).astype(np.float64) * LN_GAMMA)


def _linear_exponent(low: float, high: float) -> int:
    """The smallest exponent >= the precision floor for which [low, high] spans at most the bucket limit."""
    largest = max(abs(low), abs(high))
    floor = EMPTY_EXPONENT if largest == 0 else math.frexp(largest)[1] - _MAX_KEY_BITS
    exponent = floor
    if high > low:
        exponent = max(floor, math.floor(math.log2((high - low) / LINEAR_MAX_BUCKETS)) - 1)
    while math.floor(math.ldexp(high, -exponent)) - math.floor(math.ldexp(low, -exponent)) + 1 > LINEAR_MAX_BUCKETS:
        exponent += 1
    return exponent


def _count(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if keys.size == 0:
        return keys.astype(np.int64), np.zeros(0, dtype=np.int64)
    low, high = int(keys.min()), int(keys.max())
    if high - low <= 4 * keys.size + 1_000_000:
        counts = np.bincount(keys - low)
        occupied = np.flatnonzero(counts)
        return occupied.astype(np.int64) + low, counts[occupied].astype(np.int64)
    unique, counts = np.unique(keys, return_counts=True)
    return unique.astype(np.int64), counts.astype(np.int64)


def _sum_by_key(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if keys.size == 0:
        return keys.astype(np.int64), counts.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(counts, starts).astype(np.int64)
