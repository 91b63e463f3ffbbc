"""Small inline SVG charts: no scripts, no network, every text escaped, a few kilobytes each.

Each function returns a ``markupsafe.Markup`` string ready to drop into a Jinja template.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2")
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="11"'


def _markup(svg: str):
    from markupsafe import Markup

    return Markup(svg)


def _num(value: float) -> str:
    return f"{value:.1f}"


def _tick(value: float) -> str:
    """Axis numbers: plain digits (with thousands separators) between 0.001 and a million."""
    size = abs(value)
    if size == 0:
        return "0"
    if not 1e-3 <= size < 1e6:
        return f"{value:.2e}"
    decimals = max(0, 2 - math.floor(math.log10(size)))
    return f"{value:,.{decimals}f}"


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    label = escape(title)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{label}" {_FONT}><title>{label}</title>'
            + "".join(body) + "</svg>")


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    out = []
    for i, name in enumerate(names):
        ox = x + i * 110
        out.append(f'<rect x="{_num(ox)}" y="{_num(y - 9)}" width="10" height="10" fill="{COLORS[i % 4]}" '
                   f'fill-opacity="0.75"/><text x="{_num(ox + 14)}" y="{_num(y)}">{escape(name)}</text>')
    return out


def histogram(edges: Sequence[float], series: dict[str, Sequence[float]], *, title: str = "",
              width: int = 420, height: int = 220, x_label: str = "", y_label: str = "share of rows",
              below: dict[str, float] | None = None, above: dict[str, float] | None = None):
    """Overlaid histograms (shares per bin) of several series on common ``edges``, with axis titles.

    ``below`` / ``above``: each series' share of values outside the edges, drawn as separate end bars labelled
    ``< first edge`` / ``> last edge`` when any is above zero, so the tails (often where drift is) are never cut
    silently."""
    tails = [(side, shares) for side, shares in (("below", below), ("above", above))
             if shares and any(v > 0 for v in shares.values())]
    left, right, top, bottom = 48, 10, 22, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(edges) - 1
    slot = plot_w / (n + 1.5 * len(tails))  # a tail bar is one bin wide, half a bin apart from the others
    x0 = left + (1.5 * slot if any(side == "below" for side, _ in tails) else 0)
    tail_values = [v for _, shares in tails for v in shares.values()]
    peak = max([max(v) for v in series.values() if len(v)] + tail_values + [1e-12])
    body = _legend(list(series), left, 12)
    base = top + plot_h
    body.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#999"/>')

    def bar(x: float, share: float, color: str, tip: str) -> str:
        h = plot_h * share / peak
        return (f'<rect x="{_num(x)}" y="{_num(base - h)}" width="{_num(slot)}" height="{_num(h)}" fill="{color}" '
                f'fill-opacity="0.45" stroke="{color}" stroke-width="0.6"><title>{escape(tip)}</title></rect>')

    for i, (name, values) in enumerate(series.items()):
        color = COLORS[i % 4]
        for j, share in enumerate(values[:n]):
            body.append(bar(x0 + slot * j, share, color,
                            f"{name}: {share:.1%} in [{_tick(edges[j])}, {_tick(edges[j + 1])})"))
        for side, shares in tails:
            x = left if side == "below" else x0 + slot * (n + 0.5)
            edge = _tick(edges[0] if side == "below" else edges[-1])
            tip = f"{name}: {shares.get(name, 0.0):.1%} {'below' if side == 'below' else 'above'} {edge}"
            body.append(bar(x, shares.get(name, 0.0), color, tip))
    axis_y = base + 14
    for j, anchor in ((0, "start"), (n // 2, "middle"), (n, "end")):
        x = x0 + slot * j
        body.append(f'<text x="{_num(x)}" y="{axis_y}" text-anchor="{anchor}">{escape(_tick(edges[j]))}</text>')
    for side, _ in tails:
        x = left + slot / 2 if side == "below" else x0 + slot * (n + 1)
        label = f"< {_tick(edges[0])}" if side == "below" else f"> {_tick(edges[-1])}"
        body.append(f'<text x="{_num(x)}" y="{axis_y + 12}" text-anchor="{"start" if side == "below" else "end"}" '
                    f'fill="#555">{escape(label)}</text>')
    body += _axis_titles(x_label, y_label, left + plot_w / 2, height - 4, top + plot_h / 2)
    body.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{peak:.0%}</text>')
    body.append(f'<text x="{left - 4}" y="{base}" text-anchor="end">0%</text>')
    return _markup(_frame(width, height, title, body))


def _axis_titles(x_label: str, y_label: str, x_mid: float, x_baseline: float, y_mid: float) -> list[str]:
    """Axis titles: ``x_label`` centred under the plot, ``y_label`` rotated beside it (either may be empty)."""
    out = []
    if x_label:
        out.append(f'<text x="{_num(x_mid)}" y="{_num(x_baseline)}" text-anchor="middle" fill="#555">'
                   f'{escape(x_label)}</text>')
    if y_label:
        out.append(f'<text transform="translate(11 {_num(y_mid)}) rotate(-90)" text-anchor="middle" fill="#555">'
                   f'{escape(y_label)}</text>')
    return out


def grouped_bars(labels: Sequence[str], series: dict[str, Sequence[float]], *, title: str = "",
                 width: int = 420, percent: bool = True, x_label: str = "", y_label: str = ""):
    """Horizontal grouped bars, one group per label (e.g. category shares); ``x_label`` names the bars' measure
    (below them), ``y_label`` the labels (rotated beside them)."""
    left, right, top, row = 120 + (14 if y_label else 0), 56, 22, 10 * max(len(series), 1) + 8
    height = top + row * len(labels) + 8 + (16 if x_label else 0)
    plot_w = width - left - right
    peak = max([max(v) for v in series.values() if len(v)] + [1e-12])
    body = _legend(list(series), left, 12)
    for i, label in enumerate(labels):
        y0 = top + i * row
        text = label if len(label) <= 18 else label[:17] + "…"
        body.append(f'<text x="{left - 6}" y="{_num(y0 + row / 2 + 2)}" text-anchor="end">{escape(text)}'
                    f'<title>{escape(label)}</title></text>')
        for k, (name, values) in enumerate(series.items()):
            value = values[i]
            w = plot_w * max(value, 0) / peak
            shown = f"{value:.1%}" if percent else _tick(value)
            body.append(f'<rect x="{left}" y="{_num(y0 + k * 10)}" width="{_num(w)}" height="9" '
                        f'fill="{COLORS[k % 4]}" fill-opacity="0.75"><title>{escape(name)}: {shown}</title></rect>'
                        f'<text x="{_num(left + w + 3)}" y="{_num(y0 + k * 10 + 8)}" fill="#555">{shown}</text>')
    body += _axis_titles(x_label, y_label, left + plot_w / 2, height - 4, top + row * len(labels) / 2)
    return _markup(_frame(width, height, title, body))


def lines(x_labels: Sequence[str], series: dict[str, Sequence[float | None]], *, title: str = "",
          guides: dict[str, float] | None = None, width: int = 640, height: int = 220):
    """Line chart over ordered points; ``guides`` are labelled horizontal reference lines."""
    left, right, top, bottom = 44, 110, 22, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s if v is not None] + list((guides or {}).values())
    if not values:
        return _markup(_frame(width, height, title, ['<text x="10" y="40">no data</text>']))
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or 0.05
    low, high = low - pad, high + pad
    n = max(len(x_labels), 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        return x, top + plot_h * (high - v) / (high - low)

    body = _legend(list(series), left, 12)
    body.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ddd"/>')
    for name, level in (guides or {}).items():
        _, y = xy(0, level)
        body.append(f'<line x1="{left}" y1="{_num(y)}" x2="{left + plot_w}" y2="{_num(y)}" stroke="#888" '
                    f'stroke-dasharray="4 3"/><text x="{left + plot_w + 4}" y="{_num(y + 4)}" fill="#555">'
                    f'{escape(name)} {_tick(level)}</text>')
    for k, (name, points) in enumerate(series.items()):
        path = " ".join(f"{_num(x)},{_num(y)}" for x, y in (xy(i, v) for i, v in enumerate(points) if v is not None))
        body.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[k % 4]}" stroke-width="1.6"/>')
        for i, v in enumerate(points):
            if v is not None:
                x, y = xy(i, v)
                body.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="2.2" fill="{COLORS[k % 4]}">'
                            f'<title>{escape(x_labels[i])}: {escape(name)} {_tick(v)}</title></circle>')
    for i in sorted({0, n - 1}):
        x, _ = xy(i, low)
        anchor = "start" if i == 0 else "end"
        body.append(f'<text x="{_num(x)}" y="{height - 10}" text-anchor="{anchor}">{escape(x_labels[i])}</text>')
    for v in (low + pad, high - pad):
        _, y = xy(0, v)
        body.append(f'<text x="{left - 4}" y="{_num(y + 4)}" text-anchor="end">{_tick(v)}</text>')
    return _markup(_frame(width, height, title, body))


def timeline(x_labels: Sequence[str], series: dict[str, Sequence[float | None]], *, title: str = "",
             threshold: Sequence[float | None] | None = None, alerts: Sequence[bool] | None = None,
             marks: Sequence[tuple[int, str]] = (), width: int = 480, height: int = 200,
             threshold_label: str = "alert at", mirror_threshold: bool = False):
    """Values over ordered windows: ``threshold`` per window (dashed line, ``threshold_label`` in the legend,
    e.g. "alert below"; ``mirror_threshold`` draws it at minus the threshold too, for an alert outside a band
    around 0), ``alerts`` marks the
    first series' points in alert (red ring), ``marks`` are labelled vertical lines before a window (e.g. a
    new model version). Text is 12px so a viewBox scaled down to a phone's width stays legible."""
    left, right, top, bottom = 46, 14, 34, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    guide = list(threshold or [])
    guides = [guide, [None if v is None else -v for v in guide]] if mirror_threshold else [guide]
    values = [v for s in series.values() for v in s if v is not None] + [v for g in guides for v in g if v is not None]
    if not values:
        return _markup(_frame(width, height, title, ['<text x="10" y="40">no data</text>']))
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.1 or 0.05
    low, high = low - pad, high + pad
    n = max(len(x_labels), 1)

    def x_of(i: float) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    names = list(series) + ([threshold_label] if any(v is not None for v in guide) else [])
    body = ['<g font-size="12">']
    ox = float(left)
    for i, name in enumerate(names):
        if i:
            ox += max(70, 7 * len(names[i - 1]) + 30)
        if i == len(series):  # the threshold line's legend
            body.append(f'<line x1="{_num(ox)}" y1="10" x2="{_num(ox + 14)}" y2="10" stroke="#b42318" '
                        f'stroke-dasharray="4 3" stroke-width="1.5"/><text x="{_num(ox + 18)}" y="14">'
                        f'{escape(name)}</text>')
        else:
            body.append(f'<rect x="{_num(ox)}" y="5" width="10" height="10" fill="{COLORS[i % 4]}"/>'
                        f'<text x="{_num(ox + 14)}" y="14">{escape(name)}</text>')
    body.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ddd"/>')
    for i, label in marks:
        x = x_of(i - 0.5) if 0 < i < n else x_of(i)
        body.append(f'<line x1="{_num(x)}" y1="{top - 4}" x2="{_num(x)}" y2="{top + plot_h}" stroke="#6e40c9" '
                    f'stroke-dasharray="2 2"/><text x="{_num(x + 3)}" y="{top - 6}" fill="#6e40c9">'
                    f'{escape(label)}</text>')
    for line in guides if guide else ():
        segments, run = [], []
        for i, v in enumerate(line):
            if v is None:
                segments, run = segments + [run], []
            else:
                run.append((i, v))
        for run in segments + [run]:
            if len(run) == 1:
                run = [(run[0][0] - 0.3, run[0][1]), (run[0][0] + 0.3, run[0][1])]
            if run:
                path = " ".join(f"{_num(x_of(i))},{_num(y_of(v))}" for i, v in run)
                body.append(f'<polyline points="{path}" fill="none" stroke="#b42318" stroke-width="1.2" '
                            f'stroke-dasharray="4 3"/>')
    for k, (name, points) in enumerate(series.items()):
        color = COLORS[k % 4]
        path = " ".join(f"{_num(x_of(i))},{_num(y_of(v))}" for i, v in enumerate(points) if v is not None)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.8"/>')
        for i, v in enumerate(points):
            if v is None:
                continue
            alert = k == 0 and alerts is not None and alerts[i]
            ring = ' stroke="#b42318" stroke-width="2.5"' if alert else ""
            body.append(f'<circle cx="{_num(x_of(i))}" cy="{_num(y_of(v))}" r="{4 if alert else 2.5}" '
                        f'fill="{"#fff" if alert else color}"{ring}><title>{escape(x_labels[i])}: {escape(name)} '
                        f'{_tick(v)}{" (alert)" if alert else ""}</title></circle>')
    shown = sorted({0, n - 1} | ({(n - 1) // 2} if n > 4 else set()))
    for i in shown:
        anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
        body.append(f'<text x="{_num(x_of(i))}" y="{height - 6}" text-anchor="{anchor}">{escape(x_labels[i])}</text>')
    for v in (low + pad, high - pad) if high - low > 2 * pad * 1.0001 else (low + pad,):
        body.append(f'<text x="{left - 4}" y="{_num(y_of(v) + 4)}" text-anchor="end">{_tick(v)}</text>')
    body.append("</g>")
    return _markup(_frame(width, height, title, body))
