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

    def render(self, nb: Any) -> str:
        self.start()
        self._thread.join()
        if self._error is not None:
            raise self._error
        body, _ = self._exporter.from_notebook_node(nb)
        return body
