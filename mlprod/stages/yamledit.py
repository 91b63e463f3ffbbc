"""Setting values in a YAML text with every other byte kept: comments, key order, quoting, line breaks.

ruamel.yaml's round-trip parser gives each value's exact span in the text and its style (plain, quoted,
flow or block); only that span is replaced, rendered in the same style. A full round-trip dump would also
re-wrap long flow lists elsewhere in the file, so the text is spliced instead of dumped. The caller reads the
result back with the safe loader and compares it with what it meant to write (:func:`set_values` does).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any, Mapping

import yaml

from .. import yamlio
from ..errors import ConfigError
from .paramdiff import same_value


def set_values(text: str, edits: Mapping[tuple[str, str], Any], *, source: str) -> str:
    """``text`` with ``section.key`` set to each value of ``edits`` (``{(section, key): value}``).

    A key missing from its section is appended to the section. Raises :class:`ConfigError` when the section is
    missing or not a block mapping, or when the edited text would not read back as intended.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.nodes import MappingNode

    try:
        root = YAML().compose(text)
    except YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
    if not isinstance(root, MappingNode):
        raise ConfigError(f"{source}: expected a mapping of sections (e.g. 'train:'); fix the file first")
    splices: list[tuple[int, int, str]] = []
    for (section, key), value in edits.items():
        node = _value_node(root, section)
        if not isinstance(node, MappingNode):
            raise ConfigError(f"{source}: section {section!r} is missing or not a mapping; add '{section}:' with "
                              f"'{key}: ...' by hand")
        splices.append(_splice(text, node, key, value, source=source))
    for start, end, new in sorted(splices, reverse=True):
        end, new = _keep_comment_column(text, start, end, new)
        text = text[:start] + new + text[end:]
    return text


def _keep_comment_column(text: str, start: int, end: int, new: str) -> tuple[int, str]:
    """Widen the span over the spaces before a comment on the same line and re-pad them, so the comment stays in
    its column when the value's length changes (at least one space is kept)."""
    if "\n" in text[start:end] or "\n" in new:
        return end, new
    gap = end
    while gap < len(text) and text[gap] == " ":
        gap += 1
    if gap == end or gap >= len(text) or text[gap] != "#":
        return end, new
    spaces = max(1, (gap - start) - len(new))
    return gap, new + " " * spaces


def check_edited(before: Any, after_text: str, edits: Mapping[tuple[str, str], Any], *, source: str) -> Any:
    """Read ``after_text`` (safe loader) and check it equals ``before`` with ``edits`` applied; returns it."""
    expected = copy.deepcopy(before)
    for (section, key), value in edits.items():
        expected[section][key] = value
    after = yamlio.loads(after_text, source=source)
    if not same_value(after, expected):
        raise ConfigError(f"{source}: the edited file would not read back as intended ({dict(edits)!r}); nothing "
                          "was written. Edit params.yaml by hand")
    return after


def render(value: Any, *, flow: bool = True, style: str | None = None) -> str:
    """``value`` as YAML text that PyYAML's safe loader reads back as the same value (flow style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        return text if not e or "." in mantissa else f"{mantissa}.0e{exponent}"  # 1e-05 reads back as a string
    if isinstance(value, str):
        return _string(value, flow=flow, style=style)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render(str(k))}: {render(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write a {type(value).__name__} to params.yaml: {value!r}")


def _string(value: str, *, flow: bool, style: str | None) -> str:
    single = "'" + value.replace("'", "''") + "'"
    if style == "'" and "\n" not in value:
        return single
    if style != '"' and "\n" not in value and value == value.strip() and value:
        probe = f"[{value}]" if flow else value
        try:
            if yaml.safe_load(probe) == ([value] if flow else value) and not value.startswith(("'", '"')):
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


def _value_node(mapping: Any, key: str) -> Any:
    for key_node, value_node in mapping.value:
        if getattr(key_node, "value", None) == key:
            return value_node
    return None


def _end(node: Any) -> int:
    """Where a value's own text ends: for a block collection, the end of its last item (not the comments after)."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    if isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        return _end(last[1] if isinstance(node, MappingNode) else last)
    if getattr(node, "style", None) in ("|", ">"):
        return node.end_mark.index - (1 if node.end_mark.index and node.end_mark.buffer[node.end_mark.index - 1]
                                      == "\n" else 0)
    return node.end_mark.index


def _splice(text: str, section: Any, key: str, value: Any, *, source: str) -> tuple[int, int, str]:
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    in_flow = bool(section.flow_style)
    for key_node, node in section.value:
        if getattr(key_node, "value", None) != key:
            continue
        if isinstance(node, ScalarNode) and node.value == "" and node.style is None:  # `key:` with nothing after
            colon = text.index(":", key_node.end_mark.index)
            return colon + 1, colon + 1, " " + render(value, flow=in_flow)
        start = node.start_mark.index
        if isinstance(node, SequenceNode) and not node.flow_style and not in_flow and isinstance(value, list) \
                and value and not any(isinstance(v, (list, dict)) for v in value):
            pad = "\n" + " " * node.start_mark.column
            return start, _end(node), pad.join(f"- {render(v)}" for v in value)
        style = node.style if isinstance(node, ScalarNode) else None
        new = render(value, flow=in_flow or not isinstance(node, ScalarNode), style=style)
        if isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style or style in ("|", ">"):
            return start, _end(node), new
        return start, node.end_mark.index, new
    if in_flow or not section.value:
        raise ConfigError(f"{source}: cannot add {key!r} to a section written in flow style or empty; add "
                          f"'{key}: {render(value)}' to it by hand")
    last = section.value[-1][1]
    line_end = text.find("\n", _end(last))
    line_end = len(text) if line_end < 0 else line_end
    indent = " " * section.value[0][0].start_mark.column
    return line_end, line_end, f"\n{indent}{key}: {render(value, flow=False)}"
