"""The canary's guardrails: each one a value, a threshold and a verdict (``pass``, ``breach`` or ``wait``).

Early checks use what is known as soon as rows are served: the canary's error rate (rows of tier ``rejected``),
fallback rate (rows not answered by the primary tier), score drift against the champion (population stability
index on the champion's score deciles), the estimated accuracy of the production loop (confidence-based: a row
decided positive is right with probability ``score``, else ``1 - score``), and, from a serve ``/metrics`` page,
latency p99 and failed requests. Once labels arrive: the realised accuracy and the KPI (the labels' positive
rate, or a 0/1 KPI column).

Comparisons of canary and champion (estimated accuracy, realised accuracy, KPI) are judged with the always-valid
mSPRT of :mod:`mlprod.traffic.analysis.sequential`, shifted to the allowed drop: the null is "the canary is worse by
exactly the allowed drop"; a breach needs the always-valid p-value below ``alpha`` split over these three tests and
an observed drop beyond the allowance. Because the test stays valid under any number of looks, a schedule that
runs ``mlprod canary step`` every hour does not inflate false rollbacks. Rates and drift need ``min_rows`` canary
rows before they can breach. Every function works on numpy arrays, so thousands of rollouts simulate at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .analysis import sequential

PASS, BREACH, WAIT = "pass", "breach", "wait"
SEQUENTIAL_TESTS = 3  # estimated metric, realised metric, KPI: alpha is split over them


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    threshold: float
    verdict: str  # pass | breach | wait
    detail: str = ""

    def line(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.4g}"
        return f"{self.name:<22} {value:>10}  threshold {self.threshold:<8.4g} {self.verdict.upper()}" + (
            f"  ({self.detail})" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": _finite(self.value), "threshold": self.threshold, "verdict": self.verdict,
                "detail": self.detail}


def shifted_drop(mean_a, var_a, n_a, mean_b, var_b, n_b, *, drop: float, relative: bool, tau2: float, alpha: float):
    """Always-valid test that arm b (canary) falls more than ``drop`` below arm a (champion): ``(p, breach)``.

    ``mean``/``var`` are per-unit means and variances (for 0/1 outcomes ``p`` and ``p(1-p)``). Absolute drop: the
    statistic is ``mean_b - mean_a + drop``; relative: ``mean_b - (1 - drop) mean_a``. At the boundary its mean is
    0, so the mSPRT's p-value is always valid there, and conservative for any smaller drop."""
    mean_a, mean_b = np.asarray(mean_a, dtype=float), np.asarray(mean_b, dtype=float)
    n_a, n_b = np.asarray(n_a, dtype=float), np.asarray(n_b, dtype=float)
    scale = (1 - drop) if relative else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = mean_b - scale * mean_a + (0.0 if relative else drop)
        v = scale ** 2 * np.asarray(var_a) / n_a + np.asarray(var_b) / n_b
    ok = (n_a > 1) & (n_b > 1) & np.isfinite(v)
    log_lr = sequential.log_lr(np.where(ok, theta, 0.0), np.where(ok, v, 0.0), tau2)
    p = np.minimum(1.0, np.exp(-log_lr))
    return p, ok & (p < alpha) & (theta < 0)


def proportion_drop(x_a, n_a, x_b, n_b, **kw):
    """:func:`shifted_drop` for counts of successes ``x`` out of ``n``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p_a, p_b = np.asarray(x_a) / np.asarray(n_a, dtype=float), np.asarray(x_b) / np.asarray(n_b, dtype=float)
    return shifted_drop(p_a, p_a * (1 - p_a), n_a, p_b, p_b * (1 - p_b), n_b, **kw)


def rate_check(name: str, count: int, rows: int, threshold: float, min_rows: int) -> Check:
    value = count / rows if rows else None
    if rows < min_rows:
        return Check(name, value, threshold, WAIT, f"{rows} canary rows, {min_rows} needed")
    return Check(name, value, threshold, BREACH if value > threshold else PASS, f"{count} of {rows} rows")


def psi(champion: np.ndarray, canary: np.ndarray, bins: int = 10) -> float | None:
    """Population stability index of the canary's scores on the champion's score deciles (the drift report's
    formula: shares below the floor are raised to it)."""
    from ..drift.stattests import PSI_EPSILON

    if len(champion) == 0 or len(canary) == 0:
        return None
    edges = np.unique(np.quantile(champion, np.linspace(0, 1, bins + 1)[1:-1]))
    p = np.bincount(np.searchsorted(edges, champion, side="right"), minlength=len(edges) + 1) / len(champion)
    q = np.bincount(np.searchsorted(edges, canary, side="right"), minlength=len(edges) + 1) / len(canary)
    p, q = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def drop_check(name: str, champion: tuple, canary: tuple, threshold: float, *, relative: bool, tau2: float,
               alpha: float, min_rows: int) -> Check:
    """``champion``/``canary``: (mean, variance, n) of per-unit values; the value shown is the observed drop."""
    (ma, va, na), (mb, vb, nb) = champion, canary
    if min(na, nb) < min_rows:
        return Check(name, None, threshold, WAIT, f"{nb} canary / {na} champion units, {min_rows} needed each")
    drop = (ma - mb) / ma if relative and ma else (ma - mb)
    p, breach = shifted_drop(ma, va, na, mb, vb, nb, drop=threshold, relative=relative, tau2=tau2, alpha=alpha)
    detail = f"champion {ma:.4g}, canary {mb:.4g} (n {na}/{nb}), always-valid p {float(p):.3g} vs {alpha:.3g}"
    return Check(name, float(drop), threshold, BREACH if bool(breach) else PASS, detail)


def summary(values: np.ndarray) -> tuple[float, float, int]:
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return (math.nan, math.nan, 0)
    return (float(values.mean()), float(values.var()), int(values.size))


# -- a serve /metrics page --------------------------------------------------------------------------------
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text page: (name, labels, value)."""
    out = []
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match or line.startswith("#"):
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        out.append((match.group(1), dict(_LABEL.findall(match.group(2) or "")), value))
    return out


