"""The registry of drift stat tests, and which one is used by default for a column.

Every test compares a reference and a current distribution (a :class:`~mlprod.drift.distributions.Pair`)
and returns a statistic and, for hypothesis tests, a p-value. Tests are looked up by name; an unknown
name is an error that lists the available ones. Formulas, binning and thresholds: docs/drift.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import DriftError
from .distributions import Pair

P_VALUE = "p_value"  # drift when p_value < threshold
DISTANCE = "distance"  # drift when statistic >= threshold
EXACT = "exact"  # the "constant" rule: drift when the statistic (0 same value, 1 another value) > threshold (0)
NONE = "none"  # no test ran (no values on a side)
PSI_EPSILON = 1e-4  # bin shares below this are raised to it (PSI only)
DEFAULT_BINS = 10
SMALL_SAMPLE = 1000  # below this many values on either side, the default tests are hypothesis tests


@dataclass(frozen=True)
class Outcome:
    statistic: float
    p_value: float | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StatTest:
    """A named test: what it applies to, how its score is read, its default threshold and its function."""

    name: str
    title: str
    kinds: tuple[str, ...]
    score: str
    default_threshold: float
    binning: str
    compute: Callable[[Pair, int], Outcome]

    def drifted(self, outcome: Outcome, threshold: float) -> bool:
        if self.score == P_VALUE:
            return outcome.p_value is not None and outcome.p_value < threshold
        return outcome.statistic >= threshold


_REGISTRY: dict[str, StatTest] = {}
_BUILTIN_LOADED = []


def register(test: StatTest) -> None:
    """Add a test under ``test.name`` (replacing one of the same name)."""
    _REGISTRY[test.name] = test


def available() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_test(name: str) -> StatTest:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DriftError(f"No stat test named {name!r}; available: {', '.join(sorted(_REGISTRY))}.{hint}") from None


def default_test(pair: Pair) -> str:
    """The documented default: hypothesis tests for small samples, distances for large ones.

    A numeric reference that is constant (min == max) has no spread to scale the Wasserstein distance
    by, so large samples use ``jensen_shannon`` on the bins around its one value instead.
    """
    small = min(pair.n_ref, pair.n_cur) < SMALL_SAMPLE
    if small:
        if pair.n_distinct <= 2:
            return "z_test"
        return "chi_square" if pair.kind == "categorical" else "ks"
    if pair.kind == "categorical" or pair.reference.constant:
        return "jensen_shannon"
    return "wasserstein"


# --- the tests -----------------------------------------------------------------------------------

def ks(pair: Pair, n_bins: int) -> Outcome:
    """Two-sample Kolmogorov-Smirnov: D = max |F_ref(x) - F_cur(x)|."""
    from scipy import stats

    if pair.ref_raw is not None and pair.cur_raw is not None:
        result = stats.ks_2samp(pair.ref_raw, pair.cur_raw, method="auto")
        return Outcome(float(result.statistic), float(result.pvalue),
                       {"data": "raw values", "p_value_method": "scipy ks_2samp (exact when small)"})
    ref_cdf = np.cumsum(pair.ref_counts) / pair.n_ref
    cur_cdf = np.cumsum(pair.cur_counts) / pair.n_cur
    statistic = float(np.max(np.abs(ref_cdf - cur_cdf)))
    effective = pair.n_ref * pair.n_cur / (pair.n_ref + pair.n_cur)
    p_value = float(stats.kstwo.sf(statistic, round(effective)))
    return Outcome(statistic, p_value, {"data": f"{pair.grid} histogram ({pair.keys.size} buckets)",
                                        "p_value_method": "asymptotic (kstwo, n = n_ref*n_cur/(n_ref+n_cur))"})


def wasserstein(pair: Pair, n_bins: int) -> Outcome:
    """Wasserstein-1 distance divided by the reference standard deviation."""
    if pair.ref_raw is not None and pair.cur_raw is not None:
        from scipy import stats

        distance = float(stats.wasserstein_distance(pair.ref_raw, pair.cur_raw))
        data = "raw values"
    else:
        ref_cdf = np.cumsum(pair.ref_counts) / pair.n_ref
        cur_cdf = np.cumsum(pair.cur_counts) / pair.n_cur
        distance = float(np.sum(np.abs(ref_cdf - cur_cdf)[:-1] * np.diff(pair.values)))
        data = f"{pair.grid} histogram ({pair.keys.size} buckets)"
    details = {"data": data, "wasserstein": distance}
    ref, cur = pair.reference, pair.current  # constant: min == max (a std from rounding noise is no scale)
    if not ref.constant and (ref.std or 0.0) > 0:
        scale = ref.std
        details["normalized_by"] = "reference std"
    elif not cur.constant and (cur.std or 0.0) > 0:
        scale = cur.std
        details["normalized_by"] = "current std (the reference is constant)"
    else:
        scale = 1.0
        details["normalized_by"] = "1 (both sides are constant)"
    return Outcome(distance / scale, None, details)


def psi(pair: Pair, n_bins: int) -> Outcome:
    """Population stability index: sum (q - p) ln(q / p) over reference-quantile bins."""
    ref, cur, labels = pair.quantile_bins(n_bins)
    p = np.maximum(ref / pair.n_ref, PSI_EPSILON)
    q = np.maximum(cur / pair.n_cur, PSI_EPSILON)
    value = float(np.sum((q - p) * np.log(q / p)))
    return Outcome(value, None, {"bins": len(labels), "empty_bin_share": PSI_EPSILON})


def jensen_shannon(pair: Pair, n_bins: int) -> Outcome:
    """Jensen-Shannon distance (base 2, between 0 and 1) over reference-quantile bins or categories."""
    ref, cur, labels = pair.quantile_bins(n_bins)
    p, q = ref / pair.n_ref, cur / pair.n_cur
    m = (p + q) / 2
    divergence = (_kl(p, m) + _kl(q, m)) / 2
    return Outcome(float(math.sqrt(max(divergence, 0.0))), None, {"bins": len(labels)})


def chi_square(pair: Pair, n_bins: int) -> Outcome:
    """Pearson chi-square test of homogeneity on the 2 x k table of counts (no continuity correction)."""
    from scipy import stats

    ref, cur, _ = pair.quantile_bins(n_bins)
    seen = (ref + cur) > 0
    table = np.vstack([ref[seen], cur[seen]]).astype(np.float64)
    if table.shape[1] < 2:
        return Outcome(0.0, 1.0, {"bins": int(table.shape[1]), "note": "a single value on both sides"})
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return Outcome(statistic, float(stats.chi2.sf(statistic, dof)), {"bins": int(table.shape[1]), "dof": dof})


def z_test(pair: Pair, n_bins: int) -> Outcome:
    """Two-proportion z-test on the share of one of (at most) two values."""
    from scipy import stats

    seen = np.flatnonzero((pair.ref_counts + pair.cur_counts) > 0)
    if seen.size > 2:
        raise DriftError(f"column {pair.column!r}: the z_test compares two proportions and needs a column with "
                         f"at most two values, got {seen.size}; use chi_square or jensen_shannon instead")
    if seen.size == 0:
        return Outcome(0.0, 1.0, {})
    event = seen[-1]
    name = pair.labels[event] if pair.kind == "categorical" else f"{pair.values[event]:.6g}"
    p_ref, p_cur = pair.ref_counts[event] / pair.n_ref, pair.cur_counts[event] / pair.n_cur
    pooled = (pair.ref_counts[event] + pair.cur_counts[event]) / (pair.n_ref + pair.n_cur)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / pair.n_ref + 1 / pair.n_cur))
    z = 0.0 if spread == 0 else (p_cur - p_ref) / spread
    details = {"value": name, "reference_share": float(p_ref), "current_share": float(p_cur)}
    return Outcome(float(z), float(2 * stats.norm.sf(abs(z))), details)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def _load_builtin() -> None:
    if _BUILTIN_LOADED:
        return
    _BUILTIN_LOADED.append(True)
    both = ("numeric", "categorical")
    quantile = f"reference-quantile bins ({DEFAULT_BINS}) + out-of-range bins; categories as they are"
    for test in (
        StatTest("ks", "Kolmogorov-Smirnov", ("numeric",), P_VALUE, 0.05, "none (raw values or the fine histogram)", ks),
        StatTest("wasserstein", "Wasserstein distance / reference std", ("numeric",), DISTANCE, 0.1,
                 "none (raw values or the fine histogram)", wasserstein),
        StatTest("psi", "Population stability index", both, DISTANCE, 0.2, quantile, psi),
        StatTest("jensen_shannon", "Jensen-Shannon distance", both, DISTANCE, 0.1, quantile, jensen_shannon),
        StatTest("chi_square", "Chi-square test of homogeneity", both, P_VALUE, 0.05, quantile, chi_square),
        StatTest("z_test", "Two-proportion z-test", both, P_VALUE, 0.05, "the two values", z_test),
    ):
        _REGISTRY.setdefault(test.name, test)  # a test registered earlier under the same name wins
