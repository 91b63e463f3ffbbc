"""Writing parameter values edited in a notebook back to params.yaml.

``mlprod.save_params("train")`` saves the values the ``parameters`` cell differed in when ``init_stage`` last
ran; ``mlprod.save_params("train", {"learning_rate": 0.2})`` saves the given ones. Each value goes into the
section where params.yaml sets it (the stage's section, ``project`` for a shared fact the stage does not
override, ``dask: address`` for ``dask_address``; a parameter set nowhere is added to the stage's section).
Values are checked against the notebook's parameters exactly as ``mlprod run`` checks them, the file is edited
in place with every other byte kept (:mod:`.yamledit`) and replaced atomically, and only if nobody changed it
since it was read.
"""

from __future__ import annotations

import difflib
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .. import atomic
from ..errors import ConfigError, ParamsError
from ..project.facts import SECTION as SHARED_SECTION
from .notebook import NotebookInfo, Parameter, read_notebook
from .params import SETTINGS, find_params_file, resolve_params, setting_values, shared_facts
from .paramdiff import same_value, short
from .types import check_value, yaml_type_name
from .yamledit import check_edited, set_values


@dataclass(frozen=True)
class SavedParams:
    """What :func:`save_params` wrote: ``changes`` are ``(section, name, old value, new value)``."""

    params_file: Path
    changes: tuple[tuple[str, str, Any, Any], ...]
    sha256: str  # of the file written

    def __str__(self) -> str:
        if not self.changes:
            return f"mlprod: {self.params_file} already has these values; nothing written"
        listing = ", ".join(f"[{s}] {n}: {short(old)} -> {short(new)}" for s, n, old, new in self.changes)
        return f"mlprod: saved {len(self.changes)} value(s) to {self.params_file}: {listing}"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_params(stage: str | None = None, values: Mapping[str, Any] | None = None, *,
                params_file: str | Path | None = None, notebook: str | Path | None = None,
                expected_sha256: str | None = None, quiet: bool = False) -> SavedParams:
    """Write ``values`` (default: the cell's values that differed at the last ``init_stage``) to params.yaml.

    ``expected_sha256`` is the params.yaml content the values were edited against (default: the one
    ``init_stage`` read when ``values`` is not given); a file changed since is an error and stays untouched.
    Prints what it wrote (unless ``quiet``) and returns it; raises :class:`ParamsError` for an unknown name, a
    value of the wrong type, a changed or invalid params.yaml.
    """
    from .interactive import applied_stage

    applied = applied_stage() or {}
    stage = stage or applied.get("stage")
    if not stage:
        raise ParamsError("save_params: which stage? Pass it, e.g. mlprod.save_params('train', {...}), or run the "
                          "notebook's parameters cell (init_stage) first")
    here = applied if applied.get("stage") == stage else {}
    if values is None:
        if not here:
            raise ParamsError(f"save_params({stage!r}): no values given and init_stage({stage!r}) has not run in "
                              f"this session; pass the values, e.g. mlprod.save_params({stage!r}, "
                              "{'learning_rate': 0.2})")
        values = {d.name: d.cell for d in here["differences"]}
        expected_sha256 = expected_sha256 or here.get("params_sha256")
    path = Path(params_file) if params_file else (Path(here["params_file"]) if here else find_params_file())
    if path is None or not path.is_file():
        raise ParamsError(f"save_params({stage!r}): no params.yaml in {Path.cwd()} or its parents")
    declared = dict(here["declared"]) if here and not notebook else _declared_by_notebook(path.parent, stage, notebook)

    raw = _read(path)
    if expected_sha256 and hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise ParamsError(_changed(path, stage))
    text = raw.decode("utf-8")
    data = _load(text, path)
    edits, changes = _edits(data, stage, declared, values, path)
    if not edits:
        result = SavedParams(params_file=path, changes=(), sha256=hashlib.sha256(raw).hexdigest())
    else:
        new_text = set_values(text, edits, source=str(path))
        check_edited(data, new_text, edits, source=str(path))
        _check_as_mlprod_run(new_text, stage, declared, path)
        if _read(path) != raw:
            raise ParamsError(_changed(path, stage))
        atomic.write_text(path, new_text)
        result = SavedParams(params_file=path, changes=tuple(changes),
                             sha256=hashlib.sha256(new_text.encode("utf-8")).hexdigest())
    if not quiet:
        print(result)
    return result


