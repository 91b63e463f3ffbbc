"""Self-contained HTML rendering of an executed notebook (nbconvert's JupyterLab template, no CDN scripts)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent / "templates" / "nbconvert"


class HtmlRenderer:
    """Imports nbconvert in a background thread so the import overlaps notebook execution.

    The thread starts on :meth:`start` (the runner calls it as the first cell is sent, when this
    process has nothing else to do) or at the latest on :meth:`render`.
    """

    def __init__(self) -> None:
        self._exporter: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="mlprod-nbconvert-import", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        """Begin importing and warming up nbconvert in the background (idempotent)."""
        with self._lock:
            if self._thread.ident is None:  # not started yet
                self._thread.start()

    def _load(self) -> None:
        try:
            import nbformat
            from nbconvert import HTMLExporter

            # embed_images: markdown attachments and linked images become data URIs
            quiet = logging.getLogger("mlprod.stages.html.nbconvert")
            quiet.setLevel(logging.ERROR)  # e.g. "Alternative text is missing" for every plot
            exporter = HTMLExporter(template_name="mlprod_lab", extra_template_basedirs=[str(TEMPLATES)],
                                    embed_images=True, log=quiet)
            # the first rendering compiles the templates (~0.3 s): do it now, off the critical path
            exporter.from_notebook_node(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))
            self._exporter = exporter
        except BaseException as exc:  # noqa: BLE001 - re-raised in render()
            self._error = exc

    def render(self, nb: Any, title: str = "Notebook") -> str:
        """The page of ``nb``, titled ``title`` (nbconvert's default is "Notebook" for every page)."""
        self.start()
        self._thread.join()
        if self._error is not None:
            raise self._error
        body, _ = self._exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        return body


MODEL_DIR_PARAMETERS = ("model_dir", "trained_dir")


def page_title(stage: str, values: dict[str, Any], root: Path, params_file: Path | None = None) -> str:
    """``train — lead-scoring 1.1.0``: the stage and the model it made or used (its manifest's name and version,
    from the stage's ``model_dir``/``trained_dir`` parameter), else the ``model_name`` parameter or
    ``project.model_name`` in ``params_file``, else the stage alone."""
    for key in MODEL_DIR_PARAMETERS:
        folder = values.get(key)
        if isinstance(folder, str) and (root / folder / "model_manifest.yaml").is_file():
            try:
                from ..manifest.schema import read_manifest

                manifest = read_manifest(root / folder)
                return f"{stage} — {manifest.name} {manifest.version}"
            except Exception:  # noqa: BLE001 - a title is not worth failing a run for
                break
    name = values.get("model_name") or _project_model_name(params_file)
    return f"{stage} — {name}" if isinstance(name, str) and name else stage


def _project_model_name(params_file: Path | None) -> str | None:
    if params_file is None or not params_file.is_file():
        return None
    try:
        from ..yamlio import load_file

        project = (load_file(params_file) or {}).get("project") or {}
        return project.get("model_name") if isinstance(project, dict) else None
    except Exception:  # noqa: BLE001 - a title is not worth failing a run for
        return None
