"""The model card as a value: every section, computed before anything is rendered.

:class:`ModelCard` holds what the card says; the renderers (:mod:`.markdown`, :mod:`.html`) only
format it. ``card.to_dict()`` is the JSON form (``model_card.json``, ``schema_version`` 1): plain data,
floats rounded to 6 digits, keys sorted when written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .info import CardInfo, CardSettings
from .probes import FailureModes
from .slices import SliceAnalysis

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Missing:
    """An optional input the card could not use, and what the card lacks because of it."""

    input: str
    path: str
    effect: str


@dataclass(frozen=True)
class InputColumn:
    name: str
    dtype: str
    kind: str  # "numeric" | "categorical"


@dataclass(frozen=True)
class Details:
    name: str
    version: str
    created_at: str
    description: str
    model_type: str  # the artifact's class, e.g. sklearn.pipeline.Pipeline
    estimator: str  # the final estimator's class name, when known
    hyperparameters: dict[str, Any]
    artifact: str  # path of the model file
    sha256: str
    size: int
    inputs: tuple[InputColumn, ...]
    output: str
    git_commit: str | None
    git_dirty: bool
    previous_version: str | None
    manifest: str  # path of the manifest the card was built from
    python: str | None = None  # the environment the model was trained in (manifest environment)
    packages: dict[str, str] = dataclasses.field(default_factory=dict)  # distribution -> version


@dataclass(frozen=True)
class DataSet:
    role: str  # "training" | "evaluation"
    path: str
    dataset_id: str | None
    rows: int | None
    positives: int | None
    period: str | None  # first and last date of the rows, when a date column is present
    description: str = ""

    @property
    def positive_rate(self) -> float | None:
        return self.positives / self.rows if self.rows and self.positives is not None else None


@dataclass(frozen=True)
class Performance:
    target: str
    threshold: float
    holdout: dict[str, Any]  # metric -> value, from the evaluation stage
    training: dict[str, Any]
    source: str  # where the holdout metrics came from


@dataclass(frozen=True)
class Curves:
    roc: tuple[tuple[float, float], ...]  # (false positive rate, true positive rate)
    precision_recall: tuple[tuple[float, float], ...]  # (recall, precision)
    calibration: tuple[tuple[float, float], ...]  # (mean predicted, observed rate)
    source: str


@dataclass(frozen=True)
class ValidationSummary:
    source: str
    status: str  # "passed" | "warned" | "failed"
    checks: int
    failed: int
    warnings: int
    datasets: tuple[tuple[str, int, str, int, int], ...]  # (name, rows, status, failed, warnings)
    findings: tuple[str, ...]  # failed and warned checks, one line each (from the details file)


@dataclass(frozen=True)
class MetricDelta:
    dataset: str
    metric: str
    champion: float | None
    challenger: float | None

    @property
    def delta(self) -> float | None:
        return None if self.champion is None or self.challenger is None else self.challenger - self.champion


@dataclass(frozen=True)
class Change:
    what: str
    before: str
    after: str


@dataclass(frozen=True)
class Gate:
    name: str
    status: str  # "passed" | "failed" | "not evaluated"
    detail: str


@dataclass(frozen=True)
class Comparison:
    source: str  # the decision record, or the previous manifest
    champion: str | None  # champion version (None: there is none)
    challenger: str
    decision: str | None  # e.g. "promoted", "rejected"; None when no gate ran
    metrics: tuple[MetricDelta, ...] = ()
    data_changes: tuple[Change, ...] = ()
    parameter_changes: tuple[Change, ...] = ()
    gates: tuple[Gate, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FallbackModel:
    """The fallback model as the card shows it."""

    name: str
    version: str
    estimator: str
    sha256: str
    manifest: str  # path of its manifest
    holdout: dict[str, Any]  # its holdout metrics
    metrics_source: str
    same_holdout: bool | None  # scored on the primary's evaluation data (by dataset id); None: unknown
    decision: str | None = None  # its registry outcome ("promoted", "rejected", ...); None: no record
    champion: str | None = None  # NAME-fallback's champion the gates compared with
    gates: tuple[Gate, ...] = ()
    decision_source: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rollback:
    current: str
    previous: str | None  # the version a rollback puts back in service; None: nothing to roll back to
    steps: tuple[tuple[str, str], ...]  # (what it does, exact command)
    notes: tuple[str, ...] = ()
    predecessor: str | None = None  # the version before this one (its manifest's `previous`)
    summary: str = ""  # where a rollback goes, in a few words (the card's summary table)


@dataclass(frozen=True)
class Monitoring:
    source: str
    settings: tuple[tuple[str, str, str], ...]  # (setting, value, "params.yaml" | "default")
    triggers: tuple[tuple[str, str], ...]  # (trigger, rule in words)
    latest: str | None = None  # the last drift report's decision, in words
    latest_source: str | None = None
    reasons: tuple[str, ...] = ()
    observations: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelCard:
    title: str
    details: Details
    info: CardInfo
    performance: Performance
    evaluation_data: DataSet | None
    training_data: DataSet | None
    slices: SliceAnalysis | None
    failure_modes: FailureModes | None
    curves: Curves | None
    validation: ValidationSummary | None
    comparison: Comparison | None
    rollback: Rollback
    monitoring: Monitoring | None
    recommendations: tuple[str, ...]  # derived from what was measured
    settings: CardSettings
    missing: tuple[Missing, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()  # (input, path) actually used
    schema_version: int = SCHEMA_VERSION
    fallback: FallbackModel | None = None  # the fallback model's section; None (and no JSON key): no fallback

    def to_dict(self) -> dict[str, Any]:
        data = _plain(self)
        if self.fallback is None:
            del data["fallback"]
        if self.slices is not None:
            data["slices"]["limitations"] = [_plain(s) for s in self.slices.limitations]
        return data


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 6) if value == value and abs(value) != float("inf") else None
    return value

