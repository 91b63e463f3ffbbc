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
    # the review guarantee (docs/serving.md, Routing to people): the error among automatically decided rows per
    # window, alerting above ``review_alpha`` (None: not watched) once ``guarantee_min_labelled`` of them are labelled.
    # Rows routed to people: the predictions' ``needs_review`` column where present, else scores inside
    # ``review_band`` (inclusive); ``review_calibrated``: the band and alpha come from the champion's
    # review_calibration.json (serving.review.method: risk_control), resolved by mlprod.monitoring.loop.monitor.
    review_alpha: float | None = None
    review_band: tuple[float, float] | None = None
    review_calibrated: bool = False
    guarantee_min_labelled: int = 200

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "monitoring") -> MonitorSettings:
        data = dict(data or {})
        reject_unknown(data, cls, where)
        if isinstance(data.get("review_band"), list):
            data["review_band"] = tuple(data["review_band"])
        settings = cls(**data)
        settings.drift_settings()
        parse_kpis(settings.kpis, f"{where}.kpis")
        for name in ("max_auc_drop", "disagreement_tolerance"):
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise MonitoringError(f"{where}.{name}: expected a number in [0, 1], got {value!r}")
        _check_review(settings, where)
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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_review(settings: MonitorSettings, where: str) -> None:
    alpha, band, least = settings.review_alpha, settings.review_band, settings.guarantee_min_labelled
    if alpha is not None and not (_number(alpha) and 0 < alpha < 1):
        raise MonitoringError(f"{where}.review_alpha: expected a number in (0, 1) (serving.review.alpha) or null, "
                              f"got {alpha!r}")
    if band is not None and not (isinstance(band, tuple) and len(band) == 2 and all(_number(v) for v in band)
                                 and 0 <= band[0] <= band[1] <= 1):
        raise MonitoringError(f"{where}.review_band: expected [low, high] within [0, 1] (serving.review_band) or "
                              f"null, got {band!r}")
    if isinstance(least, bool) or not isinstance(least, int) or least < 1:
        raise MonitoringError(f"{where}.guarantee_min_labelled: expected a whole number >= 1, got {least!r}")
