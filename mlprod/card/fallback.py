"""The card's section on the fallback model: what it is, its holdout metrics next to the primary's, its gates.

The ``fallback`` stage writes the evaluated fallback (``models/fallback``: manifest with holdout metrics) and
``metrics/fallback.json``; the ``register`` stage registers it as ``NAME-fallback`` and writes its decision
record (``reports/register/fallback_decision.json``). All three are optional, and the section is built only
when the fallback's manifest is there: a project without the fallback stage gets the card it always had (no
section, nothing listed as missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CardError
from ..manifest.schema import MANIFEST_FILE, Manifest, read_manifest
from .decision import _gate, champion_version, matches
from .schema import FallbackModel


def fallback_model(folder: str | Path | None, metrics_file: str | Path | None, decision_file: str | Path | None,
                   primary: Manifest, collector: Any) -> FallbackModel | None:
    """The section's value, or None when ``folder`` holds no model manifest (no fallback stage)."""
    if folder is None or not (Path(folder) / MANIFEST_FILE).is_file():
        return None
    from ..manifest.store import load_model

    folder = Path(folder)
    manifest = read_manifest(folder)
    model = load_model(folder)  # refused unless the artifact's sha256 matches its manifest
    collector.used("fallback model manifest", folder / MANIFEST_FILE)
    steps = getattr(model, "steps", None)
    estimator = type(steps[-1][1] if steps else model).__name__
    metrics, source = _metrics(metrics_file, manifest, folder, collector)
    notes = []
    same = _same_holdout(primary, manifest)
    if same is False:
        notes.append("the fallback was scored on other holdout data than this model: compare with care")
    decision = _decision(decision_file, manifest, collector, notes)
    return FallbackModel(
        name=manifest.name, version=manifest.version, estimator=estimator, sha256=manifest.artifact.sha256,
        manifest=str(folder / MANIFEST_FILE), holdout=metrics, metrics_source=source, same_holdout=same,
        decision=str(decision["outcome"]) if decision and decision.get("outcome") else None,
        champion=champion_version(decision) if decision else None,
        gates=tuple(_gate(g) for g in (decision or {}).get("gates") or [] if isinstance(g, dict)),
        decision_source=str(decision_file) if decision else None, notes=tuple(notes))


def _metrics(metrics_file: Any, manifest: Manifest, folder: Path, collector: Any) -> tuple[dict, str]:
    if metrics_file is not None and Path(metrics_file).is_file():
        data = collector.json("fallback metrics", metrics_file, "")
        holdout = data.get("holdout")
        if isinstance(holdout, dict) and data.get("version") in (None, manifest.version):
            return dict(holdout), str(metrics_file)
    return dict(manifest.metrics.get("holdout") or {}), str(folder / MANIFEST_FILE)


def _decision(path: Any, manifest: Manifest, collector: Any, notes: list[str]) -> dict | None:
    if path is None or not Path(path).is_file():
        notes.append("no registry decision record for the fallback (the register stage writes "
                     "reports/register/fallback_decision.json): its gates are not shown")
        return None
    record = collector.json("fallback decision record", path, "")
    if record.get("model") not in (None, manifest.name) or not matches(record, manifest):
        notes.append(f"the fallback decision record {path} is about another artifact, not {manifest.name} "
                     f"{manifest.version}: not used")
        return None
    if not isinstance(record.get("gates", []), list):
        raise CardError(f"{path}: 'gates' must be a list in the fallback decision record; rerun the register stage")
    return record


def _same_holdout(primary: Manifest, fallback: Manifest) -> bool | None:
    ours, theirs = primary.data_by_role("evaluation"), fallback.data_by_role("evaluation")
    if not ours or not theirs:
        return None
    return ours[0].dataset_id == theirs[0].dataset_id

