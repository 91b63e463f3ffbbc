"""Renderers by name, and writing a card's files.

:data:`RENDERERS` maps a format name to ``(file name, render function)``: ``markdown`` ->
``model_card.md``, ``html`` -> ``model_card.html``, ``json`` -> ``model_card.json`` (the card value,
``schema_version`` 1, sorted keys). :func:`get_renderer` raises :class:`~mlprod.errors.CardError`
for an unknown name, listing the available ones. Files are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import CardError
from .schema import ModelCard
from .sources import DEFAULT_MODEL_DIR, DEFAULT_OUTPUT_DIR

FORMATS = ("markdown", "html", "json")


def _markdown(card: ModelCard) -> str:
    from .markdown import render_markdown

    return render_markdown(card)


def _html(card: ModelCard) -> str:
    from .html import render_html

    return render_html(card)


def _json(card: ModelCard) -> str:
    from ..atomic import dumps_json

    return dumps_json(card.to_dict())


RENDERERS: dict[str, tuple[str, Callable[[ModelCard], str]]] = {
    "markdown": ("model_card.md", _markdown),
    "html": ("model_card.html", _html),
    "json": ("model_card.json", _json),
}


def get_renderer(name: str) -> tuple[str, Callable[[ModelCard], str]]:
    try:
        return RENDERERS[name]
    except (KeyError, TypeError):
        raise CardError(f"no model card format named {name!r}; available: {', '.join(RENDERERS)}") from None


def write_card(card: ModelCard, output_dir: str | Path = DEFAULT_OUTPUT_DIR,
               formats: Iterable[str] = FORMATS) -> dict[str, Path]:
    """Render ``card`` in each format and write the files into ``output_dir``; returns ``{format: path}``."""
    from ..atomic import write_text

    chosen = [get_renderer(f) + (f,) for f in formats]  # unknown names fail before anything is written
    rendered = {fmt: (name, render(card)) for name, render, fmt in chosen}
    return {fmt: write_text(Path(output_dir) / name, content) for fmt, (name, content) in rendered.items()}


def make_card(model_dir: str | Path = DEFAULT_MODEL_DIR, *, output_dir: str | Path = DEFAULT_OUTPUT_DIR,
              formats: Iterable[str] = FORMATS, **kwargs: Any) -> dict[str, Path]:
    """:func:`~mlprod.card.assemble.build_card` then :func:`write_card`; ``kwargs`` go to ``build_card``."""
    from .assemble import build_card

    formats = list(formats)
    for name in formats:
        get_renderer(name)
    return write_card(build_card(model_dir, **kwargs), output_dir, formats)
