"""One display object carrying a live widget and its static HTML rendering.

A front end with the Jupyter widget manager (JupyterLab) prefers the widget view; nbconvert skips the
widget view when the notebook holds no widget state (papermill and ``mlprod run`` save none) and takes
the next mimetype in its priority, ``text/html``: the static rendering, with no script from a CDN.
"""

from __future__ import annotations

import os
from typing import Any, Callable

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def in_stage() -> bool:
    """True inside a pipeline stage (``mlprod run`` sets ``MLPROD_STAGE``): explorers show only their static
    rendering there, without building (or importing) widgets."""
    return bool(os.environ.get("MLPROD_STAGE"))


class Static:
    """A static rendering alone (``text/html``), what an explorer shows inside a pipeline stage."""

    def __init__(self, html: str) -> None:
        self.html = html

    def _repr_html_(self) -> str:
        return self.html


class WithFallback:
    """``widget`` for JupyterLab, ``html`` (a string, or a callable giving the current one) for everything else.

    The callable form lets an explorer's static rendering follow the widget's state at display time.
    """

    def __init__(self, widget: Any, html: str | Callable[[], str]) -> None:
        self.widget = widget
        self._html = html

    @property
    def html(self) -> str:
        return self._html() if callable(self._html) else self._html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.html
        return bundle


def with_fallback(widget: Any, html: str | Callable[[], str]) -> WithFallback:
    """Wrap ``widget`` so that it displays with ``html`` as its static rendering (see the module docstring)."""
    return WithFallback(widget, html)
