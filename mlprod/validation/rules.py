"""The business-rule layer: each declared rule evaluated over the rows, as a CheckResult.

:class:`RuleChecks` takes the rows in batches (in row order) and sums what each rule found, so a
file streamed in batches gives the same counts and example rows as the whole table at once.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .expressions import compile_expression
from .results import MAX_EXAMPLES, CheckResult, format_count
from .spec import RuleSpec, Schema


class NotStreamable(Exception):
    """A batch found something whose result for the whole table cannot be put together from the batches
    (e.g. a rule that cannot be evaluated): validate the table in one piece instead."""


def check_rules(frame, schema: Schema, *, unusable: Iterable[str] = (), max_examples: int = MAX_EXAMPLES
                ) -> list[CheckResult]:
    """Evaluate every rule of ``schema``; rules that read an ``unusable`` column (missing, wrong dtype) are skipped."""
    checks = RuleChecks(schema, unusable=unusable, max_examples=max_examples, streamed=False)
    checks.add(frame)
    return checks.results()


class RuleChecks:
    """Every rule of ``schema`` over batches of rows: ``add`` each batch, then ``results``."""

    def __init__(self, schema: Schema, *, unusable: Iterable[str] = (), max_examples: int = MAX_EXAMPLES,
                 streamed: bool = True) -> None:
        self.schema, self.max_examples, self.streamed = schema, max_examples, streamed
        self.unusable = set(unusable)
        self.rows = 0
        self.found = {rule.name: {"failed": 0, "unknown": 0, "examples": [], "error": None} for rule in schema.rules}

    def add(self, frame) -> None:
        self.rows += len(frame)
        for rule in self.schema.rules:
            expression = self._expression(rule)
            if any(c in self.unusable for c in expression.columns):
                continue
            found = self.found[rule.name]
            try:
                failing, unknown = expression.evaluate(frame)
            except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. mixed values the schema let through
                if self.streamed:
                    raise NotStreamable(f"rule {rule.name!r} could not be evaluated on a batch") from exc
                found["error"] = exc
                continue
            found["failed"] += int(failing.sum())
            found["unknown"] += int(unknown.sum())
            room = self.max_examples - len(found["examples"])
            if room > 0 and found["failed"]:
                rows = np.flatnonzero(failing)[:room]
                columns = list(expression.columns)
                sample = frame.iloc[rows][columns]
                found["examples"].extend(
                    {"row": _label(label), **{c: _plain(v) for c, v in zip(columns, values)}}
                    for label, values in zip(sample.index, sample.itertuples(index=False, name=None)))

    def merge(self, other: RuleChecks) -> RuleChecks:
        """Add ``other`` (the rules over the rows after these) to these, in place: counts add, the first
        ``max_examples`` failing rows in row order are kept. Returns ``self``."""
        if self.unusable != other.unusable:
            differ = sorted(self.unusable ^ other.unusable)
            raise NotStreamable(f"column(s) {differ} are usable by the rules in some partitions only")
        self.rows += other.rows
        for name, found in other.found.items():
            mine = self.found[name]
            if found["error"] is not None and mine["error"] is None:
                mine["error"] = found["error"]
            mine["failed"] += found["failed"]
            mine["unknown"] += found["unknown"]
            mine["examples"].extend(found["examples"][: self.max_examples - len(mine["examples"])])
        return self

    def results(self) -> list[CheckResult]:
        return [self._result(rule) for rule in self.schema.rules]

    def _expression(self, rule: RuleSpec):
        return rule.expression or compile_expression(rule.expr, self.schema.column_types, where=f"rule {rule.name!r}")

    def _result(self, rule: RuleSpec) -> CheckResult:
        expression = self._expression(rule)
        base = dict(check=f"rule:{rule.name}", layer="rule", kind="rule", severity=rule.severity)
        blocked = [c for c in expression.columns if c in self.unusable]
        if blocked:
            return CheckResult(**base, passed=None, observed={"expr": rule.expr},
                               message=f"not checked: {rule.expr!r} reads {blocked}, which is missing or has the "
                                       "wrong dtype (see the schema checks)")
        found = self.found[rule.name]
        exc = found["error"]
        if exc is not None:
            return CheckResult(**base, passed=False, n_failed=self.rows, n_checked=self.rows,
                               observed={"expr": rule.expr},
                               message=f"{rule.expr!r} could not be evaluated: {type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0][:200] if str(exc) else ''}")
        n_failed, n_unknown = found["failed"], found["unknown"]
        n_checked = self.rows - n_unknown
        observed = {"expr": rule.expr, "rows_not_judged": n_unknown}
        described = f" ({rule.description})" if rule.description else ""
        if n_failed == 0:
            skipped = f"; {n_unknown:,} row(s) with missing values not judged" if n_unknown else ""
            return CheckResult(**base, passed=True, n_checked=n_checked, observed=observed,
                               message=f"{rule.expr}{described}: holds on all {n_checked:,} rows{skipped}")
        return CheckResult(**base, passed=False, n_failed=n_failed, n_checked=n_checked,
                           examples=tuple(found["examples"]), observed=observed,
                           message=f"{format_count(n_failed, n_checked)} break the rule {rule.expr}{described}")


def _label(value):
    return value.item() if isinstance(value, np.generic) else value


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
