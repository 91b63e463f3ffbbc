r"""Markdown that shows user text as written and can carry no live markup: escaping, links defused unless their
scheme is http, https, mailto or none (relative), table cells and code spans. Used by the model card and the
monitoring runbook.

User-provided text is escaped (``<``, ``>`` and ``&`` as entities, backslashes and backticks with a
backslash, ``|`` and line breaks in table cells; names in code spans get a fence longer than any backticks
they hold), so nothing in params.yaml or a data file can inject markup into a Markdown viewer. Any other link
scheme (``javascript:``, ``data:``, ...) is defused (``](`` becomes ``]\(``, a ``[label]:`` definition gets
``\[``), so it shows as text, as in the HTML card.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

SAFE_SCHEMES = ("http", "https", "mailto")
_INLINE_LINK = re.compile(r"\]\(")  # [text](destination) and ![alt](destination)
_DEFINITION = re.compile(r"^( {0,3})\[([^\]\n]*)\]:", re.MULTILINE)  # [label]: destination
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_IGNORED = re.compile(r"[\x00-\x20\x7f\\<]+")  # what a browser drops from a URL (and Markdown's <...>)


def esc(text: Any) -> str:
    """Text shown as written: entities for ``& < >``, a backslash before ``\\`` and a backtick (so a name such as
    ``back\\slash`` keeps its backslash and quoted rule text does not turn into code), links defused."""
    escaped = (str(text).replace("\\", "\\\\").replace("`", "\\`")
               .replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    return defuse_links(escaped) if "]" in escaped else escaped


def safe_url(destination: str) -> bool:
    """A link destination that may stay live: http, https, mailto, or relative (no scheme)."""
    found = _SCHEME.match(_IGNORED.sub("", destination[:256].replace("&lt;", "")))
    return found is None or found.group(1).lower() in SAFE_SCHEMES


def defuse_links(text: str) -> str:
    """Break every Markdown link (inline, image, reference definition) whose destination is not safe."""
    text = _INLINE_LINK.sub(lambda m: "](" if safe_url(m.string[m.end():]) else "]\\(", text)
    return _DEFINITION.sub(lambda m: m.group(0) if safe_url(m.string[m.end():].split("\n", 1)[0])
                           else f"{m.group(1)}\\[{m.group(2)}]:", text)


def cell(text: Any) -> str:
    return " ".join(esc(text).replace("|", "\\|").split())


def code(text: Any) -> str:
    """``text`` as a code span, shown literally: a fence longer than any run of backticks inside it."""
    text = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def code_cell(text: Any) -> str:
    """A code span inside a table cell: ``|`` escaped, which GitHub-flavoured tables undo inside code spans too."""
    return code(text).replace("|", "\\|")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> list[str]:
    """``align``: one letter per column, ``l`` or ``r`` (default left)."""
    marks = ["---:" if (align[i:i + 1] == "r") else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return lines
