"""The failed gate's message: one line per check over all datasets, a cap that names the report, a schema that
describes other data, and the file a failed run keeps for that message to point at."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import mlprod
from mlprod.errors import DataValidationError
from mlprod.validation import load_schema, parse_schema, validate, write_report

LEADS = {"schema_version": 1, "table": {"min_rows": 1},
         "columns": {"age": {"type": "int", "min": 18, "max": 100}, "income": {"type": "float", "min": 0.0},
                     "region": {"type": "str", "categories": ["north", "south"]}},
         "rules": [{"name": "income_positive", "expr": "income > 0"}]}


def leads(n: int, *, bad_age: int = 0, bad_income: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame({"age": [30] * n, "income": [10.0] * n, "region": ["north"] * n})
    frame.loc[: bad_age - 1, "age"] = 200
    frame.loc[n - bad_income:, "income"] = -5.0
    return frame


def test_a_check_failing_on_several_datasets_is_one_line_with_a_count_per_dataset():
    data = {"train": leads(300, bad_age=1), "holdout": leads(62, bad_age=2), "current": leads(20, bad_age=1,
                                                                                             bad_income=3)}
    result = validate(data, parse_schema(LEADS))
    assert len(result.failures) == 5  # age in 3 datasets, income range and rule in current
    lines = result.failure_message().splitlines()
    assert lines == [
        "data validation failed: 5 check(s) failed (train, holdout, current):",
        "  - schema.range:age - 3 datasets: train 1 of 300 rows, holdout 2 of 62, current 1 of 20 are outside the "
        "allowed range (values between 18 and 100); e.g. train row 0 (age=200), holdout row 0 (age=200), "
        "current row 0 (age=200)",
        "  - current: schema.range:income - 3 of 20 rows (15.0%) are outside the allowed range (values >= 0.0); "
        "e.g. row 17 (income=-5.0), row 18 (income=-5.0), row 19 (income=-5.0)",
        "  - current: rule:income_positive - 3 of 20 rows (15.0%) break the rule income > 0; e.g. row 17 "
        "(income=-5.0), row 18 (income=-5.0), row 19 (income=-5.0)",
    ]


def test_many_failing_checks_are_capped_with_how_many_more_and_where_the_report_is():
    schema = parse_schema({"schema_version": 1, "table": {"min_rows": 1},
                           "columns": {f"x{i:02d}": {"type": "int", "max": 0} for i in range(14)}})
    frame = pd.DataFrame({f"x{i:02d}": [1, 0] for i in range(14)})
    result = validate({"train": frame, "current": frame}, schema)
    with pytest.raises(DataValidationError) as info:
        result.raise_for_status(max_lines=10, report="reports/failed/validate/validation-report.html")
    lines = str(info.value).splitlines()
    assert lines[0] == "data validation failed: 28 check(s) failed (train, current):"
    assert lines[1] == ("  - schema.range:x00 - 2 datasets: train 1 of 2 rows, current 1 of 2 are outside the allowed "
                        "range (values <= 0); e.g. train row 0 (x00=1), current row 0 (x00=1)")
    assert [line.split(" - ")[1] for line in lines[1:11]] == [f"schema.range:x{i:02d}" for i in range(10)]
    assert lines[11:] == ["  - … and 4 more (8 failing checks in all); see reports/failed/validate/validation-report.html",
                          "full report: reports/failed/validate/validation-report.html"]


def test_a_schema_for_other_data_says_so_once_and_names_schema_infer_and_init(tmp_path):
    (tmp_path / "schema.yaml").write_text(json.dumps({
        "schema_version": 1, "table": {"min_rows": 1},
        "columns": {name: {"type": "int"} for name in ("lead_id", "age", "income", "n_interactions", "converted")}}))
    mine = pd.DataFrame({"Customer ID": [1, 2], "Monthly spend ($)": [3.5, 4.0], "age": [30, 40],
                         "Churned": ["y", "n"]})
    mine.to_csv(tmp_path / "mine.csv", index=False)
    result = validate({"train": tmp_path / "mine.csv", "current": mine}, load_schema(tmp_path / "schema.yaml"))
    message = result.failure_message()
    lines = message.splitlines()
    schema = str(tmp_path / "schema.yaml")
    assert lines[1] == (
        f"  {schema} describes other data: 4 of the 5 columns it declares are missing in train and current ('lead_id', "
        "'income', 'n_interactions', 'converted'), and the data has 3 column(s) it does not declare ('Churned', "
        "'Customer ID', 'Monthly spend ($)'). Draft a schema for this data with "
        f"`mlprod schema infer {tmp_path / 'mine.csv'} -o {schema} --force` and review it, or set up the project for "
        "this data with `mlprod init --data DATA --target COLUMN`")
    assert "schema.required:" not in message and "schema.extra_columns" not in message  # said once, above
    assert len(lines) == 2


def test_one_missing_column_is_not_other_data():
    result = validate({"current": leads(5).drop(columns="region")}, parse_schema(LEADS))
    message = result.failure_message()
    assert "describes other data" not in message and "mlprod schema infer" not in message
    assert "  - current: schema.required:region - column 'region' is missing; the data has columns ['age', " \
           "'income']" in message.splitlines()


def test_run_file_is_in_the_runs_results_folder_under_mlprod_run(tmp_path, monkeypatch):
    context = {"stage": "validate", "results_dir": str(tmp_path / "reports/running/validate"),
               "failed_dir": "reports/failed/validate"}
    monkeypatch.setenv("MLPROD_RUN", json.dumps(context))
    kept = mlprod.run_file("validation-report.html")
    assert kept.path == tmp_path / "reports/running/validate/validation-report.html"
    assert kept.if_failed == "reports/failed/validate/validation-report.html"


def test_run_file_in_jupyterlab_goes_straight_to_the_failed_runs_folder(tmp_path, monkeypatch):
    from mlprod.stages import interactive

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLPROD_RUN", raising=False)
    monkeypatch.setattr(interactive, "_applied", {"stage": "validate", "parameters": {}})
    kept = mlprod.run_file("validation-report.html")
    result = validate({"current": leads(5, bad_age=1)}, parse_schema(LEADS))
    write_report(result, kept.path)
    assert kept.if_failed == "reports/failed/validate/validation-report.html"
    assert (tmp_path / kept.if_failed).read_text().lower().startswith("<!doctype html>")
    with pytest.raises(ValueError, match="plain file name"):
        mlprod.run_file("../escape.html")
