"""Files a notebook keeps with its run, such as the report a failure message points at.

``mlprod run`` executes a notebook with its results folder at ``reports/running/<stage>/`` and moves
that folder, whole, to ``reports/failed/<stage>/`` when the run fails (``reports/notebooks/<stage>/``
when it succeeds). A file the notebook writes there stays next to the executed notebook and its run
record, while the stage's declared outputs of a failed run are removed (so nothing looks valid to DVC).
``reports/failed/`` is not a DVC output and is ignored by git.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .runrecord import display_path

ENV_RUN = "MLPROD_RUN"
FAILED_DIR = Path("reports") / "failed"


@dataclass(frozen=True)
class RunFile:
    """Where to write a file now (``path``) and where it is once the run has failed (``if_failed``)."""

    path: Path
    if_failed: str


def run_file(name: str) -> RunFile:
    """A file kept with this run: under ``mlprod run`` in the run's results folder (found in
    ``reports/failed/<stage>/`` after a failure); in JupyterLab, after ``init_stage``, directly in
    ``reports/failed/<stage>/``, where the next failed run of the stage replaces it."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"run_file: {name!r} must be a plain file name, without folders")
    context = _run_context()
    if context.get("results_dir") and context.get("failed_dir"):
        return RunFile(path=Path(context["results_dir"]) / name, if_failed=f"{context['failed_dir']}/{name}")
    from .interactive import applied_stage

    stage = (applied_stage() or {}).get("stage")
    path = FAILED_DIR / stage / name if stage else FAILED_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return RunFile(path=path, if_failed=display_path(path))


def _run_context() -> dict:
    try:
        context = json.loads(os.environ.get(ENV_RUN) or "{}")
    except ValueError:
        return {}
    return context if isinstance(context, dict) else {}
