"""Reading the registry's decision record (challenger vs champion on the same holdout) into the card.

The record is written by the ``register`` stage (:mod:`mlprod.registry.decision`, schema version 1):
``challenger``/``champion`` (registry version, semantic version, artifact sha256), ``metrics``
(``{"challenger": {...}, "champion": {...}}`` on the same holdout data), ``gates`` (each with
``name``, ``passed``, ``message``), ``outcome`` and ``reason``. A record about another artifact than
the card's model is not used.
"""

from __future__ import annotations

from typing import Any

from ..manifest.schema import Manifest
from .compare import data_changes, metric_deltas, parameter_changes
from .schema import Comparison, Gate

PROMOTED = ("promoted", "forced")


def matches(record: dict[str, Any], manifest: Manifest) -> bool:
    """Whether the record is about ``manifest``'s artifact (by sha256; by version when no sha256 is recorded)."""
    challenger = record.get("challenger") if isinstance(record.get("challenger"), dict) else {}
    sha = challenger.get("artifact_sha256")
    if sha:
        return sha == manifest.artifact.sha256
    return str(challenger.get("semver", "")) == manifest.version


def champion_version(record: dict[str, Any]) -> str | None:
    champion = record.get("champion")
    if not isinstance(champion, dict):
        return None
    return str(champion.get("semver") or champion.get("version"))


def comparison_from_decision(record: dict[str, Any], manifest: Manifest, source: str,
                             champion_manifest: Manifest | None = None) -> Comparison:
    """Metric deltas and gates from the record; data and parameter changes from the champion's manifest if known."""
    champion = record.get("champion") if isinstance(record.get("champion"), dict) else None
    challenger = record.get("challenger") if isinstance(record.get("challenger"), dict) else {}
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    holdout = record.get("holdout") if isinstance(record.get("holdout"), dict) else {}
    label = "holdout (both scored)"
    deltas = metric_deltas({label: metrics.get("champion") or {}} if champion else {},
                           {label: metrics.get("challenger") or {}}) if champion else []
    notes = []
    if holdout.get("path"):
        rows = f", {holdout['rows']:,} rows" if isinstance(holdout.get("rows"), int) else ""
        notes.append(f"champion and challenger scored on {holdout['path']}{rows}")
    if champion is None:
        notes.append("there was no champion: rules against a champion were not evaluated")
    changes_data: tuple = ()
    changes_params: tuple = ()
    version = champion_version(record)
    if champion is not None and champion_manifest is not None and champion_manifest.version == version:
        changes_data = tuple(data_changes(champion_manifest, manifest))
        changes_params = tuple(parameter_changes(champion_manifest.parameters, manifest.parameters))
    elif champion is not None:
        notes.append(f"the champion's manifest ({version}) is not available here: data and parameter changes "
                     "are not listed")
    blocking = [str(b) for b in record.get("blocking") or []]
    if blocking:
        notes.append(f"blocking gate(s): {', '.join(blocking)}")
    if record.get("reason"):
        notes.append(f"reason recorded: {record['reason']}")
    return Comparison(source=source, champion=_label(champion), challenger=_label(challenger) or manifest.version,
                      decision=str(record["outcome"]) if record.get("outcome") else None, metrics=tuple(deltas),
                      data_changes=changes_data, parameter_changes=changes_params,
                      gates=tuple(_gate(g) for g in record.get("gates") or [] if isinstance(g, dict)),
                      notes=tuple(notes))


def _label(side: dict[str, Any] | None) -> str | None:
    if not side:
        return None
    semver, version = side.get("semver"), side.get("version")
    if semver and version is not None:
        return f"{semver} (registry version {version})"
    return str(semver or version) if (semver or version) is not None else None


def _gate(gate: dict[str, Any]) -> Gate:
    passed = gate.get("passed")
    status = "passed" if passed is True else "failed" if passed is False else "not evaluated"
    return Gate(name=str(gate.get("name", "?")), status=status, detail=str(gate.get("message", "")))
