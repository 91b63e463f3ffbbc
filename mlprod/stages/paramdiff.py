"""The differences between a notebook's ``parameters`` cell and params.yaml, as values and as text.

An interactive run (``init_stage``) computes them every time the cell runs; the manifest lineage of a model
saved in that session records them, and ``save_params`` writes the cell's side back to params.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import Any, Mapping



@dataclass(frozen=True)
class ParamDiff:
    """One parameter whose value in the cell is not params.yaml's; ``section`` is where params.yaml sets it."""

    name: str
    cell: Any
    params_yaml: Any
    section: str


def same_value(a: Any, b: Any) -> bool:
    """Equal as parameter values: ``1 == 1.0`` (an int given for a float), but ``True != 1`` and ``"1" != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def diff_params(cell: Mapping[str, Any], params_yaml: Mapping[str, Any], *,
                section_of: Callable[[str], str]) -> list[ParamDiff]:
    """The parameters set in both ``cell`` and ``params_yaml`` with different values, in params.yaml's order.

    ``section_of(name)`` is the params.yaml section a value lives in (``ResolvedParams.section_of``)."""
    return [ParamDiff(name=name, cell=cell[name], params_yaml=value, section=section_of(name))
            for name, value in params_yaml.items() if name in cell and not same_value(cell[name], value)]


def format_diff(differences: list[ParamDiff], *, stage: str, use_cell: bool) -> str:
    """The diff as printed by ``init_stage``: one aligned row per parameter."""
    if not differences:
        return ""
    used = ("running with the cell's values (use_cell=True)" if use_cell else
            "running with params.yaml's values (init_stage(..., use_cell=True) runs with the cell's)")
    head = (f"mlprod: {len(differences)} parameter(s) in the parameters cell differ from params.yaml; {used}. "
            f"Save the cell's values with mlprod.save_params({stage!r}).")
    rows = [("parameter", "cell", "params.yaml", "section")]
    rows += [(d.name, short(d.cell), short(d.params_yaml), f"[{d.section}]") for d in differences]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  " + "  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    return "\n".join([head, *[line.rstrip() for line in lines]])


def short(value: Any, limit: int = 48) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
