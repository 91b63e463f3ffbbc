"""Benchmark: peak memory of checking large Parquet files, as the files grow.

Goal: a 10M-row file is checked within 1.2x the peak RSS of a 1M-row file.

Generates Parquet files of 1M, 5M and 10M rows (16 columns: an id, numbers with and without gaps,
whole numbers, a date, categories with and without gaps, a flag) in two layouts: row groups of 1M rows
(what pyarrow and pandas write by default) and ONE row group holding the whole file. Generation
streams: batches go to an Arrow IPC file first, which is memory-mapped to write the Parquet file, so
the generator never holds the table in memory. Then, for every size and layout, in a fresh process each:

  drift      ``detect_drift(saved reference profile, file.parquet)`` (``mlprod drift``: the file is
             profiled in batches and compared with the profile)
  validate   ``validate(file.parquet, schema, reference=saved profile)`` (``mlprod validate``: schema
             checks incl. a unique id, 4 business rules, statistical checks)

and prints the peak RSS of that process (VmHWM: what the kernel saw, Arrow's buffers included), the
ratio 10M / 1M and the median wall time of --repeats runs.

    python benchmarks/streaming_memory.py [--sizes 1000000 5000000 10000000] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CATEGORIES = np.array(["north", "south", "east", "west", "central", "islands"], dtype=object)
CHANNELS = np.array(["web", "email", "paid_search", "referral", "partner", "events", "social", "print"],
                    dtype=object)
GENERATE_ROWS = 250_000

SCHEMA = {
    "schema_version": 1,
    "table": {"unique": ["lead_id"]},
    "columns": {
        "lead_id": {"type": "int", "unique": True, "min": 0, "statistics": False},
        "created_at": {"type": "datetime", "min": "2020-01-01"},
        "age": {"type": "int", "min": 18, "max": 100},
        "income": {"type": "float", "min": 0, "nullable": True},
        "score_a": {"type": "float"},
        "score_b": {"type": "float", "nullable": True},
        "balance": {"type": "float"},
        "n_visits": {"type": "int", "min": 0},
        "n_orders": {"type": "float", "min": 0, "nullable": True},
        "days_since": {"type": "float", "min": 0},
        "ratio": {"type": "float", "min": 0, "max": 1},
        "region": {"type": "str", "categories": list(CATEGORIES)},
        "channel": {"type": "str", "categories": list(CHANNELS), "nullable": True},
        "city": {"type": "str"},
        "segment": {"type": "str", "nullable": True},
        "active": {"type": "bool"},
    },
    "rules": [
        {"name": "orders_below_visits", "expr": "n_orders <= n_visits + 1000"},
        {"name": "income_positive", "expr": "income >= 0"},
        {"name": "ratio_known", "expr": "ratio >= 0 and ratio <= 1"},
        {"name": "web_or_scored", "expr": "channel != 'web' or score_a > -100"},
    ],
}


def make_batch(start: int, rows: int, seed: int):
    """Rows ``start .. start + rows`` as an Arrow record batch (the same rows for the same seed)."""
    import pyarrow as pa

    rng = np.random.default_rng([seed, start])
    income = rng.lognormal(10.5, 0.6, rows)
    income[rng.random(rows) < 0.05] = np.nan
    score_b = rng.normal(0, 1, rows)
    score_b[rng.random(rows) < 0.2] = np.nan
    orders = rng.poisson(2, rows).astype(np.float64)
    orders[rng.random(rows) < 0.1] = np.nan
    channel = CHANNELS[rng.integers(0, CHANNELS.size, rows)]
    channel_mask = rng.random(rows) < 0.03
    segment = np.char.add("seg_", rng.integers(0, 40, rows).astype(str)).astype(object)
    segment_mask = rng.random(rows) < 0.15
    city = np.char.add("city_", rng.zipf(1.6, rows).clip(max=5000).astype(str)).astype(object)
    stamps = np.datetime64("2023-01-01", "s") + rng.integers(0, 3 * 365 * 86400, rows).astype("timedelta64[s]")
    columns = {
        "lead_id": pa.array(np.arange(start, start + rows, dtype=np.int64)),
        "created_at": pa.array(stamps.astype("datetime64[us]")),
        "age": pa.array(rng.integers(18, 90, rows, dtype=np.int64)),
        "income": pa.array(income, from_pandas=True),
        "score_a": pa.array(rng.normal(0, 1, rows)),
        "score_b": pa.array(score_b, from_pandas=True),
        "balance": pa.array(rng.normal(1000, 5000, rows)),
        "n_visits": pa.array(rng.poisson(20, rows).astype(np.int64)),
        "n_orders": pa.array(orders, from_pandas=True),
        "days_since": pa.array(rng.exponential(30, rows)),
        "ratio": pa.array(rng.beta(2, 5, rows)),
        "region": pa.array(CATEGORIES[rng.integers(0, CATEGORIES.size, rows)], type=pa.string()),
        "channel": pa.array(channel, mask=channel_mask, type=pa.string()),
        "city": pa.array(city, type=pa.string()),
        "segment": pa.array(segment, mask=segment_mask, type=pa.string()),
        "active": pa.array(rng.random(rows) < 0.7),
    }
    return pa.RecordBatch.from_pydict(columns)


def generate(path: Path, rows: int, row_group_rows: int, seed: int = 0) -> None:
    """Write ``rows`` rows to ``path`` in row groups of ``row_group_rows``, streaming through an IPC file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    staging = path.with_suffix(".arrow")
    schema = make_batch(0, 1, seed).schema
    with pa.OSFile(str(staging), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for start in range(0, rows, GENERATE_ROWS):
            writer.write_batch(make_batch(start, min(GENERATE_ROWS, rows - start), seed))
    with pa.memory_map(str(staging), "r") as source:
        table = pa.ipc.open_file(source).read_all()  # zero-copy: pages of the mapped file, not the heap
        pq.write_table(table, path, row_group_size=row_group_rows)
        del table
    staging.unlink()


# --- one measurement, in a fresh process ------------------------------------------------------------

def child(task: str, data: str, profile: str, schema: str) -> None:
    start = time.perf_counter()
    if task == "drift":
        from mlprod.drift import DriftSettings, detect_drift

        report = detect_drift(profile, data, settings=DriftSettings(prediction=None, target=None))
        rows = report.current["rows"]
    elif task == "validate":
        from mlprod.validation import validate

        result = validate(data, schema, reference=profile)
        rows = result.datasets[0].n_rows
    elif task == "profile":
        from mlprod.profile import profile_file

        rows = profile_file(data).n_rows
    else:
        raise SystemExit(f"unknown task {task!r}")
    elapsed = time.perf_counter() - start
    peak = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    print(json.dumps({"rows": rows, "seconds": elapsed, "peak": peak}))


def measure(task: str, data: Path, profile: Path, schema: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", task, str(data), str(profile), str(schema)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tasks", nargs="+", default=["drift", "validate"])
    parser.add_argument("--layouts", nargs="+", default=["groups", "single"])
    parser.add_argument("--keep", type=Path, help="generate the files in this folder and keep them")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    import yaml

    folder = args.keep or Path(tempfile.mkdtemp(prefix="mlprod-streaming-"))
    folder.mkdir(parents=True, exist_ok=True)
    schema = folder / "schema.yaml"
    schema.write_text(yaml.safe_dump(SCHEMA, sort_keys=False), encoding="utf-8")
    profile = folder / "reference_profile.json"
    if not profile.exists():
        import pyarrow as pa

        from mlprod.profile import build_profile

        reference = pa.Table.from_batches([make_batch(0, 200_000, seed=1)]).to_pandas()
        build_profile(reference).save(profile)
    layouts = {"groups": 1_000_000, "single": None}
    print(f"peak RSS per fresh process (VmHWM); median wall time of {args.repeats} runs; "
          f"{os.cpu_count()} cores", flush=True)
    try:
        for layout in args.layouts:
            peaks: dict[tuple[str, int], int] = {}
            for rows in args.sizes:
                path = folder / f"{layout}_{rows}.parquet"
                if not path.exists():
                    started = time.perf_counter()
                    generate(path, rows, layouts[layout] or rows)
                    print(f"  (generated {path.name}: {path.stat().st_size / 1e6:.0f} MB in "
                          f"{time.perf_counter() - started:.0f} s)", flush=True)
                for task in args.tasks:
                    runs = [measure(task, path, profile, schema) for _ in range(args.repeats)]
                    peak = max(run["peak"] for run in runs)
                    peaks[task, rows] = peak
                    groups = "one row group" if layout == "single" else "1M-row row groups"
                    print(f"{task:9s} {rows:>11,} rows, {groups:18s} peak RSS {peak / 1e6:6.0f} MB   "
                          f"median {statistics.median(run['seconds'] for run in runs):6.2f} s", flush=True)
            low, high = min(args.sizes), max(args.sizes)
            for task in args.tasks:
                ratio = peaks[task, high] / peaks[task, low]
                print(f"{task:9s} {layout}: peak RSS {high:,} / {low:,} rows = {ratio:.2f}x (goal <= 1.2x)",
                      flush=True)
    finally:
        if args.keep is None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
