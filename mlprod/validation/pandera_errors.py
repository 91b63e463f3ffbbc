"""pandera's lazy ``SchemaErrors`` as failed checks of a :class:`~mlprod.validation.schema_plan.SchemaPlan`.

Each pandera error (a missing or undeclared column, a wrong dtype, nulls, duplicates, a failed value check)
becomes counts and example rows added to one declared check; a value check's failing row count is read
from its boolean output, since pandera keeps only a few failure cases (``n_failure_cases``).
"""

from __future__ import annotations

from collections import Counter

from .results import CheckResult, format_count
from .rules import NotStreamable
from .schema_plan import SchemaPlan, plain, shown_categories


def record_error(plan: SchemaPlan, error) -> None:
    """Turn one pandera SchemaError into a failed check (counts and examples added to earlier batches')."""
    reason = getattr(error.reason_code, "name", str(error.reason_code))
    column = error.column_name
    if reason == "COLUMN_NOT_IN_DATAFRAME":
        if plan.first:
            name = str(error.failure_cases)
            listing = _listing(plan.frame.columns)
            plan.fail(f"schema.required:{name}", "required", name, 1, 1, (),
                      lambda count, checked, examples: f"column {name!r} is missing; the data has {listing}")
    elif reason == "COLUMN_NOT_IN_SCHEMA":
        if plan.first:
            _extra(plan, sorted(_values(error.failure_cases)))
    elif reason == "WRONG_DATATYPE":
        _dtype(plan, column, error.failure_cases)
    elif reason == "SERIES_CONTAINS_NULLS":
        plan.fail(f"schema.nullable:{column}", "nullable", column, len(error.failure_cases), plan.batch_rows,
                  _examples(plan, column, error.failure_cases),
                  lambda count, checked, examples: f"{format_count(count, checked)} are missing (null/NaN); "
                                                    "the column does not allow missing values")
    elif reason == "SERIES_CONTAINS_DUPLICATES":
        if plan.streamed:
            raise NotStreamable(f"pandera checked the uniqueness of column {column!r} per batch")
        plan.fail(f"schema.unique:{column}", "unique", column, len(error.failure_cases), plan.batch_rows,
                  _examples(plan, column, error.failure_cases),
                  lambda count, checked, examples: f"{format_count(count, checked)} hold a value that another "
                                                    "row also has; values must be unique")
    elif reason == "DATAFRAME_CHECK" or (reason == "CHECK_ERROR" and not plan.streamed):
        _value_check(plan, error, column, reason)
    elif plan.streamed:
        raise NotStreamable(f"pandera reported {reason} for a batch")
    else:  # a pandera reason this version does not know: report it rather than drop it
        plan.found[f"schema.{reason.lower()}"] = CheckResult(
            check=f"schema.{reason.lower()}", layer="schema", kind=reason.lower(), passed=False, column=column,
            message=str(error)[:300])
        plan.declare(f"schema.{reason.lower()}", reason.lower(), column, "pandera check")


def _value_check(plan: SchemaPlan, error, column: str, reason: str) -> None:
    index = error.check_index if error.check_index is not None else 0
    listed = plan.value_checks.get(column) or []
    kind = listed[index][0] if index < len(listed) else "check"
    check = f"schema.{kind}:{column}"
    if reason == "CHECK_ERROR":
        detail = str(error.failure_cases).strip().splitlines()[0][:200]
        dtype = plan.frame[column].dtype
        plan.fail(check, kind, column, plan.batch_rows, plan.batch_rows, (),
                  lambda count, checked, examples: f"could not be evaluated on column {column!r} (dtype {dtype}): "
                                                    f"{detail}")
        return
    output = error.check_output
    count = int((~output.astype(bool)).sum()) if output is not None else len(error.failure_cases)
    checked = len(output) if output is not None else plan.batch_rows
    spec = plan.schema.column(column)
    what = {"range": f"are outside the allowed range ({plan.describe('range', spec)})",
            "categories": f"are not among the {len(spec.categories or ())} allowed categories "
                          f"({shown_categories(spec.categories or ())})",
            "finite": "are infinite (inf/-inf)"}.get(kind, f"failed {error.check}")

    def message(count, checked, examples, what=what):
        if kind == "categories":
            unknown = sorted({str(row[column]) for row in examples})
            what += f"; unknown values include {unknown}"
        return f"{format_count(count, checked)} {what}"

    plan.fail(check, kind, column, count, checked, _examples(plan, column, error.failure_cases), message)


def _dtype(plan: SchemaPlan, column: str, failure_cases) -> None:
    spec = plan.schema.column(column)
    dtype = plan.frame[column].dtype
    if hasattr(failure_cases, "columns") and len(failure_cases):
        def message(count, checked, examples):
            kinds = Counter(type(row[column]).__name__ for row in examples)
            return (f"expected {spec.type} values, found dtype {dtype}: {format_count(count, checked)} "
                    f"cannot be read as {spec.type} (e.g. {', '.join(kinds)} values); fix the values or the "
                    "declared type")

        plan.fail(f"schema.dtype:{column}", "dtype", column, len(failure_cases), plan.batch_rows,
                  _examples(plan, column, failure_cases), message, variant="values")
    else:
        plan.fail(f"schema.dtype:{column}", "dtype", column, plan.batch_rows, plan.batch_rows, (),
                  lambda count, checked, examples: f"expected {spec.type} values, found dtype {dtype}; convert "
                                                    "the column or change its declared type", variant="dtype")


def _extra(plan: SchemaPlan, names: list[str]) -> None:
    previous = plan.found.get("schema.extra_columns")
    if previous is not None:  # pandera may report each undeclared column separately
        names = sorted(set(previous.observed["columns"]) | set(names))
    severity = "warning" if plan.schema.table.extra_columns == "warning" else "error"
    plan.found["schema.extra_columns"] = CheckResult(
        check="schema.extra_columns", layer="schema", kind="extra_columns", passed=False, severity=severity,
        n_failed=len(names), n_checked=len(plan.frame.columns), observed={"columns": names},
        message=f"{len(names)} column(s) not declared in the schema: {names[:10]}; declare them or drop them "
                "(or set table.extra_columns: allow)")


def _examples(plan: SchemaPlan, column: str, failure_cases) -> tuple[dict, ...]:
    if not hasattr(failure_cases, "columns") or "index" not in failure_cases.columns:
        return ()
    head = failure_cases.head(plan.max_examples)
    return tuple({"row": plain(i), column: plain(v)} for i, v in zip(head["index"], head["failure_case"]))


def _values(failure_cases) -> list[str]:
    if hasattr(failure_cases, "columns"):
        return [str(v) for v in failure_cases["failure_case"].tolist()]
    return [str(failure_cases)]


def _listing(columns) -> str:
    names = [str(c) for c in columns]
    return f"columns {names[:12]}" + (f" and {len(names) - 12} more" if len(names) > 12 else "")
