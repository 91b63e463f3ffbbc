"""Business-rule expressions: a tiny, safe language over a table's columns.

A rule such as ``income >= 0`` or ``lower(channel) != 'web' or n_interactions > 0`` is parsed with Python's
:mod:`ast` (never ``eval``), every node is checked against a small whitelist, and the expression is
type-checked against the schema's column types before any data is touched. Evaluation
(:mod:`mlprod.validation.rule_eval`) walks the tree and applies vectorized numpy/pandas operations, so
user text can only ever compare, combine and do arithmetic on columns: no attribute access, indexing,
comprehensions, lambdas, keyword arguments, names other than declared columns, or calls other than the
whitelisted functions of :mod:`mlprod.validation.rule_language`.

Missing values follow SQL's three-valued logic: a comparison involving a missing value is *unknown*;
``and``/``or`` only resolve it when the other side decides the answer (``False and ?`` is False,
``True or ?`` is True); a row whose final answer is unknown is not judged (counted as skipped), so a
rule never double-reports what the schema's nullability check already reports. ``isnull(x)`` and
``notnull(x)`` are always known.
"""

from __future__ import annotations

import ast
import keyword
import re
import unicodedata
from typing import Any, Mapping

import numpy as np

from mlprod.errors import ConfigError

from .rule_language import ARITHMETIC, COMPARISONS, FUNCTIONS, Folded

MAX_LENGTH = 1000
MAX_NODES = 200
# schema column type -> expression type
COLUMN_TYPES = {"int": "number", "float": "number", "bool": "bool", "str": "str", "datetime": "datetime"}

_ORDERED = {"number", "str", "datetime", "timedelta"}  # types with < and >


def quote_column(name: str) -> str:
    """``name`` as a rule refers to it: bare when it is a plain ASCII identifier, else in backticks (a backtick
    inside the name doubled), e.g. ``income``, ```Annual income (EUR)```; :func:`compile_expression` reads it back."""
    if name.isascii() and name.isidentifier() and not keyword.iskeyword(name) and name not in FUNCTIONS:
        return name
    return "`" + name.replace("`", "``") + "`"


def _unquote(text: str, names: dict[str, str], where: str) -> str:
    """``text`` with each ```quoted column``` replaced by a placeholder identifier (recorded in ``names``).

    Backticks inside string literals ('...', "...") are left alone; ``````  inside a quoted name is one backtick.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":  # a string literal, copied as is (its end found the way Python's tokenizer does)
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif ch == "`":
            j, name = i + 1, []
            while True:
                end = text.find("`", j)
                if end < 0:
                    raise ConfigError(f"{where}: {_clip(text)!r} has a ` at column {i + 1} that is never closed; "
                                      "quote a column name as `Annual income (EUR)` (a ` inside the name written ``).")
                name.append(text[j:end])
                if text.startswith("``", end):
                    name.append("`")
                    j = end + 2
                    continue
                break
            column = "".join(name)
            if not column.strip():
                raise ConfigError(f"{where}: {_clip(text)!r} has empty backticks at column {i + 1}; "
                                  "put a column name between them.")
            ident = next((k for k, v in names.items() if v == column), None) or f"_mlprod_col_{len(names)}"
            names[ident] = column
            out.append(ident)
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class Expression:
    """A compiled rule expression; ``columns`` are the columns it reads."""

    def __init__(self, text: str, tree: ast.expression, columns: tuple[str, ...], names: Mapping[str, str]) -> None:
        self.text = text
        self.columns = columns
        self._tree = tree
        self._names = dict(names)  # identifier in the tree -> column name (differs for `quoted names`)

    def evaluate(self, frame) -> tuple[np.ndarray, np.ndarray]:
        """``(failing, unknown)`` boolean arrays: rows where the rule is False, and rows it cannot judge."""
        from .rule_eval import evaluate

        return evaluate(self._tree, self._names, frame)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def compile_expression(text: Any, column_types: Mapping[str, str], *, where: str) -> Expression:
    """Parse and type-check ``text`` against ``column_types`` (column -> schema type); ConfigError if invalid."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: expected an expression such as 'income >= 0', got {text!r}")
    if len(text) > MAX_LENGTH:
        raise ConfigError(f"{where}: the expression is {len(text)} characters long; the limit is {MAX_LENGTH}. "
                          "Split it into several rules.")
    names: dict[str, str] = {}
    source = _unquote(text.strip(), names, where)
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise ConfigError(f"{where}: {_clip(text)!r} is not a valid expression ({detail}). Write comparisons such as "
                          "'income >= 0' combined with and/or/not; quote odd column names with `backticks`."
                          f"{_quote_hint(source, column_types)}") from exc
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise ConfigError(f"{where}: the expression has {nodes} parts; the limit is {MAX_NODES}. Split it.")
    checker = _TypeChecker(text, column_types, names, where)
    result = checker.visit(tree.body)
    if result != "bool":
        raise ConfigError(f"{where}: {_clip(text)!r} gives a {result}, but a rule must be true or false for each row; "
                          "compare it with something, e.g. 'income >= 0'.")
    if not checker.used:
        raise ConfigError(f"{where}: {_clip(text)!r} does not use any column, so it says nothing about the data; "
                          "name at least one column.")
    _fold_constants(tree)
    for ident in checker.used:
        names.setdefault(ident, ident)
    columns = tuple(dict.fromkeys(names[i] for i in checker.used))
    return Expression(text, tree, columns, {i: names[i] for i in checker.used})


