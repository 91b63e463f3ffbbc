"""The schema layer's plan: the checks declared for each column, the pandera columns that run them, and the
failures each check found, summed over batches.

:func:`SchemaPlan.column` declares a column's checks and returns the ``pandera.Column`` that runs the value
checks (range, categories, finite); missing values, duplicated values and duplicated key combinations are
counted here with one vectorised pandas call each (pandera keeps and sorts every failing row for those).
:mod:`mlprod.validation.pandera_errors` turns pandera's errors into :meth:`SchemaPlan.fail` calls, and
:meth:`SchemaPlan.results` writes one :class:`~mlprod.validation.results.CheckResult` per declared check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dtype_match import CANONICAL_DTYPES, dtype_matches
from .results import CheckResult, format_count
from .rules import NotStreamable
from .spec import ColumnSpec, Schema


class Failure:
    """What one check found so far: counts and example rows summed over batches; the message is written
    at the end from the totals."""

    def __init__(self, kind: str, column: str | None, variant: str) -> None:
        self.kind, self.column, self.variant = kind, column, variant
        self.count = self.checked = 0
        self.examples: list[dict] = []
        self.message = None


class SchemaPlan:
    """The checks declared for each column, the pandera columns that run them, and what each check found so
    far over the batches (``fail`` adds a batch's failing rows; ``results`` writes one result per check)."""

    def __init__(self, schema: Schema, max_examples: int, streamed: bool) -> None:
        self.schema = schema
        self.max_examples = max_examples
        self.streamed = streamed
        self.first = True
        self.frame = None
        self.n_rows = 0
        self.present: set[str] | None = None
        self.wrong_dtype: set[str] = set()
        self.value_checks: dict[str, list[tuple[str, str]]] = {}  # column -> [(kind, description)] by index
        self.found: dict[str, CheckResult] = {}
        self.failures: dict[str, Failure] = {}
        self.checked: dict[str, int] = {}  # rows each check looked at, over all batches (streamed)
        self.repeats: dict[str, tuple] = {}  # check -> (RepeatedKeys, kind, column, key columns, what)
        self.keysets: dict[tuple, object] = {}  # key columns -> RepeatedKeys
        self.fed: set[tuple] = set()  # key sets that have the current batch
        self.order: list[tuple[str, str, str | None, str]] = []  # (check id, kind, column, description)
        self.key_factory = None  # what collects the keys of unique checks (default: RepeatedKeys' temp files)

    def begin(self, frame) -> None:
        if self.first:
            self.present = {str(c) for c in frame.columns}
            self.names = list(frame.columns)
        elif list(frame.columns) != self.names:
            raise NotStreamable("the batches have different columns")
        self.frame = frame
        self.fed = set()
        self.batch_rows = len(frame)
        self.n_rows += len(frame)

    def column(self, spec: ColumnSpec, pa) -> Any:
        name = spec.name
        self.declare(f"schema.required:{name}", "required", name,
                     "required column is present" if spec.required else "optional column")
        if name not in self.present:
            return pa.Column(None, required=spec.required, nullable=True)
        series = self.frame[name]
        matches = dtype_matches(spec.type, series)
        if not self.first and matches == (name in self.wrong_dtype):
            raise NotStreamable(f"column {name!r} holds {spec.type} values in some batches only")
        self.declare(f"schema.dtype:{name}", "dtype", name, f"values are {spec.type} (dtype {series.dtype})")
        self.declare(f"schema.nullable:{name}", "nullable", name,
                     "missing values allowed" if spec.nullable else "no missing values")
        if spec.unique:
            self.declare(f"schema.unique:{name}", "unique", name, "no duplicated values")
        if not matches:
            if self.streamed and spec.unique:
                raise NotStreamable(f"column {name!r} of the wrong dtype must be unique")
            self.wrong_dtype.add(name)
            for kind, _ in self._value_check_specs(spec, series):
                self._skip(f"schema.{kind}:{name}", kind, name,
                           f"not checked: column {name!r} does not hold {spec.type} values (see schema.dtype:{name})")
            return pa.Column(CANONICAL_DTYPES[spec.type], nullable=spec.nullable, unique=spec.unique,
                             required=spec.required)
        checks, listed = [], []
        for kind, check in self._value_check_specs(spec, series):
            checks.append(check(pa))
            listed.append((kind, self.describe(kind, spec)))
            self.declare(f"schema.{kind}:{name}", kind, name, listed[-1][1])
        self.value_checks[name] = listed
        if listed:  # pandera checks the values that are not missing
            present = int(series.notna().sum())
            for kind, _ in listed:
                self.checked[f"schema.{kind}:{name}"] = self.checked.get(f"schema.{kind}:{name}", 0) + present
        self.checked[f"schema.nullable:{name}"] = self.checked.get(f"schema.nullable:{name}", 0) + len(series)
        if not spec.nullable:
            self._flagged(f"schema.nullable:{name}", "nullable", series, series.isna(),
                          "are missing (null/NaN); the column does not allow missing values")
        if spec.unique:
            what = "hold a value that another row also has; values must be unique"
            if self.streamed:
                self._repeated(f"schema.unique:{name}", "unique", name, [name], what)
            else:
                self._flagged(f"schema.unique:{name}", "unique", series, series.duplicated(keep=False), what)
        return pa.Column(None, checks=checks, nullable=True, unique=False, required=spec.required)

    def _flagged(self, check: str, kind: str, series, mask, what: str) -> None:
        """A failed result for the rows where ``mask`` is true, if any (count, and the first few rows)."""
        count = int(mask.sum())
        if count:
            head = series[mask.to_numpy()].head(self.max_examples)
            examples = tuple({"row": plain(i), series.name: plain(v)} for i, v in head.items())
            self.fail(check, kind, str(series.name), count, self.batch_rows, examples,
                      lambda count, checked, examples: f"{format_count(count, checked)} {what}")

    def _repeated(self, check: str, kind: str, column: str | None, key: list[str], what: str) -> None:
        from .keys import RepeatedKeys

        if check not in self.repeats:
            keys = self.keysets.get(tuple(key))
            if keys is None:  # a unique column that is also the table's key: one key set for both
                keys = self.keysets[tuple(key)] = (self.key_factory or RepeatedKeys)(key)
            self.repeats[check] = (keys, kind, column, key, what)
        if tuple(key) not in self.fed:
            self.repeats[check][0].add(self.frame)
            self.fed.add(tuple(key))

    def finish_repeats(self, fetch) -> None:
        """Turn the streamed key sets into failures, with the example rows read back by ``fetch``."""
        finished = {}
        for check, (repeats, kind, column, key, what) in list(self.repeats.items()):
            if tuple(key) not in finished:
                finished[tuple(key)] = repeats.finish(self.max_examples)
            count, first = finished[tuple(key)]
            del self.repeats[check]
            if not count:
                continue
            rows = fetch(first.tolist(), key) if len(first) else None
            examples = () if rows is None else tuple(
                {"row": plain(i), **{c: plain(v) for c, v in zip(key, values)}}
                for i, values in zip(rows.index, rows[key].itertuples(index=False)))
            self.fail(check, kind, column, count, self.n_rows, examples,
                      lambda count, checked, examples, what=what: f"{format_count(count, checked)} {what}")

    def unique_key(self) -> None:
        """The table's unique key: every combination of its columns appears once."""
        key = list(self.schema.table.unique)
        what = f"repeat a combination of {key} that must be unique"
        if self.streamed:
            self._repeated("schema.unique_key", "unique_key", None, key, what)
            return
        repeated = self.frame.duplicated(subset=key, keep=False).to_numpy()
        count = int(repeated.sum())
        if count:
            rows = self.frame.loc[repeated, key].head(self.max_examples)
            examples = tuple({"row": plain(i), **{c: plain(v) for c, v in zip(key, values)}}
                             for i, values in zip(rows.index, rows.itertuples(index=False)))
            self.fail("schema.unique_key", "unique_key", None, count, self.batch_rows, examples,
                      lambda count, checked, examples: f"{format_count(count, checked)} {what}")

    def _value_check_specs(self, spec: ColumnSpec, series) -> list[tuple[str, Any]]:
        k = self.max_examples
        specs: list[tuple[str, Any]] = []
        low, high = _bounds(spec, series)
        if low is not None or high is not None:
            def in_range(pa, low=low, high=high):
                if low is not None and high is not None:
                    return pa.Check.in_range(low, high, n_failure_cases=k)
                if low is not None:
                    return pa.Check.ge(low, n_failure_cases=k)
                return pa.Check.le(high, n_failure_cases=k)
            specs.append(("range", in_range))
        if spec.categories is not None:
            specs.append(("categories", lambda pa: pa.Check.isin(list(spec.categories), n_failure_cases=k)))
        if spec.type == "float" and not spec.allow_inf:
            specs.append(("finite", lambda pa: pa.Check(_finite, name="finite", n_failure_cases=k)))
        return specs

    @staticmethod
    def describe(kind: str, spec: ColumnSpec) -> str:
        if kind == "range":
            if spec.min is not None and spec.max is not None:
                return f"values between {spec.min} and {spec.max}"
            return f"values >= {spec.min}" if spec.min is not None else f"values <= {spec.max}"
        if kind == "categories":
            return f"values in the {len(spec.categories)} allowed categories ({shown_categories(spec.categories)})"
        return "no infinite values"

    def declare(self, check: str, kind: str, column: str | None, description: str) -> None:
        if self.first:  # every batch declares the same checks
            self.order.append((check, kind, column, description))

    def _skip(self, check: str, kind: str, column: str, message: str) -> None:
        self.declare(check, kind, column, message)
        self.found[check] = CheckResult(check=check, layer="schema", kind=kind, passed=None, message=message,
                                        column=column)

    def fail(self, check: str, kind: str, column: str | None, count: int, checked: int, examples,
             message, variant: str = "") -> None:
        """Add one batch's failing rows to the check; ``message(count, checked, examples)`` writes its text."""
        failure = self.failures.get(check)
        if failure is None:
            failure = self.failures[check] = Failure(kind, column, variant)
            if not self.first and self.streamed and kind == "dtype":
                raise NotStreamable(f"{check} failed in some batches only")
        elif failure.variant != variant:
            raise NotStreamable(f"{check} failed differently in two batches")
        failure.count += count
        failure.checked += checked
        failure.examples.extend(list(examples)[: self.max_examples - len(failure.examples)])
        failure.message = message

    def merge(self, other: SchemaPlan) -> SchemaPlan:
        """Add ``other``'s findings (later rows) to these (earlier rows), in place: counts add, the first
        ``max_examples`` example rows in row order are kept, key sets of unique checks are merged when both
        sides hold one (a side that hands them over as ``None`` leaves them to its caller). Raises
        :class:`~mlprod.validation.rules.NotStreamable` where the two disagree in a way no sum can settle."""
        if self.names != other.names:
            raise NotStreamable("the partitions have different columns")
        if self.wrong_dtype != other.wrong_dtype:
            differ = sorted(self.wrong_dtype ^ other.wrong_dtype)
            raise NotStreamable(f"column(s) {differ} hold their declared type in some partitions only")
        self.n_rows += other.n_rows
        for check, count in other.checked.items():
            self.checked[check] = self.checked.get(check, 0) + count
        for check, failure in other.failures.items():
            mine = self.failures.get(check)
            if mine is None:
                if failure.kind == "dtype":
                    raise NotStreamable(f"{check} failed in some partitions only")
                self.failures[check] = failure
                continue
            if mine.variant != failure.variant:
                raise NotStreamable(f"{check} failed differently in two partitions")
            if failure.kind == "required":  # found once per table (on the first batch), not per row
                continue
            mine.count += failure.count
            mine.checked += failure.checked
            mine.examples.extend(failure.examples[: self.max_examples - len(mine.examples)])
            mine.message = failure.message
        if any(f.kind == "dtype" and c not in other.failures for c, f in self.failures.items()):
            raise NotStreamable("a dtype check failed in some partitions only")
        for check, result in other.found.items():
            self.found.setdefault(check, result)
        for key, theirs in other.keysets.items():
            mine = self.keysets.get(key)
            if mine is not None and theirs is not None:
                mine.merge(theirs)
            elif key not in self.keysets:
                self.keysets[key] = theirs
        for check, entry in other.repeats.items():
            self.repeats.setdefault(check, (self.keysets[tuple(entry[3])], *entry[1:]))
        return self

    def results(self) -> list[CheckResult]:
        out: list[CheckResult] = []
        seen: set[str] = set()
        table = [("schema.unique_key", "unique_key", None, f"unique combination of {list(self.schema.table.unique)}")
                 ] if self.schema.table.unique else []
        if self.schema.table.extra_columns != "allow":
            table.append(("schema.extra_columns", "extra_columns", None, "no undeclared columns"))
        for check, failure in self.failures.items():
            if self.streamed and check in self.checked:  # batches where the check passed count too
                failure.checked = self.checked[check]
            self.found[check] = CheckResult(
                check=check, layer="schema", kind=failure.kind, passed=False, column=failure.column,
                n_failed=failure.count, n_checked=failure.checked, examples=tuple(failure.examples),
                message=failure.message(failure.count, failure.checked, failure.examples))
        for check, kind, column, description in self.order + table:
            if check in seen:
                continue
            seen.add(check)
            out.append(self.found.get(check) or CheckResult(
                check=check, layer="schema", kind=kind, passed=True, column=column, message=description,
                n_checked=self.n_rows if column else 0))
        return out


def _finite(series):
    return ~np.isinf(series)


def _bounds(spec: ColumnSpec, series) -> tuple[Any, Any]:
    if spec.type != "datetime":
        return spec.min, spec.max
    import pandas as pd

    tz = getattr(series.dtype, "tz", None)

    def stamp(value):
        if value is None:
            return None
        ts = pd.Timestamp(value)
        if tz is not None:
            return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)
        return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts

    return stamp(spec.min), stamp(spec.max)


def plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def shown_categories(categories, limit: int = 8) -> str:
    """The first ``limit`` allowed values, and how many more there are: ``'a', 'b', … (+4 more)``."""
    shown = ", ".join(map(repr, categories[:limit]))
    rest = len(categories) - limit
    return shown + (f", … (+{rest} more)" if rest > 0 else "")
