"""Result values: what each check found (:class:`CheckResult`), per dataset and for a whole gate.

Checks only measure and describe; whether a failed check stops the pipeline is decided afterwards by
:mod:`mlprod.validation.policy`, and the decision is stored next to the result (:class:`Outcome`).
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

from mlprod.errors import DataValidationError

LAYERS = ("schema", "statistical", "rule")
SEVERITIES = ("error", "warning")
ACTIONS = ("fail", "warn", "ignore")
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class CheckResult:
    """One check on one dataset.

    ``passed`` is ``None`` when the check could not be evaluated (the reason is in ``message``, e.g. a
    value check on a column that is missing: the missing column is its own failed check). ``n_failed``
    counts failing rows (or values, or 1 for a dataset-level check), ``examples`` holds a few failing rows
    as ``{"row": <index>, <column>: <value>, ...}``, ``observed`` the measured statistic and thresholds.
    """

    check: str
    layer: str
    kind: str
    passed: bool | None
    message: str
    severity: str = "error"
    column: str | None = None
    n_failed: int = 0
    n_checked: int = 0
    examples: tuple[dict[str, Any], ...] = ()
    observed: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "check": self.check, "layer": self.layer, "kind": self.kind, "passed": self.passed,
            "message": self.message, "severity": self.severity, "column": self.column,
            "n_failed": int(self.n_failed), "n_checked": int(self.n_checked),
            "examples": [{k: jsonable(v) for k, v in row.items()} for row in self.examples],
            "observed": {k: jsonable(v) for k, v in self.observed.items()},
        }
        return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


@dataclass(frozen=True)
class DatasetResult:
    """All check results for one dataset (a file or a DataFrame), in a stable order."""

    name: str
    n_rows: int
    n_columns: int
    results: tuple[CheckResult, ...]
    source: str | None = None
    reference: str | None = None  # what the statistical checks compared against


@dataclass(frozen=True)
class Outcome:
    """A check result and what the policy made of it: pass, warn, fail, ignore or skipped."""

    dataset: str
    result: CheckResult
    action: str

    def describe(self, max_examples: int = 3) -> str:
        """``current: rule:income_positive - 3 of 1,200 rows (0.2%) break the rule ...; e.g. row 5 (income=-10.0)``."""
        text = f"{self.dataset}: {self.result.check} - {self.result.message}"
        examples = [format_example(row) for row in self.result.examples[:max_examples]]
        return text + (f"; e.g. {', '.join(examples)}" if examples else "")

    def brief(self, max_examples: int = 2, *, dataset: bool = True) -> str:
        """``current schema.range:age 1 row (row 8: age=200)``, for one-line messages."""
        r = self.result
        where = f"{self.dataset} " if dataset else ""
        if r.layer == "statistical" and "value" in r.observed:
            return f"{where}{r.check} = {r.observed['value']:.3g} (limit {r.observed.get(r.severity)})"
        if not r.examples:
            return f"{where}{r.check} ({_clip(r.message, 80)})"
        examples = "; ".join(format_example(row, compact=True) for row in r.examples[:max_examples])
        return f"{where}{r.check} {r.n_failed:,} row{'s' if r.n_failed != 1 else ''} ({examples})"


@dataclass(frozen=True)
class ValidationResult:
    """Every dataset's results with the policy's decision for each check."""

    datasets: tuple[DatasetResult, ...]
    outcomes: tuple[Outcome, ...]
    policy: dict[str, Any]
    statistics: dict[str, Any] = field(default_factory=dict)  # thresholds used, when compared with a reference
    schema: str | None = None  # the schema file the data was checked against, as messages name it

    @property
    def status(self) -> str:
        """``failed`` if any check failed under the policy, ``warned`` if any warned, else ``passed``."""
        actions = {o.action for o in self.outcomes}
        return "failed" if "fail" in actions else "warned" if "warn" in actions else "passed"

    @property
    def passed(self) -> bool:
        return self.status != "failed"

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == "fail"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == "warn"]

    def outcomes_for(self, dataset: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.dataset == dataset]

    def failure_message(self, *, max_lines: int | None = None, max_examples: int = 3, one_line: bool = False,
                        report: str | None = None) -> str:
        """Each failing check with its counts and example rows, one line per check over all datasets
        (``max_lines`` limits the listing; ``report`` names where the full report is)."""
        from .messages import failure_message

        return failure_message(self, max_lines=max_lines, max_examples=max_examples, one_line=one_line,
                               report=report)

    def raise_for_status(self, *, hint: str = "", one_line: bool = False, max_lines: int | None = None,
                         report: str | None = None) -> None:
        """Raise :class:`~mlprod.errors.DataValidationError` listing the failing checks, if any failed.

        ``report``: where the full report of this result is (the message names it)."""
        if self.passed:
            return
        message = self.failure_message(one_line=one_line, max_lines=max_lines, max_examples=2 if one_line else 3,
                                       report=report)
        if hint:
            message += (" | " if one_line else "\n") + hint
        raise DataValidationError(message, result=self)


def format_count(count: int, total: int) -> str:
    """``3 of 4,916 rows (<0.1%)``."""
    share = "" if not total else " (<0.1%)" if 0 < count < total / 1000 else f" ({count / total:.1%})"
    return f"{count:,} of {total:,} rows{share}"


def format_example(row: dict[str, Any], *, compact: bool = False) -> str:
    """``row 5 (income=-10.0, region='Mars')``; compact: ``row 5: income=-10.0, region='Mars'``."""
    values = ", ".join(f"{k}={_short(v)}" for k, v in row.items() if k != "row")
    label = f"row {row['row']}" if "row" in row else "value"
    if not values:
        return label
    return f"{label}: {values}" if compact else f"{label} ({values})"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: Any) -> str:
    plain = jsonable(value)
    special = not isinstance(value, str) and plain in ("nan", "inf", "-inf")  # a float, not the text 'nan'
    text = plain if special else repr(plain)
    return text if len(text) <= 40 else text[:37] + "..."


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of ``value``: numpy scalars to Python, NaN/inf to strings, dates to ISO text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    try:  # numpy / pandas scalars
        import numpy as np
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, (_dt.datetime, _dt.date)):
            return value.isoformat()
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return jsonable(float(value))
        if isinstance(value, (pd.Timestamp, np.datetime64)):
            return pd.Timestamp(value).isoformat()
        if isinstance(value, (pd.Timedelta, np.timedelta64)):
            return str(pd.Timedelta(value))
    except ImportError:  # pragma: no cover - numpy and pandas are dependencies
        pass
    return str(value)
