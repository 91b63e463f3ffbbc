"""Simulated experiments for ``mlprod experiment``: the always-valid test's false-positive rate under repeated looks
(A/A), its power at the sample size ``mlprod experiment plan`` gives, and a naive z-test stopped at the first
significant look for contrast.

    python benchmarks/experiment_aa.py [--sims 10000] [--looks 10] [--baseline 0.12] [--mde 0.02]
"""

from __future__ import annotations

import argparse
import math
import time

from mlprod.traffic.analysis import plan, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--looks", type=int, default=10)
    parser.add_argument("--baseline", type=float, default=0.12)
    parser.add_argument("--mde", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    p = plan(args.baseline, args.mde)
    aa = simulate.run(p.baseline, p.baseline, p.n_per_arm, tau2=p.tau2, looks=args.looks, sims=args.sims,
                      seed=args.seed)
    ab = simulate.run(p.baseline, p.treatment, p.n_per_arm, tau2=p.tau2, looks=args.looks, sims=args.sims,
                      seed=args.seed + 1)
    se = math.sqrt(0.05 * 0.95 / args.sims)
    print(f"plan: {p.n_per_arm:,} units per arm (fixed-horizon z-test: {p.n_fixed_horizon:,}), tau2 {p.tau2:.4g}")
    print(f"A/A, {args.sims:,} tests x {args.looks} looks: always-valid false-positive rate {aa.sequential_rate:.4f} "
          f"(limit {0.05 + 3 * se:.4f}); naive z-test stopped at the first significant look {aa.peeking_rate:.4f}; "
          f"at the last look only {aa.final_look_rate:.4f}")
    print(f"A/B {p.baseline:g} -> {p.treatment:g}, {args.looks} looks: always-valid power {ab.sequential_rate:.4f} "
          f"(planned at least {p.power:g})")
    print(f"{time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
