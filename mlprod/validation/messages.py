"""The failed gate's message: failing checks grouped into one line per check, and a schema that does not fit.

The same check failing on several datasets (``schema.range:age`` on train, holdout and current) is one
line with a count per dataset; different checks (``schema.range:age`` and ``schema.range:income``) keep
their own lines. When the schema misses most of the data's columns, the message says so first and
names the commands that draft a schema for this data instead of listing one missing column per line.
At most ``max_lines`` check lines are shown, then ``… and N more`` with where the full report is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .results import format_count, format_example

if TYPE_CHECKING:
    from .results import Outcome, ValidationResult

MAX_COLUMNS_NAMED = 12
_FOLDED = ("required", "extra_columns")  # what a schema mismatch's own line already says


@dataclass(frozen=True)
class Mismatch:
    """The schema declares columns the data mostly does not have: it was written for other data."""

    datasets: tuple[str, ...]
    declared: int
    missing: tuple[str, ...]
    undeclared: tuple[str, ...]  # the data's columns the schema does not declare (when that is checked)
    data: str  # the data file to draft a schema from, or "DATA"

    def describe(self, schema: str) -> str:
        where = _names(self.datasets)
        text = (f"{schema} describes other data: {len(self.missing)} of the {self.declared} columns it declares are "
                f"missing in {where} ({_listing(self.missing)})")
        if self.undeclared:
            text += (f", and the data has {len(self.undeclared)} column(s) it does not declare "
                     f"({_listing(self.undeclared)})")
        target = schema if schema.endswith((".yaml", ".yml")) else "schema.yaml"
        return (text + f". Draft a schema for this data with `mlprod schema infer {self.data} -o {target} --force` "
                "and review it, or set up the project for this data with `mlprod init --data DATA --target COLUMN`")


def schema_mismatch(result: ValidationResult) -> Mismatch | None:
    """A :class:`Mismatch` when, in some dataset, more than half of the declared columns are missing."""
    datasets, missing, undeclared, declared, data = [], {}, {}, 0, None
    for dataset in result.datasets:
        outcomes = [o for o in result.outcomes_for(dataset.name) if o.result.kind == "required"]
        gone = [o.result.column for o in outcomes if o.result.passed is False]
        if not outcomes or 2 * len(gone) <= len(outcomes):
            continue
        datasets.append(dataset.name)
        declared = max(declared, len(outcomes))
        missing.update(dict.fromkeys(gone))
        for o in result.outcomes_for(dataset.name):
            if o.result.kind == "extra_columns":
                undeclared.update(dict.fromkeys(o.result.observed.get("columns", ())))
        data = data or dataset.source
    if not datasets:
        return None
    return Mismatch(datasets=tuple(datasets), declared=declared, missing=tuple(missing),
                    undeclared=tuple(undeclared), data=data or "DATA")


def failure_message(result: ValidationResult, *, max_lines: int | None = None, max_examples: int = 3,
                    one_line: bool = False, report: str | None = None) -> str:
    """Each failing check, grouped over datasets, with counts and example rows; ``report`` is where all are."""
    failures = result.failures
    datasets = list(dict.fromkeys(o.dataset for o in failures))
    mismatch = schema_mismatch(result)
    folded = set(mismatch.datasets) if mismatch else set()
    groups = _groups([o for o in failures if not (o.dataset in folded and o.result.kind in _FOLDED)])
    shown = groups if max_lines is None else groups[:max_lines]
    hidden = groups[len(shown):]
    n_hidden = sum(len(g) for g in hidden)
    see = f"; see {report}" if report else ""
    schema = result.schema or "the schema"
    if one_line:
        single = len(datasets) == 1
        head = f"{len(failures)} check(s) failed" + (f" in {datasets[0]}" if single else "")
        examples = min(max_examples, 2 if len(shown) <= 2 else 1)  # keep the line short
        lines = [mismatch.describe(schema)] if mismatch else []
        lines += [_brief(group, examples, single) for group in shown]
        if hidden:
            lines.append(f"and {_more(len(hidden), n_hidden)}{see}")
        return head + ": " + "; ".join(lines)
    head = f"data validation failed: {len(failures)} check(s) failed ({', '.join(datasets)}):"
    lines = [f"  {mismatch.describe(schema)}"] if mismatch else []
    lines += [f"  - {_describe(group, max_examples)}" for group in shown]
    if hidden:
        lines.append(f"  - … and {_more(len(hidden), n_hidden)}{see}")
    if report:
        lines.append(f"full report: {report}")
    return "\n".join([head, *lines])


def _groups(failures: list[Outcome]) -> list[list[Outcome]]:
    """The failing outcomes by check id, in the order each check first failed."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in failures:
        groups.setdefault(outcome.result.check, []).append(outcome)
    return list(groups.values())


