"""The sample-ratio mismatch check: units per arm against the planned shares (chi-square goodness of fit).

A split that differs from the plan more than chance allows means assignment, logging or joining lost units of one
arm, which biases every comparison; the analysis flags it (p below ``threshold``, 0.001 by default, as is common
practice for this check) and says so before any result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

THRESHOLD = 0.001


@dataclass(frozen=True)
class SampleRatio:
    observed: dict[str, int]
    expected_shares: dict[str, float]
    chi2: float
    p_value: float
    threshold: float
    mismatch: bool

    def to_dict(self) -> dict:
        return {"observed": self.observed, "expected_shares": self.expected_shares, "chi2": self.chi2,
                "p_value": self.p_value, "threshold": self.threshold, "mismatch": self.mismatch,
                "test": "chi-square goodness of fit against the planned shares"}


def check(counts: Mapping[str, int], shares: Mapping[str, float], *, threshold: float = THRESHOLD) -> SampleRatio:
    """Units per arm (``counts``) against ``shares`` (arm -> planned share; normalised to sum to 1)."""
    import numpy as np
    from scipy.stats import chisquare

    arms = list(shares)
    observed = np.array([int(counts.get(a, 0)) for a in arms], dtype=float)
    weights = np.array([float(shares[a]) for a in arms])
    weights = weights / weights.sum()
    total = observed.sum()
    if total == 0 or len(arms) < 2:
        chi2, p = 0.0, 1.0
    else:
        result = chisquare(observed, weights * total)
        chi2, p = float(result.statistic), float(result.pvalue)
    return SampleRatio(observed={a: int(c) for a, c in zip(arms, observed)},
                       expected_shares={a: float(w) for a, w in zip(arms, weights)}, chi2=chi2, p_value=p,
                       threshold=threshold, mismatch=p < threshold)
