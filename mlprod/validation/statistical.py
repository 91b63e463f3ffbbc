"""The statistical layer: a dataset compared with a reference profile (:mod:`mlprod.profile`).

Each check measures one number per column (or per dataset) and compares it with two thresholds:
beyond ``warning`` the check fails with severity ``warning``, beyond ``error`` with severity ``error``;
the policy then decides what each severity does. The checks, and what they measure:

============================  =====================================================================
``row_count``                 rows / reference rows, must lie inside ``[low, high]``
``missing_share``             share of missing values minus the reference's share (an increase)
``mean_shift``                ``|mean - reference mean| / reference standard deviation``
``quantiles``                 largest gap between the share of values below each reference decile
                              edge and the reference's share there (a Kolmogorov-Smirnov distance
                              on the reference's decile grid; 1 = no overlap at all)
``category_shares``           largest change in one category's share of the non-missing rows
``unseen_categories``         share of non-missing rows holding a category the reference never saw
============================  =====================================================================

Datetime columns and columns with ``statistics: false`` in the schema are not compared (time stamps and
ids move by design).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterable

import numpy as np

from mlprod.errors import ConfigError

from mlprod.profile.exact import exact_sum

from .registry import Registry
from .results import CheckResult
from .rules import NotStreamable
from .spec import Schema, StatisticSpec


@dataclass(frozen=True)
class StatCheck:
    """A statistical check: its threshold shape (``max`` number or ``range`` [low, high]) and defaults."""

    name: str
    shape: str
    warning: Any
    error: Any
    doc: str
    run: Callable[..., list[CheckResult]]

    def parse(self, data: Any, where: str) -> StatisticSpec:
        if data is None:
            return StatisticSpec(self.name, self.warning, self.error)
        if not isinstance(data, dict) or set(data) - {"warning", "error"}:
            raise ConfigError(f"{where}: expected {{warning: ..., error: ...}} ({self.doc}), got {data!r}; "
                              "write false to switch the check off")
        warning = self._threshold(data.get("warning", self.warning), f"{where}.warning")
        error = self._threshold(data.get("error", self.error), f"{where}.error")
        if self.shape == "max" and warning > error:
            raise ConfigError(f"{where}: warning ({warning}) must not exceed error ({error})")
        if self.shape == "range" and not (error[0] <= warning[0] <= warning[1] <= error[1]):
            raise ConfigError(f"{where}: the warning range {warning} must lie inside the error range {error}")
        return StatisticSpec(self.name, warning, error)

    def _threshold(self, value: Any, where: str) -> Any:
        if self.shape == "max":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"{where}: expected a number >= 0, got {value!r}")
            return value
        if (not isinstance(value, list) or len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                                                  for v in value) or not 0 <= value[0] <= value[1]):
            raise ConfigError(f"{where}: expected [low, high] with 0 <= low <= high, got {value!r}")
        return value


STATISTICS: Registry[StatCheck] = Registry("statistical check")


def check_statistics(frame, schema: Schema, reference, statistics: Iterable[StatisticSpec], *,
                     unusable: Iterable[str] = ()) -> list[CheckResult]:
    """Every configured statistical check of ``frame`` against the ``reference`` profile."""
    observed = Observed(schema, reference, unusable)
    observed.add(frame)
    return observed.check(statistics)


@dataclass
class ColumnCounts:
    """What the checks need from one column, summed over batches: rows, missing values (as the reference
    profile counts them), the finite values' count and exact sum, the values at or below each reference
    decile edge (numeric), or the rows per category (categorical)."""

    rows: int = 0
    missing: int = 0
    count: int = 0
    total: Fraction = field(default_factory=Fraction)
    at_or_below: np.ndarray | None = None
    categories: dict[str, int] = field(default_factory=dict)

    def merge(self, other: ColumnCounts) -> ColumnCounts:
        """Add ``other``'s counts to these, in place."""
        self.rows += other.rows
        self.missing += other.missing
        self.count += other.count
        self.total += other.total
        if other.at_or_below is not None:
            self.at_or_below = other.at_or_below if self.at_or_below is None else self.at_or_below + other.at_or_below
        for key, value in other.categories.items():
            self.categories[key] = self.categories.get(key, 0) + value
        return self


