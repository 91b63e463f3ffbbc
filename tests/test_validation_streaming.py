"""Validating a Parquet file in batches gives the same results as validating it whole."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlprod.data import read_table
from mlprod.profile import build_profile
from mlprod.validation import parse_schema, validate
from mlprod.validation.api import _streamed
from mlprod.validation.keys import RepeatedKeys

N = 12_000

SCHEMA = {
    "schema_version": 1,
    "table": {"unique": ["region", "id"]},
    "columns": {
        "id": {"type": "int", "unique": True, "min": 0, "statistics": False},
        "income": {"type": "float", "min": 0, "nullable": True},
        "score": {"type": "float", "min": -3, "max": 3},
        "visits": {"type": "float", "min": 0},  # an integer column with gaps reads as float
        "flag": {"type": "bool", "nullable": True},
        "region": {"type": "str", "categories": ["n", "s", "e", "w"]},
        "city": {"type": "str", "unique": True},
        "when": {"type": "datetime", "min": "2024-01-01"},
    },
    "rules": [
        {"name": "income_positive", "expr": "income > 100"},
        {"name": "visits_small", "expr": "visits < 12 or region == 'n'"},
    ],
}


def bad_frame(n: int = N, seed: int = 5) -> pd.DataFrame:
    """Failures spread over every batch: out of range, missing, infinite, unknown categories, ids and cities
    that repeat across batches only."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(6, 1.5, n)
    income[rng.random(n) < 0.05] = np.nan
    score = rng.normal(0, 1.2, n)
    score[[17, n * 5 // 12, n - 10]] = [np.inf, np.nan, -np.inf]
    ids = np.arange(n, dtype=np.int64)
    ids[[n - 1_000, n - 500]] = [3, n - 3_000]  # each repeats an id from an earlier batch
    city = np.array([f"c{k}" for k in range(n)], dtype=object)
    city[[2, n * 2 // 3]] = "repeated"
    region = rng.choice(["n", "s", "e", "w"], n).astype(object)
    region[[40, n // 2 + 1, n - 1]] = ["x", "north", "x"]
    return pd.DataFrame({
        "id": ids,
        "income": income,
        "score": score,
        "visits": pd.array(np.where(rng.random(n) < 0.05, None, rng.poisson(6, n)), dtype="Int64"),
        "flag": pd.array(np.where(rng.random(n) < 0.05, None, rng.random(n) < 0.3), dtype="boolean"),
        "region": pd.array(region, dtype="str"),
        "city": pd.array(city, dtype="str"),
        "when": pd.Timestamp("2023-12-30") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
    })


def write_groups(df: pd.DataFrame, path, row_group_size: int = 2_500, preserve_index: bool = False):
    pq.write_table(pa.Table.from_pandas(df, preserve_index=preserve_index), path, row_group_size=row_group_size)
    return path


def as_json(result) -> str:
    datasets = [{"name": d.name, "rows": d.n_rows, "columns": d.n_columns,
                 "results": [r.to_dict() for r in d.results]} for d in result.datasets]
    return json.dumps({"datasets": datasets, "status": result.status,
                       "outcomes": [(o.result.check, o.action) for o in result.outcomes]}, sort_keys=True)


@pytest.mark.parametrize("batch_rows", [977, 2_500, 4_000])
def test_batches_give_the_same_results_as_the_whole_file(tmp_path, batch_rows):
    df = bad_frame()
    path = write_groups(df, tmp_path / "data.parquet")
    schema = parse_schema(SCHEMA)
    reference = build_profile(bad_frame(seed=9).iloc[:4_000])
    streamed = _streamed(path, schema, reference, validate.__globals__["default_statistics"](), 5, batch_rows)
    assert streamed is not None  # really validated in batches, not read whole
    whole = validate(path, schema, reference=reference, batch_rows=N)  # one batch: read whole
    parts = validate(path, schema, reference=reference, batch_rows=batch_rows)
    assert as_json(parts) == as_json(whole)
    frame = validate(read_table(path), schema, reference=reference, name="data")
    assert as_json(frame) == as_json(whole)
    found = {o.result.check: o.result for o in whole.outcomes}
    assert found["schema.unique:id"].n_failed == 4
    assert [row["row"] for row in found["schema.unique:id"].examples] == [3, 9000, 11000, 11500]
    assert [row["city"] for row in found["schema.unique:city"].examples] == ["repeated", "repeated"]
    assert found["schema.unique_key"].passed is True
    assert found["schema.categories:region"].n_failed == 3
    assert found["schema.finite:score"].n_failed == 2
    assert found["rule:income_positive"].n_failed > 0


def test_one_big_row_group_is_read_in_batches(tmp_path):
    df = bad_frame(6_000)
    path = write_groups(df, tmp_path / "one.parquet", row_group_size=6_000)
    schema = parse_schema(SCHEMA)
    assert pq.ParquetFile(path).metadata.num_row_groups == 1
    assert as_json(validate(path, schema, batch_rows=1_000)) == as_json(validate(path, schema, batch_rows=6_000))


def test_what_a_batch_cannot_decide_is_validated_whole(tmp_path):
    """A dictionary-encoded column, a stored index: read whole, with the results of the whole table (row
    labels from the stored index)."""
    df = bad_frame(3_000)
    df["region"] = df["region"].astype("category")
    path = write_groups(df, tmp_path / "dictionary.parquet", row_group_size=1_000)
    schema = parse_schema(SCHEMA)
    assert _streamed(path, schema, None, (), 5, 1_000) is None
    assert as_json(validate(path, schema, batch_rows=1_000)) == as_json(validate(path, schema, batch_rows=10_000))

    indexed = bad_frame(3_000)
    indexed.index = indexed.index * 10 + 7
    path = write_groups(indexed, tmp_path / "indexed.parquet", row_group_size=1_000, preserve_index=True)
    assert _streamed(path, schema, None, (), 5, 1_000) is None
    result = validate(path, schema, batch_rows=1_000)
    assert as_json(result) == as_json(validate(path, schema, batch_rows=10_000))
    assert [row["row"] for row in {o.result.check: o.result for o in result.outcomes}["schema.unique:id"].examples
            ] == [7, 37, 20007, 25007]  # rows 0, 3, 2000, 2500 by the stored index


@pytest.mark.parametrize("seed", range(6))
def test_repeated_keys_match_pandas_duplicated(seed):
    rng = np.random.default_rng(seed)
    n = 3_000
    frame = pd.DataFrame({
        "x": rng.choice([0.0, -0.0, 1.5, np.nan, 2.0, 1e300], n) + rng.integers(0, 300, n) * 1.0,
        "k": pd.array(np.where(rng.random(n) < 0.02, None, rng.integers(0, 4_000, n)), dtype="Int64"),
        "t": pd.array(np.where(rng.random(n) < 0.02, None, rng.choice([f"v{k}" for k in range(900)], n)),
                      dtype="str"),
        "d": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 2_000, n), unit="min"),
    })
    for key in (["x"], ["k"], ["t"], ["d"], ["k", "t"], ["t", "x", "d"]):
        expected = frame.duplicated(subset=key, keep=False).to_numpy()
        keys = RepeatedKeys(key)
        cuts = sorted(rng.choice(np.arange(1, n), 3, replace=False).tolist())
        for lo, hi in zip([0, *cuts], [*cuts, n]):
            keys.add(frame.iloc[lo:hi])
        count, first = keys.finish(5)
        assert count == int(expected.sum()), key
        assert first.tolist() == np.flatnonzero(expected)[:5].tolist(), key
        assert keys.folder is None  # the temporary files are gone


def test_a_unique_column_that_is_also_the_table_key(tmp_path):
    """One key set serves both checks; both report the repeats across batches."""
    path = write_groups(bad_frame(6_000), tmp_path / "data.parquet")
    schema = parse_schema({**SCHEMA, "table": {"unique": ["id"]}})
    parts = validate(path, schema, batch_rows=1_000)
    assert as_json(parts) == as_json(validate(path, schema, batch_rows=6_000))
    found = {o.result.check: o.result for o in parts.outcomes}
    assert found["schema.unique_key"].n_failed == found["schema.unique:id"].n_failed == 4