class _TypeChecker:
    """Rejects every node outside the whitelist and infers each node's type."""

    def __init__(self, text: str, column_types: Mapping[str, str], names: Mapping[str, str], where: str) -> None:
        self.text = text
        self.column_types = column_types
        self.names = names
        self.where = where
        self.used: list[str] = []

    def fail(self, node: ast.AST, problem: str) -> ConfigError:
        where = f" at column {node.col_offset + 1}" if hasattr(node, "col_offset") else ""
        return ConfigError(f"{self.where}: {_clip(self.text)!r}{where}: {problem}")

    def visit(self, node: ast.AST) -> str:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            written = ast.unparse(node) if isinstance(node, (ast.Attribute, ast.Subscript)) else None
            if written in self.column_types:
                raise self.fail(node, f"{written} is read as {_describe(node)}; to mean the column, quote it: "
                                      f"{quote_column(written)}.")
            raise self.fail(node, f"{_describe(node)} is not allowed in a rule. Allowed: column names, numbers, "
                                  "'text', True/False, comparisons (== != < <= > >= in, not in), and/or/not, "
                                  f"+ - * / // %, and the functions {', '.join(FUNCTIONS.names())}.")
        return method(node)

    def visit_Name(self, node: ast.Name) -> str:
        column = self.names.get(node.id, node.id)
        if column not in self.column_types:  # the same text in another Unicode form (Python reads bare names as NFKC)
            same = [c for c in self.column_types if _nfkc(c) == _nfkc(column)]
            if len(same) == 1:
                column = self.names[node.id] = same[0]
        if column not in self.column_types:
            close = [c for c in self.column_types if c.lower() == column.lower()]
            if not close and node.id not in self.names:  # a word of a longer name that needs backticks?
                close = [c for c in self.column_types if quote_column(c) != c
                         and re.search(rf"(?<!\w){re.escape(node.id)}(?!\w)", c)]
            hint = f" Did you mean {close[0]!r}?" if close else ""
            if close and quote_column(close[0]) != close[0]:
                hint += f" A rule writes it {quote_column(close[0])}."
            if node.id in FUNCTIONS:
                hint = f" {node.id!r} is a function: call it, e.g. {node.id}(...)."
            raise self.fail(node, f"unknown column {column!r}; the schema declares: "
                                  f"{', '.join(quote_column(c) for c in self.column_types)}.{hint}")
        self.used.append(node.id)
        return COLUMN_TYPES[self.column_types[column]]

    def visit_Constant(self, node: ast.Constant) -> str:
        value = node.value
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, (int, float)):
            return "number"
        if isinstance(value, str):
            return "str"
        if value is None:
            raise self.fail(node, "None is not allowed; use isnull(column) or notnull(column).")
        raise self.fail(node, f"the literal {value!r} is not allowed; use numbers, 'text' or True/False.")

    def visit_UnaryOp(self, node: ast.UnaryOp) -> str:
        inner = self.visit(node.operand)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            return self._expect(node.operand, inner, "bool", "not")
        if isinstance(node.op, (ast.USub, ast.UAdd)) and inner in ("number", "timedelta"):
            return inner
        raise self.fail(node, f"a sign (+/-) needs a number, got {inner}")

    def visit_BoolOp(self, node: ast.BoolOp) -> str:
        word = "and" if isinstance(node.op, ast.And) else "or"
        for value in node.values:
            self._expect(value, self.visit(value), "bool", word)
        return "bool"

    def visit_BinOp(self, node: ast.BinOp) -> str:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            word = "&" if isinstance(node.op, ast.BitAnd) else "|"
            if left != "bool" or right != "bool":
                raise self.fail(node, f"'{word}' combines true/false values, got {left} and {right}; '{word}' binds "
                                      "tighter than comparisons, so write (a > 1) & (b < 2), or use 'and'/'or'.")
            return "bool"
        if type(node.op) not in ARITHMETIC:
            raise self.fail(node, f"the operator {type(node.op).__name__} is not allowed; use + - * / // %.")
        symbol = ARITHMETIC[type(node.op)][0]
        result = _arith_type(symbol, left, right)
        if result is None:
            raise self.fail(node, f"'{symbol}' cannot combine {left} and {right}.")
        return result

    def visit_Compare(self, node: ast.Compare) -> str:
        left_type = self.visit(node.left)
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, (ast.List, ast.Tuple, ast.Set)) or not right.elts:
                    raise self.fail(right, "'in' needs a non-empty list of literals, "
                                           "e.g. region in ('north', 'south').")
                for item in right.elts:
                    if not isinstance(item, ast.Constant):
                        raise self.fail(item, "the list after 'in' may only hold literals "
                                              "(numbers, 'text', True/False).")
                    got = self.visit(item)
                    if got != left_type:
                        raise self.fail(item, f"the values after 'in' must be {left_type} like the left side, "
                                              f"got {got} {item.value!r}.")
                left_type = None  # chaining after 'in' compares with the list: not allowed
                continue
            if left_type is None:
                raise self.fail(node, "a comparison cannot continue after 'in'; combine with 'and' instead.")
            symbol = COMPARISONS[type(op)][0] if type(op) in COMPARISONS else None
            if symbol is None:
                raise self.fail(node, f"'{type(op).__name__}' is not allowed; use == != < <= > >= in, not in.")
            right_type = self.visit(right)
            if right_type != left_type:
                raise self.fail(right, f"'{symbol}' compares {left_type} with {right_type}; both sides must be "
                                       "of the same type (use date('2024-07-01') for dates).")
            if symbol not in ("==", "!=") and left_type not in _ORDERED:
                raise self.fail(right, f"'{symbol}' needs numbers, text, dates or durations, got {left_type}.")
            left_type = right_type
        return "bool"

    def visit_Call(self, node: ast.Call) -> str:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only the rule functions can be called, as name(...), "
                                  f"available: {', '.join(FUNCTIONS.names())}.")
        name = node.func.id
        if name in self.names:
            raise self.fail(node, f"{quote_column(self.names[name])} is a quoted column name, not a function; "
                                  f"available functions: {', '.join(FUNCTIONS.names())}.")
        if name not in FUNCTIONS:
            raise self.fail(node, f"unknown function {name!r}; available: {', '.join(FUNCTIONS.names())}.")
        function = FUNCTIONS.get(name)
        if node.keywords or len(node.args) != len(function.args):
            raise self.fail(node, f"{name}() takes {len(function.args)} positional argument(s) ({function.doc}).")
        for arg, expected in zip(node.args, function.args):
            if isinstance(arg, ast.Starred):
                raise self.fail(arg, "* arguments are not allowed.")
            got = self.visit(arg)
            if function.constant and not _is_literal(arg):
                raise self.fail(arg, f"{name}() takes a literal, e.g. {name}('2024-07-01').")
            if expected != "any":
                self._expect(arg, got, expected, f"{name}()")
        if function.constant:
            literal = ast.literal_eval(node.args[0]) if _is_literal(node.args[0]) else None
            try:
                function.apply(literal)
            except (ValueError, TypeError, OverflowError) as exc:
                raise self.fail(node, f"{name}({literal!r}) is invalid: {exc}.") from exc
        return function.result

    def _expect(self, node: ast.AST, got: str, expected: str, context: str) -> str:
        if got != expected:
            raise self.fail(node, f"{context} needs {expected}, got {got}.")
        return got


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)