class Observed:
    """The data's side of the statistical checks, mergeable: ``add`` each batch, then ``check``. The
    numbers are the same however the rows are split (counts, and exact sums for the means)."""

    def __init__(self, schema: Schema, reference, unusable: Iterable[str] = ()) -> None:
        unusable = set(unusable)
        self.reference = reference
        self.columns = [c for c in schema.columns if c.statistics and c.type != "datetime" and c.name not in unusable]
        self.n_rows = 0
        self.counts = {c.name: ColumnCounts() for c in self.columns if c.name in reference.columns}
        self.edges = {}
        for name in self.counts:
            profile = reference.columns[name]
            if profile.kind == "numeric":
                edges = profile.bin_edges(10) if profile.count else []
                self.edges[name] = np.asarray(edges[1:-1], dtype=np.float64)

    def add(self, frame) -> None:
        self.n_rows += len(frame)
        for name, counts in self.counts.items():
            series = frame[name]
            counts.rows += len(series)
            if self.reference.columns[name].kind != "numeric":
                counts.missing += int(series.isna().sum())
                for key, value in _category_counts(series).items():
                    counts.categories[key] = counts.categories.get(key, 0) + value
                continue
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = np.isfinite(values)
            counts.missing += int((~finite).sum())  # the profile counts +-inf as missing too
            values = values[finite]
            counts.count += int(values.size)
            counts.total += exact_sum(values)
            below = np.searchsorted(np.sort(values), self.edges[name], side="right")
            counts.at_or_below = below if counts.at_or_below is None else counts.at_or_below + below

    def merge(self, other: Observed) -> Observed:
        """Add ``other`` (the same columns over other rows) to this, in place. Returns ``self``."""
        if set(self.counts) != set(other.counts):
            differ = sorted(set(self.counts) ^ set(other.counts))
            raise NotStreamable(f"column(s) {differ} are compared with the reference in some partitions only")
        self.n_rows += other.n_rows
        for name, counts in other.counts.items():
            self.counts[name].merge(counts)
        return self

    def check(self, statistics: Iterable[StatisticSpec]) -> list[CheckResult]:
        results: list[CheckResult] = []
        for spec in statistics:
            check = STATISTICS.get(spec.name)
            results.extend(check.run(self, self.columns, self.reference, spec))
        return results


def _grade(value: float | None, spec: StatisticSpec, shape: str) -> tuple[bool | None, str]:
    if value is None or not np.isfinite(value):
        return None, "error"
    def beyond(limit: Any) -> bool:
        return not limit[0] <= value <= limit[1] if shape == "range" else value > limit

    if beyond(spec.error):
        return False, "error"
    if beyond(spec.warning):
        return False, "warning"
    return True, "error"


def _result(name: str, column: str | None, value: float | None, spec: StatisticSpec, shape: str, message: str,
            n_checked: int, **observed: Any) -> CheckResult:
    passed, severity = _grade(value, spec, shape)
    check = f"stats.{name}" + (f":{column}" if column else "")
    if passed is False:
        limit = spec.error if severity == "error" else spec.warning
        message += f" - beyond the {severity} threshold {limit}"
    return CheckResult(check=check, layer="statistical", kind=name, passed=passed, severity=severity, column=column,
                       n_failed=0 if passed is not False else 1, n_checked=n_checked, message=message,
                       observed={"value": None if value is None else round(float(value), 6),
                                 "warning": spec.warning, "error": spec.error, **observed})


