"""The schema layer (pandera) and the business-rule layer: each check passing and failing on small inline data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlprod.errors import DataError
from mlprod.validation import parse_schema, read_data, validate

COLUMNS = {
    "lead_id": {"type": "int", "unique": True, "min": 1},
    "created_at": {"type": "datetime", "min": "2020-01-01"},
    "income": {"type": "float", "min": 0},
    "region": {"type": "str", "categories": ["north", "south"]},
    "age": {"type": "int", "min": 18, "max": 80},
    "vip": {"type": "bool", "nullable": True},
}
RULES = [{"name": "income_positive", "expr": "income > 0"},
         {"name": "adult_vip", "expr": "not vip or age >= 21", "severity": "warning"}]


def make_schema(columns=None, rules=RULES, **sections):
    return parse_schema({"schema_version": 1, "columns": columns or COLUMNS, "rules": rules, **sections},
                        source="schema.yaml")


def good() -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": [1, 2, 3, 4],
        "created_at": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
        "income": [1000.0, 2000.0, 3000.0, 4000.0],
        "region": ["north", "south", "north", "south"],
        "age": [25, 30, 40, 50],
        "vip": [True, False, None, False],
    })


def results(frame, schema=None, **kwargs) -> dict:
    outcome = validate(frame, schema or make_schema(), **kwargs)
    return {o.result.check: o for o in outcome.outcomes}


def failed(frame, schema=None) -> dict:
    return {check: o.result for check, o in results(frame, schema).items() if o.action in ("fail", "warn")}


def test_good_data_passes_every_declared_check():
    outcome = validate(good(), make_schema())
    assert outcome.status == "passed" and outcome.failures == []
    checks = [o.result.check for o in outcome.outcomes]
    for column in COLUMNS:
        assert f"schema.required:{column}" in checks and f"schema.dtype:{column}" in checks
    assert {"schema.rows", "schema.unique:lead_id", "schema.range:age", "schema.categories:region",
            "schema.finite:income", "schema.extra_columns", "rule:income_positive"} <= set(checks)
    assert all(o.result.passed for o in outcome.outcomes)


def test_out_of_range_values_are_counted_with_example_rows():
    frame = good()
    frame.loc[[1, 3], "age"] = [12, 99]
    frame.loc[0, "created_at"] = pd.Timestamp("2019-05-01")
    found = failed(frame)
    assert set(found) == {"schema.range:age", "schema.range:created_at"}
    age = found["schema.range:age"]
    assert (age.n_failed, age.n_checked) == (2, 4)
    assert age.examples == ({"row": 1, "age": 12}, {"row": 3, "age": 99})
    assert "2 of 4 rows (50.0%) are outside the allowed range (values between 18 and 80)" in age.message


def test_unknown_categories_are_named():
    frame = good()
    frame.loc[2, "region"] = "Mars"
    found = failed(frame)
    assert list(found) == ["schema.categories:region"]
    assert found["schema.categories:region"].examples == ({"row": 2, "region": "Mars"},)
    assert "unknown values include ['Mars']" in found["schema.categories:region"].message
    assert "are not among the 2 allowed categories ('north', 'south')" in found["schema.categories:region"].message


def test_a_long_list_of_allowed_categories_says_it_is_cut_and_how_many_more():
    regions = [f"r{i:02d}" for i in range(12)]
    frame = good().assign(region=["r00", "r01", "Mars", "r11"])
    (result,) = failed(frame, make_schema({**COLUMNS, "region": {"type": "str", "categories": regions}})).values()
    assert ("1 of 4 rows (25.0%) are not among the 12 allowed categories ('r00', 'r01', 'r02', 'r03', 'r04', "
            "'r05', 'r06', 'r07', … (+4 more)); unknown values include ['Mars']") in result.message
    described = {o.result.check: o.result for o in validate(good().assign(region="r00"), make_schema(
        {**COLUMNS, "region": {"type": "str", "categories": regions}})).outcomes}["schema.categories:region"]
    assert "values in the 12 allowed categories ('r00', " in described.message and "… (+4 more)" in described.message


def test_missing_values_nan_and_infinities():
    frame = good()
    frame.loc[1, "income"] = np.nan
    frame.loc[2, "income"] = np.inf
    frame.loc[3, "region"] = None
    found = failed(frame)
    assert set(found) == {"schema.nullable:income", "schema.finite:income", "schema.nullable:region"}
    assert found["schema.finite:income"].examples == ({"row": 2, "income": np.inf},)
    assert found["schema.nullable:income"].n_failed == 1
    # the rule does not judge the row with the missing income; inf > 0 holds
    assert results(frame)["rule:income_positive"].result.observed["rows_not_judged"] == 1


def test_duplicates_in_a_unique_column_and_a_unique_key():
    frame = good()
    frame.loc[3, "lead_id"] = 1
    found = failed(frame)
    assert list(found) == ["schema.unique:lead_id"]
    assert found["schema.unique:lead_id"].n_failed == 2  # both rows holding the value
    keyed = make_schema(table={"unique": ["region", "vip"]})
    frame = good()
    frame.loc[2, "vip"] = False  # (north, False) twice? no: rows 1 and 3 are (south, False)
    key = failed(frame, keyed)["schema.unique_key"]
    assert key.n_failed == 2 and key.examples[0] == {"row": 1, "region": "south", "vip": False}


def test_a_column_failing_on_every_row_keeps_exact_counts_and_a_few_examples():
    rows = 5_000
    frame = pd.DataFrame({
        "lead_id": np.full(rows, 7),  # one id on every row
        "created_at": pd.Timestamp("2024-01-01"),
        "income": np.nan,  # missing everywhere
        "region": ["north"] * rows,
        "age": 30,
        "vip": False,
    })
    keyed = make_schema(table={"unique": ["region", "age"]})
    found = failed(frame, keyed)
    assert set(found) == {"schema.unique:lead_id", "schema.nullable:income", "schema.unique_key"}
    for check in found.values():
        assert (check.n_failed, check.n_checked) == (rows, rows)
        assert len(check.examples) == 5 and [e["row"] for e in check.examples] == [0, 1, 2, 3, 4]
    assert found["schema.unique:lead_id"].examples[0] == {"row": 0, "lead_id": 7}
    assert np.isnan(found["schema.nullable:income"].examples[0]["income"])
    assert found["schema.unique_key"].examples[0] == {"row": 0, "region": "north", "age": 30}
    assert "5,000 of 5,000 rows (100.0%) are missing" in found["schema.nullable:income"].message


def test_missing_and_extra_columns():
    frame = good().drop(columns=["age"]).assign(comment="x")
    outcome = results(frame)
    missing = outcome["schema.required:age"].result
    assert outcome["schema.required:age"].action == "fail" and "column 'age' is missing" in missing.message
    assert outcome["schema.extra_columns"].action == "fail"
    assert outcome["schema.extra_columns"].result.observed == {"columns": ["comment"]}
    assert outcome["rule:adult_vip"].action == "skipped"  # reads the missing column
    assert "schema.range:age" not in outcome
    relaxed = make_schema(table={"extra_columns": "warning"})
    assert results(good().assign(comment="x"), relaxed)["schema.extra_columns"].action == "warn"
    allowed = make_schema(table={"extra_columns": "allow"})
    assert "schema.extra_columns" not in results(good().assign(comment="x"), allowed)


def test_optional_columns_may_be_absent():
    columns = dict(COLUMNS, age={"type": "int", "required": False})
    outcome = results(good().drop(columns=["age"]), make_schema(columns, rules=[]))
    assert outcome["schema.required:age"].action == "pass"


def test_wrong_dtype_and_mixed_types_are_findings_and_block_value_checks():
    frame = good()
    frame["income"] = pd.Series([1000.0, "n/a", 3000.0, "unknown"], dtype=object)
    frame["age"] = frame["age"].astype(float)
    outcome = results(frame)
    dtype = outcome["schema.dtype:income"].result
    assert outcome["schema.dtype:income"].action == "fail"
    assert dtype.n_failed == 2 and dtype.examples == ({"row": 1, "income": "n/a"}, {"row": 3, "income": "unknown"})
    assert "expected float values, found dtype object" in dtype.message
    assert outcome["schema.range:income"].action == "skipped"
    assert outcome["rule:income_positive"].action == "skipped"
    # whole floats are convertible, but the declared type is int: reported with the dtype found
    assert outcome["schema.dtype:age"].action == "fail"
    assert "found dtype float64" in outcome["schema.dtype:age"].result.message


def test_integers_of_any_width_and_nullable_dtypes_match_their_type():
    frame = good()
    frame["age"] = frame["age"].astype("int16")
    frame["income"] = frame["income"].astype("Float64")
    frame["region"] = frame["region"].astype("category")
    frame["vip"] = frame["vip"].astype("boolean")
    assert validate(frame, make_schema()).status == "passed"


def test_time_zone_aware_dates_are_compared_with_the_bounds():
    frame = good()
    frame["created_at"] = frame["created_at"].dt.tz_localize("Europe/Berlin")
    frame.loc[0, "created_at"] = pd.Timestamp("2019-12-31 23:00", tz="Europe/Berlin")
    assert list(failed(frame)) == ["schema.range:created_at"]


def test_an_empty_table_fails_the_row_count_check():
    outcome = results(good().iloc[0:0])
    assert outcome["schema.rows"].action == "fail"
    assert "the data has no rows" in outcome["schema.rows"].result.message


def test_duplicated_column_names_are_a_clear_error():
    frame = pd.concat([good(), good()[["age"]]], axis=1)
    with pytest.raises(DataError, match=r"duplicated column names \['age'\]"):
        validate(frame, make_schema())


def test_business_rules_report_counts_examples_and_severity():
    frame = good()
    frame.loc[[1, 2], "income"] = [-5.0, 0.0]
    frame.loc[0, "age"] = 19  # vip at 19
    outcome = results(frame)
    rule = outcome["rule:income_positive"]
    assert rule.action == "fail" and (rule.result.n_failed, rule.result.n_checked) == (2, 4)
    assert rule.result.examples == ({"row": 1, "income": -5.0}, {"row": 2, "income": 0.0})
    assert "2 of 4 rows (50.0%) break the rule income > 0" in rule.result.message
    vip = outcome["rule:adult_vip"]
    assert vip.action == "warn" and vip.result.severity == "warning"
    assert vip.result.examples == ({"row": 0, "vip": True, "age": 19},)


def test_csv_text_is_parsed_as_the_declared_types(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,created_at,income,region,age,vip\n"
                    "1,2024-01-01,1000.5,north,20,true\n"
                    "2,2024-01-02,,south,30,\n"
                    "3,2024-01-03,2000,north,,False\n")
    schema = make_schema({**COLUMNS, "income": {"type": "float", "nullable": True},
                          "age": {"type": "int", "nullable": True}}, rules=[])
    frame = read_data(path, schema)
    assert str(frame["created_at"].dtype).startswith("datetime64") and str(frame["age"].dtype) == "Int64"
    assert str(frame["vip"].dtype) == "boolean"
    assert validate(path, schema).status == "passed"


def test_csv_values_that_do_not_parse_are_dtype_findings(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,created_at,income,region,age,vip\n"
                    "1,2024-01-01,1000,north,20,true\n"
                    "2,last tuesday,abc,south,30,false\n")
    outcome = results(path)
    assert outcome["schema.dtype:created_at"].action == "fail"
    assert outcome["schema.dtype:created_at"].result.examples == ({"row": 1, "created_at": "last tuesday"},)
    assert outcome["schema.dtype:income"].result.examples == ({"row": 1, "income": "abc"},)


def test_each_dataset_of_a_mapping_is_checked_and_named(tmp_path):
    bad = good()
    bad.loc[0, "income"] = -1.0
    outcome = validate({"train": good(), "current": bad}, make_schema())
    assert [d.name for d in outcome.datasets] == ["train", "current"]
    assert {o.dataset for o in outcome.failures} == {"current"}
    with pytest.raises(DataError, match="dataset 'x' is a list"):
        validate({"x": [1, 2]}, make_schema())


def test_integers_with_gaps_read_as_floats_are_ints_and_fractions_are_not():
    import numpy as np
    import pandas as pd

    from mlprod.validation.dtype_match import dtype_matches

    assert dtype_matches("int", pd.Series([1.0, np.nan, 3.0]))  # a CSV int column with a gap
    assert dtype_matches("int", pd.Series([np.nan, np.nan], dtype="float64"))
    assert not dtype_matches("int", pd.Series([1.0, 3.0]))  # floats without gaps: the type changed
    assert not dtype_matches("int", pd.Series([1.5, np.nan]))
    assert not dtype_matches("int", pd.Series([1.0, np.inf]))


def test_the_schema_layer_names_import_from_their_old_home_and_their_modules():
    from mlprod.validation import dtype_match, pandera_errors, schema_layer, schema_plan

    assert schema_layer.dtype_matches is dtype_match.dtype_matches
    assert schema_layer.shown_categories is schema_plan.shown_categories
    assert callable(schema_layer.check_schema) and schema_layer.SchemaChecks.__module__ == schema_layer.__name__
    assert pandera_errors.record_error.__module__ == pandera_errors.__name__
