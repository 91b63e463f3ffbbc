"""Self-contained HTML pages from Jinja templates: autoescaped, inline CSS, no scripts, no network.

A report template extends ``base.html`` and fills the ``content`` block (``title`` and ``subtitle``
come from the context; an optional ``style`` block adds CSS rules of its own); :func:`render` takes the report's own templates by name.
Every report names what it is about under its title: pass ``about=about_line(model, version, generated)`` (the model,
its version and the date the report stands for, taken from recorded values so that the page stays byte-identical
for the same inputs).

Narrow screens (phones, up to 600 px): a ``<table class="stack">`` with its header row in ``<thead>`` and a
``data-label`` on each cell becomes one card per row (the first cell its title), each figure on its own line next to
its column's name, so no figure needs sideways scrolling (a cell of running text, ``<td class="text">``, goes below
its column's name instead); its ``<caption>``, if any, is shown only then (to say what
the header row said). Other tables keep their columns (wrap them in ``<div class="scroll">``, which scrolls inside itself, never the page);
inline SVG charts shrink to the screen width and long code (hashes, paths) wraps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BASE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
:root { --ink: #1f2328; --muted: #59636e; --line: #d8dee4; --bg: #f6f8fa; --bad: #b42318; --bad-bg: #fef3f2;
        --good: #1a7f37; --good-bg: #eefbf1; --warn: #9a6700; --warn-bg: #fff8e5; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); } h3 { font-size: 15px; margin: 16px 0 4px; }
.subtitle, .muted { color: var(--muted); } .small { font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; } td.num, th.num { text-align: right; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  white-space: nowrap; }
.badge.bad { color: var(--bad); background: var(--bad-bg); } .badge.good { color: var(--good); background: var(--good-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); } .badge.na { color: var(--muted); background: var(--bg); }
.callout { border-radius: 8px; padding: 12px 16px; margin: 16px 0; border: 1px solid var(--line); }
.callout.bad { background: var(--bad-bg); border-color: #fda29b; } .callout.good { background: var(--good-bg); border-color: #abefc6; }
.callout.warn { background: var(--warn-bg); border-color: #f5d90a80; }
.callout h2 { border: 0; margin: 0 0 4px; padding: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; } .card .value { font-size: 20px; font-weight: 600; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 8px 24px; }
figure { margin: 8px 0; } figcaption { font-weight: 600; margin-bottom: 2px; }
details summary { cursor: pointer; color: var(--muted); } code, pre { font-size: 12px; background: var(--bg); }
pre { padding: 8px; overflow-x: auto; } code { overflow-wrap: anywhere; }
a { color: #0969da; } .wrap { overflow-wrap: anywhere; } svg { max-width: 100%; height: auto; } .scroll { overflow-x: auto; max-width: 100%; }
.about { color: var(--muted); font-size: 13px; margin-top: 2px; } .about strong { color: var(--ink); font-weight: 600; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
table.stack caption { display: none; }
@media (max-width: 600px) {
  main { padding: 16px 12px 32px; } h1 { font-size: 20px; } .grid2 { grid-template-columns: 1fr; }
  .grid2 > * { min-width: 0; } th, td { padding: 4px 5px; overflow-wrap: break-word; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
  table.stack thead { display: none; }
  table.stack caption { display: block; text-align: left; font-weight: 600; margin: 12px 0 0; }
  table.stack tr { border: 1px solid var(--line); border-radius: 8px; margin: 8px 0; padding: 4px 10px; }
  table.stack td { border: 0; padding: 2px 0; display: flex; justify-content: space-between; gap: 12px;
    text-align: right; white-space: normal; }
  table.stack td::before { content: attr(data-label); color: var(--muted); text-align: left; flex: none; }
  table.stack td.text { display: block; text-align: left; }
  table.stack td.text::before { display: block; }
  table.stack td:first-child { display: block; text-align: left; font-weight: 600; padding: 4px 0; }
  table.stack td:first-child::before { content: none; }
}
{% block style %}{% endblock %}
</style>
</head>
<body><main>
<header><h1>{{ title }}</h1>{% if subtitle %}<div class="subtitle">{{ subtitle }}</div>{% endif %}
{% if about is defined and about %}<div class="about">{{ about }}</div>{% endif %}</header>
{% block content %}{% endblock %}
<footer>{% block footer %}Generated by mlprod. Self-contained page: no scripts, no external resources.{% endblock %}</footer>
</main></body>
</html>
"""


