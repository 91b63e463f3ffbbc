"""The retraining decision over the monitoring history.

Checks return values (:class:`Check`); :func:`decide` combines them. Triggers (any may fire): an alert
of the chosen kinds in each of the last ``consecutive_windows`` windows (``feature_drift``,
``prediction_drift``, ``estimated_drop``, ``realised_drop``, ``disagreement``, and, when listed, ``review_guarantee``:
the error among automatically decided rows above the review alpha), or ``kpi_drop``: the
watched KPI below its baseline (mean of the first ``baseline_windows`` windows since the last retrain)
by more than ``max_kpi_drop`` (relative), or below its ``min``, for as many windows. Gates (all must
pass): at least ``min_new_labelled_rows`` labelled rows since the last retrain, at least
``min_alert_labelled_rows`` labelled rows in the windows of a fired trigger's streak (the labels of the
changed period: retraining before they arrive learns nothing new), and at least ``min_days_since_retrain``
days since the last retrain. Retrain = a trigger fired and every gate passed. Only windows
that start on or after the last retrain count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from .. import atomic
from ..errors import MonitoringError
from .strict import reject_unknown

SCHEMA_VERSION = 1
TRIGGERS = ("feature_drift", "prediction_drift", "estimated_drop", "realised_drop", "disagreement", "kpi_drop",
            "review_guarantee")
DEFAULT_TRIGGERS = TRIGGERS[:-1]  # review_guarantee only when listed: recalibrating may be the fix, not retraining
_SIGNALS = {"review_guarantee": ("realised", "auto_decided_error"), "feature_drift": ("drift", "feature_drift_share"), "prediction_drift": ("drift", "prediction_drift"),
            "estimated_drop": ("estimated", "roc_auc"), "realised_drop": ("realised", "roc_auc"),
            "disagreement": ("realised", "estimate_disagreement")}


@dataclass(frozen=True)
class PolicySettings:
    triggers: tuple[str, ...] = DEFAULT_TRIGGERS
    consecutive_windows: int = 2
    kpi: str | None = None
    max_kpi_drop: float = 0.1
    baseline_windows: int = 2
    min_new_labelled_rows: int = 0
    min_alert_labelled_rows: int = 0
    min_days_since_retrain: int = 0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "monitoring.policy") -> PolicySettings:
        data = dict(data or {})
        reject_unknown(data, cls, where)
        if isinstance(data.get("triggers"), list):
            data["triggers"] = tuple(data["triggers"])
        settings = cls(**data)
        bad = [t for t in settings.triggers if t not in TRIGGERS]
        if bad or not isinstance(settings.triggers, tuple):
            raise MonitoringError(f"{where}.triggers: unknown trigger(s) {bad or settings.triggers!r}; "
                                  f"allowed: {list(TRIGGERS)}")
        for name, low in (("consecutive_windows", 1), ("baseline_windows", 1), ("min_new_labelled_rows", 0),
                          ("min_alert_labelled_rows", 0), ("min_days_since_retrain", 0)):
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise MonitoringError(f"{where}.{name}: expected a whole number >= {low}, got {value!r}")
        if isinstance(settings.max_kpi_drop, bool) or not isinstance(settings.max_kpi_drop, (int, float)) \
                or not 0 <= settings.max_kpi_drop <= 1:
            raise MonitoringError(f"{where}.max_kpi_drop: expected a share in [0, 1], got {settings.max_kpi_drop!r}")
        if "kpi_drop" in settings.triggers and settings.kpi is not None and not isinstance(settings.kpi, str):
            raise MonitoringError(f"{where}.kpi: expected a KPI metric name, got {settings.kpi!r}")
        return settings

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["triggers"] = list(self.triggers)
        return out


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # trigger | gate
    passed: bool  # trigger: fired; gate: satisfied
    value: float | None
    threshold: float | None
    windows: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "passed": self.passed, "value": self.value,
                "threshold": self.threshold, "windows": list(self.windows), "reason": self.reason}


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reasons: tuple[str, ...]
    checks: tuple[Check, ...]
    settings: PolicySettings
    as_of: str
    last_retrain: str | None
    windows: tuple[str, ...]
    model_version: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "kind": "retraining_decision", "retrain": self.retrain,
                "reasons": list(self.reasons), "checks": [c.to_dict() for c in self.checks],
                "policy": self.settings.to_dict(), "as_of": self.as_of, "last_retrain": self.last_retrain,
                "windows": list(self.windows), "model_version": self.model_version}

    def write(self, path: str | Path) -> Path:
        return atomic.write_json(path, self.to_dict())


def _streak(flags: list[tuple[str, bool]]) -> list[str]:
    """Windows of the trailing run of True flags."""
    run: list[str] = []
    for window, flag in reversed(flags):
        if not flag:
            break
        run.append(window)
    return run[::-1]


def _alert_flags(history: pd.DataFrame, windows: list[str], kind: str, metric: str) -> list[tuple[str, bool]]:
    rows = history[(history["kind"] == kind) & (history["metric"] == metric)]
    alerts = dict(zip(rows["window"], rows["alert"].astype(bool)))
    return [(w, bool(alerts.get(w, False))) for w in windows]


def _trigger(name: str, flags: list[tuple[str, bool]], n: int, what: str) -> Check:
    run = _streak(flags)
    fired = len(run) >= n
    reason = (f"{what} in the last {len(run)} window(s) ({', '.join(run)}), at least {n} needed" if run
              else f"no {what} in the latest window")
    return Check(name, "trigger", fired, float(len(run)), float(n), tuple(run), reason)


def _kpi_check(history, windows, settings: PolicySettings) -> Check:
    rows = history[history["kind"] == "kpi"]
    metric = settings.kpi or (sorted(m for m in set(rows["metric"]) if not m.endswith("_estimated")) or [None])[0]
    if metric is None:
        return Check("kpi_drop", "trigger", False, None, None, (), "no KPI in the history")
    rows = rows[rows["metric"] == metric]
    values = dict(zip(rows["window"], rows["value"]))
    floors = dict(zip(rows["window"], rows["alert"].astype(bool)))
    known = [w for w in windows if w in values]
    base = known[: settings.baseline_windows]
    if len(base) < settings.baseline_windows:
        return Check("kpi_drop", "trigger", False, None, None, (),
                     f"{metric}: {len(base)} of {settings.baseline_windows} baseline window(s) since the last retrain")
    baseline = sum(values[w] for w in base) / len(base)
    limit = baseline - abs(baseline) * settings.max_kpi_drop
    flags = [(w, w in values and w not in base and (values[w] < limit or floors.get(w, False))) for w in windows]
    check = _trigger("kpi_drop", flags, settings.consecutive_windows,
                     f"{metric} below {limit:.6g} (baseline {baseline:.6g} - {settings.max_kpi_drop:.0%})")
    return dataclasses.replace(check, threshold=float(limit), value=values.get(windows[-1]) if windows else None)


def decide(history: pd.DataFrame, settings: PolicySettings | None = None, *, as_of: str,
           last_retrain: str | None = None) -> Decision:
    """The decision from the history rows (:func:`mlprod.monitoring.history.read_history`)."""
    settings = settings or PolicySettings()
    frame = history
    if last_retrain is not None:
        frame = history[history["window_start"] >= last_retrain[:10]]
    order = frame.drop_duplicates("window").sort_values(["window_start", "window"], kind="stable")
    windows = order["window"].tolist()
    checks = []
    for name in settings.triggers:
        if name == "kpi_drop":
            checks.append(_kpi_check(frame, windows, settings))
        else:
            kind, metric = _SIGNALS[name]
            checks.append(_trigger(name, _alert_flags(frame, windows, kind, metric), settings.consecutive_windows,
                                   f"{kind} {metric} alert"))
    labelled = int(order["labelled_rows"].sum()) if len(order) else 0
    checks.append(Check("min_new_labelled_rows", "gate", labelled >= settings.min_new_labelled_rows,
                        float(labelled), float(settings.min_new_labelled_rows), tuple(windows),
                        f"{labelled} labelled row(s) since the last retrain, at least "
                        f"{settings.min_new_labelled_rows} needed"))
    fired = [c for c in checks if c.kind == "trigger" and c.passed]
    per_window = dict(zip(order["window"], order["labelled_rows"])) if len(order) else {}
    streak = max(fired, key=lambda c: sum(int(per_window.get(w, 0)) for w in c.windows), default=None)
    in_streak = sum(int(per_window.get(w, 0)) for w in streak.windows) if streak is not None else 0
    checks.append(Check("min_alert_labelled_rows", "gate", in_streak >= settings.min_alert_labelled_rows,
                        float(in_streak), float(settings.min_alert_labelled_rows),
                        streak.windows if streak is not None else (),
                        f"{in_streak} labelled row(s) in the alerting windows"
                        f"{' (' + ', '.join(streak.windows) + ')' if streak is not None and streak.windows else ''}, "
                        f"at least {settings.min_alert_labelled_rows} needed"))
    days = None if last_retrain is None else (date.fromisoformat(as_of[:10]) - date.fromisoformat(last_retrain[:10])).days
    checks.append(Check("min_days_since_retrain", "gate", days is None or days >= settings.min_days_since_retrain,
                        None if days is None else float(days), float(settings.min_days_since_retrain), (),
                        "no retrain recorded" if days is None else
                        f"{days} day(s) since the last retrain ({last_retrain[:10]}), at least "
                        f"{settings.min_days_since_retrain} needed"))
    blocked = [c for c in checks if c.kind == "gate" and not c.passed]
    retrain = bool(fired) and not blocked
    reasons = [f"{c.name}: {c.reason}" for c in fired] + [f"blocked by {c.name}: {c.reason}" for c in blocked]
    if not fired:
        reasons.append("no trigger fired")
    version = order["model_version"].iloc[-1] if len(order) else None
    return Decision(retrain, tuple(reasons), tuple(checks), settings, as_of, last_retrain, tuple(windows), version)
