"""The Jupyter server save hook that keeps stage notebooks in their normal form.

Order of work on each save of a notebook, and why:

1. Only stage notebooks (:func:`~mlprod.jupyter.normal_form.is_stage_notebook`) inside a project (a
   ``params.yaml`` in the notebook's folder or a parent) and outside its ``reports/`` are touched; every other
   notebook (scratch notebooks, executed copies) is saved exactly as JupyterLab sent it.
2. When the notebook has outputs, the full executed notebook is written first, atomically, to
   ``reports/interactive/<name>.ipynb`` of the project (:func:`executed_copy_path`), so plots and tables are
   never lost.
3. Only after that succeeded is the notebook itself replaced by its normal form (no outputs, no execution
   counts, no UI metadata): DVC and git see it changed only when code or markdown changed.

The hook never fails a save: whatever goes wrong (no project, ``reports`` is a file, an odd notebook)
is logged as a warning on the server's log and the notebook is saved as sent, outputs included.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .normal_form import dumps, has_outputs, is_stage_notebook, normalise

INTERACTIVE = Path("reports") / "interactive"
PARAMS_FILE = "params.yaml"
_log = logging.getLogger(__name__)


def project_of(notebook: Path) -> Path | None:
    """The project folder of ``notebook``: the nearest folder above it holding ``params.yaml``."""
    for folder in (notebook.parent, *notebook.parent.parents):
        if (folder / PARAMS_FILE).is_file():
            return folder
    return None


def executed_copy_path(root: Path, notebook: Path) -> Path:
    """Where the executed copy of ``notebook`` is kept: ``<root>/reports/interactive/<name>.ipynb`` for the
    project's ``notebooks/``, else the notebook's path under the root (``.../pipelines/monitoring/notebooks/x.ipynb``),
    so that two notebooks never share a copy."""
    relative = notebook.relative_to(root)
    if relative.parts[0] == "notebooks":
        relative = relative.relative_to("notebooks")
    return root / INTERACTIVE / relative


def clean_before_save(model: dict[str, Any], os_path: Path, log: logging.Logger = _log) -> Path | None:
    """Apply the hook to ``model`` (a contents-API model) saved at ``os_path``; returns the executed copy written.

    ``model["content"]`` is replaced by its normal form only after the executed copy (when there are outputs)
    was written. Never raises: a problem is logged and the model left as it was.
    """
    content = model.get("content")
    if model.get("type") != "notebook" or not is_stage_notebook(content):
        return None
    try:
        os_path = Path(os_path).absolute()
        root = project_of(os_path)
        if root is None:
            log.warning("mlprod: %s looks like a stage notebook (init_stage in its parameters cell) but no %s is "
                        "in its folder or above: saved as is, outputs included (not cleaned)", os_path, PARAMS_FILE)
            return None
        if (root / "reports") in os_path.parents:
            return None  # an executed copy (reports/notebooks/..., reports/interactive/...) keeps its outputs
        clean = normalise(content)
        _keep_kernelspec(clean, os_path)
        written = None
        if has_outputs(content):
            from ..atomic import write_text

            written = write_text(executed_copy_path(root, os_path), dumps(content))
        model["content"] = clean
        return written
    except Exception as exc:  # noqa: BLE001 - a save must never fail because of this hook
        log.warning("mlprod: could not keep the executed copy of %s (%s: %s); saved the notebook as is, outputs "
                    "included, so nothing is lost. DVC will see it changed until it is saved again cleanly "
                    "(or run `mlprod notebooks clean %s`)", os_path, type(exc).__name__, exc, os_path)
        return None


def _keep_kernelspec(clean: dict[str, Any], os_path: Path) -> None:
    """Keep the kernelspec of the file on disk when only the kernel's name changed (same language).

    ``mlprod run`` runs every stage in its own interpreter whatever the kernelspec says, so the kernel a
    person picked in JupyterLab (``myenv`` instead of ``python3``) is not a change to the stage.
    """
    import json

    try:
        on_disk = json.loads(os_path.read_text(encoding="utf-8")).get("metadata", {}).get("kernelspec")
    except (OSError, ValueError, AttributeError):
        return
    metadata = clean.get("metadata")
    sent = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    if isinstance(on_disk, dict) and isinstance(sent, dict) and on_disk.get("language") == sent.get("language"):
        metadata["kernelspec"] = on_disk


def pre_save_hook(model: dict[str, Any], path: str, contents_manager: Any, **kwargs: Any) -> None:
    """``ContentsManager.pre_save_hook``: see the module docstring. ``path`` is the API path of the file."""
    log = getattr(contents_manager, "log", None) or _log
    try:
        os_path = Path(contents_manager._get_os_path(path))
    except Exception as exc:  # noqa: BLE001 - e.g. a contents manager that is not file based
        log.warning("mlprod: cannot tell where %s is saved (%s): saved as is", path, exc)
        return
    clean_before_save(model, os_path, log)
