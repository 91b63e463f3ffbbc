"""The ``prediction_log:`` section of params.yaml, parsed strictly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from mlprod.errors import ConfigError


@dataclass(frozen=True)
class PredictionLogSettings:
    dir: str = "monitoring/prediction_log"  # <dir>/<YYYY-MM-DD>/<host>-<pid>-<start>-<seq>.parquet
    segment_rows: int = 10000  # a segment is written when the buffer holds this many rows ...
    flush_seconds: float = 60.0  # ... or when its oldest row waited this long, and on close
    keep_days: int | None = 90  # prune() removes day folders older than this; None: keep forever
    log_features: tuple[str, ...] = ()  # raw input values kept only for these features (personal data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None,
                     where: str = "params.yaml [prediction_log]") -> PredictionLogSettings:
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
        data = dict(data or {})
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
        features = data.get("log_features", ())
        if features is None:
            features = ()
        if not isinstance(features, (list, tuple)) or not all(isinstance(f, str) and f for f in features):
            raise ConfigError(f"{where}: log_features must be a list of feature names (default: [], no raw "
                              f"input values are logged), got {features!r}")
        data["log_features"] = tuple(features)
        return cls(**data).checked(where)

    def checked(self, where: str = "prediction log settings") -> PredictionLogSettings:
        if not isinstance(self.dir, str) or not self.dir.strip():
            raise ConfigError(f"{where}: dir must be a folder path, got {self.dir!r}")
        if isinstance(self.segment_rows, bool) or not isinstance(self.segment_rows, int) or self.segment_rows < 1:
            raise ConfigError(f"{where}: segment_rows must be a whole number >= 1, got {self.segment_rows!r}")
        if (isinstance(self.flush_seconds, bool) or not isinstance(self.flush_seconds, (int, float))
                or not 0 < self.flush_seconds < float("inf")):
            raise ConfigError(f"{where}: flush_seconds must be a number of seconds > 0, got {self.flush_seconds!r}")
        if self.keep_days is not None and (isinstance(self.keep_days, bool) or not isinstance(self.keep_days, int)
                                           or self.keep_days < 1):
            raise ConfigError(f"{where}: keep_days must be a whole number of days >= 1, or null to keep every "
                              f"day, got {self.keep_days!r}")
        if len(set(self.log_features)) != len(self.log_features):
            raise ConfigError(f"{where}: log_features lists a feature twice: {list(self.log_features)!r}")
        return self
