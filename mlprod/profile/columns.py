"""Per-column summaries: counts and moments, mergeable histograms (numeric) or frequencies (categorical)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from . import grid as g
from .exact import exact_moments, mean_and_m2

NUMERIC = "numeric"
CATEGORICAL = "categorical"
KINDS = (NUMERIC, CATEGORICAL)
KIND_WORDS = {NUMERIC: "numbers", CATEGORICAL: "text (categories)"}
EXACT_CATEGORIES = 100_000  # distinct categories counted exactly while profiling in batches


@dataclass(frozen=True, eq=False)
class ColumnProfile:
    """Summary of one column. Missing values (None, NaN, NaT, +-inf) are counted in ``missing`` only.

    numeric: ``min``/``max``/``mean``/``m2`` (sum of squared deviations) of the non-missing values and
    two exact, mergeable histograms (``log_bins``, ``linear_bins``; see :mod:`mlprod.profile.grid`).
    Datetimes are numeric, in seconds since 1970-01-01 UTC.
    categorical: ``frequencies`` (value as text -> rows) of the ``max_categories`` most frequent values
    and ``other``, the rows holding any further value.
    """

    name: str
    kind: str
    dtype: str
    count: int
    missing: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    m2: float | None = None
    log_bins: g.Buckets | None = None
    linear_bins: g.Buckets | None = None
    frequencies: dict[str, int] = field(default_factory=dict)
    other: int = 0
    # While profiling in batches (not saved): the exact sums of the values and their squares, and the
    # counts of all categories (up to EXACT_CATEGORIES), so that merging batches gives the same numbers
    # as profiling all rows at once.
    exact: tuple[Fraction, Fraction] | None = field(default=None, repr=False)
    all_counts: dict[str, int] | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        return self.count + self.missing

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def variance(self) -> float | None:
        """Sample variance (ddof=1, as pandas); ``None`` below two values; exactly 0 when min == max
        (the running sum of squares of a constant column can hold rounding noise such as 1e-35)."""
        if self.m2 is None or self.count < 2:
            return None
        if self.constant:
            return 0.0
        return self.m2 / (self.count - 1)

    @property
    def constant(self) -> bool:
        """One distinct non-missing value: numeric min == max, or a single category."""
        if self.count == 0:
            return False
        if self.kind == CATEGORICAL:
            return len(self.frequencies) == 1 and not self.other
        return self.min is not None and self.min == self.max

    @property
    def std(self) -> float | None:
        variance = self.variance
        return None if variance is None else float(np.sqrt(variance))

    @property
    def n_distinct(self) -> int:
        """Distinct categories seen (categorical), occupied buckets of the finer histogram (numeric)."""
        if self.kind == CATEGORICAL:
            return len(self.frequencies) + (1 if self.other else 0)
        return int(self.buckets.keys.size)

    @property
    def buckets(self) -> g.Buckets:
        """The finer of the two histograms: the one whose fullest bucket holds the smaller share."""
        return finer(self.log_bins, self.linear_bins)

    def quantiles(self, qs) -> list[float | None]:
        """Quantiles ``qs`` (0..1), exact at 0 and 1, else within one histogram bucket."""
        if self.kind != NUMERIC:
            raise TypeError(f"column {self.name!r} is categorical; quantiles need a numeric column")
        if self.count == 0:
            return [None for _ in qs]
        buckets = self.buckets
        cumulative = np.cumsum(buckets.counts)
        values = buckets.representatives()
        out = []
        for q in qs:
            if q <= 0:
                out.append(self.min)
            elif q >= 1:
                out.append(self.max)
            else:
                index = int(np.searchsorted(cumulative, q * self.count, side="left"))
                out.append(float(np.clip(values[min(index, values.size - 1)], self.min, self.max)))
        return out

    def bin_edges(self, n_bins: int = 10) -> list[float]:
        """Edges of up to ``n_bins`` reference-quantile bins, from ``min`` to ``max``; bins that would be
        empty because many rows share a value are merged, so fewer bins can come back."""
        if self.kind != NUMERIC:
            raise TypeError(f"column {self.name!r} is categorical; bin edges need a numeric column")
        if self.count == 0:
            return []
        inner = quantile_edges(self.buckets, n_bins)
        _, upper = self.buckets.bounds()
        cuts = upper[np.searchsorted(self.buckets.keys, inner)] if inner.size else np.zeros(0)
        cuts = [float(c) for c in cuts if self.min <= c < self.max]
        return [float(self.min), *cuts, float(self.max)]

    def histogram(self, edges) -> list[int]:
        """Rows per bin ``edges[i] < x <= edges[i+1]`` (the first bin includes ``edges[0]``), counted at
        bucket resolution (each bucket goes to the bin holding its upper bound, clipped to min/max)."""
        if self.kind != NUMERIC:
            raise TypeError(f"column {self.name!r} is categorical; a histogram needs a numeric column")
        edges = np.asarray(edges, dtype=np.float64)
        if edges.size < 2:
            return []
        _, upper = self.buckets.bounds()
        where = np.clip(upper, self.min, self.max) if self.count else upper
        index = np.clip(np.searchsorted(edges, where, side="left") - 1, 0, edges.size - 2)
        return np.bincount(index, weights=self.buckets.counts, minlength=edges.size - 1).astype(int).tolist()


def finer(log_bins: g.Buckets | None, linear_bins: g.Buckets | None) -> g.Buckets:
    if log_bins is None or linear_bins is None:
        raise TypeError("a categorical column has no histogram")
    if log_bins.total == 0:
        return linear_bins
    share_log = log_bins.counts.max() / log_bins.total
    share_linear = linear_bins.counts.max() / linear_bins.total
    return log_bins if share_log < share_linear else linear_bins


def quantile_edges(buckets: g.Buckets, n_bins: int) -> np.ndarray:
    """Keys of the buckets that close each reference-quantile bin (the last bin is left open)."""
    total = buckets.total
    if total == 0 or n_bins < 2:
        return np.zeros(0, dtype=np.int64)
    cumulative = np.cumsum(buckets.counts)
    targets = total * np.arange(1, n_bins) / n_bins
    index = np.searchsorted(cumulative, targets, side="left")
    keys = np.unique(buckets.keys[np.minimum(index, buckets.keys.size - 1)])
    return keys[keys < buckets.keys[-1]]


def numeric_column(name: str, dtype: str, values: np.ndarray, n_rows: int) -> ColumnProfile:
    """Profile float64 ``values`` (missing already removed) of a column with ``n_rows`` rows."""
    count = int(values.size)
    if count == 0:
        return ColumnProfile(name, NUMERIC, dtype, 0, n_rows, m2=0.0, log_bins=g.empty("log"),
                             linear_bins=g.empty("linear"), exact=(Fraction(0), Fraction(0)))
    exact = exact_moments(values)
    mean, m2 = _moments(values, count, exact)
    return ColumnProfile(name, NUMERIC, dtype, count, n_rows - count, min=float(values.min()),
                         max=float(values.max()), mean=mean, m2=m2, log_bins=g.log_buckets(values),
                         linear_bins=g.linear_buckets(values), exact=exact)


def _moments(values: np.ndarray, count: int, exact) -> tuple[float | None, float | None]:
    """Mean and m2 rounded once from exact sums (the same for any split into batches); the float formulas
    when the squares are beyond exact range."""
    if exact is not None:
        mean, m2 = mean_and_m2(count, *exact)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            mean = float(values.mean())
            deviation = values - mean
            m2 = float(np.dot(deviation, deviation))
    return _finite(mean), _finite(m2)  # None when beyond float range (values near 1e308)


def categorical_column(name: str, dtype: str, counts: dict[str, int], missing: int,
                       max_categories: int) -> ColumnProfile:
    frequencies, other = _top(counts, max_categories)
    return ColumnProfile(name, CATEGORICAL, dtype, int(sum(counts.values())), missing,
                         frequencies=frequencies, other=other,
                         all_counts=dict(counts) if len(counts) <= EXACT_CATEGORIES else None)


def merge_columns(a: ColumnProfile, b: ColumnProfile, max_categories: int) -> ColumnProfile:
    """Summary of ``a``'s rows followed by ``b``'s rows. Exact when both hold their exact sums and
    category counts (while profiling); otherwise mean and ``m2`` up to float rounding, and the kept top
    list of categories beyond ``max_categories`` can differ."""
    if a.kind != b.kind:
        if a.count and b.count:
            raise ValueError(f"column {a.name!r} holds {KIND_WORDS[a.kind]} in one part and {KIND_WORDS[b.kind]} "
                             f"in the other")
        # a part where the column is all missing has no type of its own: it takes the other part's
        a, b = (_empty_like(a, b), b) if not a.count else (a, _empty_like(b, a))
    dtype = a.dtype if a.dtype == b.dtype else ("float64" if a.kind == NUMERIC else "object")
    if a.kind == CATEGORICAL:
        if a.all_counts is not None and b.all_counts is not None:  # exact: as if profiled together
            counts = dict(a.all_counts)
            for key, value in b.all_counts.items():
                counts[key] = counts.get(key, 0) + value
            frequencies, other = _top(counts, max_categories)
            return replace(a, dtype=dtype, count=a.count + b.count, missing=a.missing + b.missing,
                           frequencies=frequencies, other=other,
                           all_counts=counts if len(counts) <= EXACT_CATEGORIES else None)
        counts = dict(a.frequencies)
        for key, value in b.frequencies.items():
            counts[key] = counts.get(key, 0) + value
        frequencies, other = _top(counts, max_categories)
        return replace(a, dtype=dtype, count=a.count + b.count, missing=a.missing + b.missing,
                       frequencies=frequencies, other=other + a.other + b.other, all_counts=None)
    exact = None
    if a.exact is not None and b.exact is not None:
        exact = (a.exact[0] + b.exact[0], a.exact[1] + b.exact[1])
    if b.count == 0 or a.count == 0:
        moments = b if a.count == 0 else a
        low, high, mean, m2 = moments.min, moments.max, moments.mean, moments.m2
    elif exact is not None:
        low, high = min(a.min, b.min), max(a.max, b.max)
        mean, m2 = (_finite(v) for v in mean_and_m2(a.count + b.count, *exact))
    else:
        n = a.count + b.count
        low, high, mean, m2 = min(a.min, b.min), max(a.max, b.max), None, None
        if a.mean is not None and b.mean is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                delta = b.mean - a.mean
                mean = _finite(a.mean + delta * b.count / n)
                if a.m2 is not None and b.m2 is not None:
                    m2 = _finite(a.m2 + b.m2 + delta * delta * a.count * b.count / n)
    return replace(a, dtype=dtype, count=a.count + b.count, missing=a.missing + b.missing, min=low, max=high,
                   mean=mean, m2=m2, log_bins=g.merge(a.log_bins, b.log_bins),
                   linear_bins=g.merge(a.linear_bins, b.linear_bins), exact=exact)


def empty_column(name: str, kind: str, dtype: str, missing: int) -> ColumnProfile:
    """The profile of a column of ``kind`` whose ``missing`` rows hold no value."""
    if kind == NUMERIC:
        return ColumnProfile(name, NUMERIC, dtype, 0, missing, m2=0.0, log_bins=g.empty("log"),
                             linear_bins=g.empty("linear"))
    return ColumnProfile(name, CATEGORICAL, dtype, 0, missing)


def _empty_like(empty: ColumnProfile, other: ColumnProfile) -> ColumnProfile:
    """``empty`` (no values) as a column of ``other``'s kind, exact where ``other`` is (profiling in batches)."""
    column = empty_column(empty.name, other.kind, other.dtype, empty.missing)
    return replace(column, exact=(Fraction(0), Fraction(0)) if other.exact is not None else None,
                   all_counts={} if other.all_counts is not None else None)


