"""Benchmark: the validation gate on 1M rows x 20 columns (15 numeric, 5 categorical), schema checks and
10 business rules (goal: at most 1.5 s on a 2-core machine).

Prints the median wall time of ``validate(df, schema)`` (schema layer on pandera + rules, policy applied;
data already in memory) and its parts, a hand-written pandas baseline doing the same schema checks
(what pandera costs on top), the same gate on data where 1% of the rows break five checks and one column
fails on every row, on data where the id repeats and three columns are missing on every row (a broken
upstream step), and the gate on a Parquet file (reading included).

    python benchmarks/validation_gate.py [--rows 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_NUMERIC, N_CATEGORICAL = 15, 5
CATEGORIES = [f"cat_{i:02d}" for i in range(12)]

RULES = [
    "x01 >= 0",
    "x02 <= x03 + 30",
    "abs(x04) < 50",
    "x05 * 2 - x06 < 1000",
    "c1 in ('cat_00', 'cat_01', 'cat_02', 'cat_03', 'cat_04', 'cat_05', 'cat_06', 'cat_07', 'cat_08', "
    "'cat_09', 'cat_10', 'cat_11')",
    "c2 != 'unknown' or x07 > 0",
    "not (x08 < -100 and c3 == 'cat_00')",
    "x09 / (abs(x10) + 1) < 1000",
    "(x11 >= 0) & (x12 >= 0) | (x13 < 1e6)",
    "isnull(x14) or x14 > -1000",
]


def make_data(n_rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"x00": np.arange(1, n_rows + 1, dtype=np.int64)}  # a unique id
    for i in range(1, N_NUMERIC):
        if i % 3 == 0:
            columns[f"x{i:02d}"] = rng.integers(0, 100, n_rows, dtype=np.int64)
        else:
            columns[f"x{i:02d}"] = np.abs(rng.normal(10, 5, n_rows)) if i in (1, 11, 12) else rng.normal(0, 5, n_rows)
    for i in range(N_CATEGORICAL):
        codes = rng.integers(0, len(CATEGORIES), n_rows)
        columns[f"c{i}"] = pd.array(np.array(CATEGORIES, dtype=object)[codes], dtype="str")
    return pd.DataFrame(columns)


def make_schema():
    from mlprod.validation import parse_schema

    columns = {"x00": {"type": "int", "unique": True, "min": 1}}
    for i in range(1, N_NUMERIC):
        kind = "int" if i % 3 == 0 else "float"
        columns[f"x{i:02d}"] = {"type": kind, "min": 0 if kind == "int" or i in (1, 11, 12) else -1000, "max": 1000}
    for i in range(N_CATEGORICAL):
        columns[f"c{i}"] = {"type": "str", "categories": CATEGORIES}
    rules = [{"name": f"rule_{k}", "expr": expr} for k, expr in enumerate(RULES)]
    return parse_schema({"schema_version": 1, "columns": columns, "rules": rules}, source="benchmark")


def hand_written_schema_checks(df: pd.DataFrame, schema) -> int:
    """The schema layer's checks in plain pandas (dtype, nulls, range, categories, finite, unique): the baseline."""
    failures = 0
    for column in schema.columns:
        series = df[column.name]
        failures += int(series.isna().sum())
        if column.min is not None:
            failures += int((series < column.min).sum())
        if column.max is not None:
            failures += int((series > column.max).sum())
        if column.categories is not None:
            failures += int((~series.isin(column.categories)).sum())
        if column.type == "float":
            failures += int(np.isinf(series.to_numpy()).sum())
        if column.unique:
            failures += int(series.duplicated(keep=False).sum())
    return failures


def timed(variants: dict, repeats: int) -> dict[str, float]:
    """Median wall time of each variant; the variants take turns in every round, so a change in machine
    load affects them alike."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from mlprod.validation import validate
    from mlprod.validation.rules import check_rules
    from mlprod.validation.schema_layer import check_schema

    df = make_data(args.rows)
    schema = make_schema()
    result = validate(df, schema)  # warm-up: imports pandera, compiles nothing else
    assert result.status == "passed", [o.describe() for o in result.failures]
    n_checks = len(result.outcomes)

    bad = df.copy()
    rows = np.random.default_rng(1).choice(args.rows, args.rows // 100, replace=False)
    for name, value in (("x01", -5.0), ("x02", 1e9), ("x04", np.inf), ("x06", 1e5)):
        column = bad[name].to_numpy(copy=True)
        column[rows] = value
        bad[name] = column
    c1 = bad["c1"].to_numpy(dtype=object, copy=True)
    c1[rows] = "unknown"
    bad["c1"] = pd.array(c1, dtype="str")
    bad["x03"] = bad["x03"] + 5000  # every row out of range
    failing = validate(bad, schema)
    assert failing.status == "failed"
    broken = df.copy()  # a broken upstream step: the id repeats and three columns are missing on every row
    broken["x00"] = 7
    for name in ("x01", "x02", "x04"):
        broken[name] = np.nan
    broken_result = validate(broken, schema)
    assert broken_result.status == "failed"

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.parquet"
        df.to_parquet(path)
        t = timed({"gate": lambda: validate(df, schema), "schema": lambda: check_schema(df, schema),
                   "rules": lambda: check_rules(df, schema), "baseline": lambda: hand_written_schema_checks(df, schema),
                   "bad": lambda: validate(bad, schema), "broken": lambda: validate(broken, schema),
                   "read": lambda: pd.read_parquet(path),
                   "file": lambda: validate(path, schema)}, args.repeats)
    gate, schema_layer, rules, baseline = t["gate"], t["schema"], t["rules"], t["baseline"]
    gate_bad, read, from_file = t["bad"], t["read"], t["file"]

    print(f"validation gate: {args.rows:,} rows x {df.shape[1]} columns ({N_NUMERIC} numeric, {N_CATEGORICAL} "
          f"categorical), {len(RULES)} business rules, {n_checks} checks; median of {args.repeats} runs")
    print(f"  validate(df, schema), clean data          {gate:6.3f} s   (goal <= 1.5 s)")
    print(f"    schema layer (pandera, lazy)            {schema_layer:6.3f} s")
    print(f"    business rules                          {rules:6.3f} s")
    print(f"  hand-written pandas schema checks         {baseline:6.3f} s   (pandera / baseline = "
          f"{schema_layer / baseline:.2f}x)")
    print(f"  validate, 1% bad rows in 5 columns +      {gate_bad:6.3f} s   ({len(failing.failures)} failing checks)")
    print("    one column failing on every row")
    print(f"  validate, id repeated and 3 columns       {t['broken']:6.3f} s   ({len(broken_result.failures)} failing checks)")
    print("    missing on every row")
    print(f"  validate(path) incl. reading the Parquet  {from_file:6.3f} s   (pd.read_parquet alone: {read:.3f} s)")


if __name__ == "__main__":
    main()