def _arith_type(symbol: str, left: str, right: str) -> str | None:
    if left == right == "number":
        return "number"
    if symbol == "-" and left == right == "datetime":
        return "timedelta"
    if symbol in ("+", "-") and left == "datetime" and right == "timedelta":
        return "datetime"
    if symbol == "+" and left == "timedelta" and right == "datetime":
        return "datetime"
    if symbol in ("+", "-") and left == right == "timedelta":
        return "timedelta"
    if symbol in ("*", "/") and left == "timedelta" and right == "number":
        return "timedelta"
    return None


def _fold_constants(tree: ast.expression) -> None:
    """Replace each constant-only function call (date, days) with its value, once, at compile time."""
    for node in ast.walk(tree):
        for field, value in ast.iter_fields(node):
            items = value if isinstance(value, list) else [value]
            for index, child in enumerate(items):
                if isinstance(child, ast.Call) and isinstance(child.func, ast.Name):
                    function = FUNCTIONS.get(child.func.id)
                    if function.constant:
                        folded = Folded(function.apply(ast.literal_eval(child.args[0])))
                        if isinstance(value, list):
                            value[index] = folded
                        else:
                            setattr(node, field, folded)


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _quote_hint(source: str, column_types: Mapping[str, str]) -> str:
    """A hint naming the columns written bare in ``source`` that need backticks (longest names first)."""
    found = []
    for column in sorted(column_types, key=len, reverse=True):
        if quote_column(column) != column and column in source:
            found.append(column)
            source = source.replace(column, " ")
    return f" Quote {', '.join(quote_column(c) for c in reversed(found))}." if found else ""


def _describe(node: ast.AST) -> str:
    names = {"Attribute": "attribute access (x.y)", "Subscript": "indexing (x[...])", "Lambda": "lambda",
             "ListComp": "a comprehension", "GeneratorExp": "a generator", "DictComp": "a comprehension",
             "SetComp": "a comprehension", "IfExp": "'x if c else y'", "NamedExpr": "assignment (:=)",
             "JoinedStr": "an f-string", "Await": "await", "Yield": "yield", "Dict": "a dict literal",
             "List": "a list outside 'in'", "Tuple": "a tuple outside 'in'", "Set": "a set outside 'in'",
             "Starred": "*args"}
    return names.get(type(node).__name__, type(node).__name__)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
