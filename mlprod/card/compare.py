"""Comparison with the current champion, and the rollback procedure.

The comparison comes from the registry's decision record when there is one (champion and challenger
scored on the same holdout data, every gate's numbers), otherwise from the previous version's
manifest (found in place or in the DVC cache): metric deltas on the data sets both recorded, changed
data versions and changed parameters.
"""

from __future__ import annotations

import json
from typing import Any

from ..manifest.schema import Manifest
from .schema import Change, Comparison, MetricDelta, Rollback

COMPARED_METRICS = ("roc_auc", "average_precision", "log_loss", "brier", "accuracy", "precision", "recall", "f1",
                    "positive_rate", "rows")


def compare_manifests(current: Manifest, previous: Manifest | None, *, source: str) -> Comparison:
    """Champion = ``previous`` (the version this one replaces)."""
    if previous is None and current.previous is not None:
        return Comparison(source=source, champion=current.previous.version, challenger=current.version,
                          decision=None, notes=(f"the manifest of {current.previous.version} was not found (neither "
                                                "in place nor in the DVC cache): no metric, data or parameter deltas",))
    if previous is None:
        return Comparison(source=source, champion=None, challenger=current.version, decision=None,
                          notes=("first version: there is no earlier version to compare with",))
    notes = []
    deltas = metric_deltas(previous.metrics, current.metrics)
    shared = {d.dataset for d in deltas}
    for dataset in sorted(set(current.metrics) - shared):
        notes.append(f"{previous.version} has no {dataset} metrics recorded in its manifest: no {dataset} deltas")
    return Comparison(source=source, champion=previous.version, challenger=current.version, decision=None,
                      metrics=tuple(deltas), data_changes=tuple(data_changes(previous, current)),
                      parameter_changes=tuple(parameter_changes(previous.parameters, current.parameters)),
                      notes=tuple(notes))


def metric_deltas(champion: dict[str, dict[str, Any]], challenger: dict[str, dict[str, Any]]) -> list[MetricDelta]:
    out = []
    for dataset in sorted(set(champion) & set(challenger)):
        before, after = champion[dataset], challenger[dataset]
        names = [m for m in COMPARED_METRICS if m in before or m in after]
        names += sorted((set(before) | set(after)) - set(COMPARED_METRICS))
        for name in names:
            b, a = _number(before.get(name)), _number(after.get(name))
            if b is not None or a is not None:
                out.append(MetricDelta(dataset=dataset, metric=name, champion=b, challenger=a))
    return out


def data_changes(previous: Manifest, current: Manifest) -> list[Change]:
    out = []
    roles = sorted({r.role for r in previous.data} | {r.role for r in current.data})
    for role in roles:
        before = ", ".join(sorted(_describe(r) for r in previous.data_by_role(role))) or "(none)"
        after = ", ".join(sorted(_describe(r) for r in current.data_by_role(role))) or "(none)"
        if before != after:
            out.append(Change(what=f"{role} data", before=before, after=after))
    return out


def parameter_changes(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[Change]:
    flat_before, flat_after = _flatten(before), _flatten(after)
    out = []
    for key in sorted(set(flat_before) | set(flat_after)):
        b, a = flat_before.get(key, "(not set)"), flat_after.get(key, "(not set)")
        if b != a:
            out.append(Change(what=key, before=b, after=a))
    return out


def rollback_plan(current: Manifest, previous_version: str | None, *, registered: bool,
                  previous_commit: str | None = None, previous_sha256: str | None = None,
                  model_dir: str = "models/model") -> Rollback:
    """The exact commands that put the previous version back in service."""
    name = current.name
    predecessor = current.previous.version if current.previous else None
    if previous_version is None:
        return Rollback(current=current.version, previous=None, steps=(), predecessor=predecessor,
                        summary="nothing (first version)", notes=(
            f"{name} {current.version} is the first version: there is nothing to roll back to. To take it out of "
            "service, stop the consumers that score with it.",))
    reason = f"roll back {name} {current.version}: <why>"
    steps: list[tuple[str, str]] = [
        (f"move the registry's champion alias back to {previous_version} (recorded with who, when and why)",
         f"mlprod rollback {name} --reason {json.dumps(reason)}"),
        ("check where the champion alias now points and the move just recorded", f"mlprod registry history {name}"),
    ]
    notes = []
    if not registered:
        notes.append(f"{name} {current.version} has no registry decision record yet; the commands apply once it is "
                     "registered and promoted.")
    if previous_commit:
        sha = f" and check that its sha256 is {previous_sha256[:16]}..." if previous_sha256 else ""
        steps.append((f"without the registry: rebuild {previous_version}'s files from its commit (DVC's run cache "
                      f"restores them without retraining when they were built before){sha}",
                      f"git checkout {previous_commit[:12]} && dvc repro && mlprod manifest verify {model_dir}"))
    return Rollback(current=current.version, previous=previous_version, steps=tuple(steps), notes=tuple(notes),
                    predecessor=predecessor, summary=previous_version)


def _describe(ref: Any) -> str:
    rows = f", {ref.rows:,} rows" if ref.rows is not None else ""
    return f"{ref.dataset_id}{rows}"


def _flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