def _edits(data: dict, stage: str, declared: Mapping[str, Parameter], values: Mapping[str, Any],
           path: Path) -> tuple[dict[tuple[str, str], Any], list[tuple[str, str, Any, Any]]]:
    section = data.get(stage)
    if section is not None and not isinstance(section, dict):
        raise ParamsError(f"{path}: section {stage!r} must be a mapping of parameter names to values, got "
                          f"{yaml_type_name(section)} {section!r}")
    section = section or {}
    shared = shared_facts(data, path, declared)
    settings = setting_values(data, path, declared)
    problems, edits, changes = [], {}, []
    for name, value in values.items():
        param = declared.get(name)
        if param is None:
            hint = difflib.get_close_matches(str(name), declared, n=1)
            problems.append(f"{name!r}: not a parameter of the {stage} notebook"
                            + (f"; did you mean {hint[0]!r}?" if hint else ""))
            continue
        ok, converted = check_value(_plain(value), param.type)
        if not ok:
            problems.append(f"{name!r}: expected {param.type}, got {yaml_type_name(value)} {value!r}")
            continue
        key = name
        if name in section:
            where, old, exists = stage, section[name], True
        elif name in shared:
            where, old, exists = SHARED_SECTION, data[SHARED_SECTION][name], True
        elif name in settings:
            (where, key), old, exists = SETTINGS[name], settings[name], True
        else:
            where, old, exists = stage, None, False
        if not exists or not same_value(old, converted):
            edits[(where, key)] = converted
            changes.append((where, key, old, converted))
    if problems:
        listing = ", ".join(f"{p.name}: {p.type}" for p in declared.values()) or "none"
        raise ParamsError(f"save_params({stage!r}): nothing written to {path}:\n"
                          + "\n".join(f"  - {p}" for p in problems) + f"\n  declared parameters: {listing}")
    if stage not in data and edits:
        raise ParamsError(f"{path}: no section {stage!r}; add '{stage}:' with the notebook's parameters first")
    return edits, changes


def _check_as_mlprod_run(new_text: str, stage: str, declared: Mapping[str, Parameter], path: Path) -> None:
    """The edited file passes the checks ``mlprod run`` makes before starting a kernel (on a private copy)."""
    info = NotebookInfo(path=Path(f"<{stage} notebook>"), sha256="", language="python", cell_ids=(),
                        parameters_cell=0, parameters=dict(declared))
    with tempfile.TemporaryDirectory(prefix=".mlprod-params-") as folder:
        candidate = Path(folder) / path.name
        candidate.write_text(new_text, encoding="utf-8")
        try:
            resolve_params(info, stage, candidate, {})
        except ConfigError as exc:
            message = str(exc).replace(str(candidate), str(path))
            raise ParamsError(f"save_params({stage!r}): nothing written; with these values {message}") from None


def _declared_by_notebook(root: Path, stage: str, notebook: str | Path | None) -> dict[str, Parameter]:
    candidates = [Path(notebook)] if notebook else [root / "notebooks" / f"{stage}.ipynb",
                                                      *sorted(root.glob(f"pipelines/*/notebooks/{stage}.ipynb"))]
    for candidate in candidates:
        if candidate.is_file():
            return read_notebook(candidate).parameters
    raise ParamsError(f"save_params({stage!r}): cannot find the stage's notebook (looked for "
                      f"{', '.join(str(c) for c in candidates)}); run its parameters cell (init_stage) first "
                      "or pass notebook='path/to/notebook.ipynb'")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read: {exc}") from exc


def _load(text: str, path: Path) -> dict:
    from .. import yamlio

    data = yamlio.loads(text, source=str(path))
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections (e.g. 'train:'), got {yaml_type_name(data)}; "
                          "nothing written. Fix the file first")
    return data


def _changed(path: Path, stage: str) -> str:
    return (f"{path} changed since its values were read (edited in another window, or by git); nothing written. "
            f"Rerun the parameters cell (init_stage({stage!r})) to see the new differences, then save again")


def _plain(value: Any) -> Any:
    """Tuples as lists, NumPy scalars as Python scalars: what YAML can hold."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value

