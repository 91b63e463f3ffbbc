"""``mlprod experiment analyze``: per arm and per stratum, the units, outcome rate, KPI and model metrics with
confidence intervals; each treatment against the control with the always-valid test (:mod:`.sequential`); the
sample-ratio mismatch check (:mod:`.srm`). The result is a plain dict (the JSON report), computed here and rendered
elsewhere (:mod:`.report`).

Intervals: outcome rates use Wilson's interval, KPI means Student's t, the KPI difference Welch's t-test (these are
fixed-horizon: valid at one planned look). The difference of outcome rates has both the fixed-horizon (Wald)
interval and the always-valid confidence sequence, which holds however often the experiment is looked at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from . import sequential, srm
from ...errors import ExperimentError
from .inputs import Exposures

SCHEMA, SCHEMA_VERSION = "experiment_analysis", 1
DEFAULT_METRICS = ("roc_auc", "average_precision", "brier", "log_loss")
MAX_LEVELS = 50  # strata levels reported per column (the largest ones)


def analyze(exposures: Exposures, *, tau2: float, alpha: float = 0.05, shares: Mapping[str, float] | None = None,
            control: str | None = None, srm_threshold: float = srm.THRESHOLD, confidence: float = 0.95,
            metrics: Sequence[str] = DEFAULT_METRICS, threshold: float = 0.5) -> dict:
    """The analysis of ``exposures`` as a dict (sorted-key JSON ready; NaN as None)."""
    from ...registry.scoring import get_metric

    for name in metrics:
        get_metric(name, where="--metrics")
    if not (tau2 > 0 and math.isfinite(tau2)):
        raise ExperimentError(f"the mixing variance tau2 must be positive, got {tau2}; take it from the plan (--plan)")
    frame = exposures.frame
    observed = sorted(frame["arm"].unique())
    shares = dict(shares) if shares else {a: 1 / len(observed) for a in observed}
    unknown = [a for a in observed if a not in shares]
    if unknown:
        raise ExperimentError(f"arm(s) {', '.join(unknown)} in the data are not among the planned arms "
                              f"({', '.join(shares)}); give every arm's share with --shares")
    arms = list(shares)
    control = control or ("control" if "control" in arms else arms[0])
    if control not in arms:
        raise ExperimentError(f"control arm {control!r} is not among the arms ({', '.join(arms)}); name it with "
                              "--control")
    if len(arms) < 2:
        raise ExperimentError(f"one arm only ({arms[0]}); expected a control and at least one treatment")
    treatments = [a for a in arms if a != control]
    per = alpha / len(treatments)
    ctx = dict(tau2=tau2, alpha=per, confidence=confidence, metrics=list(metrics), threshold=threshold,
               has_kpi=exposures.has_kpi, has_score=exposures.has_score)
    overall = _block(frame, arms, control, treatments, shares, srm_threshold, ctx)
    strata = {}
    for name in exposures.strata:
        column = f"stratum:{name}"
        sizes = frame[column].value_counts(sort=False)
        levels = sorted(sizes.index, key=lambda v: (-int(sizes[v]), str(v)))
        strata[name] = {"levels": [{"level": str(level), **_block(frame[frame[column] == level], arms, control,
                                                                   treatments, shares, srm_threshold, ctx)}
                                   for level in levels[:MAX_LEVELS]],
                        "levels_not_shown": max(0, len(levels) - MAX_LEVELS)}
    result = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "experiment": exposures.experiment,
              "input": exposures.to_dict(), "control": control, "arms": arms,
              "settings": {"alpha": alpha, "alpha_per_comparison": per, "tau2": tau2, "confidence": confidence,
                           "srm_threshold": srm_threshold, "shares": shares, "metrics": list(metrics),
                           "threshold": threshold, "strata": exposures.strata,
                           "test": sequential.METHOD, "rate_interval": "Wilson",
                           "kpi_interval": "Student t (mean), Welch t (difference); fixed-horizon"},
              **overall, "strata": strata}
    result["verdict"] = _verdict(result)
    return _plain(result)


def _block(frame: pd.DataFrame, arms, control, treatments, shares, srm_threshold, ctx) -> dict:
    groups = {a: frame[frame["arm"] == a] for a in arms}
    per_arm = {a: _arm(g, ctx) for a, g in groups.items()}
    sample_ratio = srm.check({a: len(g) for a, g in groups.items()}, shares, threshold=srm_threshold)
    return {"per_arm": per_arm, "sample_ratio": sample_ratio.to_dict(),
            "comparisons": {t: _compare(groups[control], groups[t], ctx) for t in treatments}}


def _arm(group: pd.DataFrame, ctx) -> dict:
    from scipy.stats import binomtest

    labelled = group["outcome"].dropna()
    n, k = len(labelled), int(labelled.sum())
    out = {"units": len(group), "labelled": n, "conversions": k, "rate": k / n if n else None, "rate_ci": None}
    if n:
        ci = binomtest(k, n).proportion_ci(confidence_level=ctx["confidence"], method="wilson")
        out["rate_ci"] = [ci.low, ci.high]
    if ctx["has_kpi"]:
        out["kpi"] = _mean_ci(group["kpi"].dropna().to_numpy(), ctx["confidence"])
    if ctx["has_score"]:
        out["metrics"] = _metrics(group, ctx)
    if "model_version" in group:
        out["model_versions"] = sorted(group["model_version"].dropna().unique().tolist())
    return out


def _compare(a: pd.DataFrame, b: pd.DataFrame, ctx) -> dict:
    from scipy.stats import norm

    ya, yb = a["outcome"].dropna(), b["outcome"].dropna()
    na, nb, xa, xb = len(ya), len(yb), float(ya.sum()), float(yb.sum())
    out: dict = {"difference": None, "relative": None, "p_value": None, "ci": None, "ci_fixed_horizon": None,
                 "significant": False}
    if na and nb:
        diff = xb / nb - xa / na
        v = float(sequential.variance(xa, na, xb, nb))
        p = float(sequential.p_value(xa, na, xb, nb, ctx["tau2"]))
        h = float(sequential.half_width(v, ctx["tau2"], ctx["alpha"])) if v > 0 else None
        z = norm.ppf(1 - (1 - ctx["confidence"]) / 2)
        out.update(difference=diff, relative=diff / (xa / na) if xa else None, p_value=p,
                   ci=[diff - h, diff + h] if h is not None else None,
                   ci_fixed_horizon=[diff - z * math.sqrt(v), diff + z * math.sqrt(v)],
                   significant=bool(p <= ctx["alpha"]))
    if ctx["has_kpi"]:
        out["kpi"] = _welch(a["kpi"].dropna().to_numpy(), b["kpi"].dropna().to_numpy(), ctx["confidence"])
    return out


def _mean_ci(values: np.ndarray, confidence: float) -> dict:
    from scipy import stats

    out = {"n": int(len(values)), "mean": float(values.mean()) if len(values) else None, "ci": None}
    if len(values) >= 2:
        sem = stats.sem(values)
        if sem > 0:
            low, high = stats.t.interval(confidence, len(values) - 1, loc=values.mean(), scale=sem)
            out["ci"] = [float(low), float(high)]
    return out


def _welch(a: np.ndarray, b: np.ndarray, confidence: float) -> dict:
    from scipy.stats import ttest_ind

    out = {"difference": float(b.mean() - a.mean()) if len(a) and len(b) else None, "ci": None, "p_value": None}
    if len(a) >= 2 and len(b) >= 2 and (a.var() > 0 or b.var() > 0):
        test = ttest_ind(b, a, equal_var=False)
        ci = test.confidence_interval(confidence_level=confidence)
        out.update(ci=[float(ci.low), float(ci.high)], p_value=float(test.pvalue))
    return out


def _metrics(group: pd.DataFrame, ctx) -> dict:
    from ...registry.scoring import metric_values

    rows = group[group["score"].notna() & group["outcome"].notna()]
    if len(rows) == 0:
        return {"rows": 0}
    values = metric_values(rows["outcome"].to_numpy(dtype=int), rows["score"].to_numpy(), threshold=ctx["threshold"],
                           metrics=ctx["metrics"])
    return {"rows": len(rows), **values}


def _verdict(result: dict) -> dict:
    srm_flag = result["sample_ratio"]["mismatch"]
    lines = {}
    for arm, c in result["comparisons"].items():
        if c["difference"] is None:
            lines[arm] = "no labelled units yet"
        elif c["significant"]:
            lines[arm] = f"{'higher' if c['difference'] > 0 else 'lower'} outcome rate than {result['control']}"
        else:
            lines[arm] = "no significant difference yet"
    return {"sample_ratio_mismatch": srm_flag, "trustworthy": not srm_flag and not result["input"][
        "units_in_two_arms_excluded"], "comparisons": lines}


def _plain(value):
    """JSON-ready: numpy scalars as Python numbers, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    return value
