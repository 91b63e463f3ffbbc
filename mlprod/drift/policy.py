"""The retraining policy: turns drift results into a retrain decision with its reasons."""

from __future__ import annotations

from .findings import summary
from .results import (
    FINDING_KINDS,
    ColumnDrift,
    ConceptDrift,
    FeatureDrift,
    Finding,
    ImportanceShift,
    Performance,
    Reason,
    RetrainDecision,
)
from .settings import TRIGGERS, DriftSettings


def decide(settings: DriftSettings, features: FeatureDrift, prediction: ColumnDrift | None,
           concept: ConceptDrift | None, performance: dict[str, Performance],
           importance: ImportanceShift | None, findings: tuple[Finding, ...] = ()) -> RetrainDecision:
    """Retrain when any finding whose trigger is listed in ``settings.retrain_on`` crosses its threshold.
    Findings of triggers not listed are returned as observations."""
    found: list[Reason] = []
    for kind in FINDING_KINDS:
        of_kind = [f for f in findings if f.kind == kind]
        if of_kind:
            values = [f.value for f in of_kind if f.value is not None]
            found.append(Reason(kind, summary(kind, of_kind), max(values) if values else float(len(of_kind)),
                                of_kind[0].threshold))
    if features.columns and features.share_drifted >= settings.max_drifted_share:
        names = ", ".join(features.drifted)
        found.append(Reason("feature_drift", f"{len(features.drifted)} of {len(features.columns)} features drifted "
                            f"({features.share_drifted:.0%} >= {settings.max_drifted_share:.0%}): {names}",
                            features.share_drifted, settings.max_drifted_share))
    if prediction is not None and prediction.drifted:
        found.append(Reason("prediction_drift", f"the model's scores drifted ({_evidence(prediction)})",
                            prediction.p_value if prediction.score == "p_value" else prediction.statistic,
                            prediction.threshold))
    if concept is not None and concept.detected:
        parts = []
        if concept.drifted_features:
            parts.append(f"the label relation changed for {', '.join(concept.drifted_features)}")
        if concept.error_increase_detected:
            parts.append("ADWIN detected an increase of the model's error")
        found.append(Reason("concept_drift", "; ".join(parts)))
    found += _performance(settings, performance)
    if importance is not None and importance.shifted:
        found.append(Reason("importance_shift", f"feature-importance ranks changed (Spearman "
                            f"{importance.correlation:.2f} < {importance.threshold})",
                            importance.correlation, importance.threshold))
    found.sort(key=lambda r: TRIGGERS.index(r.trigger))  # stable: the order of TRIGGERS, then as found
    reasons = tuple(r for r in found if r.trigger in settings.retrain_on)
    observations = tuple(r for r in found if r.trigger not in settings.retrain_on)
    return RetrainDecision(bool(reasons), reasons, observations)


def _performance(settings: DriftSettings, performance: dict[str, Performance]) -> list[Reason]:
    current = performance.get("current")
    if current is None or not current.rows:
        return []
    baseline = performance.get("baseline")
    out = []
    for metric, floor, max_drop in (("roc_auc", settings.min_roc_auc, settings.max_auc_drop),
                                    ("kpi", settings.min_kpi, settings.max_kpi_drop)):
        value = current.metrics.get(metric)
        if value is None:
            continue
        if floor is not None and value < floor:
            out.append(Reason("performance", f"{metric} {value:.3f} is below the minimum {floor}", value, floor))
        reference = baseline.metrics.get(metric) if baseline is not None else None
        if max_drop is not None and reference is not None and reference - value > max_drop:
            out.append(Reason("performance", f"{metric} fell from {reference:.3f} (baseline) to {value:.3f}, "
                              f"a drop of {reference - value:.3f} > {max_drop}", reference - value, max_drop))
    return out


def _evidence(result: ColumnDrift) -> str:
    if result.test in ("none", "constant"):
        return result.note or result.title
    if result.score == "p_value":
        return f"{result.test} statistic {_fmt(result.statistic)}, p-value {_fmt(result.p_value)} < {result.threshold}"
    return f"{result.test} {_fmt(result.statistic)} >= {result.threshold}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
