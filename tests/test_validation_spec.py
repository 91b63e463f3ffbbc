"""The schema file: strict parsing with helpful errors, YAML round trip, and inference from data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from mlprod.errors import ConfigError, DataError
from mlprod.validation import (
    draft_schema_yaml, infer_schema, load_schema, parse_schema, schema_to_yaml, validate, write_schema,
)
from mlprod.validation.spec import default_statistics


def schema(**sections) -> dict:
    return {"schema_version": 1, "columns": {"income": {"type": "float", "min": 0}}, **sections}


def test_a_full_schema_file_is_read(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("""
schema_version: 1
description: leads
table: {min_rows: 10, max_rows: 1000, extra_columns: warning, unique: [lead_id, region]}
columns:
  lead_id: {type: int, unique: true, min: 1, statistics: false}
  created_at: {type: datetime, min: 2020-01-01, max: '2030-12-31'}
  income: {type: float, nullable: true, allow_inf: true, description: yearly}
  region: {type: str, categories: [north, south], required: false}
  converted: {type: int, categories: [0, 1]}
rules:
  - {name: income_positive, expr: "income > 0", severity: warning}
statistics: {mean_shift: {warning: 0.5}, quantiles: false}
policy: {error: fail, warning: ignore, checks: {"stats.*": warn, "current/rule:*": fail}}
""")
    loaded = load_schema(path)
    assert [c.name for c in loaded.columns] == ["lead_id", "created_at", "income", "region", "converted"]
    assert loaded.column("created_at").min == "2020-01-01" and loaded.column("created_at").max == "2030-12-31"
    assert loaded.column("region").categories == ("north", "south") and not loaded.column("region").required
    assert loaded.table.unique == ("lead_id", "region") and loaded.table.extra_columns == "warning"
    assert loaded.rules[0].expression.columns == ("income",)
    assert [(s.name, s.warning, s.error) for s in loaded.statistics] == [("mean_shift", 0.5, 1.5)]
    assert loaded.policy.checks == (("stats.*", "warn"), ("current/rule:*", "fail"))
    assert loaded.source == str(path)


@pytest.mark.parametrize("data, message", [
    ({"columns": {"a": {"type": "int"}}}, "missing 'schema_version'; add 'schema_version: 1'"),
    (schema(schema_version=2), "schema_version 2 is not supported"),
    (schema(colums={}), "unknown key(s) ['colums']; allowed: schema_version, description, table, columns"),
    ({"schema_version": 1, "columns": {}}, "'columns' is empty"),
    ({"schema_version": 1, "columns": {"a": {"type": "integer"}}}, "columns.a.type: expected one of int, float"),
    ({"schema_version": 1, "columns": {"a": {"type": "int", "nulable": True}}}, "Did you mean 'nullable'?"),
    ({"schema_version": 1, "columns": {"a": {"type": "int", "min": "0"}}}, "columns.a.min: expected a number"),
    ({"schema_version": 1, "columns": {"a": {"type": "int", "min": 5, "max": 1}}}, "min (5) is greater than max (1)"),
    ({"schema_version": 1, "columns": {"a": {"type": "str", "min": 1}}}, "use 'categories' for allowed values"),
    ({"schema_version": 1, "columns": {"a": {"type": "datetime", "min": "someday"}}}, "is not a date"),
    ({"schema_version": 1, "columns": {"a": {"type": "int", "categories": ["x"]}}}, "values must be int"),
    ({"schema_version": 1, "columns": {"a": {"type": "str", "categories": ["x", "x"]}}}, "listed more than once"),
    ({"schema_version": 1, "columns": {"a": {"type": "int", "allow_inf": True}}}, "only float columns"),
    ({"schema_version": 1, "columns": {"a": {"type": "int", "nullable": "yes"}}}, "expected true or false"),
    (schema(table={"unique": ["nope"]}), "table.unique: ['nope'] are not declared"),
    (schema(table={"extra_columns": "ignore"}), "expected one of error, warning, allow"),
    (schema(table={"min_rows": -1}), "min_rows: expected a whole number >= 0"),
    (schema(rules={"r": "income > 0"}), "expected a list of rules"),
    (schema(rules=[{"name": "has space", "expr": "income > 0"}]), "without spaces"),
    (schema(rules=[{"name": "r", "expr": "income > 0"}, {"name": "r", "expr": "income < 9"}]), "declared twice"),
    (schema(rules=[{"name": "r", "expr": "salary > 0"}]),
     "rules[0] (r).expr: 'salary > 0' at column 1: unknown column"),
    (schema(rules=[{"name": "r", "expr": "income > 0", "severity": "fatal"}]),
     "severity: expected one of error, warning"),
    (schema(statistics={"mean_drift": {}}), "unknown key(s) ['mean_drift']; allowed: row_count, missing_share"),
    (schema(statistics={"mean_shift": {"warning": 2, "error": 1}}), "warning (2) must not exceed error (1)"),
    (schema(statistics={"row_count": {"warning": [0.5, 2], "error": [0.6, 3]}}), "must lie inside the error range"),
    (schema(statistics={"quantiles": {"warn": 0.1}}), "expected {warning: ..., error: ...}"),
    (schema(policy={"error": "stop"}), "policy.error: expected one of fail, warn, ignore"),
    (schema(policy={"checks": {"stats.*": "maybe"}}), "policy.checks.stats.*: expected one of fail, warn, ignore"),
    ([1, 2], "expected a schema"),
])
def test_invalid_schema_files_are_clear_errors(data, message):
    with pytest.raises(ConfigError) as info:
        parse_schema(data, source="schema.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("schema.yaml")


def test_yaml_problems_name_the_file_and_line(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("schema_version: 1\ncolumns:\n  a: {type: int}\n  a: {type: float}\n")
    with pytest.raises(ConfigError, match=r"schema.yaml line 4: invalid YAML: duplicate key 'a'"):
        load_schema(path)
    with pytest.raises(ConfigError, match="file not found"):
        load_schema(tmp_path / "missing.yaml")


def test_missing_statistics_section_means_the_defaults():
    assert parse_schema(schema()).statistics is None
    assert [s.name for s in default_statistics()] == ["row_count", "missing_share", "mean_shift", "quantiles",
                                                      "category_shares", "unseen_categories"]


@pytest.fixture
def leads() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 200
    return pd.DataFrame({
        "lead_id": np.arange(1, n + 1),
        "created_at": pd.date_range("2024-01-01", periods=n, freq="D"),
        "age": rng.integers(18, 80, n),
        "income": np.round(rng.lognormal(10, 0.5, n), 2),
        "share": rng.random(n),
        "trend": np.tanh(rng.normal(size=n)),
        "region": rng.choice(["north", "south", "east"], n),
        "note": [f"free text {i}" for i in range(n)],
        "converted": rng.integers(0, 2, n),
        "vip": rng.random(n) > 0.5,
        "score": np.where(rng.random(n) > 0.9, np.nan, rng.normal(size=n)),
    })


def test_inference_proposes_reviewable_choices(leads):
    inferred = infer_schema(leads)
    columns = {c.name: c for c in inferred.columns}
    assert {n: c.type for n, c in columns.items()} == {
        "lead_id": "int", "created_at": "datetime", "age": "int", "income": "float", "share": "float",
        "trend": "float", "region": "str", "note": "str", "converted": "int", "vip": "bool", "score": "float"}
    assert columns["lead_id"].unique and not columns["lead_id"].statistics
    assert columns["note"].unique and columns["note"].categories is None
    assert columns["region"].categories == ("east", "north", "south")
    assert columns["converted"].categories == (0, 1) and columns["converted"].min is None
    assert (columns["age"].min, columns["age"].max) == (0, None)  # observed extremes are not bounds
    assert (columns["share"].min, columns["share"].max) == (0.0, 1.0)
    assert (columns["trend"].min, columns["trend"].max) == (-1.0, 1.0)
    assert columns["score"].nullable and not columns["income"].nullable
    assert inferred.statistics == default_statistics()


def test_inferred_schema_round_trips_through_yaml_and_accepts_its_own_data(leads, tmp_path):
    text = draft_schema_yaml(leads, source="leads.parquet")
    assert text.startswith("# Data contract drafted by `mlprod schema infer` from leads.parquet (200 rows).")
    age_line = next(line for line in text.splitlines() if line.startswith("  age:"))
    assert f"# observed {leads.age.min()} .. {leads.age.max()}, no missing values" in age_line
    parsed = parse_schema(yaml.safe_load(text))
    assert parsed == infer_schema(leads)
    assert schema_to_yaml(parsed) == schema_to_yaml(infer_schema(leads))
    assert validate(leads, parsed).status == "passed"
    written = write_schema(parsed, tmp_path / "schema.yaml")
    assert load_schema(written) == parsed
    with pytest.raises(ConfigError, match="already exists"):
        write_schema(parsed, written)


def test_a_hand_written_schema_round_trips(tmp_path):
    original = parse_schema({
        "schema_version": 1, "description": "odd: names", "table": {"min_rows": 3, "unique": ["a b", "yes"]},
        "columns": {"a b": {"type": "str", "categories": ["no", "on", "1"], "nullable": True},
                    "yes": {"type": "datetime", "min": "2024-01-01"},
                    "x": {"type": "float", "max": 1e-05, "allow_inf": True, "required": False}},
        "rules": [{"name": "r1", "expr": "`a b` != 'on' or x < 0", "severity": "warning", "description": "a: b"}],
        "statistics": {"row_count": {"warning": [0.5, 2], "error": [0.1, 10]}},
        "policy": {"warning": "fail", "checks": {"rule:*": "ignore"}}})
    assert parse_schema(yaml.safe_load(schema_to_yaml(original))) == original


def test_inference_rejects_data_it_cannot_describe():
    with pytest.raises(DataError, match="no rows"):
        infer_schema(pd.DataFrame({"a": pd.Series([], dtype=float)}))
    with pytest.raises(DataError, match="duplicated column names"):
        infer_schema(pd.DataFrame([[1, 2]], columns=["a", "a"]))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

any_name = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["a\nb", "a\r\nb", "x\u2028y", "tab\there", "- dash", "#hash", "key: value", "'quote\"", "null", "1", "L" * 1100])


@settings(max_examples=150, deadline=None)
@given(st.lists(any_name, min_size=1, max_size=4, unique=True))
def test_any_column_name_round_trips_through_the_draft(names):
    from mlprod import yamlio

    frame = pd.DataFrame({name: [1, 2, 3] for name in names})
    text = draft_schema_yaml(frame, source="data\nwith a newline.csv")
    parsed = parse_schema(yamlio.loads(text, source="draft"), source="draft")  # the strict reader, as load_schema
    assert [c.name for c in parsed.columns] == names
    assert parsed == infer_schema(frame)


def test_categories_and_descriptions_with_line_breaks_round_trip(tmp_path):
    original = parse_schema({
        "schema_version": 1, "description": "two\nlines",
        "columns": {"c\nd": {"type": "str", "categories": ["x\ny", "a\u2028b", "tab\tc"], "description": "d\r\ne"}},
        "rules": [{"name": "r", "expr": "`c\nd` != 'x'", "description": "multi\nline"}]})
    path = write_schema(original, tmp_path / "schema.yaml")
    assert len(path.read_text().splitlines()) == len(schema_to_yaml(original).split("\n")) - 1  # one line each
    assert load_schema(path) == original
