"""Drift settings: which columns and tests, thresholds, and the retraining policy (strictly parsed)."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import DriftError

TRIGGERS = ("feature_drift", "prediction_drift", "concept_drift", "performance", "importance_shift",
            "missing_column", "missing_values", "new_category")


@dataclass(frozen=True)
class DriftSettings:
    """Everything that shapes a drift report. Defaults are documented in docs/drift.md.

    Columns: ``columns`` (features to compare; default every column both sides share except the
    target, prediction, date and ``exclude`` columns), ``target`` (labels, 0/1), ``prediction`` (model
    score column), ``date_column`` (orders rows for windows). Tests: ``stat_test`` ("auto" or a test
    name), ``column_tests`` (column -> test), ``thresholds`` (test -> threshold), ``n_bins``.
    Labels: ``decision_threshold``, ``window_rows``, ``kpi_top_share``, ``concept_alpha``,
    ``concept_min_effect``, ``importance_rows``. Data findings: ``min_missing_change`` and
    ``missing_alpha`` (a share of missing values that moved by at least this much, with Fisher's exact
    p below alpha), ``min_new_category_share`` (a category the reference never had, in at least this
    share of the current rows). Retraining policy: ``retrain_on`` (which kinds of findings may trigger
    it), ``max_drifted_share``, ``max_auc_drop``, ``max_kpi_drop``, ``min_roc_auc``, ``min_kpi``,
    ``min_importance_correlation``.
    """

    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    target: str | None = None
    prediction: str | None = "prediction"
    date_column: str | None = None
    stat_test: str = "auto"
    column_tests: Mapping[str, str] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    n_bins: int = 10
    decision_threshold: float = 0.5
    window_rows: int = 500
    kpi_top_share: float = 0.2
    concept_alpha: float = 0.01
    concept_min_effect: float = 0.02
    importance_rows: int = 2000
    min_missing_change: float = 0.05
    missing_alpha: float = 0.05
    min_new_category_share: float = 0.01
    retrain_on: tuple[str, ...] = TRIGGERS
    max_drifted_share: float = 0.3
    max_auc_drop: float | None = 0.05
    max_kpi_drop: float | None = None
    min_roc_auc: float | None = None
    min_kpi: float | None = None
    min_importance_correlation: float = 0.9

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, *, where: str = "drift settings",
                     ignore: tuple[str, ...] = ()) -> DriftSettings:
        """Build settings from a mapping (e.g. a params.yaml section); unknown keys are errors."""
        data = dict(data or {})
        allowed = cls.names()
        unknown = sorted(set(data) - set(allowed) - set(ignore))
        if unknown:
            close = difflib.get_close_matches(unknown[0], allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DriftError(f"{where}: unknown key(s) {unknown}; allowed: {allowed}.{hint}")
        values = {key: value for key, value in data.items() if key in allowed}
        for key in ("columns", "exclude", "retrain_on"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except DriftError as exc:
            raise DriftError(f"{where}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
            elif isinstance(value, Mapping):
                out[key] = dict(value)
        return out

    def threshold_for(self, test: str, default: float) -> float:
        return float(self.thresholds.get(test, default))


def _check(s: DriftSettings) -> None:
    from .stattests import available

    tests = available()
    for name in ("columns", "exclude", "retrain_on"):
        value = getattr(s, name)
        if value is not None and (not isinstance(value, tuple) or not all(isinstance(v, str) for v in value)):
            raise DriftError(f"{name!r} must be a list of names, got {value!r}")
    for name in ("target", "prediction", "date_column"):
        value = getattr(s, name)
        if value is not None and not isinstance(value, str):
            raise DriftError(f"{name!r} must be a column name or null, got {value!r}")
    if s.stat_test != "auto" and s.stat_test not in tests:
        raise DriftError(f"'stat_test' must be 'auto' or one of {tests}, got {s.stat_test!r}")
    for label, mapping, valid in (("column_tests", s.column_tests, tests), ("thresholds", s.thresholds, None)):
        if not isinstance(mapping, Mapping):
            raise DriftError(f"{label!r} must be a mapping, got {mapping!r}")
        for key, value in mapping.items():
            if valid is not None and value not in valid:
                raise DriftError(f"column_tests[{key!r}]: unknown test {value!r}; available: {tests}")
            if valid is None and key not in tests:
                raise DriftError(f"thresholds: unknown test {key!r}; available: {tests}")
            if valid is None and not _number(value):
                raise DriftError(f"thresholds[{key!r}] must be a number, got {value!r}")
    bad = sorted(set(s.retrain_on) - set(TRIGGERS))
    if bad:
        raise DriftError(f"'retrain_on' names unknown trigger(s) {bad}; allowed: {list(TRIGGERS)}")
    for name in ("n_bins", "window_rows", "importance_rows"):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise DriftError(f"{name!r} must be an integer >= 2, got {value!r}")
    for name in ("decision_threshold", "kpi_top_share", "concept_alpha", "max_drifted_share",
                 "min_importance_correlation"):
        if not _number(getattr(s, name)):
            raise DriftError(f"{name!r} must be a number, got {getattr(s, name)!r}")
    for name in ("kpi_top_share", "concept_alpha", "missing_alpha"):
        if not _number(getattr(s, name)) or not 0 < getattr(s, name) < 1:
            raise DriftError(f"{name!r} must be strictly between 0 and 1, got {getattr(s, name)!r}")
    for name in ("min_missing_change", "min_new_category_share"):
        if not _number(getattr(s, name)) or not 0 < getattr(s, name) <= 1:
            raise DriftError(f"{name!r} must be a share greater than 0 and at most 1, got {getattr(s, name)!r}")
    for name in ("concept_min_effect", "max_auc_drop", "max_kpi_drop", "min_roc_auc", "min_kpi"):
        value = getattr(s, name)
        if value is not None and not _number(value):
            raise DriftError(f"{name!r} must be a number or null, got {value!r}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
