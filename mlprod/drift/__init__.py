"""Drift detection: feature, prediction, concept and performance drift, importance shift, and a
retraining decision, computed against a reference profile (see :mod:`mlprod.profile`).

Public API (imported lazily)::

    detect_drift(reference, current, *, settings=None, model=None, baseline=None, progress=None) -> DriftReport
    DriftSettings(...) / DriftSettings.from_mapping(params_section)   # strict: unknown keys rejected
    report.retrain.required, report.retrain.reasons                   # the decision and why
    report.findings                                   # missing columns, missing-value shares, new categories
    report.to_dict(); report.write(output_dir)                        # drift.json, CSVs, HTML, Prometheus
    write_outputs(report, metrics_file=..., features_csv=..., windows_csv=..., html_file=..., prometheus_file=...)
    compare_column(reference_profile, current_profile, column, settings, test=None) -> (ColumnDrift, Pair)
    get_test(name), available_tests(), register_test(StatTest(...))   # the stat-test registry

Tests, formulas, binning, thresholds and defaults: docs/drift.md.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "detect_drift": ("mlprod.drift.report", "detect_drift"),
    "DriftSettings": ("mlprod.drift.settings", "DriftSettings"),
    "DriftReport": ("mlprod.drift.results", "DriftReport"),
    "write_outputs": ("mlprod.drift.outputs", "write_outputs"),
    "compare_column": ("mlprod.drift.features", "compare_column"),
    "get_test": ("mlprod.drift.stattests", "get_test"),
    "available_tests": ("mlprod.drift.stattests", "available"),
    "register_test": ("mlprod.drift.stattests", "register"),
    "StatTest": ("mlprod.drift.stattests", "StatTest"),
    "importance_shift": ("mlprod.drift.importance", "importance_shift"),
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
