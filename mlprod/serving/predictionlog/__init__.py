"""The prediction log: every served row, appended in per-process Parquet segments (docs/prediction_log.md).

    settings = PredictionLogSettings.from_mapping(params["prediction_log"])   # strict
    with PredictionLogWriter(settings, key="lead_id") as writer:
        writer.log_request(request_id, outputs, model=ModelRef(name, version, sha256), inputs=frame)
        writer.log_frame(batch_id, scored, model=ModelRef(name, version, sha256), inputs=batch)  # a whole batch
    frame = read_log(settings.dir, since="2025-01-01")
    removed = prune(settings.dir, settings.keep_days)
"""

from .reader import PredictionLogError, PredictionLogWarning, day_folders, prune, read_log, segments
from .schema import COLUMNS, SCHEMA_VERSION
from .settings import PredictionLogSettings
from .writer import ModelRef, PredictionLogWriter

__all__ = ["COLUMNS", "SCHEMA_VERSION", "ModelRef", "PredictionLogError", "PredictionLogSettings",
           "PredictionLogWarning", "PredictionLogWriter", "day_folders", "prune", "read_log", "segments"]
