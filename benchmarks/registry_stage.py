"""How long the registry commands take, as the register stage runs them, against MLflow's import floor.

Sets up a project in a temporary folder (demo leads, two gradient-boosting models saved with their
manifests, a ``register`` section in params.yaml), then times each command in a fresh process, the way a
pipeline stage or a user runs it. Each figure is the median of REPEATS runs on a fresh copy of the
registry database. The baseline is a process that only imports what every registry command needs
(MLflow, scikit-learn, skops) and does nothing.

    python benchmarks/registry_stage.py [--repeats 5] [--rows 20000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PARAMS = """register:
  holdout_path: data/holdout.parquet
  target: converted
  gates:
    roc_auc: {threshold: 0.7, min_change: -0.005}
    log_loss: {min_relative_change: -0.05}
"""


def setup(root: Path, rows: int) -> None:
    os.chdir(root)
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    import mlprod
    from mlprod.data import make_leads

    (root / "params.yaml").write_text(PARAMS)
    leads = make_leads(n_rows=rows, seed=1)
    cut = int(len(leads) * 0.8)
    (root / "data").mkdir()
    leads.iloc[:cut].to_parquet(root / "data" / "train.parquet", index=False)
    leads.iloc[cut:].to_parquet(root / "data" / "holdout.parquet", index=False)
    features = ["age", "income", "region", "channel", "days_since_last_activity", "activity_trend", "n_interactions"]
    X = leads.iloc[:cut][features]
    for version, rate in (("1.0.0", 0.1), ("1.1.0", 0.05)):
        model = Pipeline([("features", ColumnTransformer(
            [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["region", "channel"])],
            remainder="passthrough")), ("model", HistGradientBoostingClassifier(learning_rate=rate, random_state=0))])
        model.fit(X, leads.iloc[:cut]["converted"])
        mlprod.save_model(model, root / "models" / version, name="lead-scoring", X=X, version=version,
                          training_data=root / "data" / "train.parquet")


def run(cmd: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    mlprod_cli = str(BIN / "mlprod")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        setup(root, args.rows)
        first_db = run([sys.executable, "-c", "from mlprod.registry.store import Registry; Registry.open('.')"], root)
        template = root / "empty.db"
        shutil.move(root / "mlflow.db", template)
        seeded = root / "seeded.db"  # version 1 champion, version 2 registered
        shutil.copy(template, root / "mlflow.db")
        for cmd in (["register", "models/1.0.0"], ["promote", "lead-scoring"], ["register", "models/1.1.0"]):
            run([mlprod_cli, *cmd], root)
        shutil.copy(root / "mlflow.db", seeded)

        times: dict[str, list[float]] = {k: [] for k in ("baseline", "register", "register_again", "promote")}
        for _ in range(args.repeats):
            times["baseline"].append(run([sys.executable, "-c", "import mlflow, sklearn.ensemble, skops.io"], root))
            shutil.copy(template, root / "mlflow.db")
            times["register"].append(run([mlprod_cli, "register", "models/1.0.0"], root))
            times["register_again"].append(run([mlprod_cli, "register", "models/1.0.0"], root))
            shutil.copy(seeded, root / "mlflow.db")
            times["promote"].append(run([mlprod_cli, "promote", "lead-scoring", "--version", "2"], root))
        base = statistics.median(times["baseline"])
        print(f"registry commands, {args.rows:,} demo rows, median of {args.repeats} runs (fresh process each):")
        print(f"  {'creating mlflow.db (first use, once)':<44} {first_db:6.2f} s")
        labels = {"baseline": "import mlflow + sklearn + skops (baseline)",
                  "register": "mlprod register DIR (new version)", "register_again": "mlprod register DIR (already there)",
                  "promote": "mlprod promote (challenger vs champion)"}
        for key, label in labels.items():
            median = statistics.median(times[key])
            extra = "" if key == "baseline" else f"  ({median - base:+.2f} s vs the baseline)"
            print(f"  {label:<44} {median:6.2f} s{extra}")


if __name__ == "__main__":
    main()
