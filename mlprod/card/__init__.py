"""Model cards: assembled from what the pipeline recorded and measured, rendered as Markdown and HTML.

Python API (the same as ``mlprod card DIR``)::

    from mlprod.card import make_card
    paths = make_card("models/model", output_dir="reports/model_card")   # build, render, write

    from mlprod.card import build_card, render_markdown, render_html
    card = build_card("models/model", drift_file=None)    # a ModelCard value; inputs default to the example project
    text = render_markdown(card)

Modules: :mod:`.assemble` (build the value from :mod:`.sources`), :mod:`.schema` (the value), :mod:`.info`
(``card:`` params and settings), :mod:`.metrics`, :mod:`.slices`, :mod:`.probes`, :mod:`.curves`,
:mod:`.compare`, :mod:`.decision`, :mod:`.fallback`, :mod:`.monitoring`, :mod:`.recommend` (the measured and
derived sections), :mod:`.text`, :mod:`.markdown`, :mod:`.html`, :mod:`.plots` (rendering), :mod:`.render` (renderer
registry, writing files). Names are imported lazily: ``import mlprod.card`` imports nothing heavy. Details:
docs/model_card.md.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "build_card": "mlprod.card.assemble",
    "CardInputs": "mlprod.card.sources",
    "CardInfo": "mlprod.card.info",
    "CardSettings": "mlprod.card.info",
    "parse_card_info": "mlprod.card.info",
    "parse_settings": "mlprod.card.info",
    "load_card_info": "mlprod.card.info",
    "ModelCard": "mlprod.card.schema",
    "render_markdown": "mlprod.card.markdown",
    "render_html": "mlprod.card.html",
    "get_renderer": "mlprod.card.render",
    "write_card": "mlprod.card.render",
    "make_card": "mlprod.card.render",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
