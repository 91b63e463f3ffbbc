"""The vocabulary of business-rule expressions: the whitelisted functions and operators.

:mod:`mlprod.validation.expressions` parses and type-checks rules against this whitelist;
:mod:`mlprod.validation.rule_eval` evaluates them.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .registry import Registry

COMPARISONS = {ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne), ast.Lt: ("<", operator.lt),
               ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge)}
ARITHMETIC = {ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub), ast.Mult: ("*", operator.mul),
              ast.Div: ("/", operator.truediv), ast.FloorDiv: ("//", operator.floordiv),
              ast.Mod: ("%", operator.mod)}


@dataclass(frozen=True)
class Function:
    """A whitelisted function: argument types, result type and a vectorized implementation.

    ``constant`` functions take literal arguments only and are applied once, when the rule is compiled.
    """

    args: tuple[str, ...]
    result: str
    apply: Callable[..., Any]
    doc: str
    constant: bool = False
    keeps_nulls: bool = True  # False: the result is always known (isnull/notnull)


FUNCTIONS: Registry[Function] = Registry("rule function")


def _date(text: str):
    import pandas as pd

    stamp = pd.Timestamp(text)
    if pd.isna(stamp):
        raise ValueError(f"{text!r} is not a date")
    return (stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp).to_datetime64()


def _str(data, method: str):
    import pandas as pd

    return getattr(pd.Series(data, copy=False).str, method)()


for _name, _fn in (
    ("abs", Function(("number",), "number", np.abs, "absolute value")),
    ("sqrt", Function(("number",), "number", np.sqrt, "square root")),
    ("log", Function(("number",), "number", np.log, "natural logarithm")),
    ("isfinite", Function(("number",), "bool", np.isfinite, "true unless the value is +inf or -inf")),
    ("isnull", Function(("any",), "bool", None, "true where the value is missing", keeps_nulls=False)),
    ("notnull", Function(("any",), "bool", None, "true where the value is present", keeps_nulls=False)),
    ("lower", Function(("str",), "str", lambda s: _str(s, "lower"), "lower-case text")),
    ("upper", Function(("str",), "str", lambda s: _str(s, "upper"), "upper-case text")),
    ("strip", Function(("str",), "str", lambda s: _str(s, "strip"), "text without surrounding blanks")),
    ("len", Function(("str",), "number", lambda s: _str(s, "len").to_numpy(dtype=float, na_value=np.nan),
                     "number of characters")),
    ("date", Function(("str",), "datetime", _date, "a date literal, date('2024-07-01')", constant=True)),
    ("days", Function(("number",), "timedelta", lambda n: np.timedelta64(round(n * 86400e9), "ns"),
                      "a duration of n days, for date arithmetic", constant=True)),
):
    FUNCTIONS.register(_name, _fn)


class Folded(ast.expr):
    """A value computed when the rule is compiled (``date('2024-07-01')``), standing in for the call."""

    _fields = ()

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value
