"""Inline SVG charts the model card needs beyond :mod:`mlprod.reporting.svg`: x/y curves on numeric axes
(ROC, precision-recall, calibration) and per-segment metric bars with the overall value and error bars.

Same conventions as the shared module: no scripts, every text escaped, aggregated values only
(curve points and segment metrics, never raw rows), a few kilobytes per chart.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

from ..reporting.svg import COLORS

BAD = "#b42318"
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="11"'


def _markup(svg: str):
    from markupsafe import Markup

    return Markup(svg)  # noqa: S704 - built here from escaped text and numbers only


def _n(value: float) -> str:
    return f"{value:.1f}"


def xy_chart(series: dict[str, Sequence[tuple[float, float]]], *, title: str, x_label: str, y_label: str,
             diagonal: bool = False, baseline: float | None = None, width: int = 320, height: int = 280):
    """Curves on [0, 1] x [0, 1]; ``diagonal`` draws y = x, ``baseline`` a horizontal reference line."""
    left, right, top, bottom = 42, 12, 24, 40
    pw, ph = width - left - right, height - top - bottom

    def xy(x: float, y: float) -> tuple[float, float]:
        return left + pw * min(max(x, 0.0), 1.0), top + ph * (1 - min(max(y, 0.0), 1.0))

    body = [f'<text x="{left}" y="14" font-weight="600">{escape(title)}</text>',
            f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>']
    for t in (0.25, 0.5, 0.75):
        x, y = xy(t, t)
        body.append(f'<line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{top + ph}" stroke="#eee"/>'
                    f'<line x1="{left}" y1="{_n(y)}" x2="{left + pw}" y2="{_n(y)}" stroke="#eee"/>')
    for t in (0.0, 0.5, 1.0):
        x, y = xy(t, t)
        body.append(f'<text x="{_n(x)}" y="{top + ph + 14}" text-anchor="middle">{t:g}</text>'
                    f'<text x="{left - 5}" y="{_n(y + 4)}" text-anchor="end">{t:g}</text>')
    body.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="#555">'
                f'{escape(x_label)}</text>'
                f'<text transform="translate(11 {top + ph / 2:.1f}) rotate(-90)" text-anchor="middle" fill="#555">'
                f'{escape(y_label)}</text>')
    if diagonal:
        (x0, y0), (x1, y1) = xy(0, 0), xy(1, 1)
        body.append(f'<line x1="{_n(x0)}" y1="{_n(y0)}" x2="{_n(x1)}" y2="{_n(y1)}" stroke="#999" '
                    'stroke-dasharray="4 3"/>')
    if baseline is not None:
        _, y = xy(0, baseline)
        body.append(f'<line x1="{left}" y1="{_n(y)}" x2="{left + pw}" y2="{_n(y)}" stroke="#999" '
                    f'stroke-dasharray="4 3"><title>{escape(f"baseline {baseline:.3f}")}</title></line>')
    for k, (name, points) in enumerate(series.items()):
        if not points:
            continue
        path = " ".join(f"{_n(x)},{_n(y)}" for x, y in (xy(a, b) for a, b in points))
        body.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[k % 4]}" stroke-width="1.8">'
                    f'<title>{escape(name)}</title></polyline>')
        if len(points) <= 20:
            for a, b in points:
                x, y = xy(a, b)
                body.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="2.6" fill="{COLORS[k % 4]}">'
                            f'<title>{escape(f"{name}: ({a:.3f}, {b:.3f})")}</title></circle>')
    return _markup(_svg(width, height, title, body))


def segment_chart(feature: str, rows: Sequence[tuple[str, float | None, float | None, bool, int]], *,
                  metric: str, overall: float | None, width: int = 440):
    """One bar per segment: ``(label, value, standard error, flagged, rows)``; flagged bars in red."""
    left, right, top, row = 130, 70, 26, 20
    height = top + row * len(rows) + 24
    pw = width - left - right
    values = [v for _, v, _, _, _ in rows if v is not None] + ([overall] if overall is not None else [])
    low = min([0.0] + values)
    high = max([1.0] + [v + (se or 0) for _, v, se, _, _ in rows if v is not None])

    def x(v: float) -> float:
        return left + pw * (v - low) / ((high - low) or 1)

    body = [f'<text x="4" y="14" font-weight="600">{escape(feature)}</text>']
    for i, (label, value, se, flagged, n) in enumerate(rows):
        y0 = top + i * row
        text = label if len(label) <= 20 else label[:19] + "…"
        body.append(f'<text x="{left - 6}" y="{y0 + 13}" text-anchor="end">{escape(text)}<title>{escape(label)}'
                    f'</title></text>')
        if value is None:
            body.append(f'<text x="{left + 4}" y="{y0 + 13}" fill="#888">undefined ({n:,} rows)</text>')
            continue
        color = BAD if flagged else COLORS[0]
        tip = f"{label}: {metric} {value:.3f}" + (f" ± {se:.3f}" if se is not None else "") + f", {n:,} rows"
        body.append(f'<rect x="{left}" y="{y0 + 3}" width="{_n(max(x(value) - left, 0.5))}" height="13" fill="{color}" '
                    f'fill-opacity="{0.85 if flagged else 0.6}"><title>{escape(tip)}</title></rect>')
        if se:
            a, b = x(max(value - se, low)), x(min(value + se, high))
            body.append(f'<line x1="{_n(a)}" y1="{y0 + 9.5}" x2="{_n(b)}" y2="{y0 + 9.5}" stroke="#333"/>')
        body.append(f'<text x="{_n(x(high) + 4)}" y="{y0 + 13}" fill="{BAD if flagged else "#444"}">{value:.3f}</text>')
    axis_y = top + row * len(rows)
    if overall is not None:
        ox = x(overall)
        body.append(f'<line x1="{_n(ox)}" y1="{top - 2}" x2="{_n(ox)}" y2="{axis_y + 2}" stroke="#333" '
                    f'stroke-dasharray="4 3"/><text x="{_n(ox)}" y="{top - 6}" text-anchor="middle" fill="#333">'
                    f'overall {overall:.3f}</text>')
    body.append(f'<text x="{left}" y="{axis_y + 16}" text-anchor="start" fill="#777">{low:g}</text>'
                f'<text x="{_n(x(high))}" y="{axis_y + 16}" text-anchor="end" fill="#777">{high:.3g}</text>')
    return _markup(_svg(width, height, f"{metric} by {feature}", body))


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    label = escape(title)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{label}" {_FONT}><title>{label}</title>' + "".join(body)
            + "</svg>")