def text_examples(column: ColumnProfile, limit: int = 3) -> list[str]:
    """Up to ``limit`` categories of ``column`` that are not numbers (else any categories), most frequent first."""
    ranked = [value for value, _ in sorted(column.frequencies.items(), key=lambda item: (-item[1], item[0]))]

    def number(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return True

    texts = [value for value in ranked if not number(value)]
    return (texts or ranked)[:limit]


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _top(counts: dict[str, int], limit: int) -> tuple[dict[str, int], int]:
    if len(counts) <= limit:
        return dict(sorted(counts.items())), 0
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(sorted(ranked[:limit]))
    return kept, sum(count for _, count in ranked[limit:])


# --- file form ------------------------------------------------------------------------------------

_COMMON = {"name", "kind", "dtype", "count", "missing"}
_NUMERIC_KEYS = _COMMON | {"min", "max", "mean", "m2", "log_bins", "linear_bins"}
_NUMERIC_OPTIONAL = {"min", "max", "mean", "m2"}
_CATEGORICAL_KEYS = _COMMON | {"frequencies", "other"}


def column_to_dict(column: ColumnProfile) -> dict[str, Any]:
    out: dict[str, Any] = {"name": column.name, "kind": column.kind, "dtype": column.dtype,
                           "count": column.count, "missing": column.missing}
    if column.kind == CATEGORICAL:
        out.update(frequencies=dict(column.frequencies), other=column.other)
        return out
    for key in ("min", "max", "mean", "m2"):
        value = getattr(column, key)
        if value is not None:
            out[key] = value
    out["log_bins"] = {"keys": column.log_bins.keys.tolist(), "counts": column.log_bins.counts.tolist()}
    out["linear_bins"] = {"exponent": column.linear_bins.exponent, "keys": column.linear_bins.keys.tolist(),
                          "counts": column.linear_bins.counts.tolist()}
    return out


def column_from_dict(data: Any, where: str) -> ColumnProfile:
    """Parse and check one column entry; raises ``ValueError`` with a message naming ``where``."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{where}: 'kind' must be one of {list(KINDS)}, got {kind!r}")
    allowed = _NUMERIC_KEYS if kind == NUMERIC else _CATEGORICAL_KEYS
    required = allowed - _NUMERIC_OPTIONAL
    _check_keys(data, allowed, required, where)
    name, dtype = _text(data, "name", where), _text(data, "dtype", where)
    count, missing = _whole(data, "count", where), _whole(data, "missing", where)
    if kind == CATEGORICAL:
        frequencies = data["frequencies"]
        if not isinstance(frequencies, dict) or not all(
                isinstance(k, str) and _is_whole(v) and v > 0 for k, v in frequencies.items()):
            raise ValueError(f"{where}: 'frequencies' must map category text to positive row counts")
        other = _whole(data, "other", where)
        if sum(frequencies.values()) + other != count:
            raise ValueError(f"{where}: frequencies + other add up to {sum(frequencies.values()) + other}, "
                             f"expected count {count}")
        return ColumnProfile(name, kind, dtype, count, missing, frequencies=dict(frequencies), other=other)
    moments = {key: _number(data, key, where) for key in ("min", "max", "mean") if key in data}
    if count and not {"min", "max"} <= set(moments):
        raise ValueError(f"{where}: a numeric column with values needs 'min' and 'max'")
    if "m2" in data:
        moments["m2"] = _number(data, "m2", where)
    log_bins = _buckets(data["log_bins"], "log", f"{where}.log_bins", count)
    linear_bins = _buckets(data["linear_bins"], "linear", f"{where}.linear_bins", count)
    return ColumnProfile(name, kind, dtype, count, missing, log_bins=log_bins, linear_bins=linear_bins, **moments)


def _buckets(data: Any, grid: str, where: str, count: int) -> g.Buckets:
    allowed = {"keys", "counts"} | ({"exponent"} if grid == "linear" else set())
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object with {sorted(allowed)}")
    _check_keys(data, allowed, allowed, where)
    keys, counts = data["keys"], data["counts"]
    if not (isinstance(keys, list) and isinstance(counts, list) and len(keys) == len(counts)
            and all(_is_whole(k, signed=True) for k in keys) and all(_is_whole(c) and c > 0 for c in counts)):
        raise ValueError(f"{where}: 'keys' and 'counts' must be integer lists of the same length, counts > 0")
    key_array = np.asarray(keys, dtype=np.int64)
    if key_array.size > 1 and not np.all(np.diff(key_array) > 0):
        raise ValueError(f"{where}: 'keys' must be strictly increasing")
    if sum(counts) != count:
        raise ValueError(f"{where}: counts add up to {sum(counts)}, expected the column's count {count}")
    exponent = 0
    if grid == "linear":
        exponent = data["exponent"]
        if not _is_whole(exponent, signed=True):
            raise ValueError(f"{where}: 'exponent' must be an integer")
    return g.Buckets(grid, key_array, np.asarray(counts, dtype=np.int64), int(exponent))


def _check_keys(data: dict, allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    absent = sorted(required - set(data))
    if absent:
        raise ValueError(f"{where}: missing key(s) {absent}")


def _is_whole(value: Any, signed: bool = False) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (signed or value >= 0)


def _whole(data: dict, key: str, where: str) -> int:
    if not _is_whole(data[key]):
        raise ValueError(f"{where}: {key!r} must be a non-negative integer, got {data[key]!r}")
    return int(data[key])


def _number(data: dict, key: str, where: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{where}: {key!r} must be a finite number, got {value!r}")
    return float(value)


def _text(data: dict, key: str, where: str) -> str:
    if not isinstance(data[key], str):
        raise ValueError(f"{where}: {key!r} must be text, got {data[key]!r}")
    return data[key]
