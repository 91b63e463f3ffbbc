"""``mlprod check``, the registry part: would the champion registered under the model name be comparable with
the model these facts train? It reads the input schema recorded at registration (the version's
``mlprod.inputs`` tag), so no model is downloaded or loaded. Skipped when the project has no registry yet."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RegistryError
from .facts import SECTION, ProjectFacts

if TYPE_CHECKING:
    from .check import Findings, Stage
    from .checkdata import DataSample


def check_registry(root: Path, stages: list[Stage], facts: ProjectFacts, data: DataSample,
                   out: Findings) -> str | None:
    """Add a finding when the champion cannot score the configured features; returns what was checked."""
    name, where = _model_name(stages, facts)
    if not name:
        return None
    from ..registry.store import DB_FILE, locate

    location = locate(root)
    if location.default and not (root / DB_FILE).is_file():
        return None  # no registry yet: nothing registered under any name
    features = _features(stages, facts)
    try:
        from ..registry.champion import CHAMPION
        from ..registry.compatibility import free_name, recorded_inputs
        from ..registry.store import Registry

        registry = Registry.open(root)
        if registry.registered_model(name) is None:
            return f"registry ({name!r} not registered yet)"
        champion = registry.alias(name, CHAMPION)
        if champion is None:
            return f"registry ({name!r} has no champion)"
        needed = recorded_inputs(registry, champion)
        free = free_name(registry, name)
    except RegistryError as exc:
        out.add("warning", "registry", "", f"could not be read: {exc}", "check MLFLOW_TRACKING_URI, or run "
                "`mlprod check --no-registry`")
        return None
    from ..registry.compatibility import incompatibilities

    problems = incompatibilities(needed, data.dtypes(features))
    semver = (champion.tags or {}).get("mlprod.semver", "?")
    if problems:
        out.add("error", "params.yaml", where, f"{name!r} is registered with champion version {champion.version} "
                f"({semver}), which could not score the configured features: {'; '.join(problems[:8])}. The "
                "promotion gates could not compare the two models, and registering would be refused",
                f"give this model its own name, e.g. {free!r} (or, if it really replaces that model, register it "
                "with --allow-incompatible)")
    return f"registry ({location.display})"


def _model_name(stages: list[Stage], facts: ProjectFacts) -> tuple[str | None, str]:
    for stage in stages:
        found = stage.effective("model_name")
        if found and isinstance(found[0], str):
            return found[0], found[1] + " model_name" if found[1].startswith("[") else f"[{SECTION}] model_name"
    return facts.model_name, f"[{SECTION}] model_name"


def _features(stages: list[Stage], facts: ProjectFacts) -> list[str]:
    if facts.categorical_features is not None or facts.numeric_features is not None:
        return list(facts.features)
    for stage in stages:
        lists = [stage.effective(k) for k in ("categorical_features", "numeric_features")]
        if any(lists):
            return [c for found in lists if found for c in (found[0] or [])]
    return []
