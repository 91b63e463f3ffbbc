from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
import pytest
from conftest import NOTEBOOKS
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mlprod.errors import NotebookError
from mlprod.stages.notebook import parse_parameters, read_notebook


def write_notebook(path: Path, *cells, language: str = "python") -> Path:
    """Cells are source strings; a ``("parameters", src)`` tuple is tagged, ``("md", src)`` is markdown."""
    nb = new_notebook(metadata={"kernelspec": {"name": "x", "display_name": "x", "language": language}})
    for i, cell in enumerate(cells):
        kind, src = cell if isinstance(cell, tuple) else ("code", cell)
        if kind == "md":
            new = new_markdown_cell(src)
        else:
            new = new_code_cell(src, metadata={"tags": [kind]} if kind != "code" else {})
        new.id = f"c{i + 1}"
        nb.cells.append(new)
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


def test_fixture_notebook_is_described_without_a_kernel() -> None:
    path = NOTEBOOKS / "params_simple.ipynb"
    info = read_notebook(path)
    assert info.path == path
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.language == "python"
    assert info.cell_ids == ("params-simple-1", "params-simple-2", "params-simple-3", "params-simple-4")
    assert info.parameters_cell == 2  # 0-based: the markdown and the marker cell come first
    assert {name: str(p.type) for name, p in info.parameters.items()} == {
        "alpha": "float", "epochs": "int", "name": "str", "features": "list[str]", "weights": "dict[str, float]",
        "limit": "int | None", "threshold": "float | None", "verbose": "bool"}
    assert info.parameters["alpha"].default == 0.5
    assert info.parameters["alpha"].line == 3  # line 1 is the import, line 2 blank
    assert info.parameters["features"].default == ["a", "b"]
    assert info.cell_label(2) == "cell 3 (id 'params-simple-3')"


def test_notebook_without_parameters_cell() -> None:
    info = read_notebook(NOTEBOOKS / "no_parameters_cell.ipynb")
    assert info.parameters_cell is None
    assert info.parameters == {}


def test_cell_label_without_id(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {},
                                "cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}}]}))
    info = read_notebook(path)
    assert info.cell_ids == ("",)
    assert info.cell_label(0) == "cell 1"


def test_parameters_cell_source_as_a_single_string(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
        {"cell_type": "code", "source": "a = 1\nb = 'x'", "metadata": {"tags": ["parameters"]}}]}))
    assert {n: p.default for n, p in read_notebook(path).parameters.items()} == {"a": 1, "b": "x"}


def test_parse_parameters_inference_and_ignored_statements() -> None:
    params = parse_parameters(
        "import math\n"
        "%matplotlib inline\n"
        "!echo hi\n"
        "count = 3\n"
        "ratio = -0.5\n"
        "items = [1, 2]\n"
        "anything = None\n"
        "computed = math.sqrt(2)\n"
        "declared_only: int\n"
        "a, b = 1, 2\n"
        "x = y = 5\n"
        "print(count)\n"
        "obj.attr = 1\n"
        "count_typed: 'float' = 1\n")
    assert set(params) == {"count", "ratio", "items", "anything", "computed", "declared_only", "count_typed"}
    assert {n: str(p.type) for n, p in params.items()} == {
        "count": "int", "ratio": "float", "items": "list", "anything": "any", "computed": "any",
        "declared_only": "int", "count_typed": "float"}
    assert params["count"].line == 4  # magics and shell escapes do not shift line numbers
    assert params["computed"].has_literal_default is False
    assert params["declared_only"].has_literal_default is False
    assert params["ratio"].default == -0.5


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "notebook not found"),
        ("{not json", "not a valid .ipynb file (invalid JSON"),
        ('{"cells": 3}', "not a Jupyter notebook (no 'cells' list)"),
        ('{"cells": [], "nbformat": 3}', "notebook format 3 is not supported; expected format 4"),
        ('{"cells": [], "nbformat": 4, "metadata": {"kernelspec": {"language": "R"}}}',
         "notebook language is 'r'; mlprod runs Python notebooks only"),
        ('{"cells": [], "nbformat": 4, "metadata": {"language_info": {"name": "julia"}}}',
         "notebook language is 'julia'"),
    ],
)
def test_unreadable_notebooks_are_notebook_errors(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "bad.ipynb"
    if content is not None:
        path.write_text(content)
    with pytest.raises(NotebookError) as err:
        read_notebook(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_two_parameters_cells_are_rejected(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", ("md", "# t"), ("parameters", "a = 1"), "x = 1", ("parameters", "b = 2"))
    with pytest.raises(NotebookError, match=r"2 cells are tagged 'parameters' \(cell 2, cell 4\)"):
        read_notebook(path)


def test_markdown_parameters_cell_is_rejected(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", "x = 1", ("md", "a = 1"))
    nb = nbformat.read(path, 4)
    nb.cells[1].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    with pytest.raises(NotebookError, match=r"cell 2 \(id 'c2'\) is tagged 'parameters' but is not a code cell"):
        read_notebook(path)


def test_syntax_error_in_parameters_cell_names_cell_and_line(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", ("md", "# t"), ("parameters", "a = 1\nb = (\n"))
    with pytest.raises(NotebookError) as err:
        read_notebook(path)
    message = str(err.value)
    assert f"{path}: cell 2 (id 'c2') (parameters): line 2: invalid Python syntax" in message


def test_unsupported_annotation_names_cell_line_and_parameter(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", ("md", "# t"), ("parameters", "a = 1\nb: set[int] = {1}"))
    with pytest.raises(NotebookError) as err:
        read_notebook(path)
    message = str(err.value)
    assert "cell 2 (id 'c2') (parameters): line 2: parameter 'b': unsupported type annotation 'set[int]'" in message


def test_stale_injected_parameters_cell_is_located() -> None:
    info = read_notebook(NOTEBOOKS / "stale_injected_parameters.ipynb")
    assert (info.parameters_cell, info.injected_cell) == (1, 2)
    assert read_notebook(NOTEBOOKS / "params_simple.ipynb").injected_cell is None
