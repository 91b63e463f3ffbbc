"""Whether a model's recorded inputs can be scored on another model's data: columns present, same kind.

Used before registering under an existing name: if the champion needs a column the new model's data
lacks, or one whose values are of another kind (numbers where it expects text, ...), the two models
cannot be scored on the same rows and the promotion gates cannot compare them.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ..errors import RegistryError
from ..manifest.schema import Manifest, read_manifest

logger = logging.getLogger(__name__)
INPUTS_TAG = "mlprod.inputs"  # the input schema, [[column, dtype], ...]
INPUTS_TAG_LIMIT = 4000


def dtype_kind(dtype: str) -> str:
    """``numeric``, ``datetime``, ``text`` or ``unknown`` for a pandas dtype name."""
    name = dtype.lower()
    if name.startswith(("int", "uint", "float", "bool", "int8", "boolean")) or name in ("double", "long"):
        return "numeric"
    if name.startswith(("datetime", "timestamp", "period")):
        return "datetime"
    if name in ("object", "string", "category", "str") or name.startswith(("string", "category")):
        return "text"
    return "unknown"


def incompatibilities(needed: Iterable[tuple[str, str]], available: Iterable[tuple[str, str]]) -> list[str]:
    """What keeps a model needing ``needed`` columns from scoring data with ``available`` ones (empty: none)."""
    have = dict(available)
    problems = []
    missing = [name for name, _ in needed if name not in have]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        problems.append(f"column(s) {shown} missing")
    for name, dtype in needed:
        if name not in have:
            continue
        want, got = dtype_kind(dtype), dtype_kind(have[name])
        if "unknown" not in (want, got) and want != got:
            problems.append(f"column {name!r} is {have[name]} ({got}), the champion expects {dtype} ({want})")
    return problems


def check_comparable(registry: Any, manifest: Manifest, allow: bool) -> None:
    """Refuse a model the champion cannot be compared with (it could not score the new model's data)."""
    from .champion import CHAMPION

    champion = registry.alias(manifest.name, CHAMPION)
    if champion is None:
        return
    recorded = recorded_inputs(registry, champion)
    problems = incompatibilities(recorded, [(c.name, c.dtype) for c in manifest.inputs])
    if not problems:
        if recorded != [(c.name, c.dtype) for c in manifest.inputs]:
            logger.warning("%s %s: its input schema differs from champion version %s's (a major version change); "
                           "the champion can still score its data, so the gates compare the two", manifest.name,
                           manifest.version, champion.version)
        return
    semver = (champion.tags or {}).get("mlprod.semver", "?")
    listed = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
    if allow:
        logger.warning("%s: registered although champion version %s (%s) cannot score its data (%s); promotion "
                       "needs --force", manifest.name, champion.version, semver, listed)
        return
    raise RegistryError(
        f"registry {registry.location.display}: {manifest.name!r} has champion version {champion.version} ({semver}), "
        f"which could not score this model's data: {listed}. The promotion gates could not compare the two, so this "
        f"looks like another model. Register it under its own name (train.model_name in params.yaml, e.g. "
        f"{free_name(registry, manifest.name)!r}), or, if it really replaces the champion, register it with "
        "--allow-incompatible (promotion then needs --force --reason)")


def recorded_inputs(registry: Any, version: Any) -> list[tuple[str, str]]:
    """The input schema recorded for a registered version (its tag, else the manifest in its run)."""
    tag = (version.tags or {}).get(INPUTS_TAG)
    if tag:
        try:
            return [(str(name), str(dtype)) for name, dtype in json.loads(tag)]
        except (ValueError, TypeError):
            logger.debug("unreadable %s tag on %s version %s", INPUTS_TAG, version.name, version.version)
    from .download import download_model

    with tempfile.TemporaryDirectory(prefix="mlprod-inputs-") as tmp:
        folder = download_model(registry, version, Path(tmp))
        return [(c.name, c.dtype) for c in read_manifest(folder).inputs]


def free_name(registry: Any, name: str) -> str:
    for n in range(2, 100):
        candidate = f"{name}-{n}"
        if registry.registered_model(candidate) is None:
            return candidate
    return f"{name}-new"
