"""The card's status lines (promotion and drift), worded once for both renderers so the headers agree.

The registry's decision and the drift report answer different questions at different times: the gates compared this
model with the champion on the holdout data when it was registered; the drift report compares newer data with the
training reference afterwards. A card that shows "promoted" beside "retraining required" says which is which and
why both hold (:func:`explanation`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import ModelCard
from .text import signed

RETRAIN = "retraining required"


@dataclass(frozen=True)
class Status:
    label: str
    value: str
    tone: str  # good / bad / warn / na
    note: str


def promotion(card: ModelCard) -> Status | None:
    c = card.comparison
    if c is None:
        return None
    auc = [m for m in c.metrics if m.metric == "roc_auc" and m.dataset.startswith("holdout")]
    delta = f"; holdout ROC AUC {signed(auc[0].delta)} vs the champion" if auc and auc[0].delta is not None else ""
    if c.decision == "promoted":
        value = f"promoted over {c.champion}" if c.champion else "promoted (first champion)"
        tone = "good"
    elif c.decision:
        value = f"{c.decision}" + (f"; {c.champion} stays champion" if c.champion else "")
        tone = {"rejected": "bad", "forced": "warn"}.get(c.decision, "na")
    else:
        value, tone = f"not decided (champion: {c.champion or 'none'})", "na"
    return Status("Registry gates", value, tone, "decided at registration, on the holdout data" + delta)


def drift(card: ModelCard) -> Status | None:
    m = card.monitoring
    if m is None or not m.latest:
        return None
    note = "newer data compared with the training reference"
    if m.reasons:
        n = len(m.reasons)
        note += f": {n} reason{'s' if n != 1 else ''} to retrain, listed in the monitoring plan"
    return Status("Drift since training", m.latest, "bad" if m.latest == RETRAIN else "good", note)


def explanation(card: ModelCard) -> str | None:
    """Why a promoted model can need retraining, when the card shows both; None otherwise."""
    p, d = promotion(card), drift(card)
    if p is None or d is None or d.value != RETRAIN or not p.value.startswith("promoted"):
        return None
    versus = f"beat champion {card.comparison.champion}" if card.comparison.champion else "was the first champion"
    return (f"Both hold: this model {versus} on the holdout data when the registry gates ran; the drift report, "
            f"run afterwards on newer data, finds that the data or the label relation has moved since training "
            f"({card.monitoring.latest_source or 'drift report'}). The promotion does not clear the drift: retrain "
            "on recent data (dvc repro) and let the new version pass the same gates.")