def served_metrics(samples: list[tuple[str, dict[str, str], float]], arm: str = "canary") -> dict[str, float | None]:
    """The arm's requests, failed requests (status other than ``ok``) and latency p99 in ms (the upper bound of
    the histogram bucket holding the 99th percentile) from ``mlprod_serving_arm_*``."""
    requests = errors = 0.0
    buckets: list[tuple[float, float]] = []
    for name, labels, value in samples:
        if labels.get("arm") != arm:
            continue
        if name == "mlprod_serving_arm_requests_total":
            requests += value
            errors += value if labels.get("status", "ok") not in ("ok", "200") else 0.0
        elif name == "mlprod_serving_arm_latency_seconds_bucket" and "le" in labels:
            buckets.append((float(labels["le"].replace("+Inf", "inf")), value))
    p99 = None
    if buckets:
        buckets.sort()
        total = buckets[-1][1]
        if total > 0:
            p99 = next(le for le, count in buckets if count >= 0.99 * total) * 1000
    return {"requests": requests, "errors": errors, "latency_p99_ms": p99}


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def detection_power(p_champion: float, p_canary: float, n_champion, n_canary, *, drop: float, tau2: float,
                    alpha: float) -> np.ndarray:
    """The chance that a look with ``n_champion``/``n_canary`` units (arrays: one per look) sees the canary's
    proportion fall more than ``drop`` below the champion's (normal approximation, variance at the truth): the
    prediction of the ramp step at which a regression of ``p_champion - p_canary`` is rolled back."""
    from scipy.stats import norm

    n_a, n_b = np.asarray(n_champion, dtype=float), np.asarray(n_canary, dtype=float)
    theta = p_canary - p_champion + drop
    v = p_champion * (1 - p_champion) / n_a + p_canary * (1 - p_canary) / n_b
    return norm.cdf((-theta - sequential.half_width(v, tau2, alpha)) / np.sqrt(v))


def detectable_regression(p_champion: float, n_champion: float, n_canary: float, *, drop: float, tau2: float,
                          alpha: float, power: float = 0.8) -> float | None:
    """The smallest fall of the canary's proportion below the champion's ``p_champion`` that one look with these
    unit counts rolls back with probability ``power`` (:func:`detection_power`); None when even a canary that is
    always wrong would not be caught that often (too few units)."""
    from scipy.optimize import brentq

    def short(delta: float) -> float:
        return float(detection_power(p_champion, p_champion - delta, [n_champion], [n_canary], drop=drop, tau2=tau2,
                                     alpha=alpha)[0]) - power

    if min(n_champion, n_canary) < 1 or short(p_champion) < 0:
        return None
    return float(brentq(short, 0.0, p_champion, xtol=1e-6))


def ramp_plan(ramp: list[float], units_per_step: int, p_champion: float, *, drop: float, tau2: float, alpha: float,
              power: float = 0.8, min_rows: int = 100) -> list[dict[str, Any]]:
    """Per ramp step, the units each arm has gathered by its end (``units_per_step`` new labelled units a step,
    split by the step's share) and the regression that step's look catches with probability ``power`` (None:
    fewer than ``min_rows`` units in an arm, or too few to catch any regression that often)."""
    rows, n_champion, n_canary = [], 0.0, 0.0
    for share in ramp:
        n_canary += units_per_step * share / 100
        n_champion += units_per_step * (100 - share) / 100
        delta = None if min(n_champion, n_canary) < min_rows else detectable_regression(
            p_champion, n_champion, n_canary, drop=drop, tau2=tau2, alpha=alpha, power=power)
        rows.append({"share": share, "canary_units": int(round(n_canary)), "champion_units": int(round(n_champion)),
                     "detectable_drop": delta})
    return rows
