"""The retraining policy in params.yaml on the 52-week demo stream, for several stream seeds, with and without the
shift: detection delay, false alarms, retrains and the ROC AUC gain against never retraining and retraining every
window, and the compute time of each replay.

    python benchmarks/backtest.py [--seeds 5] [--weeks 52] [--out backtest-benchmark.json]

Sets up what it needs: a temporary project with the repository's params.yaml and schema.yaml, and the starting
model trained with mlprod.training on the demo data exactly as the train and evaluate stages train it (the same
bytes). For each seed (2025, 2026, ...): `mlprod backtest`'s library function with every strategy on the stream
with its shift, then the policy alone on the same seed's stream without the shift. The goals (issue: the production
loop): in at least 4 of 5 seeds the shift is detected within two windows with at most one false alarm before it;
without a shift at most one false alarm in 52 weeks; the policy keeps at least half of retrain-every-window's ROC
AUC gain over never retraining with at most a fifth of its retrains; a 52-week policy replay with up to 5 retrains
under 5 minutes on 2 cores. Results are written after every seed (--out), so a partial run still reports.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def starting_model(root: Path) -> None:
    from mlprod.data import binary_target, make_leads, time_split
    from mlprod.data.io import write_table
    from mlprod.stages.params import load_params_file
    from mlprod.training import ModelSettings, build_pipeline, evaluate_and_save, fit_and_save

    params = load_params_file(root / "params.yaml")
    ingest, project = params["ingest"], params["project"]
    data, _ = binary_target(make_leads(n_rows=ingest["n_rows"], seed=ingest["seed"]), project["target"], source="demo")
    split = time_split(data, project["date_column"], ingest["holdout_start"], ingest["current_start"])
    write_table(split.train, root / "data/prepared/train.parquet")
    write_table(split.holdout, root / "data/prepared/holdout.parquet")
    cat, num = project["categorical_features"], project["numeric_features"]
    fit_and_save(build_pipeline(ModelSettings.from_mapping(params["train"]), cat, num), split.train,
                 target=project["target"], features=cat + num, model_dir=root / "models/trained",
                 name=project["model_name"], training_data="data/prepared/train.parquet")
    evaluate_and_save(root / "models/trained", split.holdout, root / "models/model", target=project["target"],
                      threshold=params["evaluate"]["threshold"], evaluation_data="data/prepared/holdout.parquet")


def setup_project(root: Path) -> None:
    """A project at ``root``: the repository's params.yaml and schema.yaml and the starting model."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("params.yaml", "schema.yaml"):
        shutil.copy(REPO / name, root / name)
    os.chdir(root)  # the manifest's data references are relative to the project
    starting_model(root)


def run_seed(root: Path, seed: int, weeks: int) -> dict:
    """Every strategy on the seed's stream with its shift, then the policy on the same stream without it."""
    from mlprod.backtest.run import run_backtest
    from mlprod.backtest.settings import BacktestSettings

    base = BacktestSettings.from_mapping({"weeks": weeks, "seed": seed})
    shifted = run_backtest(root, root / "params.yaml", base, out_dir=root / f"reports/{seed}").summary
    calm = run_backtest(root, root / "params.yaml", base.with_options(shift=False, strategies=["policy"]),
                        out_dir=root / f"reports/{seed}-no-shift").summary
    s, c = shifted["strategies"], shifted["comparison"]
    row = {"seed": seed, "detection_delay": c.get("detection_delay"), "false_alarms": c.get("false_alarms"),
           "no_shift_false_alarms": calm["strategies"]["policy"]["false_alarms"],
           "retrains": {k: v["retrains"] for k, v in s.items()},
           "roc_auc": {k: v["realised_roc_auc"] for k, v in s.items()},
           "kept_gain_share": c.get("kept_gain_share"), "retrain_share": c.get("retrain_share"),
           "seconds": {k: v["seconds"] for k, v in s.items()},
           "no_shift_policy_seconds": calm["strategies"]["policy"]["seconds"]}
    row["detected"] = row["detection_delay"] is not None and row["detection_delay"] <= 2 and row["false_alarms"] <= 1
    row["calm"] = row["no_shift_false_alarms"] <= 1
    row["worth_it"] = (row["kept_gain_share"] or 0) >= 0.5 and (row["retrain_share"] or 1) <= 0.2
    return row


def line(row: dict) -> str:
    return (f"seed {row['seed']}: detected +{row['detection_delay']} with {row['false_alarms']} false alarm(s); without "
            f"the shift {row['no_shift_false_alarms']} false alarm(s); retrains policy/every "
            f"{row['retrains']['policy']}/{row['retrains']['every_window']} ({row['retrain_share']}); ROC AUC never "
            f"{row['roc_auc']['never']}, policy {row['roc_auc']['policy']}, every {row['roc_auc']['every_window']} "
            f"(kept {row['kept_gain_share']} of the gain); seconds policy {row['seconds']['policy']}, never "
            f"{row['seconds']['never']}, every {row['seconds']['every_window']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--out", default="backtest-benchmark.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(name, None)
    out = Path(args.out).resolve()
    results = []
    with tempfile.TemporaryDirectory(prefix="mlprod-bench-backtest-") as tmp:
        root = Path(tmp) / "project"
        setup_project(root)
        for i in range(args.seeds):
            row = run_seed(root, 2025 + i, args.weeks)
            results.append(row)
            print(line(row), flush=True)
            out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    n = len(results)
    print(f"\n{n} seed(s), {args.weeks} weeks:")
    print(f"  shift detected within two windows, at most one false alarm before it: "
          f"{sum(r['detected'] for r in results)}/{n} (goal: 4 of 5)")
    print(f"  without the shift, at most one false alarm: {sum(r['calm'] for r in results)}/{n}")
    print(f"  at least half the ROC AUC gain with at most a fifth of the retrains: {sum(r['worth_it'] for r in results)}/{n}")
    print(f"  policy replay (52 weeks, with its retrains): median {statistics.median(r['seconds']['policy'] for r in results):.1f} s"
          f" (goal: under 300 s); never {statistics.median(r['seconds']['never'] for r in results):.1f} s; every window "
          f"{statistics.median(r['seconds']['every_window'] for r in results):.1f} s")


if __name__ == "__main__":
    main()
