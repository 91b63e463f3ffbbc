"""Making a notebook run in JupyterLab exactly as ``mlprod run`` / ``dvc repro`` runs it.

The last line of a stage notebook's ``parameters`` cell is ``mlprod.init_stage(globals(), "train")``.
Under ``mlprod run`` it does nothing (papermill injects the resolved values right after the cell and
the kernel already runs in the project root). Opened in JupyterLab, it loads the same section of
``params.yaml``, checks it against the cell's parameters, and moves to the project root, so relative
paths and values match the pipeline's without editing anything.

Values edited in the cell are not silently replaced: every run prints each parameter whose cell value differs
from params.yaml (:mod:`.paramdiff`); params.yaml wins unless ``use_cell=True``, and ``mlprod.save_params``
writes the cell's values back. The stage's declared outputs go to ``scratch/<stage>/`` (:mod:`.scratch`) unless
``write_outputs=True``, so an interactive run never overwrites what DVC tracks; the manifest of a model saved
meanwhile records both choices and the differences (``lineage.runs[].interactive``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, MutableMapping

from ..errors import ParamsError
from .notebook import NotebookInfo, Parameter
from .paramdiff import ParamDiff, diff_params, format_diff
from .params import project_root, resolve_params
from .scratch import declared_outputs, redirect_outputs, scratch_dir
from .types import check_value, spec_from_value, yaml_type_name

# the last stage init_stage applied here: {"stage", "parameters", "shared", "differences", "redirected", ...}
_applied: dict[str, Any] = {}


def init_stage(namespace: MutableMapping[str, Any], stage: str, *, use_cell: bool = False,
               write_outputs: bool = False) -> None:
    """Apply ``stage``'s params.yaml values to ``namespace`` (a notebook's ``globals()``).

    Prints what it applied, every parameter whose cell value differs from params.yaml (params.yaml wins
    unless ``use_cell=True``), and the outputs redirected to ``scratch/<stage>/`` (unless ``write_outputs=True``);
    returns nothing (so the cell shows no output value). Raises :class:`ParamsError` for a missing section,
    an unknown key or a value of the wrong type, just as ``mlprod run`` would before starting the kernel.
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
    resolved = resolve_params(info, stage, params_file, {})  # reads and checks params.yaml: errors come from here
    params_sha256 = hashlib.sha256(params_file.read_bytes()).hexdigest()  # what save_params checks it still is
    cell = {name: namespace[name] for name in declared if name in namespace}
    differences = diff_params(cell, resolved.values, section_of=resolved.section_of)
    values = dict(resolved.values)
    if use_cell:
        values.update(_checked_cell_values(differences, declared))
    paths = {**cell, **values}  # a path the cell sets and params.yaml does not is an output all the same
    redirected = {} if write_outputs else redirect_outputs(paths, declared_outputs(root, stage), stage, root)
    os.chdir(root)
    namespace.update(values)
    namespace.update(redirected)
    _applied.clear()
    _applied.update(stage=stage, parameters={**values, **redirected}, shared=list(resolved.shared),
                    overrides=list(resolved.overrides), declared=dict(declared), cell=cell, differences=differences,
                    use_cell=use_cell, write_outputs=write_outputs, redirected=redirected,
                    params_file=str(params_file), params_sha256=params_sha256)
    shared = f" (shared from [project]: {', '.join(resolved.shared)})" if resolved.shared else ""
    print(f"mlprod: {len(resolved.values)} parameter(s) from {params_file} [{stage}]{shared}; "
          f"working directory: the project root {root}")
    if differences:
        print(format_diff(differences, stage=stage, use_cell=use_cell))
    if redirected:
        print(f"mlprod: interactive run: the stage's outputs go to {scratch_dir(stage)}/, not to the pipeline's "
              "(init_stage(..., write_outputs=True) writes the pipeline's):")
        for name, path in redirected.items():
            print(f"  {name} = {path!r}")
    return None


def _checked_cell_values(differences: list[ParamDiff], declared: dict[str, Parameter]) -> dict[str, Any]:
    """The cell's side of each difference, checked against its declared type as params.yaml's values are."""
    values, problems = {}, []
    for diff in differences:
        spec = declared[diff.name].type
        ok, converted = check_value(diff.cell, spec)
        if not ok:
            problems.append(f"{diff.name} = {diff.cell!r}: expected {spec}, got {yaml_type_name(diff.cell)}")
        values[diff.name] = converted
    if problems:
        raise ParamsError("init_stage(..., use_cell=True): the parameters cell has values of the wrong type:\n"
                          + "\n".join(f"  - {p}" for p in problems) + "\nFix the cell's values or their annotations.")
    return values


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
    """What the last :func:`init_stage` in this interactive session applied (``stage``, ``parameters``, ``shared``,
    ``overrides``, ``declared``, ``cell``, ``differences``, ``use_cell``, ``write_outputs``, ``redirected``,
    ``params_file``, ``params_sha256``), if any."""
    return dict(_applied) if _applied else None
