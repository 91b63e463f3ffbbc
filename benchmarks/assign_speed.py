"""Assigning 1M unit ids to arms with mlprod.traffic (goal, issue 16: at most 5 s in Python).

    python benchmarks/assign_speed.py [--ids 1000000] [--runs 5]

Four inputs: text ids given as a Python list and as a numpy array, integer ids as a numpy array, and a list of
text ids with a 30 % coverage gate (two hashes per id). Each is timed --runs times (after one warm-up run on
1,000 ids); the median and the spread are printed, and the time per id when ids come one at a
time. For scale, the GrowthBook SDK's own per-id ``run`` on 10,000 ids
is timed too when the SDK is installed (``pip install -e .[test]``), extrapolated to --ids.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from mlprod.traffic.assignment import Arm, Experiment, assign

GOAL_SECONDS = 5.0


def timed(experiment: Experiment, ids, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        assign(experiment, ids)
        out.append(time.perf_counter() - start)
    return out


def sdk_seconds(experiment: Experiment, ids: list[str]) -> float | None:
    try:
        import growthbook
    except ImportError:
        return None
    sdk_experiment = growthbook.Experiment(**experiment.to_growthbook())
    start = time.perf_counter()
    for unit in ids:
        growthbook.GrowthBook(attributes={"id": unit}).run(sdk_experiment)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    texts = [f"customer-{i:08d}" for i in range(args.ids)]
    ab = Experiment("checkout-test", (Arm("control", 1), Arm("treatment", 1)))
    gated = Experiment("checkout-test", ab.arms, coverage=0.3)
    cases = [("text ids, Python list", ab, texts), ("text ids, numpy array", ab, np.array(texts)),
             ("integer ids, numpy array", ab, np.arange(args.ids, dtype=np.int64)),
             ("text ids, list, 30% coverage gate", gated, texts)]
    assign(ab, texts[:1000])
    print(f"assigning {args.ids:,} ids, median of {args.runs} runs (goal: at most {GOAL_SECONDS:.0f} s)")
    worst = 0.0
    for label, experiment, ids in cases:
        runs = timed(experiment, ids, args.runs)
        median = statistics.median(runs)
        worst = max(worst, median)
        print(f"  {label:36s} median {median:6.3f} s   (min {min(runs):.3f}, max {max(runs):.3f})")
    sample = texts[:10_000]
    start = time.perf_counter()
    for unit in sample:
        assign(gated, unit)
    print(f"  one id at a time (a request)         {(time.perf_counter() - start) / len(sample) * 1e6:6.1f} us per id")
    sdk = sdk_seconds(gated, sample)
    if sdk is not None:
        print(f"  GrowthBook SDK run() per id          {sdk:6.3f} s for {len(sample):,} ids "
              f"(~{sdk * args.ids / len(sample):.0f} s for {args.ids:,})")
    print(f"goal {'met' if worst <= GOAL_SECONDS else 'MISSED'}: slowest median {worst:.3f} s <= {GOAL_SECONDS} s")


if __name__ == "__main__":
    main()
