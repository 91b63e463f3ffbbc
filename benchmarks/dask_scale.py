"""Drift against a saved profile and batch scoring of a partitioned Parquet dataset: one process vs a 2-worker
Dask LocalCluster, in one run, with the peak RSS of each worker and of the driver.

    python benchmarks/dask_scale.py                 # 10M rows x 20 columns in 10 partitions (default)
    python benchmarks/dask_scale.py --rows 2000000  # quicker

The data is generated once into --folder (default: a temp folder; about 1.7 GB at 10M rows) and kept for
the next run. The worker peak RSS (VmHWM, read with client.run) should stay near one partition's working
set, not the dataset's; the driver's should stay small (no partition ever reaches it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = 20


def generate(folder: Path, rows: int, partitions: int, seed: int = 0) -> None:
    """``partitions`` Parquet files of ``rows // partitions`` rows: 16 numeric columns (two drifted in the
    later half), 3 categorical, a key, a label."""
    if (folder / "done").exists() and json.loads((folder / "done").read_text()) == [rows, partitions]:
        return
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    size = rows // partitions
    for part in range(partitions):
        frame = {"key": np.arange(part * size, (part + 1) * size, dtype=np.int64)}
        shift = 0.5 if part >= partitions // 2 else 0.0
        for i in range(16):
            frame[f"x{i}"] = rng.normal(shift if i < 2 else 0.0, 1.0, size)
        for i, levels in enumerate((["a", "b", "c"], ["north", "south", "east", "west"], list("pqrstuvw"))):
            frame[f"c{i}"] = rng.choice(levels, size)
        logit = frame["x0"] - frame["x1"] + 0.5 * frame["x2"]
        frame["y"] = (rng.random(size) < 1 / (1 + np.exp(-logit))).astype(np.int64)
        pd.DataFrame(frame).to_parquet(folder / "data" / f"part-{part:03d}.parquet", index=False)
    (folder / "done").write_text(json.dumps([rows, partitions]))


def model_folder(folder: Path) -> Path:
    """A small model saved with mlprod (manifest, hashes) and the reference profile of fresh rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    import mlprod
    from mlprod.profile import build_profile

    target = folder / "model"
    if (target / "reference_profile.json").exists():
        return target
    train = pd.read_parquet(sorted((folder / "data").glob("*.parquet"))[0]).head(50_000)
    features = [c for c in train.columns if c not in ("key", "y")]
    X = train[features]
    pipeline = Pipeline([("features", ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["c0", "c1", "c2"])],
        remainder="passthrough")), ("model", LogisticRegression(max_iter=300))]).fit(X, train["y"])
    mlprod.save_model(pipeline, target, name="bench", X=X, version="1.0.0")
    build_profile(train.drop(columns="key")).save(target / "reference_profile.json")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=10)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "mlprod-dask-bench")
    parser.add_argument("--batch-rows", type=int, default=250_000)
    args = parser.parse_args()
    free = shutil.disk_usage(args.folder.parent if not args.folder.exists() else args.folder).free
    need = args.rows * 190  # bytes on disk: data ~170 B/row, predictions ~20 B/row
    if free < need * 1.5:
        raise SystemExit(f"need about {need / 1e9:.1f} GB free in {args.folder.parent}, have {free / 1e9:.1f} GB")
    tick = time.perf_counter()
    generate(args.folder, args.rows, args.partitions)
    print(f"data: {args.rows:,} rows x {COLUMNS} columns in {args.partitions} partitions "
          f"({sum(p.stat().st_size for p in (args.folder / 'data').iterdir()) / 1e6:,.0f} MB) "
          f"[{time.perf_counter() - tick:.0f} s to generate or find]")
    model = model_folder(args.folder)

    from distributed import Client, LocalCluster

    from mlprod.drift import DriftSettings, detect_drift
    from mlprod.monitoring.inbox import score_inbox
    from mlprod.scale.cluster import peak_rss, worker_peak_rss

    settings = DriftSettings.from_mapping({"exclude": ["key"], "prediction": None})
    data, figures = args.folder / "data", {}
    for name in ("dask 2 workers", "one process"):  # Dask first: the driver's peak RSS is its own
        out = args.folder / f"predictions-{'one' if name == 'one process' else 'dask'}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(args.folder / "quarantine", ignore_errors=True)
        cluster = client = None
        dask = None
        if name != "one process":
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                   memory_limit="4GB")
            client = dask = Client(cluster)
        tick = time.perf_counter()
        report = detect_drift(model / "reference_profile.json", data, settings=settings, batch_rows=args.batch_rows,
                              dask=dask)
        drift_s = time.perf_counter() - tick
        tick = time.perf_counter()
        run = score_inbox(model, data, out, key="key", root=args.folder, quarantine=args.folder / "quarantine",
                          dask=dask)
        score_s = time.perf_counter() - tick
        entry = {"drift_s": round(drift_s, 1), "score_s": round(score_s, 1), "rows_scored": run.rows_scored,
                 "drifted": list(report.features.drifted)}
        if client is not None:
            entry["worker_peak_rss_mb"] = sorted(round(v / 1e6) for v in worker_peak_rss(client).values())
            client.close()
            cluster.close()
            entry["driver_peak_rss_mb"] = round(peak_rss() / 1e6)
        figures[name] = entry
    figures["one process"]["peak_rss_mb_after_both"] = round(peak_rss() / 1e6)
    partition_mb = (args.folder / "data" / "part-000.parquet").stat().st_size / 1e6
    figures["partition"] = {"rows": args.rows // args.partitions, "parquet_mb": round(partition_mb),
                            "in_memory_mb": round(args.rows // args.partitions * (17 * 8 + 3 * 60) / 1e6)}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
