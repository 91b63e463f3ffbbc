"""Property: the validation layers' accumulators, filled piece by piece and merged (left to right, or as a tree),
give the results of one pass over the whole frame: counts, failing rows, example rows and messages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlprod.errors import ScaleError
from mlprod.profile import build_profile
from mlprod.scale.validate import merge
from mlprod.validation import validate
from mlprod.validation.api import check_batches
from mlprod.validation.schema_layer import SchemaChecks
from mlprod.validation.spec import default_statistics, parse_schema

MAX_EXAMPLES = 3
SCHEMA = {
    "schema_version": 1,
    "table": {"min_rows": 10, "extra_columns": "error", "unique": ["shop", "slot"]},
    "columns": {
        "id": {"type": "int", "unique": True},
        "age": {"type": "float", "min": 18, "max": 100},  # nulls and values out of range
        "income": {"type": "float", "nullable": True},  # +-inf
        "region": {"type": "str", "categories": ["north", "south", "east"], "nullable": True},  # unknown regions
        "code": {"type": "str"},  # a pattern, checked by the rules below
        "shop": {"type": "int"},
        "slot": {"type": "int"},
        "legacy": {"type": "int", "required": False},
    },
    "rules": [
        {"name": "income_positive", "expr": "income > 0"},
        {"name": "code_shape", "expr": "len(code) == 4 and upper(code) == code", "severity": "warning"},
        {"name": "adults_earn", "expr": "age < 30 or income >= 1000"},
    ],
}


def _frame(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n * 3)[:n]
    ids[rng.integers(0, n, size=3)] = ids[rng.integers(0, n, size=3)]  # a few repeated ids (maybe far apart)
    age = rng.uniform(10, 110, n)
    age[rng.random(n) < 0.1] = np.nan
    income = rng.normal(3000, 2000, n)
    income[rng.random(n) < 0.05] = np.inf
    income[rng.random(n) < 0.05] = np.nan
    region = rng.choice(np.array(["north", "south", "east", "west", None], dtype=object), n, p=[.3, .3, .25, .1, .05])
    letters = np.array(list("ABCDEFabc"))
    code = ["".join(rng.choice(letters, size=rng.choice([3, 4, 4, 4, 5]))) for _ in range(n)]
    frame = pd.DataFrame({"id": ids, "age": age, "income": income, "region": region, "code": code,
                          "shop": rng.integers(0, 6, n), "slot": rng.integers(0, 40, n)})
    if seed % 2:
        frame["note"] = "x"  # an undeclared column
    return frame


def _results(checks, rules, observed, whole: pd.DataFrame, statistics) -> list[str]:
    found = checks.results(fetch=lambda positions, columns: whole.iloc[positions][columns])
    found += rules.results()
    found += observed.check(statistics)
    return [json.dumps(r.to_dict(), sort_keys=True, default=str) for r in found]


def _accumulate(piece: pd.DataFrame, schema, profile, rng) -> tuple:
    """One piece's accumulators, fed in one or two batches (as a partition's batches are)."""
    checks = SchemaChecks(schema, max_examples=MAX_EXAMPLES)
    cuts = [0, *sorted(rng.choice(np.arange(1, len(piece)), size=rng.integers(0, 2), replace=False)), len(piece)]
    batches = [piece.iloc[a:b] for a, b in zip(cuts, cuts[1:])]
    rules, observed, n_columns = check_batches(batches, checks, schema, profile, MAX_EXAMPLES)
    return checks, rules, observed, n_columns


def _pieces(frame: pd.DataFrame, rng) -> list[pd.DataFrame]:
    """2-4 pieces at random points, each keeping its global row labels."""
    count = int(rng.integers(2, 5))
    cuts = [0, *sorted(rng.choice(np.arange(2, len(frame) - 1), size=count - 1, replace=False)), len(frame)]
    return [frame.iloc[a:b] for a, b in zip(cuts, cuts[1:])]


def _tree(parts: list) -> tuple:
    while len(parts) > 1:
        parts = [merge(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


@pytest.mark.parametrize("seed", range(8))
def test_merged_pieces_equal_the_whole_frame(seed):
    schema = parse_schema(SCHEMA)
    statistics = default_statistics()
    profile = build_profile(_frame(1000 + seed, 300).drop(columns=["note"], errors="ignore"))
    whole = _frame(seed, int(np.random.default_rng(seed).integers(40, 400)))
    expected = validate(whole, schema, reference=profile, max_examples=MAX_EXAMPLES).datasets[0]
    expected = [json.dumps(r.to_dict(), sort_keys=True, default=str) for r in expected.results]
    assert any('"passed": false' in r for r in expected)  # the frame does fail, on several checks
    rng = np.random.default_rng(seed + 7)
    pieces = _pieces(whole, rng)
    accumulated = [_accumulate(piece, schema, profile, np.random.default_rng(seed + i)) for i, piece in
                   enumerate(pieces)]
    left = accumulated[0]
    for right in accumulated[1:]:
        left = merge(left, right)
    assert left[0].plan.n_rows == len(whole) and left[3] == len(whole.columns)
    assert _results(*left[:3], whole, statistics) == expected
    fresh = [_accumulate(piece, schema, profile, np.random.default_rng(seed + i)) for i, piece in enumerate(pieces)]
    assert _results(*_tree(fresh)[:3], whole, statistics) == expected


def test_the_layers_merge_methods_are_what_the_reduction_calls():
    schema = parse_schema(SCHEMA)
    whole = _frame(3, 120)
    profile = build_profile(_frame(5, 200).drop(columns=["note"]))
    a = _accumulate(whole.iloc[:50], schema, profile, np.random.default_rng(0))
    b = _accumulate(whole.iloc[50:], schema, profile, np.random.default_rng(1))
    checks, rules, observed = a[0].merge(b[0]), a[1].merge(b[1]), a[2].merge(b[2])
    assert checks is a[0] and rules is a[1] and observed is a[2]  # in place, on the left (earlier rows)
    expected = validate(whole, schema, reference=profile, max_examples=MAX_EXAMPLES).datasets[0].results
    expected = [json.dumps(r.to_dict(), sort_keys=True, default=str) for r in expected]
    assert _results(checks, rules, observed, whole, default_statistics()) == expected


def test_a_missing_required_column_counts_once_however_many_pieces():
    schema = parse_schema({**SCHEMA, "columns": {**SCHEMA["columns"], "legacy": {"type": "int"}}})
    whole = _frame(2, 90)
    profile = build_profile(whole)
    parts = [_accumulate(p, schema, profile, np.random.default_rng(i)) for i, p in
             enumerate([whole.iloc[:30], whole.iloc[30:60], whole.iloc[60:]])]
    merged = _tree(parts)
    required = next(r for r in merged[0].results(fetch=lambda p, c: whole.iloc[p][c])
                    if r.check == "schema.required:legacy")
    assert (required.passed, required.n_failed, required.n_checked) == (False, 1, 1)


def _mixed() -> pd.DataFrame:
    """``code`` holds text in the first 40 rows and numbers after: one piece holds its declared type, one not."""
    frame = _frame(4, 80)
    frame["code"] = pd.Series(frame["code"].tolist()[:40] + list(range(40)), dtype=object)
    return frame


@pytest.mark.parametrize("order", ["text first", "numbers first"])
def test_a_column_of_the_declared_type_in_one_piece_only_is_one_clear_error(order):
    schema = parse_schema(SCHEMA)
    frame = _mixed()
    profile = build_profile(frame.drop(columns=["code"]))
    text = _accumulate(frame.iloc[:40], schema, profile, np.random.default_rng(0))
    numbers = _accumulate(frame.iloc[40:], schema, profile, np.random.default_rng(1))
    left, right = (text, numbers) if order == "text first" else (numbers, text)
    with pytest.raises(ScaleError) as caught:
        merge(left, right)
    assert str(caught.value) == (
        "the partitions cannot be validated separately (column(s) ['code'] hold their declared type in some "
        "partitions only); validate the dataset without --dask (it is then read whole)")


def test_pieces_with_different_columns_are_one_clear_error():
    schema = parse_schema(SCHEMA)
    frame = _frame(0, 60)
    profile = build_profile(frame)
    a = _accumulate(frame.iloc[:30], schema, profile, np.random.default_rng(0))
    b = _accumulate(frame.iloc[30:].assign(note="x"), schema, profile, np.random.default_rng(1))
    with pytest.raises(ScaleError, match=r"cannot be validated separately \(the partitions have different columns\)"):
        merge(a, b)
