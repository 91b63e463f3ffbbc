"""Logging a scored batch to the prediction log: the per-row path and the columnar path (issue 16, item 3).

    python benchmarks/predlog_batch.py [--rows 200000] [--runs 5] [--requests 2000]

Batch shadow logging (``mlprod score`` under ``deployment: mode: shadow``) logs every row of a batch twice (champion
and shadow) through :func:`mlprod.monitoring.traffic.log_rows`. Timed, each --runs times (median and spread
printed): one batch of --rows rows logged and flushed to a segment with ``log_request`` (rows as dicts, built into
an Arrow table at flush) and with ``log_frame`` (columns built with numpy/pyarrow); then what batch shadow scoring
does, :func:`mlprod.monitoring.traffic.log_rows` for the champion's and the shadow's rows of a scored batch (serving
columns as categoricals, as ``mlprod score`` records them) and one flush. Then the serving case: --requests 1-row
requests logged one at a time (the cost on the request path, before the background flush), with both.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlprod.serving.predictionlog import ModelRef, PredictionLogSettings, PredictionLogWriter

MODEL = ModelRef("churn", "3", "ab" * 32)


def batch(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    score = rng.random(rows)
    outputs = pd.DataFrame({"score": score, "decision": (score > 0.5).astype("int64"), "tier": ["primary"] * rows,
                            "fallback_reason": [None] * rows, "needs_review": np.zeros(rows, dtype=bool),
                            "filled_features": [()] * rows})
    inputs = pd.DataFrame({"customer_id": np.arange(rows, dtype=np.int64), "age": rng.integers(18, 90, rows),
                           "income": rng.random(rows) * 1e5, "region": rng.choice(["north", "south", "east"], rows),
                           "active": rng.random(rows) > 0.5})
    return outputs, inputs


def timed(method: str, outputs: pd.DataFrame, inputs: pd.DataFrame, runs: int,
          log_features: tuple[str, ...] = ()) -> list[float]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            writer = PredictionLogWriter(PredictionLogSettings(dir=str(Path(folder) / "log"), segment_rows=1_000_000,
                                                               flush_seconds=3600, log_features=log_features),
                                         key="customer_id")
            start = time.perf_counter()
            getattr(writer, method)("batch-1", outputs, model=MODEL, inputs=inputs, experiment="shadow-1",
                                    arm="shadow")
            writer.flush()
            out.append(time.perf_counter() - start)
            writer.close()
    return out


def timed_shadow(rows: int, runs: int) -> list[float]:
    from types import SimpleNamespace

    from mlprod.monitoring.traffic import log_rows

    rng = np.random.default_rng(1)
    score = rng.random(rows)
    scored = pd.DataFrame({"score": score, "decision": (score > 0.5).astype("int8"),
                           "tier": pd.Categorical(np.where(score < 0.01, "fallback", "primary")),
                           "fallback_reason": pd.Categorical(np.where(score < 0.01, "timeout", None)),
                           "needs_review": score < 0.01,
                           "filled_features": pd.Categorical(np.where(score < 0.02, "income", ""))})
    frame = pd.DataFrame({"customer_id": np.arange(rows, dtype=np.int64), "age": rng.integers(18, 90, rows)})
    champion = SimpleNamespace(name="churn", version="3", sha256="ab" * 32)
    shadow = SimpleNamespace(name="churn", version="4", sha256="cd" * 32)
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            writer = PredictionLogWriter(PredictionLogSettings(dir=str(Path(folder) / "log"),
                                                               segment_rows=1_000_000, flush_seconds=3600),
                                         key="customer_id")
            start = time.perf_counter()
            log_rows(writer, "batch-1", scored, frame, champion, arm="champion", experiment="shadow-1")
            log_rows(writer, "batch-1", scored, frame, shadow, arm="shadow", experiment="shadow-1")
            writer.flush()
            out.append(time.perf_counter() - start)
            writer.close()
    return out


def timed_requests(method: str, outputs: pd.DataFrame, inputs: pd.DataFrame, requests: int, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            writer = PredictionLogWriter(PredictionLogSettings(dir=str(Path(folder) / "log"),
                                                               segment_rows=1_000_000, flush_seconds=3600),
                                         key="customer_id")
            log = getattr(writer, method)
            start = time.perf_counter()
            for i in range(requests):
                log(f"r{i}", outputs, model=MODEL, inputs=inputs)
            out.append((time.perf_counter() - start) / requests)
            writer.close()
    return out


def show(label: str, times: list[float], unit: str = "s", scale: float = 1.0) -> float:
    median = statistics.median(times) * scale
    print(f"  {label:<42} median {median:9.3f} {unit}  (min {min(times) * scale:.3f}, max {max(times) * scale:.3f})")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    methods = [m for m in ("log_request", "log_frame") if hasattr(PredictionLogWriter, m)]
    outputs, inputs = batch(args.rows)
    print(f"one batch of {args.rows:,} rows logged and flushed, median of {args.runs} runs")
    medians = {m: show(m, timed(m, outputs, inputs, args.runs)) for m in methods}
    if len(medians) == 2:
        print(f"  columnar path {medians['log_request'] / medians['log_frame']:.1f}x faster")
    features = ("age", "income", "region", "active")
    print(f"the same batch with log_features {', '.join(features)} (the features JSON column), median of {args.runs} runs")
    medians = {m: show(m, timed(m, outputs, inputs, args.runs, features)) for m in methods}
    if len(medians) == 2:
        print(f"  columnar path {medians['log_request'] / medians['log_frame']:.1f}x faster")
    print(f"batch shadow logging (log_rows, champion + shadow: {2 * args.rows:,} rows) and flush, median of "
          f"{args.runs} runs")
    show("mlprod.monitoring.traffic.log_rows x 2", timed_shadow(args.rows, args.runs))
    one_out, one_in = batch(1)
    print(f"{args.requests:,} 1-row requests, time per request on the request path, median of {args.runs} runs")
    for m in methods:
        show(m, timed_requests(m, one_out, one_in, args.requests, args.runs), "us", 1e6)


if __name__ == "__main__":
    main()
