"""``mlprod experiment plan``: units per arm for a two-proportion experiment analysed with the always-valid test.

The plan is made for the test ``mlprod experiment analyze`` uses (:mod:`.sequential`, mSPRT), not for a
fixed-horizon z-test: its sample size is the smallest ``n`` per arm at which the mSPRT, looked at once at ``n``,
rejects with the asked power at the minimum detectable effect. Looks before ``n`` only add chances to reject, so
the power holds for any schedule of looks that includes ``n`` (and peeking costs no false positives). The mixing
variance ``tau2`` is chosen to minimise that ``n`` and is recorded in the plan: analyze reads it back (``--plan``).
With more than two arms every treatment is compared with the control at ``alpha / (arms - 1)`` (Bonferroni).
The fixed-horizon z-test's ``n`` (pooled variance under no difference) is shown for comparison.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from . import sequential
from ...errors import ExperimentError

SCHEMA, SCHEMA_VERSION = "experiment_plan", 1


@dataclass(frozen=True)
class Plan:
    baseline: float  # control rate
    treatment: float  # the rate at the minimum detectable effect
    mde: float  # absolute difference
    mde_relative: bool  # the MDE was given relative to the baseline
    alpha: float  # family-wise, two-sided
    alpha_per_comparison: float
    power: float  # asked
    arms: int
    n_per_arm: int  # for the always-valid test
    n_total: int
    achieved_power: float  # at n_per_arm, one look (a lower bound for more looks)
    tau2: float  # the mSPRT's mixing variance
    n_fixed_horizon: int  # a z-test looked at once, for comparison
    test: str = sequential.METHOD

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **asdict(self)}

    def rows(self) -> list[tuple[str, str]]:
        """The plan as (label, value) rows for a printed table."""
        mde = f"{self.mde:+.4g}" + (f" ({self.mde / self.baseline:+.1%} of the baseline)" if self.mde_relative else "")
        return [("test", self.test), ("baseline rate", f"{self.baseline:.4g}"), ("minimum detectable effect", mde),
                ("treatment rate at the MDE", f"{self.treatment:.4g}"),
                ("alpha (two-sided)", f"{self.alpha:g}" + (f", {self.alpha_per_comparison:.4g} per comparison"
                                                           if self.arms > 2 else "")),
                ("power", f"{self.power:g} asked, {self.achieved_power:.3f} at n"), ("arms", str(self.arms)),
                ("units per arm", f"{self.n_per_arm:,}"), ("units in total", f"{self.n_total:,}"),
                ("mixing variance tau2", f"{self.tau2:.4g}"),
                ("fixed-horizon z-test, one look", f"{self.n_fixed_horizon:,} per arm (no peeking allowed)")]


def plan(baseline: float, mde: float, *, relative: bool = False, alpha: float = 0.05, power: float = 0.8,
         arms: int = 2) -> Plan:
    """The sample size per arm; invalid settings raise :class:`ExperimentError`."""
    _check(baseline, mde, relative, alpha, power, arms)
    delta = baseline * mde if relative else mde
    treatment = round(baseline + delta, 12)
    if not 0 < treatment < 1:
        raise ExperimentError(f"the treatment rate at the MDE is {treatment:.4g} (baseline {baseline:g} "
                              f"{'x (1 + mde)' if relative else '+ mde'}); expected a rate strictly between 0 and 1: "
                              "give a smaller --mde")
    per = alpha / (arms - 1)
    tau2 = _best_tau2(baseline, treatment, per, power)
    n = _smallest_n(baseline, treatment, tau2, per, power)
    return Plan(baseline=baseline, treatment=treatment, mde=delta, mde_relative=relative, alpha=alpha,
                alpha_per_comparison=per, power=power, arms=arms, n_per_arm=n, n_total=n * arms,
                achieved_power=sequential.final_look_power(baseline, treatment, n, tau2, per), tau2=tau2,
                n_fixed_horizon=fixed_horizon_n(baseline, treatment, per, power))


def fixed_horizon_n(p_a: float, p_b: float, alpha: float, power: float) -> int:
    """Units per arm for a two-sided two-proportion z-test looked at once (pooled variance under no difference)."""
    from scipy.stats import norm

    pbar = (p_a + p_b) / 2
    root = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
            + norm.ppf(power) * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b)))
    return math.ceil(root ** 2 / (p_b - p_a) ** 2)


def _smallest_n(p_a: float, p_b: float, tau2: float, alpha: float, power: float) -> int:
    """The smallest integer n at which the one-look power reaches ``power`` (doubling, then bisection)."""
    def enough(n: int) -> bool:
        return sequential.final_look_power(p_a, p_b, n, tau2, alpha) >= power

    high = max(2, fixed_horizon_n(p_a, p_b, alpha, power))
    while not enough(high):
        high *= 2
        if high > 10 ** 12:
            raise ExperimentError("no sample size up to 1e12 units per arm reaches the power; give a larger --mde")
    low = 1
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def _best_tau2(p_a: float, p_b: float, alpha: float, power: float) -> float:
    """The mixing variance that minimises the planned n (searched over log tau in [delta/20, 20 delta])."""
    from scipy.optimize import brentq, minimize_scalar

    delta = abs(p_b - p_a)

    def n_of(log_tau: float) -> float:
        tau2 = math.exp(2 * log_tau)
        f = lambda log_n: sequential.final_look_power(p_a, p_b, math.exp(log_n), tau2, alpha) - power  # noqa: E731
        return brentq(f, 0.0, math.log(1e13))

    found = minimize_scalar(n_of, bounds=(math.log(delta / 20), math.log(delta * 20)), method="bounded",
                            options={"xatol": 1e-4})
    return float(f"{math.exp(2 * found.x):.6g}")


def _check(baseline: float, mde: float, relative: bool, alpha: float, power: float, arms: int) -> None:
    problems = []
    if not 0 < baseline < 1:
        problems.append(f"--baseline must be a rate strictly between 0 and 1, got {baseline:g}")
    if not mde > 0 or not math.isfinite(mde):
        problems.append(f"--mde must be a positive {'share of the baseline' if relative else 'difference of rates'}"
                        f", got {mde:g}")
    if not 0 < alpha < 0.5:
        problems.append(f"--alpha must be between 0 and 0.5, got {alpha:g}")
    if not 0.5 <= power < 1:
        problems.append(f"--power must be at least 0.5 and below 1, got {power:g}")
    if arms < 2:
        problems.append(f"--arms must be at least 2 (a control and a treatment), got {arms}")
    if problems:
        raise ExperimentError("; ".join(problems))
