"""Result values of drift detection. They only describe what was measured; the policy decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
FINDING_KINDS = ("missing_column", "missing_values", "new_category")


def _clean(value: Any) -> Any:
    """JSON-ready, rounded, with empty fields dropped (keeps files small and diffs readable)."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()  # numpy scalars
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not _empty(v)}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (dict, list, tuple)) and len(value) == 0)


@dataclass(frozen=True)
class ColumnDrift:
    """One column compared with one test. ``chosen_by`` says whether the test was the default."""

    column: str
    kind: str
    test: str  # the test that ran; "constant" (exact rule) or "none" (no values on a side: nothing ran)
    title: str
    score: str  # "p_value": drift when p_value < threshold; "distance": statistic >= threshold; see SCORES
    threshold: float | None
    chosen_by: str
    drifted: bool
    statistic: float | None
    p_value: float | None
    n_reference: int
    n_current: int
    missing_share_reference: float
    missing_share_current: float
    details: dict = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _clean(dict(self.__dict__))

    @property
    def alert_when(self) -> str | None:
        """Which side of the threshold is drift: ``"below"`` for a p-value, ``"above"`` for a distance or the
        exact rule; None when no test ran (no threshold)."""
        if self.threshold is None:
            return None
        return "below" if self.score == "p_value" else "above"

    @property
    def alert_figure(self) -> float | None:
        """The figure the threshold applies to: the p-value for a test decided on it, else the statistic."""
        return self.p_value if self.score == "p_value" else self.statistic


@dataclass(frozen=True)
class Finding:
    """A change in the data that is not a distribution shift of values: a reference column absent from
    the current data (``missing_column``), a changed share of missing values (``missing_values``), or
    a category the reference never had (``new_category``). ``value``/``threshold`` are the measured
    change or share and the minimum that makes it a finding; ``p_value``/``alpha`` the test's, if any."""

    kind: str
    column: str
    message: str
    value: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _clean(dict(self.__dict__))


@dataclass(frozen=True)
class FeatureDrift:
    columns: tuple[ColumnDrift, ...]

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def share_drifted(self) -> float:
        return len(self.drifted) / len(self.columns) if self.columns else 0.0

    def to_dict(self) -> dict[str, Any]:
        return _clean({"n_columns": len(self.columns), "n_drifted": len(self.drifted),
                       "share_drifted": self.share_drifted, "drifted_columns": self.drifted,
                       "columns": {c.column: c.to_dict() for c in self.columns}})


@dataclass(frozen=True)
class Window:
    """Performance on consecutive current rows; ``first``/``last`` are their first and last dates (ISO),
    None without a date column."""

    start: int
    rows: int
    label: str
    roc_auc: float | None
    brier: float
    positive_rate: float
    mean_score: float
    first: str | None = None
    last: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _clean(dict(self.__dict__))


@dataclass(frozen=True)
class Performance:
    """Metrics of the model's scores against labels on one batch."""

    rows: int
    metrics: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return _clean({"rows": self.rows, **self.metrics})


@dataclass(frozen=True)
class ConceptDrift:
    """Change in the relation between features and label.

    ``relations``: per feature, the change of the mean residual (label - score) per bin between the
    baseline and the current rows, with a chi-square p-value; ``windows``: performance per window of
    current rows; ``detections``: changes an ADWIN detector found in the per-row error stream.
    """

    baseline: str
    relations: dict[str, dict[str, Any]]
    windows: tuple[Window, ...]
    detections: tuple[dict[str, Any], ...]
    detector: dict[str, Any]
    windows_below: int
    drifted_features: tuple[str, ...]
    error_increase_detected: bool

    @property
    def detected(self) -> bool:
        return bool(self.drifted_features) or self.error_increase_detected

    def to_dict(self) -> dict[str, Any]:
        return _clean({"detected": self.detected, "baseline": self.baseline, "relations": self.relations,
                       "drifted_features": list(self.drifted_features), "windows_below_baseline": self.windows_below,
                       "n_windows": len(self.windows), "detector": self.detector,
                       "error_increase_detected": self.error_increase_detected,
                       "detections": list(self.detections)})


@dataclass(frozen=True)
class ImportanceShift:
    method: str
    reference: dict[str, float]
    current: dict[str, float]
    correlation: float | None
    threshold: float
    note: str | None = None

    @property
    def shifted(self) -> bool:
        return self.correlation is not None and self.correlation < self.threshold

    def to_dict(self) -> dict[str, Any]:
        return _clean({"method": self.method, "spearman": self.correlation, "threshold": self.threshold,
                       "shifted": self.shifted, "reference": self.reference, "current": self.current,
                       "note": self.note})


@dataclass(frozen=True)
class Reason:
    trigger: str
    message: str
    value: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return _clean(dict(self.__dict__))


@dataclass(frozen=True)
class RetrainDecision:
    required: bool
    reasons: tuple[Reason, ...]
    observations: tuple[Reason, ...] = ()  # findings that are not triggers under the policy

    def to_dict(self) -> dict[str, Any]:
        return _clean({"required": self.required, "reasons": [r.to_dict() for r in self.reasons],
                       "observations": [r.to_dict() for r in self.observations]})


@dataclass(frozen=True)
class DriftReport:
    """Everything one comparison found, plus the retraining decision and the settings used."""

    reference: dict[str, Any]
    current: dict[str, Any]
    features: FeatureDrift
    prediction: ColumnDrift | None
    concept: ConceptDrift | None
    performance: dict[str, Performance]
    importance: ImportanceShift | None
    retrain: RetrainDecision
    settings: dict[str, Any]
    notes: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    plots: dict[str, Any] = field(default_factory=dict, compare=False)  # aggregated histograms for the report

    def to_dict(self) -> dict[str, Any]:
        return _clean({
            "schema_version": SCHEMA_VERSION,
            "retrain": self.retrain.required,
            "retrain_decision": self.retrain.to_dict(),
            "reference": self.reference,
            "current": self.current,
            "feature_drift": self.features.to_dict(),
            "findings": {kind: {"count": len(found), "items": [f.to_dict() for f in found]}
                         for kind, found in ((k, [f for f in self.findings if f.kind == k]) for k in FINDING_KINDS)},
            "prediction_drift": self.prediction.to_dict() if self.prediction else None,
            "concept_drift": self.concept.to_dict() if self.concept else None,
            "performance": {name: perf.to_dict() for name, perf in self.performance.items()},
            "importance_shift": self.importance.to_dict() if self.importance else None,
            "settings": self.settings,
            "notes": list(self.notes),
        })

    def write(self, output_dir, **names) -> dict[str, Any]:
        """Write drift.json, the plots CSVs, the HTML report and the Prometheus file; see outputs.write_outputs."""
        from .outputs import write_outputs

        return write_outputs(self, output_dir, **names)
