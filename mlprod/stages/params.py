"""Stage parameters: ``params.yaml`` sections plus command-line overrides, checked against a notebook.

``params.yaml`` holds one section per stage (plus shared sections read by mlprod itself). The values
a stage runs with are its section, overridden by ``-p key=value`` options, and every value must be a
parameter the notebook declares, of the declared type. All of this is checked before a kernel starts.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import yamlio
from ..errors import ConfigError, ParamsError
from ..project.facts import SECTION as SHARED_SECTION
from ..project.facts import read_facts
from .notebook import NotebookInfo
from .types import check_value, yaml_type_name

PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class ResolvedParams:
    """The parameter values a stage runs with and where they came from."""

    stage: str
    values: dict[str, Any]
    defaults_used: tuple[str, ...]
    params_file: Path | None
    overrides: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()  # parameters whose value is the project's shared fact (params.yaml [project])
    settings: tuple[str, ...] = ()  # parameters whose value is a setting of params.yaml (:data:`SETTINGS`)

    def section_of(self, name: str) -> str:
        """The params.yaml section the value of parameter ``name`` lives in."""
        if name in self.settings:
            return SETTINGS[name][0]
        return SHARED_SECTION if name in self.shared else self.stage


# Parameters a notebook may declare to receive a setting that lives outside the stages' sections:
# parameter name -> (section, key). The setting is how a stage runs, not what it computes (the results are the
# same either way), so dvc.yaml does not list it and changing it reruns nothing.
SETTINGS = {"dask_address": ("dask", "address")}  # the Dask scheduler for partitioned data (docs/dask.md)


def find_params_file(start: str | Path | None = None) -> Path | None:
    """``params.yaml`` in ``start`` (default: the working directory) or the nearest parent holding one."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PARAMS_FILE
        if candidate.is_file():
            return candidate
    return None


