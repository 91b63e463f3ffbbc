"""Data findings beside the distribution tests: a reference column the current data lacks, a changed
share of missing values, and categories the reference never had. Each is a :class:`Finding`; the
policy turns them into retraining reasons (triggers ``missing_column``, ``missing_values``,
``new_category``). Rules and defaults: docs/drift.md."""

from __future__ import annotations

from ..profile.build import Profile
from ..profile.columns import CATEGORICAL, ColumnProfile
from .results import Finding
from .settings import DriftSettings

MISSING_TEST = "Fisher's exact test (two-sided) on missing vs present rows"
MAX_LISTED = 5


def data_findings(reference: Profile, current: Profile, settings: DriftSettings, compared: list[str],
                  absent: list[str]) -> tuple[list[Finding], list[str]]:
    """Findings for the ``compared`` feature columns and the ``absent`` ones, and notes on what could
    not be checked."""
    found = [Finding("missing_column", name, f"column {name!r} of the reference is not in the current data",
                     details={"reference_missing_share": reference.columns[name].missing_share})
             for name in absent]
    notes: list[str] = []
    for name in compared:
        ref, cur = reference.columns[name], current.columns[name]
        change = missing_values(ref, cur, settings)
        if change is not None:
            found.append(change)
        if ref.kind == CATEGORICAL and cur.kind == CATEGORICAL:
            if ref.other:
                notes.append(f"new categories of {name!r} not checked: the reference profile kept only its "
                             f"{len(ref.frequencies)} most frequent categories")
                continue
            found += new_categories(ref, cur, settings)
    return found, notes


def missing_values(ref: ColumnProfile, cur: ColumnProfile, settings: DriftSettings) -> Finding | None:
    """A finding when the share of missing values moved by at least ``min_missing_change`` (absolute)
    and Fisher's exact test on the 2 x 2 table (missing, present) x (reference, current) gives
    p < ``missing_alpha``."""
    if not ref.rows or not cur.rows:
        return None
    before, after = ref.missing_share, cur.missing_share
    change = after - before
    if abs(change) < settings.min_missing_change:
        return None
    p_value = fisher_p_value(ref.missing, ref.count, cur.missing, cur.count)
    if p_value >= settings.missing_alpha:
        return None
    return Finding("missing_values", ref.name,
                   f"{ref.name!r} is missing in {after:.1%} of the current rows vs {before:.1%} in the reference "
                   f"(Fisher p = {p_value:.3g})",
                   value=abs(change), threshold=settings.min_missing_change, p_value=p_value,
                   details={"reference_share": before, "current_share": after, "change": change,
                            "alpha": settings.missing_alpha, "test": MISSING_TEST,
                            "reference_rows": ref.rows, "current_rows": cur.rows})


def fisher_p_value(missing_a: int, present_a: int, missing_b: int, present_b: int) -> float:
    from scipy import stats

    table = [[int(missing_a), int(present_a)], [int(missing_b), int(present_b)]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)


def new_categories(ref: ColumnProfile, cur: ColumnProfile, settings: DriftSettings) -> list[Finding]:
    """One finding per category the reference never had that holds at least ``min_new_category_share``
    of the current rows (missing values included in the rows)."""
    if not cur.rows:
        return []
    new = {value: count for value, count in cur.frequencies.items() if value not in ref.frequencies}
    out = []
    for value, count in sorted(new.items(), key=lambda item: (-item[1], item[0])):
        share = count / cur.rows
        if share < settings.min_new_category_share:
            continue
        out.append(Finding("new_category", ref.name,
                           f"{ref.name!r} = {value!r}, not in the reference, in {share:.1%} of the current rows",
                           value=share, threshold=settings.min_new_category_share,
                           details={"category": value, "rows": count, "current_rows": cur.rows}))
    return out


def summary(kind: str, found: list[Finding]) -> str:
    """One sentence for a retraining reason about the findings of one kind."""
    listed = [repr(f.column) if kind == "missing_column" else f.message for f in found[:MAX_LISTED]]
    more = f"; and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
    lead = {"missing_column": "reference column(s) absent from the current data",
            "missing_values": "the share of missing values changed",
            "new_category": "categories the reference never had"}[kind]
    return f"{lead}: " + "; ".join(listed) + more
