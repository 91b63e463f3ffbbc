"""The Python environment a model was built in: interpreter, platform and the distributions it imported.

Only distributions whose modules the producing process actually imported are recorded (not a whole
``pip freeze``). ``importlib.metadata.packages_distributions()`` reads every installed distribution's
RECORD (0.2-0.4 s with a few hundred installed); mapping just the imported top-level modules via each
distribution's ``top_level.txt`` (RECORD only as a fallback) takes a few milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from pathlib import Path

from .schema import Environment


def current_environment(modules: dict | None = None) -> Environment:
    return Environment(python=platform.python_version(), platform=platform.platform(),
                       packages=imported_distributions(modules))


def imported_distributions(modules: dict | None = None) -> dict[str, str]:
    """``{distribution name: version}`` for every non-stdlib top-level module in ``modules`` (sys.modules)."""
    modules = sys.modules if modules is None else modules
    tops = {name for name in list(modules) if "." not in name and name not in sys.stdlib_module_names
            and name not in sys.builtin_module_names and modules.get(name) is not None}
    found: dict[str, str] = {}
    for dist, version, names in _distribution_map():
        if tops.intersection(names):
            found[dist] = version
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def _distribution_map() -> list[tuple[str, str, list[str]]]:
    """(name, version, top-level modules) of every installed distribution, cached per set of installs.

    Reading every RECORD takes tens of milliseconds; the map only changes when a distribution is
    installed or removed, which changes the set of ``*.dist-info`` folder names the cache is keyed on.
    """
    infos = list(_dist_infos())
    key = hashlib.sha256("\n".join(str(info) for info, _, _ in infos).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlprod" / f"distributions-{key}.json"
    try:
        return [tuple(row) for row in json.loads(cache.read_text(encoding="utf-8"))]  # type: ignore[misc]
    except (OSError, ValueError):
        pass
    rows = []
    for info, dist, version in infos:
        top_level = info / "top_level.txt"
        if top_level.is_file():
            names = set(top_level.read_text(encoding="utf-8", errors="replace").split())
        else:
            names = set()
        rows.append((dist, version, sorted(names | _record_tops(info / "RECORD"))))
    from .. import atomic
    from ..errors import OutputPathError

    try:
        atomic.write_json(cache, rows)
    except (OSError, OutputPathError):  # only a cache
        pass
    return rows


def _dist_infos():
    seen: set[str] = set()
    for entry in sys.path:
        folder = Path(entry or os.getcwd())
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in sorted(names):
            if not name.endswith(".dist-info"):
                continue
            match = re.match(r"^(.+?)-([^-]+)\.dist-info$", name)
            if not match:
                continue
            dist, version = match.groups()
            key = re.sub(r"[-_.]+", "-", dist).lower()
            if key in seen:
                continue
            seen.add(key)
            yield folder / name, _display_name(folder / name, dist), version


def _display_name(info: Path, fallback: str) -> str:
    try:
        with open(info / "METADATA", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("Name:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    break
    except OSError:
        pass
    return fallback


def _record_tops(record: Path) -> set[str]:
    try:
        lines = record.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return set()
    tops = set()
    for line in lines:
        path = line.split(",", 1)[0]
        first = path.split("/", 1)[0]
        if first.endswith((".dist-info", ".data")) or first.startswith(".."):
            continue
        tops.add(first[:-3] if first.endswith(".py") else first)
    return tops
