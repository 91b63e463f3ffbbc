"""Shared HTML rendering for reports people read (drift reports, model cards).

``render(templates, name, **context)`` renders a Jinja template that extends ``base.html`` (inline
CSS, no scripts, autoescaped: every user-provided string is escaped); filters ``fmt`` (numbers) and
``pct`` (shares). :mod:`mlprod.reporting.svg` draws small inline SVG charts (``histogram``,
``grouped_bars``, ``lines``) that need no network and embed only aggregated values.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "render": "mlprod.reporting.page",
    "environment": "mlprod.reporting.page",
    "BASE": "mlprod.reporting.page",
    "about_line": "mlprod.reporting.page",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
