"""The schema layer: required columns, dtypes, nullability, ranges, categories, uniqueness, on pandera.

The declared columns become a ``pandera.DataFrameSchema`` that is validated lazily, so every problem
is collected in one pass; pandera's failure cases (the failing values with their row index) become the
counts and example rows of :class:`~mlprod.validation.results.CheckResult` values, one per declared
check, passed or not. Each value check keeps at most a few failure cases (``n_failure_cases``), and
the failing row count is read from the check's boolean output instead, which keeps a check that fails
on every row of a large table fast. Missing values, duplicated values and duplicated key combinations
are counted here with one vectorised pandas call each: pandera keeps and sorts every failing row for
those, which took seconds on a batch where a column fails on every row.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from mlprod.errors import DataError

from .results import MAX_EXAMPLES, CheckResult, format_count
from .rules import NotStreamable
from .spec import ColumnSpec, Schema

_CANONICAL = {"int": "int64", "float": "float64", "bool": "bool", "str": "str", "datetime": "datetime64[ns]"}


def check_schema(frame, schema: Schema, *, max_examples: int = MAX_EXAMPLES) -> tuple[list[CheckResult], set[str]]:
    """Run the schema layer; returns the results and the columns that are unusable (missing or wrong dtype)."""
    checks = SchemaChecks(schema, max_examples=max_examples, streamed=False)
    checks.add(frame)
    return checks.results(), checks.unusable


class SchemaChecks:
    """The schema layer over batches of rows (in row order, with continuing row labels): ``add`` each
    batch, then ``results``. Counts add up and the first example rows are kept, so the results equal
    those of the whole table. Streamed, uniqueness goes through :class:`~mlprod.validation.keys.RepeatedKeys`
    and ``results(fetch=...)`` reads the example rows of repeated keys back; whatever a batch cannot
    decide for the whole table raises :class:`~mlprod.validation.rules.NotStreamable`."""

    def __init__(self, schema: Schema, *, max_examples: int = MAX_EXAMPLES, streamed: bool = True) -> None:
        self.plan = _Plan(schema, max_examples, streamed)

    @property
    def unusable(self) -> set[str]:
        plan = self.plan
        return {c.name for c in plan.schema.columns if c.name not in (plan.present or set())} | plan.wrong_dtype

    def add(self, frame) -> None:
        import pandera.pandas as pa
        from pandera.errors import SchemaErrors

        _check_names(frame)
        plan = self.plan
        plan.begin(frame)
        schema = plan.schema
        pa_columns = {c.name: plan.column(c, pa) for c in schema.columns}
        if schema.table.unique and all(c in plan.present for c in schema.table.unique):
            plan.unique_key()
        pandera_schema = pa.DataFrameSchema(pa_columns, strict=schema.table.extra_columns != "allow")
        errors = []
        try:
            pandera_schema.validate(frame, lazy=True, inplace=True)
        except SchemaErrors as exc:
            errors = list(exc.schema_errors)
        for error in errors:
            plan.record(error)
        plan.first = False

    def results(self, fetch=None) -> list[CheckResult]:
        """``fetch(positions, columns)``: those rows (0-based positions) of the data, for the example rows of
        repeated keys when streamed."""
        self.plan.finish_repeats(fetch)
        return [_rows_check(self.plan.n_rows, self.plan.schema)] + self.plan.results()

    def close(self) -> None:
        for keys in self.plan.keysets.values():
            keys.close()


def dtype_matches(kind: str, series) -> bool:
    """Whether ``series`` holds the declared column type (any int width for int, and whole-number floats
    with missing values, which is how pandas reads integers with gaps; ints or floats for float ...)."""
    import numpy as np
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):  # a categorical column holds what its categories hold
        series = pd.Series(series.cat.categories)
    dtype = series.dtype
    api = pd.api.types
    if api.is_object_dtype(dtype):  # Python objects (bools with None stay object): what the values are
        return api.infer_dtype(series, skipna=True) in _OBJECT_KINDS[kind] + ("empty",)
    if kind == "bool":
        return api.is_bool_dtype(dtype)
    if kind == "int":
        if api.is_float_dtype(dtype):  # integers with gaps: pandas reads them as floats with NaN
            values = series.to_numpy(dtype="float64", na_value=float("nan"))
            missing = np.isnan(values)
            present = values[~missing]
            return bool(missing.any() and np.all(np.isfinite(present) & (present == np.round(present))))
        return api.is_integer_dtype(dtype) and not api.is_bool_dtype(dtype)
    if kind == "float":
        return api.is_numeric_dtype(dtype) and not api.is_bool_dtype(dtype)
    if kind == "datetime":
        return api.is_datetime64_any_dtype(dtype)
    if kind == "str":
        return api.is_string_dtype(dtype)
    return False


_OBJECT_KINDS = {"bool": ("boolean",), "int": ("integer",), "float": ("floating", "integer", "mixed-integer-float"),
                 "datetime": ("datetime", "datetime64"), "str": ("string",)}


class _Failure:
    """What one check found so far: counts and example rows summed over batches; the message is written
    at the end from the totals."""

    def __init__(self, kind: str, column: str | None, variant: str) -> None:
        self.kind, self.column, self.variant = kind, column, variant
        self.count = self.checked = 0
        self.examples: list[dict] = []
        self.message = None


class _Plan:
    """The checks declared for each column, and how pandera's errors map back onto them."""

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
        self.failures: dict[str, _Failure] = {}
        self.checked: dict[str, int] = {}  # rows each check looked at, over all batches (streamed)
        self.repeats: dict[str, tuple] = {}  # check -> (RepeatedKeys, kind, column, key columns, what)
        self.keysets: dict[tuple, object] = {}  # key columns -> RepeatedKeys
        self.fed: set[tuple] = set()  # key sets that have the current batch
        self.order: list[tuple[str, str, str | None, str]] = []  # (check id, kind, column, description)

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
        self._declare(f"schema.required:{name}", "required", name,
                      "required column is present" if spec.required else "optional column")
        if name not in self.present:
            return pa.Column(None, required=spec.required, nullable=True)
        series = self.frame[name]
        matches = dtype_matches(spec.type, series)
        if not self.first and matches == (name in self.wrong_dtype):
            raise NotStreamable(f"column {name!r} holds {spec.type} values in some batches only")
        self._declare(f"schema.dtype:{name}", "dtype", name, f"values are {spec.type} (dtype {series.dtype})")
        self._declare(f"schema.nullable:{name}", "nullable", name,
                      "missing values allowed" if spec.nullable else "no missing values")
        if spec.unique:
            self._declare(f"schema.unique:{name}", "unique", name, "no duplicated values")
        if not matches:
            if self.streamed and spec.unique:
                raise NotStreamable(f"column {name!r} of the wrong dtype must be unique")
            self.wrong_dtype.add(name)
            for kind, _ in self._value_check_specs(spec, series):
                self._skip(f"schema.{kind}:{name}", kind, name,
                           f"not checked: column {name!r} does not hold {spec.type} values (see schema.dtype:{name})")
            return pa.Column(_CANONICAL[spec.type], nullable=spec.nullable, unique=spec.unique, required=spec.required)
        checks, listed = [], []
        for kind, check in self._value_check_specs(spec, series):
            checks.append(check(pa))
            listed.append((kind, self._describe(kind, spec)))
            self._declare(f"schema.{kind}:{name}", kind, name, listed[-1][1])
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
            examples = tuple({"row": _plain(i), series.name: _plain(v)} for i, v in head.items())
            self._fail(check, kind, str(series.name), count, self.batch_rows, examples,
                       lambda count, checked, examples: f"{format_count(count, checked)} {what}")

    def _repeated(self, check: str, kind: str, column: str | None, key: list[str], what: str) -> None:
        from .keys import RepeatedKeys

        if check not in self.repeats:
            keys = self.keysets.get(tuple(key))
            if keys is None:  # a unique column that is also the table's key: one key set for both
                keys = self.keysets[tuple(key)] = RepeatedKeys(key)
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
                {"row": _plain(i), **{c: _plain(v) for c, v in zip(key, values)}}
                for i, values in zip(rows.index, rows[key].itertuples(index=False)))
            self._fail(check, kind, column, count, self.n_rows, examples,
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
            examples = tuple({"row": _plain(i), **{c: _plain(v) for c, v in zip(key, values)}}
                             for i, values in zip(rows.index, rows.itertuples(index=False)))
            self._fail("schema.unique_key", "unique_key", None, count, self.batch_rows, examples,
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
    def _describe(kind: str, spec: ColumnSpec) -> str:
        if kind == "range":
            if spec.min is not None and spec.max is not None:
                return f"values between {spec.min} and {spec.max}"
            return f"values >= {spec.min}" if spec.min is not None else f"values <= {spec.max}"
        if kind == "categories":
            return f"values in the {len(spec.categories)} allowed categories ({shown_categories(spec.categories)})"
        return "no infinite values"

    def _declare(self, check: str, kind: str, column: str | None, description: str) -> None:
        if self.first:  # every batch declares the same checks
            self.order.append((check, kind, column, description))

    def _skip(self, check: str, kind: str, column: str, message: str) -> None:
        self._declare(check, kind, column, message)
        self.found[check] = CheckResult(check=check, layer="schema", kind=kind, passed=None, message=message,
                                        column=column)

    def record(self, error) -> None:
        """Turn one pandera SchemaError into a failed check (counts and examples added to earlier batches')."""
        reason = getattr(error.reason_code, "name", str(error.reason_code))
        column = error.column_name
        if reason == "COLUMN_NOT_IN_DATAFRAME":
            if self.first:
                name = str(error.failure_cases)
                listing = _listing(self.frame.columns)
                self._fail(f"schema.required:{name}", "required", name, 1, 1, (),
                           lambda count, checked, examples: f"column {name!r} is missing; the data has {listing}")
        elif reason == "COLUMN_NOT_IN_SCHEMA":
            if self.first:
                self._extra(sorted(self._values(error.failure_cases)))
        elif reason == "WRONG_DATATYPE":
            self._dtype(column, error.failure_cases)
        elif reason == "SERIES_CONTAINS_NULLS":
            self._fail(f"schema.nullable:{column}", "nullable", column, len(error.failure_cases), self.batch_rows,
                       self._examples(column, error.failure_cases),
                       lambda count, checked, examples: f"{format_count(count, checked)} are missing (null/NaN); "
                                                        "the column does not allow missing values")
        elif reason == "SERIES_CONTAINS_DUPLICATES":
            if self.streamed:
                raise NotStreamable(f"pandera checked the uniqueness of column {column!r} per batch")
            self._fail(f"schema.unique:{column}", "unique", column, len(error.failure_cases), self.batch_rows,
                       self._examples(column, error.failure_cases),
                       lambda count, checked, examples: f"{format_count(count, checked)} hold a value that another "
                                                        "row also has; values must be unique")
        elif reason == "DATAFRAME_CHECK" or (reason == "CHECK_ERROR" and not self.streamed):
            self._value_check(error, column, reason)
        elif self.streamed:
            raise NotStreamable(f"pandera reported {reason} for a batch")
        else:  # a pandera reason this version does not know: report it rather than drop it
            self.found[f"schema.{reason.lower()}"] = CheckResult(
                check=f"schema.{reason.lower()}", layer="schema", kind=reason.lower(), passed=False, column=column,
                message=str(error)[:300])
            self._declare(f"schema.{reason.lower()}", reason.lower(), column, "pandera check")

    def _value_check(self, error, column: str, reason: str) -> None:
        index = error.check_index if error.check_index is not None else 0
        listed = self.value_checks.get(column) or []
        kind = listed[index][0] if index < len(listed) else "check"
        check = f"schema.{kind}:{column}"
        if reason == "CHECK_ERROR":
            detail = str(error.failure_cases).strip().splitlines()[0][:200]
            dtype = self.frame[column].dtype
            self._fail(check, kind, column, self.batch_rows, self.batch_rows, (),
                       lambda count, checked, examples: f"could not be evaluated on column {column!r} (dtype {dtype}): "
                                                        f"{detail}")
            return
        output = error.check_output
        count = int((~output.astype(bool)).sum()) if output is not None else len(error.failure_cases)
        checked = len(output) if output is not None else self.batch_rows
        spec = self.schema.column(column)
        what = {"range": f"are outside the allowed range ({self._describe('range', spec)})",
                "categories": f"are not among the {len(spec.categories or ())} allowed categories "
                              f"({shown_categories(spec.categories or ())})",
                "finite": "are infinite (inf/-inf)"}.get(kind, f"failed {error.check}")

        def message(count, checked, examples, what=what):
            if kind == "categories":
                unknown = sorted({str(row[column]) for row in examples})
                what += f"; unknown values include {unknown}"
            return f"{format_count(count, checked)} {what}"

        self._fail(check, kind, column, count, checked, self._examples(column, error.failure_cases), message)

    def _dtype(self, column: str, failure_cases) -> None:
        spec = self.schema.column(column)
        dtype = self.frame[column].dtype
        if hasattr(failure_cases, "columns") and len(failure_cases):
            def message(count, checked, examples):
                kinds = Counter(type(row[column]).__name__ for row in examples)
                return (f"expected {spec.type} values, found dtype {dtype}: {format_count(count, checked)} "
                        f"cannot be read as {spec.type} (e.g. {', '.join(kinds)} values); fix the values or the "
                        "declared type")

            self._fail(f"schema.dtype:{column}", "dtype", column, len(failure_cases), self.batch_rows,
                       self._examples(column, failure_cases), message, variant="values")
        else:
            self._fail(f"schema.dtype:{column}", "dtype", column, self.batch_rows, self.batch_rows, (),
                       lambda count, checked, examples: f"expected {spec.type} values, found dtype {dtype}; convert "
                                                        "the column or change its declared type", variant="dtype")

    def _extra(self, names: list[str]) -> None:
        previous = self.found.get("schema.extra_columns")
        if previous is not None:  # pandera may report each undeclared column separately
            names = sorted(set(previous.observed["columns"]) | set(names))
        severity = "warning" if self.schema.table.extra_columns == "warning" else "error"
        self.found["schema.extra_columns"] = CheckResult(
            check="schema.extra_columns", layer="schema", kind="extra_columns", passed=False, severity=severity,
            n_failed=len(names), n_checked=len(self.frame.columns), observed={"columns": names},
            message=f"{len(names)} column(s) not declared in the schema: {names[:10]}; declare them or drop them "
                    "(or set table.extra_columns: allow)")

    def _fail(self, check: str, kind: str, column: str | None, count: int, checked: int, examples,
              message, variant: str = "") -> None:
        """Add one batch's failing rows to the check; ``message(count, checked, examples)`` writes its text."""
        failure = self.failures.get(check)
        if failure is None:
            failure = self.failures[check] = _Failure(kind, column, variant)
            if not self.first and self.streamed and kind == "dtype":
                raise NotStreamable(f"{check} failed in some batches only")
        elif failure.variant != variant:
            raise NotStreamable(f"{check} failed differently in two batches")
        failure.count += count
        failure.checked += checked
        failure.examples.extend(list(examples)[: self.max_examples - len(failure.examples)])
        failure.message = message

    def _examples(self, column: str, failure_cases) -> tuple[dict, ...]:
        if not hasattr(failure_cases, "columns") or "index" not in failure_cases.columns:
            return ()
        head = failure_cases.head(self.max_examples)
        return tuple({"row": _plain(i), column: _plain(v)} for i, v in zip(head["index"], head["failure_case"]))

    @staticmethod
    def _values(failure_cases) -> list[str]:
        if hasattr(failure_cases, "columns"):
            return [str(v) for v in failure_cases["failure_case"].tolist()]
        return [str(failure_cases)]

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


def _rows_check(n_rows: int, schema: Schema) -> CheckResult:
    low, high = schema.table.min_rows, schema.table.max_rows
    ok = n_rows >= low and (high is None or n_rows <= high)
    bound = f"at least {low}" + (f" and at most {high}" if high is not None else "")
    message = f"{n_rows:,} rows ({bound} expected)"
    if not ok and n_rows == 0:
        message = f"the data has no rows ({bound} expected); check the step that produced it"
    return CheckResult(check="schema.rows", layer="schema", kind="rows", passed=ok, message=message,
                       n_failed=0 if ok else 1, n_checked=1, observed={"rows": n_rows, "min_rows": low,
                                                                       "max_rows": high})


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


def _check_names(frame) -> None:
    twice = sorted({str(n) for n, k in Counter(map(str, frame.columns)).items() if k > 1})
    if twice:
        raise DataError(f"the data has duplicated column names {twice}; each column name must be unique. "
                        "Rename the duplicates before validating.")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value




def _listing(columns) -> str:
    names = [str(c) for c in columns]
    return f"columns {names[:12]}" + (f" and {len(names) - 12} more" if len(names) > 12 else "")


def shown_categories(categories, limit: int = 8) -> str:
    """The first ``limit`` allowed values, and how many more there are: ``'a', 'b', … (+4 more)``."""
    shown = ", ".join(map(repr, categories[:limit]))
    rest = len(categories) - limit
    return shown + (f", … (+{rest} more)" if rest > 0 else "")
