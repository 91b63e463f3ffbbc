"""`mlprod validate` and `mlprod schema infer/check`: exit codes, messages, outputs, and bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlprod.cli import main
from mlprod.data import make_leads, time_split, write_table


@pytest.fixture
def files(project):
    split = time_split(make_leads(n_rows=3000, seed=5), "created_at", "2024-04-01", "2024-07-01")
    write_table(split.train, "train.parquet")
    write_table(split.holdout, "holdout.parquet")
    bad = split.holdout.copy()
    bad.loc[[4, 9], "income"] = -10.0
    bad.loc[6, "region"] = "Mars"
    write_table(bad, "bad.parquet")
    return project


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_infer_then_validate_round_trip(files, capsys):
    code, out, err = run(capsys, "schema", "infer", "train.parquet")
    assert code == 0 and out.startswith("# Data contract drafted by `mlprod schema infer` from train.parquet")
    assert run(capsys, "schema", "infer", "train.parquet", "-o", "schema.yaml")[0] == 0
    code, _, err = run(capsys, "schema", "infer", "train.parquet", "-o", "schema.yaml")
    assert code == 2 and "schema.yaml already exists" in err and "--force" in err
    assert run(capsys, "schema", "infer", "train.parquet", "-o", "schema.yaml", "--force")[0] == 0
    code, _, err = run(capsys, "schema", "check", "schema.yaml")
    assert code == 0 and "schema.yaml is valid: 10 columns, 0 rules" in err
    code, _, err = run(capsys, "validate", "train.parquet", "--schema", "schema.yaml")
    assert code == 0 and "train: " in err and "0 failed" in err and err.rstrip().endswith("passed")


def test_a_failed_gate_exits_1_listing_each_failing_check(files, capsys):
    run(capsys, "schema", "infer", "train.parquet", "-o", "schema.yaml")
    code, _, err = run(capsys, "validate", "holdout.parquet", "bad.parquet", "--schema", "schema.yaml",
                       "--reference", "train.parquet", "--summary", "out/summary.json", "--report", "out/report.html",
                       "--details", "out/details.json")
    assert code == 1
    lines = err.splitlines()
    assert "mlprod validate: data validation failed: 2 check(s) failed (bad):" in lines
    assert any(line.startswith("  - bad: schema.range:income - 2 of ") and "e.g. row 4 (income=-10.0), row 9 "
               "(income=-10.0)" in line for line in lines), err
    assert any("bad: schema.categories:region" in line and "row 6 (region='Mars')" in line for line in lines)
    assert "full report: out/report.html" in lines  # the message names the report it wrote
    assert "Traceback" not in err
    summary = json.loads((files.root / "out" / "summary.json").read_text())
    assert summary["datasets"]["holdout"]["failed"] == 0 and summary["datasets"]["bad"]["failed"] == 2
    assert (files.root / "out" / "report.html").read_text().lower().startswith("<!doctype html>")


@pytest.mark.parametrize("content, message", [
    (None, "Data file 'missing.csv' does not exist"),
    (b"", "Data file 'missing.csv' is empty (0 bytes)"),
    (b"a,a\n1,2\n", "duplicated column names ['a']"),
    (b"a,b\n", "has columns ['a', 'b'] but no rows"),
    (b"\xff\xfe\x00bad", "could not be read as CSV"),
])
def test_unreadable_data_is_a_clear_error_with_exit_2(files, capsys, content, message):
    run(capsys, "schema", "infer", "train.parquet", "-o", "schema.yaml")
    if content is not None:
        (files.root / "missing.csv").write_bytes(content)
    code, _, err = run(capsys, "validate", "missing.csv", "--schema", "schema.yaml", "--summary", "summary.json")
    assert code == 2 and message in err and "Traceback" not in err
    assert not (files.root / "summary.json").exists()


def test_a_corrupt_parquet_file_and_an_invalid_schema_are_clear_errors(files, capsys):
    (files.root / "corrupt.parquet").write_bytes((files.root / "train.parquet").read_bytes()[:200])
    files.write("schema.yaml", "schema_version: 1\ncolumns: {income: {type: float, minimum: 0}}\n")
    code, _, err = run(capsys, "validate", "train.parquet", "--schema", "schema.yaml")
    assert code == 2 and "schema.yaml columns.income: unknown key(s) ['minimum']" in err
    files.write("schema.yaml", "schema_version: 1\ncolumns: {income: {type: float}}\n")
    code, _, err = run(capsys, "validate", "corrupt.parquet", "--schema", "schema.yaml")
    assert code == 2 and "could not be read as Parquet" in err


def test_csv_data_and_a_profile_file_as_reference(files, capsys):
    from mlprod.profile import build_profile
    from mlprod.validation import infer_schema, write_schema

    train = pd.read_parquet("train.parquet")
    train.to_csv("train.csv", index=False)
    build_profile(train).save("train_profile.json")
    write_schema(infer_schema(train), "schema.yaml")
    code, _, err = run(capsys, "validate", "t=train.csv", "--schema", "schema.yaml", "--reference",
                       "train_profile.json")
    assert code == 0, err
    assert f"mlprod validate: t: {len(train):,} rows, 69 checks, 0 failed, 0 warning(s)" in err.splitlines()
