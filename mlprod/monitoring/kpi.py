"""Business KPIs of a window, from its score summary: a small registry of KPI functions, each with
strictly parsed settings (params.yaml ``monitoring.kpis: {name: {setting: value}}``).

Each KPI has a realised value (labelled rows) and an estimated one (all rows, assuming calibrated
scores, as in :mod:`mlprod.monitoring.estimate`). ``min`` (optional, any KPI) is the alert floor.

- ``top_share_conversions`` (``share``, default 0.2): conversion rate among the top-scored ``share`` of
  the rows (rows in the bin at the cut counted pro rata).
- ``net_value`` (``value_per_conversion``, ``cost_per_wasted_call``; both required): value per lead
  the model flags: (conversions x value - wasted calls x cost) / flagged leads.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MonitoringError
from .estimate import expected_confusion, realised_confusion
from .windows import ScoreSummary


@dataclass(frozen=True)
class KpiSpec:
    name: str
    title: str
    defaults: Mapping[str, float | None]  # None: required
    compute: Callable[[ScoreSummary, Mapping[str, float], bool], float | None]


def _top_share(summary: ScoreSummary, settings: Mapping[str, float], estimated: bool) -> float | None:
    if estimated:
        rows, hits = summary.bins["rows"].astype(np.float64), summary.bins["score_sum"]
    else:
        rows = (summary.bins["positives"] + summary.bins["negatives"]).astype(np.float64)
        hits = summary.bins["positives"].astype(np.float64)
    rows, hits = rows[::-1], hits[::-1]
    total = rows.sum()
    if total <= 0:
        return None
    wanted = settings["share"] * total
    before = np.cumsum(rows) - rows
    taken = np.clip(wanted - before, 0.0, rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(rows > 0, taken / rows, 0.0)
    return float((hits * fraction).sum() / taken.sum())


def _net_value(summary: ScoreSummary, settings: Mapping[str, float], estimated: bool) -> float | None:
    confusion = expected_confusion(summary) if estimated else realised_confusion(summary)
    flagged = confusion.tp + confusion.fp
    if flagged <= 0:
        return None
    return float((confusion.tp * settings["value_per_conversion"]
                  - confusion.fp * settings["cost_per_wasted_call"]) / flagged)


_REGISTRY: dict[str, KpiSpec] = {}


def register(spec: KpiSpec) -> None:
    _REGISTRY[spec.name] = spec


register(KpiSpec("top_share_conversions", "Conversion rate among the top-scored share", {"share": 0.2}, _top_share))
register(KpiSpec("net_value", "Net value per flagged lead",
                 {"value_per_conversion": None, "cost_per_wasted_call": None}, _net_value))


def available() -> list[str]:
    return sorted(_REGISTRY)


def get_kpi(name: str) -> KpiSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise MonitoringError(f"No KPI named {name!r}; available: {', '.join(available())}.{hint}") from None


def parse_kpis(data: Any, where: str = "monitoring.kpis") -> dict[str, dict[str, float | None]]:
    """``{kpi: settings}`` with defaults filled in (and ``min``: None when not set); strict."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise MonitoringError(f"{where}: expected a mapping of KPI name to its settings, got {type(data).__name__}")
    out = {}
    for name in sorted(data):
        spec = get_kpi(name)
        given = data[name] or {}
        if not isinstance(given, Mapping):
            raise MonitoringError(f"{where}.{name}: expected a mapping of settings, got {given!r}")
        allowed = sorted({*spec.defaults, "min"})
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            raise MonitoringError(f"{where}.{name}: unknown key(s) {unknown}; allowed: {allowed}")
        settings = {**dict(spec.defaults), "min": None, **dict(given)}
        for key, value in settings.items():
            if value is None and key != "min":
                raise MonitoringError(f"{where}.{name}: {key!r} is required (a number); allowed keys: {allowed}")
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not np.isfinite(value)):
                raise MonitoringError(f"{where}.{name}.{key}: expected a number, got {value!r}")
            settings[key] = None if value is None else float(value)
        if "share" in settings and not 0 < settings["share"] <= 1:
            raise MonitoringError(f"{where}.{name}.share: expected a share in (0, 1], got {settings['share']!r}")
        out[name] = settings
    return out


def compute_kpis(summary: ScoreSummary, kpis: Mapping[str, Mapping[str, float | None]]
                 ) -> list[tuple[str, bool, float | None, float | None]]:
    """``(name, estimated, value, min)`` per KPI: the realised value, then the estimated one."""
    out = []
    for name in sorted(kpis):
        spec = get_kpi(name)
        for estimated in (False, True):
            out.append((name, estimated, spec.compute(summary, kpis[name], estimated), kpis[name].get("min")))
    return out
