"""Business-rule expressions: known answers, missing-value logic, and everything outside the whitelist rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlprod.errors import ConfigError
from mlprod.validation.expressions import compile_expression
from mlprod.validation.rule_language import FUNCTIONS

TYPES = {"income": "float", "age": "int", "region": "str", "created_at": "datetime", "vip": "bool",
         "last_seen": "datetime", "odd name": "float"}


@pytest.fixture
def leads() -> pd.DataFrame:
    return pd.DataFrame({
        "income": [1000.0, -5.0, np.nan, 250.0],
        "age": [20, 30, 40, 50],
        "region": pd.array(["north", "Mars", None, "south"], dtype="str"),
        "created_at": pd.to_datetime(["2024-01-01", "2023-01-01", "2025-06-01", None]),
        "vip": [True, False, True, False],
        "last_seen": pd.to_datetime(["2024-02-01", "2022-12-01", "2025-06-03", "2024-01-01"]),
        "odd name": [1.0, 2.0, 3.0, 4.0],
    })


def failing_rows(expr: str, frame: pd.DataFrame) -> tuple[list[int], list[int]]:
    failing, unknown = compile_expression(expr, TYPES, where="test").evaluate(frame)
    return np.flatnonzero(failing).tolist(), np.flatnonzero(unknown).tolist()


@pytest.mark.parametrize("expr, failing, unknown", [
    ("income >= 0", [1], [2]),
    ("income > 0 and age < 45", [1, 3], [2]),  # row 2: ? and True = unknown
    ("income > 0 or age > 35", [1], []),  # row 2: ? or True = True
    ("not (income < 0)", [1], [2]),
    ("0 <= income <= 500", [0, 1], [2]),
    ("region in ('north', 'south')", [1], [2]),
    ("region not in ['Mars']", [1], [2]),
    ("lower(region) != 'mars'", [1], [2]),
    ("len(region) == 5", [1], [2]),
    ("created_at >= date('2024-01-01')", [1], [3]),
    ("last_seen >= created_at", [1], [3]),
    ("last_seen - created_at <= days(31)", [], [3]),
    ("last_seen - created_at < days(31)", [0], [3]),
    ("isnull(income) or income > 0", [1], []),
    ("notnull(region)", [2], []),
    ("vip or age >= 40", [1], []),
    ("vip == True", [1, 3], []),
    ("(income > 0) & (age < 45) | vip", [1, 3], []),  # & binds tighter than |, as in Python
    ("abs(income) * 2 + age // 10 - age % 7 > 10", [], [2]),
    ("sqrt(age) < 7 and log(age) > 2", [3], []),
    ("income / 0 < 1", [0, 3], [2]),  # x/0 is inf (or nan for 0/0), never an error
    ("`odd name` > 1.5", [0], []),
    ("-income < 0", [1], [2]),
    ("isfinite(income)", [], [2]),
])
def test_known_answers(leads, expr, failing, unknown):
    assert failing_rows(expr, leads) == (failing, unknown)


def test_columns_read_by_a_rule_are_listed_once_in_order():
    expression = compile_expression("income > 0 and (age > 1 or income < 1e9) and `odd name` > 0", TYPES, where="t")
    assert expression.columns == ("income", "age", "odd name")


def test_nullable_extension_dtypes_and_time_zones_are_evaluated(leads):
    frame = pd.DataFrame({"age": pd.array([1, None, 3], dtype="Int64"),
                          "created_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]).tz_localize("UTC")})
    assert failing_rows("age > 1", frame) == ([0], [1])
    assert failing_rows("created_at > date('2024-01-01')", frame) == ([0], [])


@pytest.mark.parametrize("expr, problem", [
    ("income.__class__", "attribute access"),
    ("().__class__.__bases__[0].__subclasses__()", "only the rule functions can be called"),
    ("__import__('os').system('touch hacked')", "only the rule functions can be called"),
    ("__import__('os') == 0", "unknown function '__import__'"),
    ("open('x').read() == ''", "only the rule functions can be called"),
    ("eval('1') == 1", "unknown function 'eval'"),
    ("exec('import os')", "unknown function 'exec'"),
    ("income[0] > 1", "indexing"),
    ("(lambda: 1)() == 1", "lambda"),
    ("[x for x in income] == 1", "comprehension"),
    ("income ** 2 > 1", "Pow is not allowed"),
    ("income << 2 > 1", "LShift is not allowed"),
    ("(x := 1) > 0", "assignment (:=) is not allowed"),
    ("income > 0; import os", "not a valid expression"),
    ("f'{income}' == 'a'", "f-string"),
    ("abs(x=income) > 0", "positional argument"),
    ("abs(*income) > 0", "* arguments are not allowed"),
    ("income == None", "use isnull"),
    ("income if age else age", "'x if c else y'"),
    ("1 < 2", "does not use any column"),
    ("income", "must be true or false"),
    ("Income > 0", "Did you mean 'income'?"),
    ("abs > 1", "is a function"),
    ("income > 'a'", "compares number with str"),
    ("region + 'x' == 'y'", "cannot combine str and str"),
    ("'a' * 100000000 == region", "cannot combine str and number"),
    ("abs(income) < 3 & age > 2", "binds tighter than comparisons"),
    ("age in [1, 'x']", "must be number"),
    ("age in (age,)", "only hold literals"),
    ("date(region) > created_at", "takes a literal"),
    ("created_at > date('soon')", "is invalid"),
    ("created_at > '2024-01-01'", "use date("),
    ("region < 3", "compares str with number"),
    ("vip > True", "needs numbers, text, dates"),
    ("x" * 1001 + " > 0", "limit is 1000"),
    ("(" * 250 + "age" + ")" * 250 + " > 0", "not a valid expression"),
    (" + ".join(["age"] * 150) + " > 0", "limit is 200"),
    ("", "expected an expression"),
])
def test_anything_outside_the_whitelist_is_rejected_at_compile_time(expr, problem, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        compile_expression(expr, TYPES, where="schema.yaml rules[0] (r).expr")
    assert problem in str(info.value)
    assert str(info.value).startswith("schema.yaml rules[0] (r).expr: ")
    assert not (tmp_path / "hacked").exists()


def test_non_text_expressions_are_rejected():
    with pytest.raises(ConfigError, match="expected an expression"):
        compile_expression(["income > 0"], TYPES, where="t")


def test_the_function_whitelist_is_small_and_documented():
    assert FUNCTIONS.names() == ["abs", "sqrt", "log", "isfinite", "isnull", "notnull", "lower", "upper", "strip",
                                 "len", "date", "days"]
    with pytest.raises(ConfigError, match="no rule function named 'open'; available: abs"):
        FUNCTIONS.get("open")
