"""Whether a model's recorded inputs can be scored on another model's data: columns present, same kind.

Used before registering under an existing name: if the champion needs a column the new model's data
lacks, or one whose values are of another kind (numbers where it expects text, ...), the two models
cannot be scored on the same rows and the promotion gates cannot compare them.
"""

from __future__ import annotations

from typing import Iterable


def dtype_kind(dtype: str) -> str:
    """``numeric``, ``datetime``, ``text`` or ``unknown`` for a pandas dtype name."""
    name = dtype.lower()
    if name.startswith(("int", "uint", "float", "bool", "int8", "boolean")) or name in ("double", "long"):
        return "numeric"
    if name.startswith(("datetime", "timestamp", "period")):
        return "datetime"
    if name in ("object", "string", "category", "str") or name.startswith(("string", "category")):
        return "text"
    return "unknown"


def incompatibilities(needed: Iterable[tuple[str, str]], available: Iterable[tuple[str, str]]) -> list[str]:
    """What keeps a model needing ``needed`` columns from scoring data with ``available`` ones (empty: none)."""
    have = dict(available)
    problems = []
    missing = [name for name, _ in needed if name not in have]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        problems.append(f"column(s) {shown} missing")
    for name, dtype in needed:
        if name not in have:
            continue
        want, got = dtype_kind(dtype), dtype_kind(have[name])
        if "unknown" not in (want, got) and want != got:
            problems.append(f"column {name!r} is {have[name]} ({got}), the champion expects {dtype} ({want})")
    return problems
