"""The normal form of a stage notebook: what is committed and what DVC hashes.

A stage notebook (its ``parameters`` cell calls ``mlprod.init_stage``) is a pipeline dependency: DVC
hashes the file in the working tree, so anything JupyterLab writes into it on save (outputs,
execution counts, kernel and widget metadata) would mark the stage changed. The normal form keeps
what the notebook *is* (cells, their ids, sources, tags and attachments, the kernelspec) and drops
what running it produced:

* code cells: ``outputs`` empty, ``execution_count`` null;
* cell metadata written by the UI or by papermill (:data:`CELL_METADATA_DROPPED`);
* notebook metadata written on save (:data:`NOTEBOOK_METADATA_DROPPED`); ``language_info`` keeps its ``name``.

It is serialised by nbformat exactly as the Jupyter server writes notebooks (indent 1, sorted keys,
trailing newline), so a notebook saved from JupyterLab with only outputs or metadata changed is
byte-identical to the committed file.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Mapping

CELL_METADATA_DROPPED = frozenset({
    "collapsed", "scrolled", "execution", "ExecuteTime", "papermill", "jupyter", "trusted", "heading_collapsed",
    "hidden"})
NOTEBOOK_METADATA_DROPPED = frozenset({"widgets", "papermill", "signature", "vscode"})
_INIT_STAGE = re.compile(r"\binit_stage\s*\(")


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def is_stage_notebook(notebook: Any) -> bool:
    """True when ``notebook`` (ipynb JSON as a dict) has a ``parameters``-tagged code cell calling ``init_stage``.

    A notebook can opt out with ``"mlprod": {"clean_save": false}`` in its metadata (then it is kept as saved).
    """
    if not isinstance(notebook, Mapping) or not isinstance(notebook.get("cells"), list):
        return False
    options = (notebook.get("metadata") or {}).get("mlprod") if isinstance(notebook.get("metadata"), Mapping) else None
    if isinstance(options, Mapping) and options.get("clean_save") is False:
        return False
    for cell in notebook["cells"]:
        if not isinstance(cell, Mapping) or cell.get("cell_type") != "code":
            continue
        tags = (cell.get("metadata") or {}).get("tags") if isinstance(cell.get("metadata"), Mapping) else None
        if isinstance(tags, list) and "parameters" in tags and _INIT_STAGE.search(_source(cell)):
            return True
    return False


def has_outputs(notebook: Mapping[str, Any]) -> bool:
    """True when any code cell of ``notebook`` has outputs (an executed copy is worth keeping)."""
    return any(isinstance(c, Mapping) and c.get("outputs") for c in notebook.get("cells") or [])


def normalise(notebook: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``notebook`` (ipynb v4 JSON as a dict) in the normal form; the argument is not changed."""
    if notebook.get("nbformat") != 4 or not isinstance(notebook.get("cells"), list):
        raise ValueError(f"expected an nbformat 4 notebook with a list of cells, got nbformat "
                         f"{notebook.get('nbformat')!r}")
    clean = copy.deepcopy(dict(notebook))
    metadata = clean.get("metadata")
    if isinstance(metadata, dict):
        for key in NOTEBOOK_METADATA_DROPPED & metadata.keys():
            del metadata[key]
        info = metadata.get("language_info")
        if isinstance(info, dict) and "name" in info:
            metadata["language_info"] = {"name": info["name"]}
    for cell in clean["cells"]:
        if not isinstance(cell, dict):
            raise ValueError(f"expected every cell to be a JSON object, got {type(cell).__name__}")
        if isinstance(cell.get("metadata"), dict):
            for key in CELL_METADATA_DROPPED & cell["metadata"].keys():
                del cell["metadata"][key]
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return clean


def dumps(notebook: Mapping[str, Any]) -> str:
    """``notebook`` serialised as the Jupyter server saves it (nbformat's JSON layout, trailing newline)."""
    import nbformat

    text = nbformat.writes(nbformat.from_dict(copy.deepcopy(dict(notebook))), version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


def normal_text(text: str) -> str:
    """The normal form of the notebook JSON ``text``; ``ValueError`` when it is not an nbformat 4 notebook."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return dumps(normalise(data))
