"""The monitoring plan: drift thresholds and retraining triggers in force, and the last drift report's decision.

The plan is read from the ``drift_report`` section of params.yaml, completed with the drift
module's defaults for what the section leaves out (each setting says which it is), so it shows
what the next drift report will apply. The last ``drift.json``, when present, adds its decision.
"""

from __future__ import annotations

import json
from typing import Any

from .schema import Monitoring

DRIFT_SECTION = "drift_report"

# Settings shown in the plan, in this order (others in the section are stage paths and the like).
PLAN_KEYS = ("retrain_on", "max_drifted_share", "stat_test", "thresholds", "column_tests", "n_bins",
             "max_auc_drop", "min_roc_auc", "max_kpi_drop", "min_kpi", "kpi_top_share", "concept_alpha",
             "concept_min_effect", "window_rows", "min_importance_correlation", "decision_threshold",
             "min_missing_change", "missing_alpha", "min_new_category_share")


def _rule(trigger: str, s: dict[str, Any]) -> str:
    def v(key: str) -> str:
        return _text(s.get(key))

    thresholds = v("thresholds") if s.get("thresholds") else "test defaults"
    rules = {
        "feature_drift": f"at least {v('max_drifted_share')} of the monitored features drifted "
                         f"(per-feature test: {v('stat_test')}; thresholds: {thresholds})",
        "prediction_drift": "the distribution of the model's scores drifted (same tests and thresholds as features)",
        "concept_drift": f"the relation between a feature and the label changed (residual chi-square p < "
                         f"{v('concept_alpha')} / number of features and a change of at least "
                         f"{v('concept_min_effect')}), or ADWIN detects an increase of the model's error",
        "performance": "; ".join(part for part in (
            f"ROC AUC on labelled current rows fell more than {v('max_auc_drop')} below the baseline"
            if s.get("max_auc_drop") is not None else "",
            f"ROC AUC below {v('min_roc_auc')}" if s.get("min_roc_auc") is not None else "",
            f"the KPI (precision in the top {v('kpi_top_share')} of scores) fell more than {v('max_kpi_drop')}"
            if s.get("max_kpi_drop") is not None else "",
            f"the KPI below {v('min_kpi')}" if s.get("min_kpi") is not None else "") if part)
        or "no performance threshold set",
        "importance_shift": f"the Spearman rank correlation of feature importances fell below "
                            f"{v('min_importance_correlation')}",
        "missing_column": "a feature column of the reference is absent from the current data",
        "missing_values": f"a feature's share of missing values moved by at least {v('min_missing_change')} "
                          f"(absolute) with Fisher's exact test p < {v('missing_alpha')}",
        "new_category": f"a category the reference never had holds at least {v('min_new_category_share')} of the "
                        f"current rows",
    }
    return rules.get(trigger, "see the drift report settings")


def monitoring_plan(params: dict[str, Any] | None, params_source: str, drift: dict[str, Any] | None,
                    drift_source: str | None) -> Monitoring | None:
    """``None`` when neither params.yaml has a drift section nor a drift report exists."""
    section = (params or {}).get(DRIFT_SECTION)
    if not isinstance(section, dict) and drift is None:
        return None
    given = dict(section) if isinstance(section, dict) else {}
    effective, origin = _effective(given, drift)
    settings = tuple((key, _text(effective[key]), origin.get(key, "default")) for key in PLAN_KEYS if key in effective)
    triggers = tuple((t, _rule(t, effective)) for t in _as_list(effective.get("retrain_on")))
    latest = reasons = observations = None
    if drift is not None:
        decision = drift.get("retrain_decision") if isinstance(drift.get("retrain_decision"), dict) else {}
        required = drift.get("retrain", decision.get("required"))
        latest = ("retraining required" if required else "no retraining needed") if isinstance(required, bool) \
            else "decision not recorded"
        reasons = tuple(_reason(r) for r in decision.get("reasons", []) if isinstance(r, dict))
        observations = tuple(_reason(r) for r in decision.get("observations", []) if isinstance(r, dict))
    return Monitoring(source=f"{params_source} [{DRIFT_SECTION}]" if given else "drift module defaults",
                      settings=settings, triggers=triggers, latest=latest, latest_source=drift_source,
                      reasons=reasons or (), observations=observations or ())


def _effective(given: dict[str, Any], drift: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings in force: params.yaml values over the drift module's defaults (or the last report's settings)."""
    defaults: dict[str, Any] = {}
    try:
        from ..drift.settings import DriftSettings

        known = set(DriftSettings.names())
        defaults = DriftSettings.from_mapping({k: v for k, v in given.items() if k in known}).to_dict()
        defaults = {k: v for k, v in defaults.items() if k not in given}
    except Exception:  # noqa: BLE001 - no drift module, or settings it rejects: show what params.yaml says
        recorded = (drift or {}).get("settings")
        defaults = {k: v for k, v in recorded.items() if k not in given} if isinstance(recorded, dict) else {}
    effective = {**defaults, **given}
    origin = {k: "params.yaml" for k in given}
    return effective, origin


def _reason(reason: dict[str, Any]) -> str:
    text = str(reason.get("message") or reason.get("trigger") or "")
    trigger = reason.get("trigger")
    return f"{trigger}: {text}" if trigger and not text.startswith(str(trigger)) else text


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def _text(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) if value else "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value) if isinstance(value, bool) else str(value)
