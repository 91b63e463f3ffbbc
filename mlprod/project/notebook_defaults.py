"""A stage notebook's ``parameters`` cell with the project's own values as its defaults.

``mlprod init`` copies mlprod's stage notebooks into a project. Their defaults are the demo's values;
under ``mlprod run`` and ``init_stage`` they are replaced anyway, but they are what a reader sees in
the notebook and in every executed copy. So the copies get the values the stage runs with (the
project's facts and the stage's section), written as Python literals in place of the old ones, with
the annotations and comments around them kept.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Mapping


def with_defaults(notebook: bytes, values: Mapping[str, Any]) -> bytes:
    """``notebook`` (ipynb JSON) with each ``name = ...`` of its parameters cell set to ``values[name]``."""
    data = json.loads(notebook)
    for cell in data.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in (cell.get("metadata", {}).get("tags") or []):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            cell["source"] = _split(_replace(source, values))
            break
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _replace(source: str, values: Mapping[str, Any]) -> str:
    lines = source.splitlines(keepends=True)
    edits = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name = node.target.id
        else:
            continue
        if name in values and _literal(values[name]):
            edits.append((node.value, repr(values[name])))
    for value, text in sorted(edits, key=lambda e: (e[0].lineno, e[0].col_offset), reverse=True):
        start, end = value.lineno - 1, value.end_lineno - 1
        head, tail = lines[start][: _offset(lines[start], value.col_offset)], \
            lines[end][_offset(lines[end], value.end_col_offset):]
        lines[start:end + 1] = [head + text + tail]
    return "".join(lines)


def _offset(line: str, byte_offset: int) -> int:
    """ast's column offsets count UTF-8 bytes; the string index of that position."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8"))


def _literal(value: Any) -> bool:
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError):
        return False


def _split(source: str) -> list[str]:
    return source.splitlines(keepends=True)


def stage_defaults(notebook: Path, stage: str, params_file: Path) -> dict[str, Any]:
    """The values ``stage`` runs with from ``params_file``: its facts and its section (checked as mlprod run does)."""
    from ..stages.notebook import read_notebook
    from ..stages.params import resolve_params

    return resolve_params(read_notebook(notebook), stage, params_file).values
