"""Reading a notebook and the parameters it declares, without starting a kernel.

The ``parameters`` cell (papermill's convention) is parsed with :mod:`ast`: each top-level
assignment of a literal declares a parameter whose type is its annotation, or else the type of its
default value. Other statements in the cell (imports, calls) are allowed and ignored.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotebookError
from .types import TypeSpec, spec_from_annotation, spec_from_value

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


@dataclass(frozen=True)
class Parameter:
    """One parameter declared in the parameters cell."""

    name: str
    default: Any
    type: TypeSpec
    line: int
    has_literal_default: bool = True


@dataclass(frozen=True)
class NotebookInfo:
    """What mlprod needs to know about a notebook before running it."""

    path: Path
    sha256: str
    language: str
    cell_ids: tuple[str, ...]
    parameters_cell: int | None = None  # 0-based index in the source notebook
    parameters: dict[str, Parameter] = field(default_factory=dict)
    injected_cell: int | None = None  # a cell tagged 'injected-parameters' left by an earlier papermill run

    def cell_label(self, index: int) -> str:
        """Human label for a source cell: its 1-based number and its id."""
        if not self.cell_ids:  # a cell run on its own (JupyterLab): its position is unknown
            return "the parameters cell"
        cell_id = self.cell_ids[index] if index < len(self.cell_ids) else ""
        return f"cell {index + 1}" + (f" (id {cell_id!r})" if cell_id else "")


def read_notebook(path: str | Path) -> NotebookInfo:
    """Read ``path`` and describe its parameters; raises :class:`NotebookError` on a bad notebook."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotebookError(f"{path}: notebook not found") from exc
    except OSError as exc:
        raise NotebookError(f"{path}: cannot read notebook: {exc}") from exc
    try:
        nb = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotebookError(f"{path}: not a valid .ipynb file (invalid JSON: {exc}); "
                            "re-save it from JupyterLab") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path}: not a Jupyter notebook (no 'cells' list); re-save it from JupyterLab")
    if nb.get("nbformat") != 4:
        raise NotebookError(f"{path}: notebook format {nb.get('nbformat')!r} is not supported; "
                            "expected format 4 (re-save it from JupyterLab)")

    language = _language(nb)
    if language != "python":
        raise NotebookError(f"{path}: notebook language is {language!r}; mlprod runs Python notebooks only")

    cells = nb["cells"]
    cell_ids = tuple(str(c.get("id", "")) for c in cells)
    tagged = [i for i, c in enumerate(cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(tagged) > 1:
        labels = ", ".join(f"cell {i + 1}" for i in tagged)
        raise NotebookError(f"{path}: {len(tagged)} cells are tagged 'parameters' ({labels}); "
                            "keep the tag on exactly one cell")
    injected = next((i for i, c in enumerate(cells) if INJECTED_TAG in c.get("metadata", {}).get("tags", [])), None)
    info = NotebookInfo(path=path, sha256=hashlib.sha256(raw).hexdigest(), language=language, cell_ids=cell_ids,
                        injected_cell=injected)
    if not tagged:
        return info
    index = tagged[0]
    cell = cells[index]
    if cell.get("cell_type") != "code":
        raise NotebookError(f"{path}: {info.cell_label(index)} is tagged 'parameters' but is not a code cell")
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    params = parse_parameters(source, where=f"{path}: {info.cell_label(index)} (parameters)")
    return NotebookInfo(path=path, sha256=info.sha256, language=language, cell_ids=cell_ids,
                        parameters_cell=index, parameters=params, injected_cell=injected)


def parse_parameters(source: str, *, where: str = "parameters cell") -> dict[str, Parameter]:
    """Parameters declared by top-level assignments in ``source``."""
    # IPython magics and shell escapes are not Python; blank them out so line numbers stay put.
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as exc:
        raise NotebookError(f"{where}: line {exc.lineno}: invalid Python syntax: {exc.msg}") from exc
    params: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, value_node, annotation = node.target.id, node.value, node.annotation
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value_node, annotation = node.targets[0].id, node.value, None
        else:
            continue
        literal, default = _literal(value_node)
        if annotation is not None:
            spec = spec_from_annotation(annotation, where=f"{where}: line {node.lineno}: parameter {name!r}")
        else:
            spec = spec_from_value(default) if literal else TypeSpec("any")
        params[name] = Parameter(name=name, default=default, type=spec, line=node.lineno,
                                 has_literal_default=literal)
    return params


def _literal(node: ast.expr | None) -> tuple[bool, Any]:
    if node is None:
        return False, None
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _language(nb: dict) -> str:
    meta = nb.get("metadata") or {}
    lang = (meta.get("kernelspec") or {}).get("language") or (meta.get("language_info") or {}).get("name")
    return str(lang or "python").lower()
