"""A sweep of 8 settings of the example train stage: one after another vs DVC's queue with 1 and 2 workers.

A copy of the example project (demo data, --rows rows) has its data stages (ingest, validate) run and
committed, so every setting runs train + evaluate only. Each round runs three variants on the same 8 settings
(train.max_iter x train.learning_rate), each variant with its own train.seed so that DVC's run cache never
restores a result from an earlier variant:

- sequential: params.yaml edited, then plain `dvc repro evaluate`, per setting (the floor: the stages alone);
- queue -j 1 / -j 2: `mlprod sweep run --grid ... -j N` (queueing, the queue workers, the table).

Printed: wall time per variant (median over --rounds), and the queue's overhead per experiment:
(queue -j 1 - sequential) / 8. On a 2-core machine two workers share the cores with each other (and the
notebook kernels), so -j 2 cannot halve the time.

    python benchmarks/sweep.py [--rows 8000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pipeline import BIN, GIT, copy_project, sh  # noqa: E402

MAX_ITER = (20, 40, 60, 80)
LEARNING_RATE = (0.05, 0.1)


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    sh(cmd, cwd)
    return time.perf_counter() - t0


def set_train(project: Path, **values: object) -> None:
    text = (project / "params.yaml").read_text()
    head, sep, rest = text.partition("\ntrain:")
    section, nl, tail = rest.partition("\n\n")
    for key, value in values.items():
        section, n = re.subn(rf"(\n  {key}: )[^ \n#]+", rf"\g<1>{value}", section, count=1)
        assert n == 1, key
    (project / "params.yaml").write_text(head + sep + section + nl + tail)


def sequential(project: Path, seed: int) -> float:
    t0 = time.perf_counter()
    for max_iter in MAX_ITER:
        for rate in LEARNING_RATE:
            set_train(project, max_iter=max_iter, learning_rate=rate, seed=seed)
            sh([str(BIN / "dvc"), "repro", "evaluate"], project)
    elapsed = time.perf_counter() - t0
    sh(["git", "checkout", "-q", "params.yaml"], project)
    return elapsed


def queued(project: Path, seed: int, jobs: int, name: str) -> float:
    grid = [f"train.seed={seed}", "train.max_iter=" + ",".join(map(str, MAX_ITER)),
            "train.learning_rate=" + ",".join(map(str, LEARNING_RATE))]
    return timed([str(BIN / "mlprod"), "sweep", "run", "--grid", *grid, "-j", str(jobs), "--name", name], project)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8000, help="demo rows (ingest.n_rows)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the three variants (median reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlprod-sweep-bench-") as tmp:
        project = copy_project(Path(tmp), n_rows=args.rows)
        sh([str(BIN / "dvc"), "repro", "validate"], project)
        sh(["git", "add", "-A"], project)
        sh([*GIT, "commit", "-qm", "data stages"], project)
        times: dict[str, list[float]] = {"sequential": [], "queue -j 1": [], "queue -j 2": []}
        for r in range(args.rounds):
            base = 1000 + 10 * r
            times["sequential"].append(sequential(project, base))
            times["queue -j 1"].append(queued(project, base + 1, 1, f"b{r}j1"))
            times["queue -j 2"].append(queued(project, base + 2, 2, f"b{r}j2"))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    n = len(MAX_ITER) * len(LEARNING_RATE)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{n} settings of train (+ evaluate), {args.rows} demo rows, median of {args.rounds} round(s):")
    for key, value in med.items():
        print(f"  {key:<11} {value:7.1f} s   ({value / n:.1f} s per setting)")
    print(f"  queue overhead per experiment (queue -j 1 - sequential) / {n}: "
          f"{(med['queue -j 1'] - med['sequential']) / n:+.1f} s")
    print(f"  2 workers vs 1: x{med['queue -j 1'] / med['queue -j 2']:.2f}; vs sequential: "
          f"x{med['sequential'] / med['queue -j 2']:.2f}")


if __name__ == "__main__":
    main()
