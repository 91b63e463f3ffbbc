"""Overhead of `mlprod run` per stage, against the same code run as a plain Python script.

The notebook and the script have the same imports and do the same work (fit a small scikit-learn
model and write a file). Each variant runs REPEATS times, interleaved; the figure is the median wall
time. Overhead = median(variant) - median(plain script); "paired" is the median of the per-round
differences (each round runs every variant back to back), which is steadier on a machine whose speed
drifts. Plain `papermill` (its CLI, same notebook) is measured as a reference. Last, the cost of
each further cell: `mlprod run` on 101 trivial cells against 1.

    python benchmarks/stage_overhead.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

BIN = Path(sys.executable).parent
IMPORTS = "import json\nimport numpy as np\nimport pandas as pd\nfrom sklearn.linear_model import LogisticRegression"
PARAMS = "n_rows = 1000\nseed = 0"
WORK = """rng = np.random.default_rng(seed)
frame = pd.DataFrame({"a": rng.normal(size=n_rows), "b": rng.normal(size=n_rows)})
label = (frame.a + rng.normal(scale=0.5, size=n_rows) > 0).astype(int)
model = LogisticRegression().fit(frame, label)
with open("result.json", "w") as handle:
    json.dump({"coef": model.coef_.round(6).tolist()}, handle)"""


def build(folder: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Benchmark stage"), nbformat.v4.new_code_cell(IMPORTS), params,
                nbformat.v4.new_code_cell(WORK)]
    nbformat.write(nb, folder / "stage.ipynb")
    (folder / "stage.py").write_text(f"{IMPORTS}\n{PARAMS}\n{WORK}\n")
    (folder / "params.yaml").write_text("stage:\n  n_rows: 1000\n  seed: 0\ncells_1: {}\ncells_101: {}\n")
    for count in (1, 101):  # for the cost of each further cell: trivial cells, no imports
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(f"x{i} = {i}") for i in range(count)]
        nbformat.write(nb, folder / f"cells_{count}.ipynb")


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build(folder)
        variants = {
            "plain python script (baseline)": [sys.executable, "stage.py"],
            "mlprod run": [str(BIN / "mlprod"), "run", "stage.ipynb"],
            "mlprod run --no-html": [str(BIN / "mlprod"), "run", "stage.ipynb", "--no-html"],
            "papermill CLI (reference)": [str(BIN / "papermill"), "stage.ipynb", "out.ipynb", "-k", "python3",
                                          "-p", "n_rows", "1000", "-p", "seed", "0", "--no-progress-bar"],
        }
        for cmd in variants.values():  # warm the OS file cache and .pyc files
            timed(cmd, folder)
        times: dict[str, list[float]] = {name: [] for name in variants}
        cells: dict[int, list[float]] = {1: [], 101: []}
        for _ in range(args.repeats):
            for name, cmd in variants.items():
                times[name].append(timed(cmd, folder))
            for count, values in cells.items():
                values.append(timed([str(BIN / "mlprod"), "run", f"cells_{count}.ipynb", "--no-html"], folder))
    base = statistics.median(times["plain python script (baseline)"])
    print(f"stage overhead, median of {args.repeats} runs ({sys.platform}, Python {sys.version.split()[0]})")
    baseline = times["plain python script (baseline)"]
    print(f"{'variant':34} {'median s':>9} {'overhead s':>11} {'paired s':>9} {'ratio':>7}")
    for name, values in times.items():
        median = statistics.median(values)
        paired = statistics.median(v - b for v, b in zip(values, baseline))
        print(f"{name:34} {median:9.3f} {median - base:11.3f} {paired:9.3f} {median / base:7.2f}")
    one, many = statistics.median(cells[1]), statistics.median(cells[101])
    print(f"each further code cell: {(many - one) / 100 * 1000:.1f} ms "
          f"(mlprod run --no-html: 1 trivial cell {one:.3f} s, 101 cells {many:.3f} s)")


if __name__ == "__main__":
    main()
