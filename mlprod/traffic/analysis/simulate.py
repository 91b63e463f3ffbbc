"""Simulated experiments, vectorised with numpy: thousands of tests, each looked at after equal batches of units.

Used by the acceptance tests and ``benchmarks/experiment_aa.py``: the rejection rate of the always-valid test
(:mod:`.sequential`) when it is stopped at the first significant look, next to a naive z-test stopped the same way
(peeking) and the same z-test looked at once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import sequential


@dataclass(frozen=True)
class Simulation:
    sims: int
    looks: int
    n_per_arm: int
    p_control: float
    p_treatment: float
    sequential_rate: float  # share of tests the mSPRT rejected at some look
    peeking_rate: float  # share a two-sided z-test at alpha rejected at some look
    final_look_rate: float  # share the z-test rejected at the last look only

    def standard_error(self, rate: float) -> float:
        return float(np.sqrt(rate * (1 - rate) / self.sims))


def run(p_control: float, p_treatment: float, n_per_arm: int, *, tau2: float, alpha: float = 0.05,
        looks: int = 10, sims: int = 2000, seed: int = 0) -> Simulation:
    """``sims`` experiments with ``n_per_arm`` units per arm, analysed after each of ``looks`` equal batches."""
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    edges = np.round(np.linspace(0, n_per_arm, looks + 1)).astype(np.int64)
    sizes, n = np.diff(edges), edges[1:]
    x_a = np.cumsum(rng.binomial(sizes, p_control, size=(sims, looks)), axis=1)
    x_b = np.cumsum(rng.binomial(sizes, p_treatment, size=(sims, looks)), axis=1)
    always_valid = sequential.p_value(x_a, n, x_b, n, tau2)
    pooled = (x_a + x_b) / (2 * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x_b / n - x_a / n) / np.sqrt(pooled * (1 - pooled) * 2 / n)
    naive = np.where(np.isfinite(z), 2 * norm.sf(np.abs(z)), 1.0)
    return Simulation(sims=sims, looks=looks, n_per_arm=n_per_arm, p_control=p_control, p_treatment=p_treatment,
                      sequential_rate=float((always_valid <= alpha).any(axis=1).mean()),
                      peeking_rate=float((naive <= alpha).any(axis=1).mean()),
                      final_look_rate=float((naive[:, -1] <= alpha).mean()))
