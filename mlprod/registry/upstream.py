"""Gates on what other stages found: the data validation summary and the drift report.

* **validation** reads the validation summary (``metrics/validation.json`` in the example pipeline,
  written by ``mlprod validate`` / the ``validate`` stage): it passes when the summary says
  ``"passed": true`` (a ``"status"`` of ``passed`` or ``warned``).
* **drift** reads a drift report (``metrics/drift.json``, written by the ``drift_report`` stage): it is
  blocking when the report says ``"retrain": true`` for a reason whose trigger (``feature_drift``,
  ``prediction_drift``, ``concept_drift``, ``performance``, ``importance_shift``) is listed in
  ``block_on_drift`` (``None``: any reason blocks; ``[]``: drift is recorded but never blocks).

A file that is not configured or does not exist gives a result that is *not evaluated*; whether that
blocks is the gate policy's decision (``require_validation`` / ``require_drift_report``). A file that
exists but cannot be read or understood fails the gate: a broken report never lets a model through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .gates import GateResult


def validation_gate(path: str | Path | None) -> GateResult:
    data, problem = _read(path, "validation summary")
    if problem is not None:
        return GateResult(name="validation", kind="validation", passed=problem[0], message=problem[1],
                          source=str(path) if path else None)
    passed = data.get("passed")
    status = data.get("status")
    if not isinstance(passed, bool):
        if status not in ("passed", "warned", "failed"):
            return GateResult(name="validation", kind="validation", passed=False, source=str(path),
                              message=f"{path}: expected 'passed': true/false or 'status': passed/warned/failed, "
                                      "found neither; is this a validation summary?")
        passed = status != "failed"
    counts = ", ".join(f"{data[k]} {k}" for k in ("checks", "failed", "warnings") if isinstance(data.get(k), int))
    verdict = f"data validation {status or ('passed' if passed else 'failed')}"
    return GateResult(name="validation", kind="validation", passed=passed, source=str(path),
                      message=f"{verdict} ({counts})" if counts else verdict)


def drift_gate(path: str | Path | None, block_on: tuple[str, ...] | None = None) -> GateResult:
    """Blocking when the report asks to retrain for a reason whose trigger is in ``block_on`` (None: any)."""
    data, problem = _read(path, "drift report")
    if problem is not None:
        return GateResult(name="drift", kind="drift", passed=problem[0], message=problem[1],
                          source=str(path) if path else None)
    retrain = data.get("retrain")
    if not isinstance(retrain, bool):
        return GateResult(name="drift", kind="drift", passed=False, source=str(path),
                          message=f"{path}: expected 'retrain': true/false, found {retrain!r}; is this a drift report?")
    reasons = [r for r in (data.get("retrain_decision") or {}).get("reasons") or [] if isinstance(r, dict)]
    if not retrain:
        return GateResult(name="drift", kind="drift", passed=True, source=str(path), message="no drift calls for "
                          "retraining")
    blocking = [r for r in reasons if block_on is None or r.get("trigger") in block_on]
    if not blocking and (reasons or block_on is not None):
        found = ", ".join(sorted({str(r.get("trigger")) for r in reasons})) or "unspecified"
        return GateResult(name="drift", kind="drift", passed=True, source=str(path),
                          message=f"drift found ({found}) but none of it blocks (block_on_drift: "
                                  f"{', '.join(block_on or ()) or 'none'})")
    texts = [f"{r.get('trigger')}: {r.get('message')}" for r in blocking]
    return GateResult(name="drift", kind="drift", passed=False, source=str(path),
                      message="blocking drift: " + ("; ".join(texts[:3]) if texts else "the report asks to retrain"))


def _read(path: str | Path | None, what: str) -> tuple[dict[str, Any], tuple[bool | None, str] | None]:
    if not path:
        return {}, (None, f"no {what} configured")
    file = Path(path)
    if not file.is_file():
        return {}, (None, f"no {what} found at {file}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return {}, (False, f"{file}: unreadable {what}: {exc}")
    if not isinstance(data, dict):
        return {}, (False, f"{file}: expected a JSON object, got {type(data).__name__}")
    return data, None
