"""Vectorized evaluation of a compiled rule over a DataFrame, with SQL-style three-valued logic."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .rule_language import ARITHMETIC, COMPARISONS, FUNCTIONS, Folded

def evaluate(tree: ast.expression, names: Mapping[str, str], frame) -> tuple[np.ndarray, np.ndarray]:
    """``(failing, unknown)`` boolean arrays: rows where the rule is False, and rows it cannot judge.

    ``names`` maps the identifiers in ``tree`` to column names of ``frame``.
    """
    n = len(frame)
    with np.errstate(all="ignore"):
        value = _Evaluator(frame, names).visit(tree.body)
    data = _as_bool_array(value.data, n)
    unknown = value.null if value.null is not None else np.zeros(n, dtype=bool)
    return ~data & ~unknown, unknown


@dataclass
class _Value:
    """An evaluated node: ``data`` (array, Series or scalar) and where it is missing (None: nowhere)."""

    data: Any
    null: np.ndarray | None = None


class _Evaluator:
    """Evaluates a type-checked tree over a DataFrame, vectorized."""

    def __init__(self, frame, names: Mapping[str, str]) -> None:
        self.frame = frame
        self.names = names
        self.n = len(frame)
        self.cache: dict[str, _Value] = {}

    def visit(self, node: ast.AST) -> _Value:
        return getattr(self, f"visit_{type(node).__name__}")(node)

    def visit_Name(self, node: ast.Name) -> _Value:
        if node.id not in self.cache:
            self.cache[node.id] = _column(self.frame[self.names[node.id]])
        return self.cache[node.id]

    def visit_Constant(self, node: ast.Constant) -> _Value:
        return _Value(node.value)

    def visit_Folded(self, node: Folded) -> _Value:
        return _Value(node.value)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> _Value:
        inner = self.visit(node.operand)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            return _Value(~_as_bool_array(inner.data, self.n), inner.null)
        return _Value(-inner.data if isinstance(node.op, ast.USub) else inner.data, inner.null)

    def visit_BoolOp(self, node: ast.BoolOp) -> _Value:
        result = self.visit(node.values[0])
        for value_node in node.values[1:]:
            result = _kleene(isinstance(node.op, ast.And), result, self.visit(value_node), self.n)
        return result

    def visit_BinOp(self, node: ast.BinOp) -> _Value:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            return _kleene(isinstance(node.op, ast.BitAnd), left, right, self.n)
        data = ARITHMETIC[type(node.op)][1](_plain(left.data), _plain(right.data))
        return _Value(data, _union(left.null, right.null))

    def visit_Compare(self, node: ast.Compare) -> _Value:
        left = self.visit(node.left)
        result: _Value | None = None
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                values = [item.value for item in right_node.elts]
                found = _isin(left.data, values, self.n)
                part = _Value(~found if isinstance(op, ast.NotIn) else found, left.null)
                right = left
            else:
                right = self.visit(right_node)
                data = _as_bool_array(COMPARISONS[type(op)][1](_plain(left.data), _plain(right.data)), self.n)
                part = _Value(data, _union(left.null, right.null))
            result = part if result is None else _kleene(True, result, part, self.n)
            left = right
        assert result is not None
        return result

    def visit_Call(self, node: ast.Call) -> _Value:
        function = FUNCTIONS.get(node.func.id)  # type: ignore[attr-defined]
        arg = self.visit(node.args[0])
        if not function.keeps_nulls:
            null = arg.null if arg.null is not None else np.zeros(self.n, dtype=bool)
            return _Value(null.copy() if node.func.id == "isnull" else ~null)  # type: ignore[attr-defined]
        return _Value(function.apply(_plain(arg.data)), arg.null)


def _column(series) -> _Value:
    """A column as a numpy array (numbers, bools, datetimes) or a Series (text), plus its missing mask."""
    import pandas as pd

    null = series.isna().to_numpy()
    mask = null if null.any() else None
    if pd.api.types.is_object_dtype(series.dtype):  # Python objects (bools with None ...): use their type
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "boolean":
            series = series.astype("boolean")
        elif inferred in ("integer", "floating", "mixed-integer-float"):
            series = series.astype("Float64")
        elif inferred in ("datetime", "datetime64"):
            series = pd.to_datetime(series)
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _Value(series.to_numpy(dtype=bool, na_value=False), mask)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return _Value(series.to_numpy(dtype="datetime64[ns]"), mask)
    if pd.api.types.is_numeric_dtype(dtype):
        if isinstance(dtype, np.dtype):
            return _Value(series.to_numpy(), mask)
        return _Value(series.to_numpy(dtype=float, na_value=np.nan), mask)
    return _Value(series.reset_index(drop=True), mask)


def _plain(data: Any) -> Any:
    return data.to_numpy() if hasattr(data, "to_numpy") and not _is_text(data) else data


def _is_text(data: Any) -> bool:
    import pandas as pd

    return isinstance(data, pd.Series) and not pd.api.types.is_numeric_dtype(data.dtype)


def _isin(data: Any, values: list, n: int) -> np.ndarray:
    import pandas as pd

    if isinstance(data, pd.Series):
        return data.isin(values).to_numpy(dtype=bool, na_value=False)
    if np.ndim(data) == 0:
        return np.full(n, data in values)
    return np.isin(data, values)


def _as_bool_array(data: Any, n: int) -> np.ndarray:
    if np.ndim(data) == 0:
        return np.full(n, bool(data))
    if hasattr(data, "to_numpy"):
        return data.to_numpy(dtype=bool, na_value=False)
    return np.asarray(data, dtype=bool)


def _union(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


def _kleene(conjunction: bool, a: _Value, b: _Value, n: int) -> _Value:
    """SQL-style and/or with unknowns: False and ? = False, True or ? = True, otherwise unknown stays unknown."""
    av, bv = _as_bool_array(a.data, n), _as_bool_array(b.data, n)
    if a.null is None and b.null is None:
        return _Value(av & bv if conjunction else av | bv)
    an = a.null if a.null is not None else np.zeros(n, dtype=bool)
    bn = b.null if b.null is not None else np.zeros(n, dtype=bool)
    if conjunction:
        decided_false = (~av & ~an) | (~bv & ~bn)
        null = ~decided_false & (an | bn)
        return _Value(~decided_false & ~null, null)
    decided_true = (av & ~an) | (bv & ~bn)
    null = ~decided_true & (an | bn)
    return _Value(decided_true, null)
