"""A stage's declared outputs, and removing the ones a failed run left half-written.

DVC removes a stage's outputs before running it and caches nothing when the command fails; mlprod
makes sure a failed run also leaves nothing behind that looks like a valid result: every declared
output that the failed run created or modified is removed (``persist: true`` outputs are kept and
reported, as DVC never removes them either).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import yamlio
from ..errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeclaredOutput:
    path: Path
    persist: bool = False


@dataclass(frozen=True)
class OutputSnapshot:
    """Modification state of a stage's outputs before a run."""

    outputs: tuple[DeclaredOutput, ...]
    before: dict[Path, int | None]  # newest mtime_ns under the path, None if absent


def declared_outputs(workdir: Path, stage: str | None) -> tuple[DeclaredOutput, ...]:
    """Outputs of ``stage`` (DVC addressing: ``name`` or ``path/dvc.yaml:name``), relative to ``workdir``."""
    if not stage or "@" in stage:
        return ()
    file, _, name = stage.rpartition(":")
    dvc_file = Path(os.environ.get("DVC_ROOT", workdir)) / file if file else workdir / "dvc.yaml"
    if not dvc_file.is_file():
        return ()
    try:
        data = yamlio.load_file(dvc_file)
    except ConfigError as exc:
        logger.warning("cannot read %s to find the outputs of stage %r: %s", dvc_file, name, exc)
        return ()
    spec = ((data or {}).get("stages") or {}).get(name)
    if not isinstance(spec, dict):
        return ()
    base = dvc_file.parent / spec.get("wdir", ".")
    found: list[DeclaredOutput] = []
    for key in ("outs", "metrics", "plots"):
        for entry in spec.get(key) or ():
            path, opts = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()), (None, {}))
            if not isinstance(path, str) or "${" in path:
                continue
            found.append(DeclaredOutput(path=(base / path), persist=bool((opts or {}).get("persist"))))
    return tuple(found)


def snapshot(outputs: tuple[DeclaredOutput, ...]) -> OutputSnapshot:
    return OutputSnapshot(outputs=outputs, before={o.path: _newest_mtime(o.path) for o in outputs})


def remove_changed(snap: OutputSnapshot) -> tuple[list[Path], list[Path]]:
    """Remove outputs created or modified since ``snap``; returns (removed, kept persistent)."""
    removed: list[Path] = []
    kept: list[Path] = []
    for out in snap.outputs:
        now = _newest_mtime(out.path)
        if now is None or now == snap.before.get(out.path):
            continue
        if out.persist:
            kept.append(out.path)
            continue
        if out.path.is_dir() and not out.path.is_symlink():
            shutil.rmtree(out.path, ignore_errors=True)
        else:
            out.path.unlink(missing_ok=True)
        removed.append(out.path)
    return removed, kept


def _newest_mtime(path: Path) -> int | None:
    try:
        stat = path.lstat()
    except FileNotFoundError:
        return None
    newest = stat.st_mtime_ns
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                try:
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime_ns)
                except FileNotFoundError:
                    continue
    return newest
