"""What a backtest found, per strategy and compared: the JSON summary the report renders.

Per strategy: each window's scoring version, the policy's verdict (a trigger fired, retraining due), the retrain
and its outcome, and the realised ROC AUC and KPIs once every label is in. Then:
- detection delay: windows from the change window to the first window (at or after it) in which a policy trigger
  fired; 0 means the change window itself. A trigger held back by a gate (e.g. waiting for labels) still counts
  as detected: the decision record says so.
- false alarms: alarm episodes (maximal runs of consecutive windows with a trigger fired) that start before the
  change window; on a stream without a known change, every episode;
- retrains: retrains that trained a model (refused ones, e.g. for want of labels, are counted apart), promoted;
- realised ROC AUC and KPIs: the mean over windows (each window scored by that strategy's champion of the time),
  overall and from the change window on;
- the comparison: the policy's ROC AUC gain over never retraining as a share of retrain-every-window's gain, and
  its number of retrains as a share of every window's.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .settings import STRATEGY_TITLES

SCHEMA_VERSION = 1
TARGETS = {"detection_delay": 2, "false_alarms": 1, "kept_gain_share": 0.5, "retrain_share": 0.2}


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None and not math.isnan(v)]
    return round(sum(known) / len(known), 4) if known else None


def _value(row: Any, column: str) -> float | None:
    if row is None or column not in row.index:
        return None
    value = row[column]
    return None if pd.isna(value) else round(float(value), 4)


def episodes(flags: list[bool]) -> list[int]:
    """The index where each run of True flags starts."""
    return [i for i, f in enumerate(flags) if f and (i == 0 or not flags[i - 1])]


def strategy_summary(replay: Any, *, change_index: int | None, kpis: list[str]) -> dict[str, Any]:
    from ..monitoring.loop import plots_table

    table = plots_table(replay.history).set_index("window") if len(replay.history) else pd.DataFrame()
    windows = []
    for record in replay.windows:
        row = table.loc[record.batch_id] if record.batch_id in table.index else None
        windows.append({
            "window": record.batch_id, "model_version": record.model_version, "status": record.status,
            "alarm": bool(record.triggers), "retrain_due": record.retrain_due, "triggers": list(record.triggers),
            "retrain": record.retrain.to_dict() if record.retrain else None,
            "realised_roc_auc": _value(row, "realised_roc_auc"), "estimated_roc_auc": _value(row, "estimated_roc_auc"),
            "kpis": {k: _value(row, k) for k in kpis},
        })
    alarms = [w["alarm"] for w in windows]
    starts = episodes(alarms)
    # retraining every window restarts the policy's windows with each new model: it has no detection of its own
    detected = next((i for i in range(change_index, len(windows)) if alarms[i]), None) \
        if change_index is not None and replay.strategy != "every_window" else None
    false_alarms = [i for i in starts if change_index is None or i < change_index]
    trained = [w["retrain"] for w in windows if w["retrain"] and w["retrain"]["outcome"] != "refused"]
    after = windows[change_index:] if change_index is not None else []
    return {
        "title": STRATEGY_TITLES[replay.strategy],
        "start_version": replay.start_version,
        "windows": windows,
        "alarm_episodes": len(starts),
        "false_alarms": len(false_alarms),
        "false_alarm_windows": [windows[i]["window"] for i in false_alarms],
        "detected_at": windows[detected]["window"] if detected is not None else None,
        "detection_delay": (detected - change_index) if detected is not None else None,
        "retrains": len(trained),
        "promoted": sum(1 for r in trained if r["outcome"] == "promoted"),
        "refused": sum(1 for w in windows if w["retrain"] and w["retrain"]["outcome"] == "refused"),
        "quarantined": [w["window"] for w in windows if w["status"] == "quarantined"],
        "versions": sorted({w["model_version"] for w in windows if w["model_version"]}, key=_semver),
        "realised_roc_auc": _mean([w["realised_roc_auc"] for w in windows]),
        "realised_roc_auc_after_change": _mean([w["realised_roc_auc"] for w in after]) if after else None,
        "kpis": {k: _mean([w["kpis"][k] for w in windows]) for k in kpis},
        "kpis_after_change": {k: _mean([w["kpis"][k] for w in after]) for k in kpis} if after else {},
        "seconds": round(replay.seconds, 2),
        "step_seconds": {k: round(v, 2) for k, v in replay.step_seconds.items()},
    }


def _semver(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in str(version).split("."))


def compare(strategies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The policy against never and every window (what the summary can say with the strategies replayed)."""
    out: dict[str, Any] = {}
    policy, never, every = (strategies.get(s) for s in ("policy", "never", "every_window"))
    if policy and never and every:
        gain_every = _diff(every["realised_roc_auc"], never["realised_roc_auc"])
        gain_policy = _diff(policy["realised_roc_auc"], never["realised_roc_auc"])
        out["roc_auc_gain_every_window"] = gain_every
        out["roc_auc_gain_policy"] = gain_policy
        out["kept_gain_share"] = round(gain_policy / gain_every, 3) if gain_every and gain_every > 0 \
            and gain_policy is not None else None
    if policy and every:
        out["retrain_share"] = round(policy["retrains"] / every["retrains"], 3) if every["retrains"] else None
    if policy:
        out["detection_delay"] = policy["detection_delay"]
        out["false_alarms"] = policy["false_alarms"]
    return out


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def targets(comparison: dict[str, Any], *, change: str | None) -> list[dict[str, Any]]:
    """The policy's figures against the goals a retraining policy should meet (None: cannot be told here)."""
    rows = []
    delay = comparison.get("detection_delay")
    if change is not None:
        rows.append({"name": "detection_delay", "goal": f"change detected within {TARGETS['detection_delay']} "
                     "windows", "value": delay, "met": None if "detection_delay" not in comparison else
                     (delay is not None and delay <= TARGETS["detection_delay"])})
    if "false_alarms" in comparison:
        rows.append({"name": "false_alarms", "goal": f"at most {TARGETS['false_alarms']} false alarm(s)"
                     + (" before the change" if change is not None else ""), "value": comparison["false_alarms"],
                     "met": comparison["false_alarms"] <= TARGETS["false_alarms"]})
    if "kept_gain_share" in comparison:
        kept = comparison["kept_gain_share"]
        rows.append({"name": "kept_gain_share", "goal": "at least half of retrain-every-window's ROC AUC gain over "
                     "never retraining", "value": kept, "met": None if kept is None else kept >= TARGETS["kept_gain_share"]})
    if "retrain_share" in comparison:
        share = comparison["retrain_share"]
        rows.append({"name": "retrain_share", "goal": "at most a fifth of retrain-every-window's retrains",
                     "value": share, "met": None if share is None else share <= TARGETS["retrain_share"]})
    return rows


def summarise(stream: Any, replays: list[Any], *, settings: Any, context: Any, seconds: float) -> dict[str, Any]:
    from .streams import describe

    change_index = stream.ids.index(stream.change) if stream.change is not None else None
    kpis = sorted(context.monitor.kpis or {})
    strategies = {r.strategy: strategy_summary(r, change_index=change_index, kpis=kpis) for r in replays}
    comparison = compare(strategies)
    return {
        "schema_version": SCHEMA_VERSION, "kind": "backtest", "model": context.model_name,
        "stream": describe(stream), "policy": context.policy.to_dict(),
        "retrain": {"window": context.retrain.window, "last_weeks": context.retrain.last_weeks,
                    "holdout_weeks": context.retrain.holdout_weeks, "current_weeks": context.retrain.current_weeks},
        "kpis": kpis, "strategies": strategies, "comparison": comparison,
        "targets": targets(comparison, change=stream.change), "seconds": round(seconds, 2),
    }
