"""``mlprod notebooks clean``: put notebook files in their normal form (or, with ``check``, only list them).

Results are values: :class:`CleanResult` lists what was (or would be) changed, what was already clean and
which files could not be read as notebooks; the CLI decides the exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .normal_form import is_stage_notebook, normal_text

DEFAULT_FOLDERS = ("notebooks", "pipelines")  # where a project keeps its stage notebooks


@dataclass(frozen=True)
class CleanResult:
    changed: list[Path] = field(default_factory=list)  # rewritten (or, when checking, not in the normal form)
    clean: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "<path>: <what is wrong>; <how to fix>"


def stage_notebooks(folder: Path) -> list[Path]:
    """The stage notebooks under ``folder`` (recursively, checkpoints left out), sorted."""
    import json

    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts or not path.is_file():
            continue
        try:
            if is_stage_notebook(json.loads(path.read_text(encoding="utf-8"))):
                found.append(path)
        except (OSError, ValueError):
            found.append(path)  # unreadable: listed, so that clean_files reports it
    return found


def default_paths(root: Path) -> list[Path]:
    """The project's stage notebooks: those under ``notebooks/`` and ``pipelines/`` of ``root``."""
    return [p for name in DEFAULT_FOLDERS if (root / name).is_dir() for p in stage_notebooks(root / name)]


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders replaced by the stage notebooks under them."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        out += stage_notebooks(path) if path.is_dir() else [path]
    return out


def clean_files(paths: Iterable[Path], *, check: bool = False) -> CleanResult:
    """Rewrite each notebook of ``paths`` in its normal form (atomically, only when it differs)."""
    from ..atomic import write_text
    from ..errors import MlprodError

    result = CleanResult()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            result.errors.append(f"{path}: cannot read it as a UTF-8 notebook file ({exc})")
            continue
        try:
            normal = normal_text(text)
        except ValueError as exc:
            result.errors.append(f"{path}: expected an nbformat 4 notebook (JSON), {exc}; fix or restore the file "
                                 f"(git checkout -- {path}) and run again")
            continue
        if normal == text:
            result.clean.append(path)
            continue
        if not check:
            try:
                write_text(path, normal)
            except MlprodError as exc:
                result.errors.append(str(exc))
                continue
        result.changed.append(path)
    return result
