"""The check ``mlprod run`` makes before it starts a kernel: the facts a stage declares (target, date column,
key, feature and slice columns) are columns of the data files its parameters name; for a stage that reads the
labelled dataset (it declares ``target``), every column fact of the project is. Header reads only (no
pandas, no pyarrow), so a wrong fact stops ``dvc repro`` in its first stage, in a fraction of a second, with
every problem listed. ``mlprod check`` checks the whole project."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from ..errors import DataError, FactsError
from .facts import COLUMN_FACTS, SECTION
from .headers import column_names, is_data_file


def check_stage_facts(resolved: Any, root: Path, outputs: Iterable[str] = ()) -> None:
    """Raise :class:`FactsError` listing every fact of ``resolved`` (a ResolvedParams) that a data file lacks.

    ``outputs`` are the stage's declared outputs (dvc.yaml, relative POSIX paths): files at or under them are
    what the stage writes (a previous run's plot CSV), not its data, and are not read."""
    facts = {k: resolved.values[k] for k in COLUMN_FACTS if k in resolved.values}
    if not facts:
        return
    if "target" in facts and resolved.params_file is not None:
        # a stage that reads the labelled dataset: every column fact must be in it, so the first stage of
        # `dvc repro` lists them all instead of a later stage stopping on the next one
        shared = _shared_columns(resolved.params_file)
        facts = {**{k: v for k, v in shared.items() if v is not None}, **facts}
    outs = [PurePosixPath(o) for o in outputs]
    files = sorted({text for value in resolved.values.values() for text in strings(value) if is_data_file(text)
                    and not any(o == PurePosixPath(text) or o in PurePosixPath(text).parents for o in outs)})
    problems = []
    for file in files:
        path = root / file
        if not path.is_file():
            continue  # the stage reports a missing input itself
        try:
            names = column_names(path)
        except DataError as exc:
            problems.append(str(exc))
            continue
        for key, value in facts.items():
            for name in value if isinstance(value, list) else [value]:
                if isinstance(name, str) and name not in names:
                    close = difflib.get_close_matches(name, names, n=1)
                    problems.append(f"{_origin(resolved, key)} {key}: {name!r} is not a column of {file}"
                                    + (f" (did you mean {close[0]!r}?)" if close else ""))
    if "target" in facts and resolved.params_file is not None and files:
        problems += _project_problems(resolved.params_file, root, files[0])
    if problems:
        raise FactsError(f"stage {resolved.stage!r}: the project's facts do not match its data (nothing was run):\n"
                         + "\n".join(f"  - {p}" for p in problems)
                         + "\nFix params.yaml; `mlprod check` lists every problem of the project at once.")


def _project_problems(params_file: Path, root: Path, file: str) -> list[str]:
    """What else in the project names columns ``file`` lacks: other stages' overrides of column facts, and a
    schema.yaml written for other data (header reads and YAML only; `mlprod check` goes further)."""
    from .. import yamlio
    from ..errors import ConfigError
    from ..stages.params import load_params_file

    path = root / file
    if not path.is_file():
        return []
    try:
        names = column_names(path)
    except DataError:
        return []
    params = load_params_file(params_file)
    problems = []
    for section, values in params.items():
        if section == SECTION or not isinstance(values, dict):
            continue
        for key in COLUMN_FACTS:
            for name in strings(values.get(key)):
                if name not in names:
                    problems.append(f"params.yaml [{section}] {key}: {name!r} is not a column of {file} (it overrides "
                                    f"{SECTION}.{key} for that stage)")
    schema_files = {v.get("schema_file") for v in params.values() if isinstance(v, dict)} - {None}
    for schema_file in sorted(str(f) for f in schema_files):
        try:
            declared = list(((yamlio.load_file(root / schema_file) or {}).get("columns") or {}))
        except (ConfigError, OSError, AttributeError):
            continue  # the validate stage reports an unreadable schema itself
        foreign = [str(c) for c in declared if c not in names]
        if foreign and len(foreign) * 2 >= len(declared):
            problems.append(f"{schema_file} describes other data: {len(foreign)} of its {len(declared)} columns are not "
                            f"in {file} ({', '.join(map(repr, foreign[:6]))}{', …' if len(foreign) > 6 else ''}); "
                            f"draft one for this data with `mlprod init --force` or `mlprod schema infer`")
    return problems


def _shared_columns(params_file: Path) -> dict[str, Any]:
    from ..stages.params import load_params_file
    from .facts import read_facts

    values = read_facts(load_params_file(params_file), params_file).as_params()
    return {k: values[k] for k in COLUMN_FACTS if k in values}


def _origin(resolved: Any, key: str) -> str:
    if key in resolved.overrides:
        return "-p"
    where = resolved.section_of(key) if key in resolved.values else SECTION
    return f"params.yaml [{where}]"


def strings(value: Any) -> Iterator[str]:
    """Every string in a parameter value (nested lists and mappings included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
