"""Making a notebook run in JupyterLab exactly as ``mlprod run`` / ``dvc repro`` runs it.

The last line of a stage notebook's ``parameters`` cell is ``mlprod.init_stage(globals(), "train")``.
Under ``mlprod run`` it does nothing (papermill injects the resolved values right after the cell and
the kernel already runs in the project root). Opened in JupyterLab, it loads the same section of
``params.yaml``, checks it against the cell's parameters, and moves to the project root, so relative
paths and values match the pipeline's without editing anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, MutableMapping

from ..errors import ParamsError
from .notebook import NotebookInfo, Parameter
from .params import project_root, resolve_params
from .types import spec_from_value

_applied: dict[str, Any] = {}  # the last stage init_stage applied here: {"stage", "parameters", "shared", ...}


def init_stage(namespace: MutableMapping[str, Any], stage: str) -> None:
    """Apply ``stage``'s params.yaml values to ``namespace`` (a notebook's ``globals()``).

    Prints what it applied and returns nothing (so the cell shows no output value). Raises
    :class:`ParamsError` for a missing section, an unknown key or
    a value of the wrong type, just as ``mlprod run`` would before starting the kernel.
    """
    if os.environ.get("MLPROD_STAGE"):
        return None
    root, params_file = project_root()  # the same root `mlprod run` uses: where params.yaml is found from here
    if params_file is None:
        raise ParamsError(f"init_stage({stage!r}): no params.yaml in {Path.cwd()} or its parents; "
                          "open the notebook from inside the project")
    declared = _declared_in_cell(namespace) or _declared(namespace)
    notebook = os.environ.get("JPY_SESSION_NAME") or f"<notebook run as stage {stage!r}>"
    info = NotebookInfo(path=Path(notebook), sha256="", language="python", cell_ids=(), parameters_cell=0,
                        parameters=declared)
    resolved = resolve_params(info, stage, params_file, {})
    os.chdir(root)
    namespace.update(resolved.values)
    _applied.clear()
    _applied.update(stage=stage, parameters=dict(resolved.values), shared=list(resolved.shared),
                    overrides=list(resolved.overrides))
    shared = f" (shared from [project]: {', '.join(resolved.shared)})" if resolved.shared else ""
    print(f"mlprod: {len(resolved.values)} parameter(s) from {params_file} [{stage}]{shared}; "
          f"working directory: the project root {root}")
    return None


def _declared_in_cell(namespace: MutableMapping[str, Any]) -> dict[str, Parameter] | None:
    """The parameters the running cell declares, parsed from its source as ``mlprod run`` parses it.

    IPython keeps the source of the cell being executed as the last entry of ``In``; None when that is
    not available (plain Python) or the source does not call init_stage (then the globals are used).
    """
    history = namespace.get("In")
    if not isinstance(history, list) or not history or "init_stage" not in str(history[-1]):
        return None
    from ..errors import NotebookError
    from .notebook import parse_parameters

    try:
        return parse_parameters(str(history[-1]), where="parameters cell")
    except NotebookError:
        return None


def _declared(namespace: MutableMapping[str, Any]) -> dict[str, Parameter]:
    import ast

    from .types import spec_from_annotation

    annotations = namespace.get("__annotations__", {}) or {}
    declared: dict[str, Parameter] = {}
    for name, value in namespace.items():
        if name.startswith("_") or callable(value) or type(value).__name__ == "module":
            continue
        spec = spec_from_value(value)
        if name in annotations:
            hint = annotations[name]  # list[str].__name__ is "list": only plain classes go by their name
            text = hint if isinstance(hint, str) else hint.__name__ if isinstance(hint, type) else repr(hint)
            try:
                spec = spec_from_annotation(ast.parse(str(text), mode="eval").body, where=f"parameter {name!r}")
            except Exception:  # noqa: BLE001 - fall back to the value's type
                pass
        declared[name] = Parameter(name=name, default=value, type=spec, line=0)
    return declared


def applied_stage() -> dict[str, Any] | None:
    """``{"stage", "parameters", "shared", "overrides"}`` from the last :func:`init_stage` in this interactive session, if any."""
    return dict(_applied) if _applied else None
