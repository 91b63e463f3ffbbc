"""Adding a window to the monitoring history costs the same in week 52 as in week 2 (it never rereads old batches).

    python benchmarks/monitoring_history.py [--weeks 52] [--rows 5000] [--repeats 3]

Writes ``--weeks`` weekly batches (features as Parquet, predictions in the predictions record's format with
their commit markers) one at a time and times ``mlprod.monitoring.history.update`` after each, in a fresh
folder per repeat. Prints the median time to add window 2, 13, 26 and the last, their ratio to window 2
(goal: the last within 1.2x of window 2), and the time of an update with nothing new.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlprod.monitoring.history import MonitorSettings, update
from mlprod.profile import build_profile

AS_OF = "2025-12-31T00:00:00Z"


def write_week(root: Path, week: int, rows: int) -> None:
    rng = np.random.default_rng(week)
    batch_id = f"w{week:02d}"
    x = rng.normal(size=rows)
    keys = np.arange(week * 1_000_000, week * 1_000_000 + rows)
    dates = pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=week - 1) + pd.to_timedelta(
        rng.integers(0, 7 * 24, size=rows), unit="h")
    batch = pd.DataFrame({"lead_id": keys, "created_at": dates, "x": x, "region": rng.choice(["n", "s"], rows)})
    (root / "inbox").mkdir(exist_ok=True)
    batch.to_parquet(root / "inbox" / f"{batch_id}.parquet", index=False)
    score = 1 / (1 + np.exp(-(x - 1)))
    out = pd.DataFrame({"lead_id": keys, "created_at": dates, "score": score,
                        "decision": (score >= 0.5).astype("int8"), "model_name": "leads", "model_version": "1.0.0",
                        "model_sha256": "ab" * 32, "batch_id": batch_id, "scored_at": "2025-01-01T00:00:00Z"})
    folder = root / "monitoring" / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(out, preserve_index=False).replace_schema_metadata(
        {"mlprod.schema": "predictions", "mlprod.schema_version": "1"})
    pq.write_table(table, folder / f"{batch_id}.parquet")
    (folder / f"{batch_id}.done.json").write_text(json.dumps({
        "schema_version": 1, "batch_id": batch_id, "source": f"inbox/{batch_id}.parquet", "rows": rows,
        "model": {"name": "leads", "version": "1.0.0", "sha256": "ab" * 32, "registry_version": None},
        "threshold": 0.5, "scored_at": "2025-01-01T00:00:00Z"}, sort_keys=True))


def one_run(weeks: int, rows: int) -> tuple[dict[int, float], float]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    reference = build_profile(pd.DataFrame({"x": x, "region": rng.choice(["n", "s"], 5000),
                                            "prediction": 1 / (1 + np.exp(-(x - 1)))}), sample_size=0)
    with tempfile.TemporaryDirectory(prefix="mlprod-bench-history-") as tmp:
        root = Path(tmp)
        settings = MonitorSettings(root=str(root), key="lead_id", date_column="created_at", target="converted")
        times = {}
        for week in range(1, weeks + 1):
            write_week(root, week, rows)
            start = time.perf_counter()
            update(settings, reference, as_of=AS_OF)
            times[week] = time.perf_counter() - start
        start = time.perf_counter()
        update(settings, reference, as_of=AS_OF)
        noop = time.perf_counter() - start
    return times, noop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.weeks, args.rows) for _ in range(args.repeats)]
    marks = sorted({w for w in (2, 13, 26, args.weeks) if w <= args.weeks})
    medians = {w: statistics.median(r[0][w] for r in runs) for w in marks}
    print(f"monitoring history, {args.weeks} weekly windows of {args.rows:,} rows, median of {args.repeats} runs")
    for week in marks:
        print(f"  add window {week:>2}: {medians[week]:.3f} s  ({medians[week] / medians[2]:.2f}x window 2)")
    print(f"  update with nothing new: {statistics.median(r[1] for r in runs) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
