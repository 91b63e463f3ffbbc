"""The business-rule layer: each declared rule evaluated over the rows, as a CheckResult."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .expressions import compile_expression
from .results import MAX_EXAMPLES, CheckResult, format_count
from .spec import RuleSpec, Schema


def check_rules(frame, schema: Schema, *, unusable: Iterable[str] = (), max_examples: int = MAX_EXAMPLES
                ) -> list[CheckResult]:
    """Evaluate every rule of ``schema``; rules that read an ``unusable`` column (missing, wrong dtype) are skipped."""
    unusable = set(unusable)
    return [_check_rule(frame, rule, schema, unusable, max_examples) for rule in schema.rules]


def _check_rule(frame, rule: RuleSpec, schema: Schema, unusable: set[str], max_examples: int) -> CheckResult:
    expression = rule.expression or compile_expression(rule.expr, schema.column_types, where=f"rule {rule.name!r}")
    check = f"rule:{rule.name}"
    base = dict(check=check, layer="rule", kind="rule", severity=rule.severity)
    blocked = [c for c in expression.columns if c in unusable]
    if blocked:
        return CheckResult(**base, passed=None, observed={"expr": rule.expr},
                           message=f"not checked: {rule.expr!r} reads {blocked}, which is missing or has the wrong "
                                   "dtype (see the schema checks)")
    try:
        failing, unknown = expression.evaluate(frame)
    except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. mixed values the schema let through
        return CheckResult(**base, passed=False, n_failed=len(frame), n_checked=len(frame),
                           observed={"expr": rule.expr},
                           message=f"{rule.expr!r} could not be evaluated: {type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0][:200] if str(exc) else ''}")
    n_failed = int(failing.sum())
    n_unknown = int(unknown.sum())
    n_checked = len(frame) - n_unknown
    observed = {"expr": rule.expr, "rows_not_judged": n_unknown}
    described = f" ({rule.description})" if rule.description else ""
    if n_failed == 0:
        skipped = f"; {n_unknown:,} row(s) with missing values not judged" if n_unknown else ""
        return CheckResult(**base, passed=True, n_checked=n_checked, observed=observed,
                           message=f"{rule.expr}{described}: holds on all {n_checked:,} rows{skipped}")
    rows = np.flatnonzero(failing)[:max_examples]
    columns = list(expression.columns)
    sample = frame.iloc[rows][columns]
    examples = tuple({"row": _label(label), **{c: _plain(v) for c, v in zip(columns, values)}}
                     for label, values in zip(sample.index, sample.itertuples(index=False, name=None)))
    return CheckResult(**base, passed=False, n_failed=n_failed, n_checked=n_checked, examples=examples,
                       observed=observed,
                       message=f"{format_count(n_failed, n_checked)} break the rule {rule.expr}{described}")


def _label(value):
    return value.item() if isinstance(value, np.generic) else value


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
