"""Which fallback model goes with a served model, found by itself.

:func:`fallback_for` is the one rule, used by ``mlprod serve`` (and meant for ``mlprod score``):

- ``NAME@alias`` (the registry) -> ``NAME-fallback@alias`` when the registered model ``NAME-fallback`` has that
  alias (the ``register`` stage registers the fallback under that name and moves its ``champion`` with the
  same gates);
- a model folder -> the ``fallback.evaluated_dir`` of params.yaml (relative to the project root) when it is a
  model folder whose manifest names ``<primary's name>-fallback``: a folder holding another project's model is
  never picked up;
- anything else -> ``None`` (serve without a fallback).

The reference returned is in the same form as the ones ``mlprod serve --fallback`` takes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

FALLBACK_SUFFIX = "-fallback"
_ALIAS_REF = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)@(?P<alias>[A-Za-z0-9][A-Za-z0-9_-]*)")


def fallback_for(reference: str, *, root: str | Path = ".", params: Mapping[str, Any] | None = None,
                 registry: Any = None) -> str | None:
    """The fallback reference to serve with ``reference`` (``NAME@alias`` or a model folder), or None.

    ``root``: the project root (its registry; relative folders). ``params``: the project's params.yaml as a
    mapping (default: ``root/params.yaml`` when there is one). ``registry``: an open
    :class:`mlprod.registry.store.Registry` to look ``NAME-fallback`` up in (default: the project's). Raises
    :class:`~mlprod.errors.RegistryError` when the registry cannot be read; a missing fallback is not an error.
    """
    root = Path(root)
    folder = Path(reference) if Path(reference).is_absolute() else root / reference
    match = _ALIAS_REF.fullmatch(reference)
    if match and not folder.is_dir():
        name = match["name"] + FALLBACK_SUFFIX
        if registry is None:
            from ..registry.store import Registry

            registry = Registry.open(root)
        if registry.alias(name, match["alias"]) is None:
            return None
        return f"{name}@{match['alias']}"
    return _folder_fallback(folder, root, params)


def _folder_fallback(primary: Path, root: Path, params: Mapping[str, Any] | None) -> str | None:
    from ..manifest.schema import MANIFEST_FILE, read_manifest

    if not (primary / MANIFEST_FILE).is_file():
        return None
    if params is None:
        params = _params(root)
    section = params.get("fallback") if isinstance(params, Mapping) else None
    evaluated = section.get("evaluated_dir") if isinstance(section, Mapping) else None
    if not isinstance(evaluated, str) or not evaluated:
        return None
    candidate = Path(evaluated) if Path(evaluated).is_absolute() else root / evaluated
    if not (candidate / MANIFEST_FILE).is_file() or candidate.resolve() == primary.resolve():
        return None
    if read_manifest(candidate).name != read_manifest(primary).name + FALLBACK_SUFFIX:
        return None
    return str(candidate)


def _params(root: Path) -> Mapping[str, Any]:
    from ..stages.params import load_params_file

    path = root / "params.yaml"
    return load_params_file(path) if path.is_file() else {}
