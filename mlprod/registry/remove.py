"""Removing a registered version that nothing points to: no alias, and not a rollback target.

The version's registry entry is deleted and its MLflow run (which holds the manifest, the artifact and
the MLflow model) is marked deleted; MLflow keeps a deleted run's files until ``mlflow gc`` removes
them for good, so a removal can still be inspected (``mlflow runs restore``) until then. The removal
is logged in the model's history like an alias move (action ``remove``), with who, when and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import RegistryError
from . import history
from .champion import CHAMPION
from .store import Registry

logger = logging.getLogger(__name__)
REMOVED = "(removed)"


@dataclass(frozen=True)
class Removal:
    model: str
    version: str
    semver: str
    run_id: str | None
    run_deleted: bool
    entry: history.AliasMove


def remove_version(model: str, version: str | int, *, reason: str = "", registry: Registry | None = None) -> Removal:
    """Delete ``model`` ``version`` from the registry (see the module docstring); refused while anything needs it."""
    registry = registry or Registry.open()
    registry.require_model(model)
    with registry.lock(model):
        history.settle(registry, model, CHAMPION)
        found = registry.version(model, version)
        version = str(found.version)
        aliases = sorted(a for a, v in (registry.registered_model(model).aliases or {}).items() if str(v) == version)
        if aliases:
            raise RegistryError(f"{model!r} version {version} carries the alias(es) {', '.join(aliases)}; move them "
                                f"first (mlprod promote / mlprod rollback), then remove the version")
        line = history.champion_line(history.read_moves(registry, model), CHAMPION)
        if version in line:
            raise RegistryError(f"{model!r} version {version} is a rollback target (champions so far: "
                                f"{' -> '.join(line)}); `mlprod rollback {model}` could return to it, so it is kept")
        semver = (found.tags or {}).get("mlprod.semver", "?")
        entry = history.begin_move(registry, model, alias=REMOVED, action="remove", to_version=version,
                                   from_version=None, reason=reason or f"removed {semver}")
        registry.call(f"deleting {model!r} version {version}", registry.client.delete_model_version, model, version)
        run_deleted = False
        if found.run_id and not _run_has_other_versions(registry, model, found.run_id):
            registry.call(f"deleting the run of {model!r} version {version}", registry.client.delete_run,
                          found.run_id)
            run_deleted = True
        entry = history.finish_move(registry, model, entry)
    logger.info("removed %s version %s (%s)", model, version, semver)
    return Removal(model=model, version=version, semver=semver, run_id=found.run_id, run_deleted=run_deleted,
                   entry=entry)


def _run_has_other_versions(registry: Registry, model: str, run_id: str) -> bool:
    return any(v.run_id == run_id for v in registry.versions(model))
