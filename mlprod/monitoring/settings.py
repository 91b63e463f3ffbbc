"""The monitoring history's settings: where things are and how windows are measured."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MonitoringError
from .kpi import parse_kpis
from .strict import reject_unknown


@dataclass(frozen=True)
class MonitorSettings:
    """Where things are and how windows are measured. ``key``/``date_column``/``target``/``positive_label``
    are the project's facts (``key`` None: predictions carry ``row``). Paths are relative to ``root``."""

    root: str = "."
    predictions_dir: str = "monitoring/predictions"
    labels_dir: str = "monitoring/labels"
    monitoring_dir: str = "monitoring"
    key: str | None = None
    date_column: str | None = None
    target: str = "target"
    positive_label: Any = None
    drift: Mapping[str, Any] = field(default_factory=dict)  # mlprod.drift.DriftSettings keys
    kpis: Mapping[str, Any] = field(default_factory=dict)
    reference_roc_auc: float | None = None
    max_auc_drop: float = 0.05
    disagreement_tolerance: float = 0.05
    disagreement_min_labelled: int = 500

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "monitoring") -> MonitorSettings:
        data = dict(data or {})
        reject_unknown(data, cls, where)
        settings = cls(**data)
        settings.drift_settings()
        parse_kpis(settings.kpis, f"{where}.kpis")
        for name in ("max_auc_drop", "disagreement_tolerance"):
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise MonitoringError(f"{where}.{name}: expected a number in [0, 1], got {value!r}")
        return settings

    def drift_settings(self):
        from ..drift.settings import DriftSettings

        return DriftSettings.from_mapping({"target": self.target, "date_column": self.date_column, **self.drift},
                                          where="monitoring.drift")

    @property
    def key_column(self) -> str:
        return self.key or "row"

    def path(self, *parts: str) -> Path:
        return Path(self.root, *parts)