def _skipped(name: str, column: str, message: str) -> CheckResult:
    return CheckResult(check=f"stats.{name}:{column}", layer="statistical", kind=name, passed=None, column=column,
                       message=message)


def _profiled(reference, columns, kind: str | None, name: str) -> Iterable[tuple[Any, Any]]:
    """(schema column, reference column profile) pairs of the wanted kind; skip results for absent ones."""
    for column in columns:
        profile = reference.columns.get(column.name)
        if profile is None:
            yield column, _skipped(name, column.name, f"not checked: the reference profile has no column "
                                                      f"{column.name!r}")
        elif kind is None or profile.kind == kind:
            yield column, profile


def _fmt(value: float) -> str:
    """Readable numbers: 71,983 / 23.57 / 0.0123 / 1.2e-07."""
    value = float(value)
    if value != 0 and (abs(value) >= 1e15 or abs(value) < 1e-3):
        return f"{value:.3g}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _category_counts(series) -> dict[str, int]:
    counts = series.value_counts(dropna=True)
    out: dict[str, int] = {}
    for key, count in zip(counts.index.tolist(), counts.tolist()):
        out[str(key)] = out.get(str(key), 0) + int(count)
    return out


def _row_count(observed: Observed, columns, reference, spec: StatisticSpec) -> list[CheckResult]:
    rows = observed.n_rows
    ratio = rows / reference.n_rows if reference.n_rows else None
    return [_result("row_count", None, ratio, spec, "range",
                    f"{rows:,} rows vs {reference.n_rows:,} in the reference (ratio {ratio:.3g})"
                    if ratio is not None else "the reference has no rows", 1,
                    rows=rows, reference_rows=reference.n_rows)]


def _missing_share(observed: Observed, columns, reference, spec: StatisticSpec) -> list[CheckResult]:
    out = []
    for column, profile in _profiled(reference, columns, None, "missing_share"):
        if isinstance(profile, CheckResult):
            out.append(profile)
            continue
        counts = observed.counts[column.name]
        share = counts.missing / counts.rows if counts.rows else 0.0
        increase = share - profile.missing_share
        out.append(_result("missing_share", column.name, increase, spec, "max",
                           f"{share:.1%} missing vs {profile.missing_share:.1%} in the reference", counts.rows,
                           share=round(share, 6), reference_share=round(profile.missing_share, 6)))
    return out


def _mean_shift(observed: Observed, columns, reference, spec: StatisticSpec) -> list[CheckResult]:
    out = []
    for column, profile in _profiled(reference, columns, "numeric", "mean_shift"):
        if isinstance(profile, CheckResult):
            out.append(profile)
            continue
        counts = observed.counts[column.name]
        if counts.count == 0 or profile.mean is None or not profile.std:
            out.append(_skipped("mean_shift", column.name, "not checked: no values here or no spread in the reference"))
            continue
        mean = float(counts.total / counts.count)
        shift = abs(mean - profile.mean) / profile.std
        out.append(_result("mean_shift", column.name, shift, spec, "max",
                           f"mean {_fmt(mean)} vs {_fmt(profile.mean)} in the reference: {shift:.2f} reference "
                           f"standard deviations ({_fmt(profile.std)}) apart", counts.count,
                           mean=mean, reference_mean=profile.mean, reference_std=profile.std))
    return out


