"""The check ``mlprod run`` makes before it starts a kernel: the facts a stage declares (target, date column,
key, feature and slice columns) are columns of the data files its parameters name. Header reads only (no
pandas, no pyarrow), so a wrong fact stops ``dvc repro`` in its first stage, in a fraction of a second, with
every problem listed. ``mlprod check`` checks the whole project."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterator

from ..errors import DataError, FactsError
from .facts import COLUMN_FACTS, SECTION
from .headers import column_names, is_data_file


def check_stage_facts(resolved: Any, root: Path) -> None:
    """Raise :class:`FactsError` listing every fact of ``resolved`` (a ResolvedParams) that a data file lacks."""
    facts = {k: resolved.values[k] for k in COLUMN_FACTS if k in resolved.values}
    if not facts:
        return
    files = sorted({text for value in resolved.values.values() for text in _strings(value) if is_data_file(text)})
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
    if problems:
        raise FactsError(f"stage {resolved.stage!r}: the project's facts do not match its data (nothing was run):\n"
                         + "\n".join(f"  - {p}" for p in problems)
                         + "\nFix params.yaml; `mlprod check` lists every problem of the project at once.")


def _origin(resolved: Any, key: str) -> str:
    if key in resolved.overrides:
        return "-p"
    where = SECTION if key in resolved.shared else resolved.stage
    return f"params.yaml [{where}]"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