def _describe(group: list[Outcome], max_examples: int) -> str:
    """``schema.range:age - 3 datasets: train 1 of 5,000 rows, holdout 2 of 1,500, current 1 of 1,500 are
    outside the allowed range (values between 18 and 100); e.g. train row 3 (age=200)``."""
    if len(group) == 1:
        return group[0].describe(max_examples)
    check = group[0].result.check
    counted = [_counted(o) for o in group]
    if all(rest is not None for rest in counted) and len(set(counted)) == 1:
        counts = ", ".join(f"{o.dataset} {o.result.n_failed:,} of {o.result.n_checked:,}" + (" rows" if i == 0 else "")
                           for i, o in enumerate(group))
        text = f"{check} - {len(group)} datasets: {counts} {counted[0]}"
    elif len({o.result.message for o in group}) == 1:
        text = f"{check} - {len(group)} datasets ({', '.join(o.dataset for o in group)}): {group[0].result.message}"
    else:
        text = f"{check} - {len(group)} datasets: " + " | ".join(f"{o.dataset}: {o.result.message}" for o in group)
    examples = _examples(group, max_examples)
    return text + (f"; e.g. {', '.join(examples)}" if examples else "")


def _brief(group: list[Outcome], max_examples: int, single: bool) -> str:
    if len(group) == 1:
        return group[0].brief(max_examples, dataset=not single)
    r = group[0].result
    where = ", ".join(o.dataset for o in group)
    if not any(o.result.examples for o in group):
        return f"{r.check} in {where}"
    counts = ", ".join(f"{o.result.n_failed:,}" for o in group)
    examples = "; ".join(_examples(group, max_examples, compact=True))
    return f"{r.check} in {where} ({counts} rows; {examples})"


def _counted(outcome: Outcome) -> str | None:
    """What a count-led message says after its count (``are outside the allowed range ...``), else None."""
    r = outcome.result
    prefix = format_count(r.n_failed, r.n_checked) + " "
    return r.message[len(prefix):] if r.message.startswith(prefix) else None


def _examples(group: list[Outcome], limit: int, *, compact: bool = False) -> list[str]:
    """The first example row of each dataset (then the next ones), labelled with its dataset."""
    out: list[str] = []
    depth = max((len(o.result.examples) for o in group), default=0)
    for i in range(depth):
        for o in group:
            if len(out) < limit and i < len(o.result.examples):
                out.append(f"{o.dataset} {format_example(o.result.examples[i], compact=compact)}")
    return out


def _more(lines: int, checks: int) -> str:
    return f"{checks} more failing check(s)" if lines == checks else f"{lines} more ({checks} failing checks in all)"


def _names(items: tuple[str, ...]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _listing(names: tuple[str, ...]) -> str:
    shown = ", ".join(map(repr, names[:MAX_COLUMNS_NAMED]))
    return shown + (f", … (+{len(names) - MAX_COLUMNS_NAMED} more)" if len(names) > MAX_COLUMNS_NAMED else "")
