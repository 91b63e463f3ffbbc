"""The schema layer: required columns, dtypes, nullability, ranges, categories, uniqueness, on pandera.

The declared columns become a ``pandera.DataFrameSchema`` that is validated lazily, so every problem
is collected in one pass, over a whole table (:func:`check_schema`) or batch by batch
(:class:`SchemaChecks`), with the same results. The work is split by concept:

- :mod:`~mlprod.validation.schema_plan` declares each column's checks, builds the pandera columns,
  counts missing and duplicated values itself, and sums what every check found over the batches;
- :mod:`~mlprod.validation.pandera_errors` turns pandera's failure cases into those counts and
  example rows;
- :mod:`~mlprod.validation.dtype_match` decides whether a column holds its declared type.

``dtype_matches`` and ``shown_categories`` are importable from here as before.
"""

from __future__ import annotations

from collections import Counter

from mlprod.errors import DataError

from .dtype_match import dtype_matches
from .pandera_errors import record_error
from .results import MAX_EXAMPLES, CheckResult
from .schema_plan import SchemaPlan, shown_categories
from .spec import Schema

__all__ = ["SchemaChecks", "check_schema", "dtype_matches", "shown_categories"]


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
        self.plan = SchemaPlan(schema, max_examples, streamed)

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
            record_error(plan, error)
        plan.first = False

    def merge(self, other: SchemaChecks) -> SchemaChecks:
        """Add ``other`` (the checks of the rows after these, with continuing row labels) to these, in place;
        the results are then those of both batches' rows (:meth:`SchemaPlan.merge`). Returns ``self``."""
        self.plan.merge(other.plan)
        return self

    def results(self, fetch=None) -> list[CheckResult]:
        """``fetch(positions, columns)``: those rows (0-based positions) of the data, for the example rows of
        repeated keys when streamed."""
        self.plan.finish_repeats(fetch)
        return [_rows_check(self.plan.n_rows, self.plan.schema)] + self.plan.results()

    def close(self) -> None:
        for keys in self.plan.keysets.values():
            keys.close()


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


def _check_names(frame) -> None:
    twice = sorted({str(n) for n, k in Counter(map(str, frame.columns)).items() if k > 1})
    if twice:
        raise DataError(f"the data has duplicated column names {twice}; each column name must be unique. "
                        "Rename the duplicates before validating.")
