"""Recommendations derived from what the card measured (the reviewer's caveats, with numbers)."""

from __future__ import annotations

from typing import Any

from .probes import PROBES


def recommendations(card: Any) -> list[str]:
    out: list[str] = []
    slices = card.slices
    if slices is not None:
        for s in slices.limitations:
            out.append(f"Scores for {s.feature} = {s.segment} are much less reliable than overall: {slices.label} "
                       f"{s.value:.3f} vs {slices.overall:.3f} ({s.rows:,} rows, {s.positives:,} positives). Do not "
                       "rely on the score alone for this segment; review it separately or add features that carry "
                       "signal there.")
    modes = card.failure_modes
    if modes is not None:
        errors = _group(p for p in modes.probes if p.status == "error")
        if errors:
            out.append("The model raises an error for " + "; ".join(errors) + ". Callers must check inputs before "
                       "scoring (types, non-empty batches) and handle the error.")
        silent = _group(p for p in modes.probes if p.status == "ok" and p.feature != "(all inputs)"
                        and p.probe != "wrong_type")
        if silent:
            worst = max((p for p in modes.probes if p.status == "ok" and p.max_abs_change is not None),
                        key=lambda p: p.max_abs_change, default=None)
            moved = (f" (scores move by up to {worst.max_abs_change:.2f}, for {worst.feature} {_probe(worst.probe)})"
                     if worst is not None else "")
            out.append("The model scores without any error: " + "; ".join(silent) + f"{moved}. It will not flag bad "
                       "input itself: keep the data validation gate in front of it.")
        invalid = [p for p in modes.probes if p.status == "invalid"]
        if invalid:
            out.append("Invalid outputs (not probabilities) for " + ", ".join(f"{p.feature} {_probe(p.probe)}"
                                                                            for p in invalid) + ".")
        if modes.batch is not None and not modes.batch.valid:
            out.append(f"Large batches are not safe: {'; '.join(modes.batch.problems)}.")
    validation = card.validation
    if validation is not None and validation.status != "passed":
        out.append(f"Data validation {validation.status}: {validation.failed} failed and {validation.warnings} "
                   "warning check(s); review them before promoting.")
    comparison = card.comparison
    if comparison is not None:
        worse = [d for d in comparison.metrics if d.dataset.startswith("holdout") and d.metric == "roc_auc"
                 and d.delta is not None and d.delta < 0]
        for d in worse:
            out.append(f"Holdout ROC AUC is {-d.delta:.3f} lower than the champion's ({d.challenger:.3f} vs "
                       f"{d.champion:.3f}).")
    monitoring = card.monitoring
    if monitoring is not None and monitoring.latest == "retraining required":
        out.append("The last drift report asks for retraining: " + "; ".join(monitoring.reasons or ("see it",)) + ".")
    if card.missing:
        out.append("This card is incomplete (" + ", ".join(m.input for m in card.missing) + "); run the full "
                   "pipeline (dvc repro) to fill it in.")
    return out


def _group(probes) -> list[str]:
    """``"missing values in age, income"`` per probe kind, in registry order."""
    by_probe: dict[str, list[str]] = {}
    for p in probes:
        by_probe.setdefault(p.probe, []).append(p.feature)
    order = list(PROBES) + ["empty_batch"]
    return [f"{_probe(name)} in {', '.join(features)}" if name != "empty_batch" else "an empty batch"
            for name, features in sorted(by_probe.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)]


def _probe(name: str) -> str:
    return {"missing": "missing values", "above_range": "values far above the range",
            "below_range": "values far below the range", "unseen_category": "unseen categories",
            "wrong_type": "values of the wrong type", "empty_batch": "an empty batch"}.get(name, name)
