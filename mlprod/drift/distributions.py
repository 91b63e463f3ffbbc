"""Two column profiles put side by side on one set of bins, ready for a stat test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DriftError
from ..profile import grid as g
from ..profile.build import Profile
from ..profile.columns import (
    CATEGORICAL,
    KIND_WORDS,
    NUMERIC,
    ColumnProfile,
    empty_column,
    quantile_edges,
    text_examples,
)

OTHER = "(other)"
SIDES = ("reference data", "current data")


@dataclass(frozen=True, eq=False)
class Pair:
    """Reference and current distribution of one column on common bins.

    numeric: ``keys`` are the occupied buckets of the finer common histogram grid (``grid``), with
    ``lower``/``upper`` bounds and a representative ``value`` each; categorical: ``labels`` are the
    categories seen in either (``(other)`` collects those beyond the profile's category limit).
    ``ref_raw``/``cur_raw`` hold every non-missing value when the profiles' samples are complete
    (small data), for tests that are exact on raw values.
    """

    column: str
    kind: str
    reference: ColumnProfile
    current: ColumnProfile
    ref_counts: np.ndarray
    cur_counts: np.ndarray
    labels: tuple[str, ...] = ()
    grid: str = ""
    exponent: int = 0
    keys: np.ndarray | None = None
    values: np.ndarray | None = None
    ref_raw: np.ndarray | None = None
    cur_raw: np.ndarray | None = None

    @property
    def n_ref(self) -> int:
        return int(self.ref_counts.sum())

    @property
    def n_cur(self) -> int:
        return int(self.cur_counts.sum())

    @property
    def n_distinct(self) -> int:
        return int(np.count_nonzero(self.ref_counts + self.cur_counts))

    def quantile_bins(self, n_bins: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Counts on up to ``n_bins`` reference-quantile bins (numeric) or per category.

        Numeric bins are cut at the reference quantiles k/n_bins (bucket resolution); two extra bins
        collect current values below the reference minimum and above its maximum, so values outside
        the reference range are never hidden in an edge bin. Returns reference counts, current counts
        and a label per bin.
        """
        if self.kind == CATEGORICAL:
            return self.ref_counts, self.cur_counts, list(self.labels)
        ref_buckets = g.Buckets(self.grid, self.keys[self.ref_counts > 0], self.ref_counts[self.ref_counts > 0])
        edges = quantile_edges(ref_buckets, n_bins)
        if ref_buckets.keys.size == 0:
            return self.ref_counts[:0], self.cur_counts[:0], []
        low, high = ref_buckets.keys[0], ref_buckets.keys[-1]
        inner = 1 + np.searchsorted(edges, self.keys, side="left")
        index = np.where(self.keys < low, 0, np.where(self.keys > high, edges.size + 2, inner))
        size = edges.size + 3
        ref = np.bincount(index, weights=self.ref_counts, minlength=size).astype(np.int64)
        cur = np.bincount(index, weights=self.cur_counts, minlength=size).astype(np.int64)
        _, upper = g.key_bounds(self.grid, edges, self.exponent)
        bounds = [f"<= {_short(u)}" for u in upper] + [f"> {_short(upper[-1])}" if upper.size else "all"]
        labels = ["below reference min", *bounds, "above reference max"]
        keep = np.ones(size, dtype=bool)
        keep[[0, size - 1]] = (cur[[0, size - 1]] > 0)  # the outside bins only when current has values there
        return ref[keep], cur[keep], [label for label, k in zip(labels, keep) if k]


def pair(reference: Profile, current: Profile, column: str, sides: tuple[str, str] = SIDES) -> Pair:
    """Align ``column`` of two profiles. Raises :class:`DriftError` if it is missing or kinds differ
    (``sides`` name the two in messages). A side without any value takes the other side's kind."""
    for name, profile in zip(sides, (reference, current)):
        if column not in profile.columns:
            raise DriftError(f"column {column!r} is not in the {name}; its columns: {list(profile.columns)}")
    ref, cur = reference.columns[column], current.columns[column]
    if ref.kind != cur.kind:
        if ref.count and cur.count:
            raise DriftError(_mismatch(column, ref, cur, sides))
        ref, cur = (empty_column(column, cur.kind, cur.dtype, ref.missing), cur) if not ref.count else \
            (ref, empty_column(column, ref.kind, ref.dtype, cur.missing))
    ref_raw = _raw(reference, column, ref.kind)
    cur_raw = _raw(current, column, ref.kind)
    if ref.kind == CATEGORICAL:
        labels = sorted(set(ref.frequencies) | set(cur.frequencies))
        ref_counts = [ref.frequencies.get(label, 0) for label in labels]
        cur_counts = [cur.frequencies.get(label, 0) for label in labels]
        if ref.other or cur.other:
            labels.append(OTHER)
            ref_counts.append(ref.other)
            cur_counts.append(cur.other)
        return Pair(column, CATEGORICAL, ref, cur, np.array(ref_counts, dtype=np.int64),
                    np.array(cur_counts, dtype=np.int64), labels=tuple(labels), ref_raw=ref_raw, cur_raw=cur_raw)
    log_pair = _align(ref.log_bins, cur.log_bins)
    linear_pair = _align(*g.align(ref.linear_bins, cur.linear_bins))
    chosen = min((linear_pair, log_pair), key=_fullest_share)  # ties go to the linear grid
    keys, ref_counts, cur_counts, exponent, grid_name = chosen
    values = g.Buckets(grid_name, keys, ref_counts + cur_counts, exponent).representatives()
    return Pair(column, NUMERIC, ref, cur, ref_counts, cur_counts, grid=grid_name, exponent=exponent, keys=keys,
                values=values, ref_raw=ref_raw, cur_raw=cur_raw)


def _mismatch(column: str, ref: ColumnProfile, cur: ColumnProfile, sides: tuple[str, str]) -> str:
    text = ref if ref.kind == CATEGORICAL else cur
    examples = ", ".join(repr(v) for v in text_examples(text))
    return (f"column {column!r} holds {KIND_WORDS[ref.kind]} in the {sides[0]} but {KIND_WORDS[cur.kind]} in the "
            f"{sides[1]} (e.g. {examples}); give it one type on both sides: fix the values that are not numbers, "
            f"or cast the column (to numbers, or to text) before comparing")


def _align(a: g.Buckets, b: g.Buckets):
    keys = np.union1d(a.keys, b.keys)
    ref = np.zeros(keys.size, dtype=np.int64)
    cur = np.zeros(keys.size, dtype=np.int64)
    ref[np.searchsorted(keys, a.keys)] = a.counts
    cur[np.searchsorted(keys, b.keys)] = b.counts
    return keys, ref, cur, max(a.exponent, b.exponent), a.grid


def _fullest_share(aligned) -> float:
    _, ref, cur, _, _ = aligned
    shares = [counts.max() / counts.sum() for counts in (ref, cur) if counts.sum()]
    return max(shares) if shares else 0.0


def _raw(profile: Profile, column: str, kind: str) -> np.ndarray | None:
    """Every non-missing value of ``column`` when the profile's sample holds all rows."""
    if len(profile.sample) != profile.n_rows or profile.n_rows == 0:
        return None
    values = [v for v in profile.sample.values[column] if v is not None]
    if kind == NUMERIC:
        return np.asarray(values, dtype=np.float64)
    return np.asarray(values, dtype=object)


def _short(value: float) -> str:
    return f"{value:.4g}"