def _quantiles(observed: Observed, columns, reference, spec: StatisticSpec) -> list[CheckResult]:
    out = []
    for column, profile in _profiled(reference, columns, "numeric", "quantiles"):
        if isinstance(profile, CheckResult):
            out.append(profile)
            continue
        counts = observed.counts[column.name]
        edges = profile.bin_edges(10) if profile.count else []
        if counts.count == 0 or len(edges) < 3:
            out.append(_skipped("quantiles", column.name, "not checked: no values here or a single value in the "
                                                          "reference"))
            continue
        reference_cdf = np.cumsum(profile.histogram(edges))[:-1] / profile.count
        # the profile's bins are (edge[i], edge[i+1]]: the share <= each inner edge, counted the same way
        inner = np.asarray(edges[1:-1], dtype=np.float64)
        data_cdf = counts.at_or_below / counts.count
        gaps = np.abs(data_cdf - reference_cdf)
        worst = int(np.argmax(gaps))
        out.append(_result(
            "quantiles", column.name, float(gaps[worst]), spec, "max",
            f"{data_cdf[worst]:.1%} of values are <= {_fmt(inner[worst])}, vs {reference_cdf[worst]:.1%} in the "
            f"reference (largest gap over the reference's decile edges)", counts.count,
            edge=float(inner[worst]), share=round(float(data_cdf[worst]), 6),
            reference_share=round(float(reference_cdf[worst]), 6)))
    return out


def _category_shares(observed: Observed, columns, reference, spec: StatisticSpec) -> list[CheckResult]:
    out = []
    for column, profile in _profiled(reference, columns, "categorical", "category_shares"):
        if isinstance(profile, CheckResult):
            out.append(profile)
            continue
        counts = observed.counts[column.name].categories
        total = sum(counts.values())
        if total == 0 or profile.count == 0:
            out.append(_skipped("category_shares", column.name, "not checked: no values here or in the reference"))
            continue
        keys = sorted(set(counts) | set(profile.frequencies))
        changes = {k: counts.get(k, 0) / total - profile.frequencies.get(k, 0) / profile.count for k in keys}
        worst = max(keys, key=lambda k: (abs(changes[k]), k))
        share, before = counts.get(worst, 0) / total, profile.frequencies.get(worst, 0) / profile.count
        out.append(_result("category_shares", column.name, abs(changes[worst]), spec, "max",
                           f"{worst!r} is {share:.1%} of the rows vs {before:.1%} in the reference "
                           f"(largest change of a category's share)", total,
                           category=worst, share=round(share, 6), reference_share=round(before, 6)))
    return out


def _unseen_categories(observed: Observed, columns, reference, spec: StatisticSpec) -> list[CheckResult]:
    out = []
    for column, profile in _profiled(reference, columns, "categorical", "unseen_categories"):
        if isinstance(profile, CheckResult):
            out.append(profile)
            continue
        if profile.other:
            out.append(_skipped("unseen_categories", column.name, "not checked: the reference profile kept only "
                                                                  "its most frequent categories"))
            continue
        counts = observed.counts[column.name].categories
        total = sum(counts.values())
        unseen = {k: v for k, v in counts.items() if k not in profile.frequencies}
        share = sum(unseen.values()) / total if total else 0.0
        listed = sorted(unseen, key=lambda k: (-unseen[k], k))[:5]
        detail = f": {listed}" if listed else ""
        out.append(_result("unseen_categories", column.name, share, spec, "max",
                           f"{sum(unseen.values()):,} of {total:,} rows ({share:.1%}) hold {len(unseen)} "
                           f"categor{'y' if len(unseen) == 1 else 'ies'} the reference never saw{detail}", total,
                           unseen=listed))
    return out


for _check in (
    StatCheck("row_count", "range", [0.1, 10.0], [0.01, 100.0], "rows / reference rows within [low, high]",
              _row_count),
    StatCheck("missing_share", "max", 0.05, 0.3, "increase of the share of missing values", _missing_share),
    StatCheck("mean_shift", "max", 0.2, 1.5, "|mean change| in reference standard deviations", _mean_shift),
    StatCheck("quantiles", "max", 0.1, 0.35, "largest gap of the share below the reference decile edges",
              _quantiles),
    StatCheck("category_shares", "max", 0.1, 0.5, "largest change of one category's share", _category_shares),
    StatCheck("unseen_categories", "max", 0.01, 0.1, "share of rows in categories the reference never saw",
              _unseen_categories),
):
    STATISTICS.register(_check.name, _check)
