"""Where an interactive run writes: the stage's declared outputs are redirected into a scratch folder.

A notebook opened in JupyterLab runs with params.yaml's paths, so without care it overwrites what DVC tracks
(the trained model, its manifest, the metrics). :func:`redirect_outputs` finds the parameters whose value is
a path declared by that stage in ``dvc.yaml`` as ``outs``, ``metrics`` or ``plots`` (the path itself, a file
inside a declared folder, or a folder holding declared files) and moves them under ``scratch/<stage>/``
(``scratch/`` is in the project's .gitignore and .dvcignore). ``init_stage(..., write_outputs=True)`` skips this.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping

from .. import yamlio
from ..errors import ConfigError

SCRATCH = "scratch"
_OUTPUT_KINDS = ("outs", "metrics", "plots")


def scratch_dir(stage: str) -> str:
    return f"{SCRATCH}/{stage}"


def declared_outputs(root: Path, stage: str) -> list[str]:
    """Paths (relative to ``root``, POSIX) the stage ``stage`` declares as outs/metrics/plots in the project's
    ``dvc.yaml`` files (the root one, then ``pipelines/*/dvc.yaml``); empty when no dvc.yaml declares the stage."""
    for dvc_file in [root / "dvc.yaml", *sorted(root.glob("pipelines/*/dvc.yaml"))]:
        if not dvc_file.is_file():
            continue
        try:
            data = yamlio.load_file(dvc_file)
        except ConfigError:
            continue  # mlprod run / dvc report a broken dvc.yaml; an interactive run just finds nothing there
        stages = data.get("stages") if isinstance(data, dict) else None
        spec = stages.get(stage) if isinstance(stages, dict) else None
        if not isinstance(spec, dict):
            continue
        base = dvc_file.parent / str(spec.get("wdir") or ".")
        found = []
        for kind in _OUTPUT_KINDS:
            for entry in spec.get(kind) or []:
                for name in (entry if isinstance(entry, dict) else {entry: None}):
                    path = _relative(root, base / str(name))
                    if path is not None:
                        found.append(path)
        return sorted(set(found))
    return []


def redirect_outputs(values: Mapping[str, Any], outputs: Iterable[str], stage: str,
                     root: Path) -> dict[str, str]:
    """``{parameter: scratch path}`` for the parameters in ``values`` whose value is one of ``outputs``, inside
    one, or a folder holding one; the scratch path keeps the project-relative path under ``scratch/<stage>/``."""
    outs = [PurePosixPath(o) for o in outputs]
    moved: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(value, str) or not value.strip():
            continue
        path = _relative(root, root / value)
        if path is None or path in (".", "") or path.split("/")[0] == SCRATCH:
            continue
        pure = PurePosixPath(path)
        if any(pure == o or o in pure.parents or pure in o.parents for o in outs):
            moved[name] = f"{scratch_dir(stage)}/{path}"
    return moved


def _relative(root: Path, path: Path) -> str | None:
    """``path`` relative to ``root`` as a normalised POSIX string; None when it lies outside the project."""
    absolute = os.path.normpath(os.path.join(os.path.abspath(root), path))
    rel = os.path.relpath(absolute, os.path.abspath(root))
    if rel == ".." or rel.startswith(".." + os.sep):
        return None
    return PurePosixPath(Path(rel)).as_posix()
