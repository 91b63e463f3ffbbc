"""The JSON outputs of a validation: a compact summary (DVC metrics) and the full per-check details.

Both are deterministic (sorted keys, checks in a stable order, no time stamps), so ``dvc repro``
sees an unchanged file when the data did not change, and both carry ``schema_version``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlprod.atomic import write_json

from .results import LAYERS, ValidationResult

SUMMARY_VERSION = 1


def build_summary(result: ValidationResult) -> dict[str, Any]:
    """Counts per dataset and layer: ``{"status": "warned", "passed": true, "datasets": {"current": ...}}``."""
    datasets = {}
    for dataset in result.datasets:
        outcomes = result.outcomes_for(dataset.name)
        layers = {}
        for layer in LAYERS:
            mine = [o for o in outcomes if o.result.layer == layer]
            if mine:
                layers[layer] = {k: v for k, v in _counts(mine).items() if k in ("failed", "warnings")}
        datasets[dataset.name] = {"rows": dataset.n_rows, "status": _status(outcomes), "layers": layers,
                                  **{k: v for k, v in _counts(outcomes).items() if k != "ignored"}}
    return {"schema_version": SUMMARY_VERSION, "status": result.status, "passed": result.passed,
            **_counts(list(result.outcomes)), "datasets": datasets}


def build_details(result: ValidationResult, *, schema_source: str | None = None) -> dict[str, Any]:
    """Every check with its result and the policy's action, plus the policy and thresholds used."""
    data: dict[str, Any] = {"schema_version": SUMMARY_VERSION, "status": result.status, "policy": result.policy,
                            "datasets": []}
    if schema_source:
        data["schema"] = schema_source
    if result.statistics:
        data["statistics"] = result.statistics
    for dataset in result.datasets:
        entry = {"name": dataset.name, "rows": dataset.n_rows, "columns": dataset.n_columns,
                 "checks": [dict(o.result.to_dict(), action=o.action) for o in result.outcomes_for(dataset.name)]}
        if dataset.source:
            entry["source"] = dataset.source
        if dataset.reference:
            entry["reference"] = dataset.reference
        data["datasets"].append(entry)
    return data


def write_summary(result: ValidationResult, path: str | Path) -> Path:
    return write_json(path, build_summary(result))


def write_details(result: ValidationResult, path: str | Path, **kwargs: Any) -> Path:
    return write_json(path, build_details(result, **kwargs))


def _counts(outcomes) -> dict[str, int]:
    actions = [o.action for o in outcomes]
    return {"checks": len(actions), "failed": actions.count("fail"), "warnings": actions.count("warn"),
            "skipped": actions.count("skipped"), "ignored": actions.count("ignore")}


def _status(outcomes) -> str:
    actions = {o.action for o in outcomes}
    return "failed" if "fail" in actions else "warned" if "warn" in actions else "passed"