def format_number(value: Any, digits: int = 3) -> str:
    """Numbers for people: ``n/a`` for missing, 3 significant digits, tiny p-values in e-notation."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.1e}"
        return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


# The same components for a fragment shown inside another page (a notebook output), where BASE's rules are absent:
# scoped to the fragment's own class so they cannot restyle the notebook around it.
_SCOPED = """{s} {{ font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; }}
{s} table {{ border-collapse: collapse; width: 100%; margin: 8px 0; font-variant-numeric: tabular-nums; }}
{s} th, {s} td {{ text-align: left; padding: 5px 8px; border: 0; border-bottom: 1px solid #d8dee4;
  vertical-align: top; background: transparent; }}
{s} th {{ background: #f6f8fa; font-weight: 600; }} {s} td.num, {s} th.num {{ text-align: right; }}
{s} .badge {{ display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }}
{s} .badge.bad {{ color: #b42318; background: #fef3f2; }} {s} .badge.good {{ color: #1a7f37; background: #eefbf1; }}
{s} .badge.warn {{ color: #9a6700; background: #fff8e5; }} {s} .badge.na {{ color: #59636e; background: #f6f8fa; }}
{s} .callout {{ border-radius: 8px; padding: 12px 16px; margin: 16px 0; border: 1px solid #d8dee4; }}
{s} .callout.bad {{ background: #fef3f2; border-color: #fda29b; }}
{s} .callout.good {{ background: #eefbf1; border-color: #abefc6; }}
{s} .callout.warn {{ background: #fff8e5; border-color: #f5d90a80; }}
{s} .muted {{ color: #59636e; }} {s} .small {{ font-size: 12px; }} {s} a {{ color: #0969da; }}
{s} code {{ font-size: 12px; background: #f6f8fa; overflow-wrap: anywhere; }}
{s} details summary {{ cursor: pointer; color: #59636e; }}"""


def scoped_style(scope: str) -> Any:
    """``<style>`` with the shared badge, callout, table and link rules, each under the CSS selector ``scope``."""
    from markupsafe import Markup

    return Markup("<style>" + _SCOPED.format(s=scope) + "</style>")


def about_line(model: str | None = None, version: str | None = None, generated: str | None = None,
               what: str = "generated", no_version: str = "no version yet") -> Any:
    """``Model <strong>lead-scoring 1.1.0</strong> · generated 2026-11-23`` (escaped; parts that are None are left out).

    ``generated`` is a date or timestamp the caller took from a recorded value (data, manifest, run record), so the
    page is the same for the same inputs; only its date part (first 10 characters) is shown."""
    from markupsafe import Markup, escape

    parts = []
    if model or version:
        name = " ".join(str(x) for x in (model, version) if x)
        shown = Markup("Model <strong>{}</strong>").format(name)
        parts.append(shown if version else shown + f" ({no_version})")
    if generated:
        parts.append(escape(f"{what} {str(generated)[:10]}"))
    return Markup(" · ").join(parts)


def format_share(value: Any) -> str:
    return "n/a" if value is None else f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


def environment(templates: Mapping[str, str]):
    """A Jinja environment with autoescaping, ``base.html`` and the given templates."""
    from jinja2 import DictLoader, Environment, StrictUndefined

    env = Environment(loader=DictLoader({"base.html": BASE, **templates}), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = format_number
    env.filters["pct"] = format_share
    env.globals["scoped_style"] = scoped_style
    return env


def render(templates: Mapping[str, str], name: str, **context: Any) -> str:
    """Render template ``name`` (which usually extends ``base.html``) with ``context``."""
    return environment(templates).get_template(name).render(**context)
