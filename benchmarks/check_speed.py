"""How long `mlprod check` takes on a project drafted by `mlprod init` (goals: <= 2 s without the registry,
<= 6 s with it). The project comes from a generated 300-row CSV; for the registry figure, a model of other
data is registered and promoted under the project's model name, so the check reads a champion's recorded
input schema. Each variant runs the CLI as a fresh process REPEATS times; the figure is the median.

    python benchmarks/check_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "tests"))


def timed(args: list[str], cwd: Path, repeats: int) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLPROD_"))}
    times, code = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        code = subprocess.run([str(BIN / "mlprod"), *args], cwd=cwd, env=env, capture_output=True).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    from messy_data import TARGET, write_messy_csv
    from test_project_check import NAME, register_other_champion

    from mlprod.project.init import init_project
    from mlprod.registry.store import Registry

    with tempfile.TemporaryDirectory(prefix="mlprod-check-bench-") as tmp:
        base = Path(tmp)
        data = write_messy_csv(base / "customers.csv")
        root = base / "churn"
        init_project(root, data=data, target=TARGET, positive="yes", name=NAME, fresh=True)
        median, code = timed(["check", "--no-registry"], root, repeats)
        print(f"mlprod check --no-registry: median {median:.2f} s of {repeats} (exit {code}); goal <= 2 s")
        median, code = timed(["check"], root, repeats)
        print(f"mlprod check, no registry yet: median {median:.2f} s of {repeats} (exit {code}); goal <= 2 s")
        store = base / "store"
        store.mkdir()
        Registry.open(store)
        os.chdir(root)
        register_other_champion(root, store)
        median, code = timed(["check"], root, repeats)
        print(f"mlprod check with a registered champion: median {median:.2f} s of {repeats} (exit {code}, the "
              "champion cannot score the features); goal <= 6 s")


if __name__ == "__main__":
    main()
