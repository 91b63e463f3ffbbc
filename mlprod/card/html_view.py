"""What the HTML model card shows, computed from the card value: the at-a-glance tiles, the fallback comparison
rows, the tone of a status, and the inline SVG charts (curves, metric by segment)."""

from __future__ import annotations

from typing import Any

from . import header, text
from .schema import ModelCard


def fallback_metrics(card: ModelCard) -> list[tuple[str, str, str, str]]:
    """(metric, this model, fallback, difference) rows of the fallback section, formatted."""
    f, p = card.fallback, card.performance.holdout
    if f is None:
        return []
    return [(m, text.metric_value(m, p.get(m)), text.metric_value(m, f.holdout.get(m)),
             text.difference(m, p.get(m), f.holdout.get(m))) for m in text.METRIC_ORDER if m in f.holdout or m in p]


def tone(status: str | None) -> str:
    return {"passed": "good", "promoted": "good", "unchanged": "good", "canary": "warn", "warned": "warn", "forced": "warn",
            "failed": "bad", "rejected": "bad"}.get(str(status), "na")


def glance(card: ModelCard) -> list[tuple[str, str, str]]:
    out = []
    p = card.performance
    if "roc_auc" in p.holdout:
        out.append(("Holdout ROC AUC", text.num(p.holdout["roc_auc"]), ""))
    if card.slices is not None:
        n = len(card.slices.limitations)
        out.append(("Known limitations", f"{n} segment{'s' if n != 1 else ''}", "bad" if n else "good"))
    if card.failure_modes is not None:
        bad = len(card.failure_modes.failing)
        out.append(("Failing probes", f"{bad} of {len(card.failure_modes.probes)}", "warn" if bad else "good"))
    if card.validation is not None:
        out.append(("Data validation", card.validation.status, tone(card.validation.status)))
    promotion = header.promotion(card)
    if promotion is not None:
        out.append((promotion.label, promotion.value, promotion.tone))
    drift = header.drift(card)
    if drift is not None:
        out.append((drift.label, drift.value, drift.tone))
    if card.fallback is not None:
        f = card.fallback
        out.append(("Fallback", f"{f.version}" + (f", AUC {text.num(f.holdout['roc_auc'])}" if "roc_auc" in f.holdout
                                                 else ""), tone(f.decision)))
    return out


def curve_charts(card: ModelCard) -> list[Any]:
    from .plots import xy_chart

    c = card.curves
    if c is None:
        return []
    auc = card.performance.holdout.get("roc_auc")
    ap = card.performance.holdout.get("average_precision")
    out = []
    if c.roc:
        out.append(xy_chart({"ROC": c.roc}, title="ROC" + (f" (AUC {auc:.3f})" if auc is not None else ""),
                            x_label="false positive rate", y_label="true positive rate", diagonal=True))
    if c.precision_recall:
        out.append(xy_chart({"precision-recall": c.precision_recall},
                            title="Precision-recall" + (f" (AP {ap:.3f})" if ap is not None else ""),
                            x_label="recall", y_label="precision",
                            baseline=card.performance.holdout.get("positive_rate")))
    if c.calibration:
        out.append(xy_chart({"calibration": c.calibration}, title="Calibration", x_label="mean predicted probability",
                            y_label="observed positive rate", diagonal=True))
    return out


def segment_charts(card: ModelCard) -> list[Any]:
    from .plots import segment_chart

    sl = card.slices
    if sl is None:
        return []
    return [segment_chart(f, [(s.segment, s.value, s.se, s.flagged, s.rows) for s in sl.for_feature(f)],
                          metric=sl.label, overall=sl.overall) for f in sl.features if sl.for_feature(f)]
