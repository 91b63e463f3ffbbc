"""Benchmark: a full drift report on 1M rows x 20 columns (15 numeric, 5 categorical).

Goal: at most 2 s wall time and peak memory at most 1.5x the input data frame, on a 2-core machine.

Measured (median of --repeats runs, each in this process with warm imports):
  report     detect_drift(saved reference profile, current DataFrame) + writing drift.json, the CSVs,
             drift.html and drift.prom: what the drift_report stage does per batch;
  both       the same with the reference given as a DataFrame too (two profiles built);
  baseline   a plain per-column scipy loop on the raw columns (ks_2samp for numbers, a chi-square
             contingency test for categories), the usual hand-written approach, for the ratio;
  memory     peak of Python/NumPy allocations (tracemalloc) during `report`, against the input frame's
             size (pandas memory_usage(deep=True));
  streamed   the current batch as a Parquet file of --stream-rows rows read in 250,000-row batches: wall
             time and peak allocations, which stay flat as the file grows (memory bounded by a batch).

    python benchmarks/drift_report.py [--rows 1000000] [--repeats 5] [--stream-rows 4000000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

N_NUMERIC, N_CATEGORICAL = 15, 5
CATEGORIES = [f"cat_{i:02d}" for i in range(12)]


def make_frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(N_NUMERIC):
        if i % 3 == 0:
            columns[f"x{i:02d}"] = rng.poisson(3 + i + (shift if i < 3 else 0), rows).astype(np.int64)
        elif i % 3 == 1:
            columns[f"x{i:02d}"] = rng.normal(i + (shift if i < 3 else 0), 1 + i, rows)
        else:
            columns[f"x{i:02d}"] = rng.lognormal(8 + (shift / 5 if i < 3 else 0), 0.6, rows)
    weights = np.linspace(1, 2, len(CATEGORIES))
    for i in range(N_CATEGORICAL):
        w = weights[::-1] if (shift and i == 0) else weights
        columns[f"c{i}"] = rng.choice(np.array(CATEGORIES, dtype=object), rows, p=w / w.sum())
    return pd.DataFrame(columns)


def timed(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def scipy_baseline(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
    from scipy import stats

    out = {}
    for name in reference.columns:
        if reference[name].dtype == object:
            counts = pd.concat([reference[name].value_counts(), current[name].value_counts()], axis=1).fillna(0)
            out[name] = stats.chi2_contingency(counts.to_numpy().T).pvalue
        else:
            out[name] = stats.ks_2samp(reference[name].to_numpy(), current[name].to_numpy()).pvalue
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stream-rows", type=int, default=4_000_000)
    args = parser.parse_args()

    from mlprod.drift import DriftSettings, detect_drift
    from mlprod.profile import build_profile

    reference = make_frame(args.rows, seed=1)
    current = make_frame(args.rows, seed=2, shift=0.5)
    size = current.memory_usage(deep=True).sum()
    shallow = current.memory_usage(deep=False).sum()
    settings = DriftSettings(prediction=None)
    profile = build_profile(reference)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        profile_path = profile.save(out / "reference_profile.json")

        def report():
            result = detect_drift(profile_path, current, settings=settings)
            result.write(out / "report")
            return result

        def both():
            return detect_drift(reference, current, settings=settings)

        report()  # warm-up: imports, scipy's first calls
        t_report, result = timed(report, args.repeats)
        t_both, _ = timed(both, max(1, args.repeats // 2))
        t_base, _ = timed(lambda: scipy_baseline(reference, current), max(1, args.repeats // 2))
        tracemalloc.start()
        report()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        html_kb = (out / "report" / "drift.html").stat().st_size / 1024
        profile_kb = profile_path.stat().st_size / 1024

        print(f"input: {args.rows:,} rows x {N_NUMERIC + N_CATEGORICAL} columns; current frame "
              f"{size / 1e6:.0f} MB (deep), {shallow / 1e6:.0f} MB (shallow); reference profile {profile_kb:.0f} KB")
        print(f"drift found in {len(result.features.drifted)} of {len(result.features.columns)} columns: "
              f"{', '.join(result.features.drifted)}")
        print(f"report (saved profile vs DataFrame, outputs written): median {t_report:.2f} s")
        print(f"both sides as DataFrames:                              median {t_both:.2f} s")
        print(f"scipy per-column baseline (raw ks_2samp/chi2):         median {t_base:.2f} s "
              f"-> report is {t_base / t_report:.1f}x faster")
        print(f"peak allocations during report: {peak / 1e6:.0f} MB = {peak / size:.2f}x the input frame "
              f"(deep) / {peak / shallow:.2f}x (shallow); drift.html {html_kb:.0f} KB")

        stream(args.stream_rows, profile_path, settings, out)


def stream(rows: int, profile_path: Path, settings, out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlprod.drift import detect_drift

    path = out / "current.parquet"
    with pq.ParquetWriter(path, pa.Table.from_pandas(make_frame(10, seed=0), preserve_index=False).schema) as writer:
        for part in range(0, rows, 500_000):
            chunk = make_frame(min(500_000, rows - part), seed=10 + part, shift=0.5)
            writer.write_table(pa.Table.from_pandas(chunk, preserve_index=False))
    for limit in (rows // 4, rows):
        small = out / f"current_{limit}.parquet"
        if limit != rows:
            pq.write_table(pq.read_table(path).slice(0, limit), small)
        else:
            small = path
        tracemalloc.start()
        start = time.perf_counter()
        detect_drift(profile_path, small, settings=settings, batch_rows=250_000)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"streamed Parquet, {limit:,} rows in 250,000-row batches: {elapsed:.2f} s, "
              f"peak allocations {peak / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
