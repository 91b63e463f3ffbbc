"""The always-valid test of a difference of two proportions: the mixture sequential probability ratio test
(mSPRT; Johari, Koomen, Pekelis & Walsh, "Always valid inference", Operations Research 2022), normal mixture.

With ``theta`` the observed difference (treatment rate - control rate), ``v`` its estimated variance
(``p_a q_a / n_a + p_b q_b / n_b``) and ``tau2`` the mixing variance (the prior spread of effects the test is
tuned for), the mixture likelihood ratio against "no difference" is::

    lam = sqrt(v / (v + tau2)) * exp(theta**2 * tau2 / (2 v (v + tau2)))

``1 / lam`` is an always-valid p-value: the chance that ``lam`` *ever* reaches ``1 / alpha`` under no difference is
at most ``alpha`` (Ville's inequality), so the data may be looked at after every unit and the test stopped at the
first significant look. The running minimum over looks is the p-value of the whole sequence; the value at one look
alone is larger, hence conservative. Inverting the test gives a confidence sequence (intervals that hold at every
look at once). Everything is vectorised over numpy arrays, so simulations run thousands of tests at once.
"""

from __future__ import annotations

import numpy as np

METHOD = "mSPRT (normal mixture) on the difference of proportions: always-valid p-values"


def variance(x_a, n_a, x_b, n_b):
    """The plug-in variance of ``x_b / n_b - x_a / n_a`` (unpooled); NaN where an arm has no units."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p_a, p_b = np.asarray(x_a) / n_a, np.asarray(x_b) / n_b
        return p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b


def log_lr(theta, v, tau2: float):
    """The log mixture likelihood ratio ``log lam`` (0 where the variance is 0 or undefined: no evidence yet)."""
    theta, v = np.asarray(theta, dtype=float), np.asarray(v, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 0.5 * np.log(v / (v + tau2)) + theta ** 2 * tau2 / (2 * v * (v + tau2))
    return np.where(np.isfinite(value) & (v > 0), value, 0.0)


def p_value(x_a, n_a, x_b, n_b, tau2: float):
    """The always-valid p-value at one look: ``min(1, 1 / lam)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.asarray(x_b) / np.asarray(n_b, dtype=float) - np.asarray(x_a) / np.asarray(n_a, dtype=float)
    return np.minimum(1.0, np.exp(-log_lr(theta, variance(x_a, n_a, x_b, n_b), tau2)))


def half_width(v, tau2: float, alpha: float):
    """Half the width of the ``1 - alpha`` confidence sequence around the observed difference."""
    v = np.asarray(v, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(v * (v + tau2) / tau2 * (2 * np.log(1 / alpha) + np.log((v + tau2) / v)))


def final_look_power(p_control: float, p_treatment: float, n: float, tau2: float, alpha: float) -> float:
    """The chance the test rejects at a look after ``n`` units per arm (normal approximation, variance at the
    alternative). Looks before that only add chances to reject, so this is a lower bound for any schedule of
    looks that includes one at ``n``."""
    from scipy.stats import norm

    delta = p_treatment - p_control
    v = (p_control * (1 - p_control) + p_treatment * (1 - p_treatment)) / n
    h = float(half_width(v, tau2, alpha))
    sd = np.sqrt(v)
    return float(norm.cdf((delta - h) / sd) + norm.cdf((-delta - h) / sd))
