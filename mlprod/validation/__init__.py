"""Data quality gates: schema checks (pandera), business rules and statistical checks against a reference
profile, declared in one reviewed schema file; a separate policy decides which failures stop a pipeline.

::

    from mlprod.validation import validate, write_report, write_summary
    result = validate({"holdout": "data/prepared/holdout.parquet"}, "schema.yaml",
                      reference="data/prepared/train.parquet")
    write_summary(result, "metrics/validation.json"); write_report(result, "reports/validation/report.html")
    result.raise_for_status()        # DataValidationError listing each failing check, counts and example rows

Names are imported lazily, so ``import mlprod.validation`` does not import pandas or pandera.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "validate": "mlprod.validation.api",
    "read_data": "mlprod.validation.api",
    "Schema": "mlprod.validation.spec",
    "ColumnSpec": "mlprod.validation.spec",
    "RuleSpec": "mlprod.validation.spec",
    "PolicySpec": "mlprod.validation.spec",
    "load_schema": "mlprod.validation.spec",
    "parse_schema": "mlprod.validation.spec",
    "infer_schema": "mlprod.validation.infer",
    "draft_schema_yaml": "mlprod.validation.infer",
    "infer_file": "mlprod.validation.infer",
    "schema_to_yaml": "mlprod.validation.schema_yaml",
    "write_schema": "mlprod.validation.schema_yaml",
    "CheckResult": "mlprod.validation.results",
    "DatasetResult": "mlprod.validation.results",
    "ValidationResult": "mlprod.validation.results",
    "apply_policy": "mlprod.validation.policy",
    "build_summary": "mlprod.validation.summary",
    "build_details": "mlprod.validation.summary",
    "write_summary": "mlprod.validation.summary",
    "write_details": "mlprod.validation.summary",
    "render_html": "mlprod.validation.report",
    "write_report": "mlprod.validation.report",
    "compile_expression": "mlprod.validation.expressions",
    "FUNCTIONS": "mlprod.validation.rule_language",
    "STATISTICS": "mlprod.validation.statistical",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