def project_root(cwd: str | Path | None = None, params_file: str | Path | None = None) -> tuple[Path, Path | None]:
    """The project root a stage runs in, and the params file it reads.

    The root is ``cwd`` when given, else the folder of the ``params.yaml`` found from the working
    directory (:func:`find_params_file`), else the working directory. ``params_file`` only chooses the
    file the parameters are read from; it never moves the root (a file elsewhere is only read).
    """
    found = find_params_file(cwd)
    root = Path(cwd) if cwd else (found.parent if found else Path.cwd())
    return root, (Path(params_file) if params_file else found)


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Read a params file; its top level must be a mapping of section names."""
    data = yamlio.load_file(Path(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (e.g. 'train:'), got {yaml_type_name(data)}")
    return data


def stage_section(params: Mapping[str, Any], stage: str, path: str | Path) -> dict[str, Any] | None:
    """The mapping under ``stage``, ``None`` when there is no such section."""
    if stage not in params:
        return None
    section = params[stage]
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ParamsError(f"{path}: section {stage!r} must be a mapping of parameter names to values, "
                          f"got {yaml_type_name(section)} {section!r}")
    return dict(section)


def shared_facts(params: Mapping[str, Any], path: str | Path, names: Iterable[str]) -> dict[str, Any]:
    """The project's shared facts (``project:``) among ``names`` that params.yaml sets; a section goes over them.

    For readers of a stage's section outside ``mlprod run`` (``mlprod drift --params-file``, ``mlprod promote``),
    so they see the values the stage sees: ``{**shared_facts(params, path, names), **section}``.
    """
    wanted = set(names)
    return {k: v for k, v in read_facts(params, path).as_params().items() if k in wanted}


def setting_values(params: Mapping[str, Any], path: str | Path, names: Iterable[str]) -> dict[str, Any]:
    """The settings (:data:`SETTINGS`) among ``names`` that params.yaml has, parsed strictly (a bad value is a
    :class:`ParamsError` naming the section)."""
    from ..project.scheduler import dask_address

    wanted = set(names)
    values: dict[str, Any] = {}
    if "dask_address" in wanted and params.get("dask") is not None:
        values["dask_address"] = dask_address(params, str(path))
    return values


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["key=value", ...]`` to a dict; values are read as YAML scalars (``3`` is an int)."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParamsError(f"-p {item!r}: expected KEY=VALUE, e.g. -p learning_rate=0.05")
        try:
            value = yamlio.loads(text, source=f"-p {item}") if text.strip() else ""
        except ConfigError:
            value = text
        result[key] = _RawOverride(text, value)
    return result


@dataclass(frozen=True)
class _RawOverride:
    """A command-line value with its original text, so a ``str`` parameter receives what was typed."""

    text: str
    value: Any


def resolve_params(
    notebook: NotebookInfo,
    stage: str,
    params_file: str | Path | None,
    overrides: Mapping[str, Any] | None = None,
) -> ResolvedParams:
    """Values for ``stage`` checked against ``notebook``'s parameters cell; raises :class:`ParamsError`."""
    overrides = dict(overrides or {})
    declared = notebook.parameters
    section: dict[str, Any] | None = None
    params_path = Path(params_file) if params_file else None
    if params_path is not None:
        all_params = load_params_file(params_path)
        section = stage_section(all_params, stage, params_path)
        if section is None and notebook.parameters_cell is not None:
            names = ", ".join(sorted(map(str, all_params))) or "none"
            raise ParamsError(
                f"{params_path}: no section {stage!r} for notebook {notebook.path} "
                f"(sections: {names}). Add a '{stage}:' section with the notebook's parameters, "
                f"or pass --stage NAME to use another section.")
    elif notebook.parameters_cell is not None and declared:
        raise ParamsError(f"no {PARAMS_FILE} found in the working directory or its parents for notebook "
                          f"{notebook.path}; create one with a '{stage}:' section, or pass --params FILE")

    # the project's shared facts the notebook declares, then the stage's section, then -p: later ones win
    shared: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    if params_path is not None:
        shared = shared_facts(all_params, params_path, declared)
        settings = setting_values(all_params, params_path, declared)
    given: list[tuple[str, str, Any]] = [(f"{params_path} [{SHARED_SECTION}]", k, v) for k, v in shared.items()]
    given += [(f"{params_path} [{SETTINGS[k][0]}] {SETTINGS[k][1]}", k, v) for k, v in settings.items()]
    given += [(f"{params_path} [{stage}]", k, v) for k, v in (section or {}).items()]
    given += [("-p", k, v) for k, v in overrides.items()]
    if given and notebook.parameters_cell is None:
        keys = ", ".join(sorted({str(k) for _, k, _ in given}))
        raise ParamsError(f"{notebook.path}: has no cell tagged 'parameters', but parameters were given ({keys}). "
                          "Tag the cell that assigns the parameter defaults with 'parameters' "
                          "(JupyterLab: Property Inspector > Cell Tags).")

    problems: list[str] = []
    values: dict[str, Any] = {}
    for origin, key, raw in given:
        text = raw.text if isinstance(raw, _RawOverride) else None
        value = raw.value if isinstance(raw, _RawOverride) else raw
        label = f"{origin} {key}={text}" if text is not None else f"{origin} {key!r}"
        if not isinstance(key, str) or not key.isidentifier():
            problems.append(f"{label}: {key!r} is not a valid Python name")
            continue
        param = declared.get(key)
        if param is None:
            hint = difflib.get_close_matches(key, declared, n=1)
            problems.append(f"{label}: not a parameter of the notebook"
                            + (f"; did you mean {hint[0]!r}?" if hint else ""))
            continue
        ok, converted = check_value(value, param.type)
        if not ok and text is not None and check_value(text, param.type)[0]:
            ok, converted = True, text  # -p name=007 for a str parameter keeps the typed text
        if not ok:
            where = f" (declared on line {param.line} of the parameters cell)" if param.line else ""
            problems.append(f"{label}: expected {param.type}{where}, got {yaml_type_name(value)} {value!r}")
            continue
        values[key] = converted
    if problems:
        cell = notebook.cell_label(notebook.parameters_cell or 0)
        listing = ", ".join(f"{p.name}: {p.type}" for p in declared.values()) or "none"
        raise ParamsError(
            f"{notebook.path}: parameters do not match the notebook's parameters cell ({cell}):\n"
            + "\n".join(f"  - {p}" for p in problems)
            + f"\n  declared parameters: {listing}\n"
            "Fix the values, or declare the parameter in the parameters cell.")
    defaults_used = tuple(name for name in declared if name not in values)
    from_project = tuple(k for k in shared if k not in (section or {}) and k not in overrides)
    from_settings = tuple(k for k in settings if k not in (section or {}) and k not in overrides)
    return ResolvedParams(stage=stage, values=values, defaults_used=defaults_used, params_file=params_path,
                          overrides=tuple(sorted(overrides)), shared=from_project, settings=from_settings)
