"""Window summaries on disk: the parts a batch adds to its windows, the ``windows/<window>.json`` files, the
key index (``keys/<batch>.parquet``) that finds a labelled row's window, and relabelling a window."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import atomic
from ..errors import MonitoringError
from .history_inputs import labels_of, predictions_of, read_table
from .settings import MonitorSettings
from .windows import Part, ScoreSummary, WindowSummary, assign_windows, week_bounds


def batch_parts(settings: MonitorSettings, batch_id: str, reference, labels: pd.DataFrame,
           files: Mapping[str, str]) -> tuple[dict[str, Part], pd.DataFrame]:
    from ..profile.build import build_profile

    frame, marker = predictions_of(settings, batch_id)
    windows = assign_windows(frame, settings.date_column, batch_id)
    features = _features(settings, batch_id, marker, reference, len(frame))
    drift = settings.drift_settings()
    parts = {}
    for window in sorted(set(windows)):
        rows = (windows == window).to_numpy()
        chunk = frame[rows]
        label, used = labels_of(chunk[settings.key_column], labels)
        scores = ScoreSummary.of(chunk["score"].to_numpy(), chunk["decision"].to_numpy(), label,
                                 review_flags(chunk, settings))
        profile = None
        if features is not None:
            table = features[rows].reset_index(drop=True)
            if drift.prediction:
                table[drift.prediction] = chunk["score"].to_numpy()
            categorical = [c for c in table.columns if c in reference.columns
                           and reference[c].kind == "categorical"]
            profile = build_profile(table, categorical=categorical, sample_size=0)
        dates = (pd.to_datetime(chunk[settings.date_column], utc=True) if settings.date_column
                 else pd.to_datetime(chunk["scored_at"], utc=True))
        versions = chunk["model_version"].astype(str).value_counts()
        version = max(sorted(versions.index), key=lambda v: versions[v])
        parts[window] = Part(batch_id, int(rows.sum()), version, str(marker.get("scored_at", "")),
                             dates.min().date().isoformat(), dates.max().date().isoformat(), scores, profile,
                             {name: files[name] for name in used})
    index = pd.DataFrame({"key": frame[settings.key_column].astype(str).to_numpy(), "window": windows.to_numpy()})
    return parts, index


def review_flags(chunk: pd.DataFrame, settings: MonitorSettings) -> np.ndarray | None:
    """Which rows were routed to people: the predictions' ``needs_review`` column where it has a value, else a score
    inside ``settings.review_band`` (inclusive, as the predictor routes); None when neither says (no review routing:
    every row was decided automatically)."""
    band = settings.review_band
    score = chunk["score"].to_numpy(dtype=float)
    by_band = None if band is None else (score >= band[0]) & (score <= band[1])
    if "needs_review" not in chunk.columns:
        return by_band
    column = chunk["needs_review"].astype("boolean")
    known = column.notna().to_numpy()
    fallback = by_band if by_band is not None else np.zeros(len(chunk), dtype=bool)
    return np.where(known, column.fillna(False).to_numpy(dtype=bool), fallback)


def _features(settings, batch_id, marker, reference, rows) -> pd.DataFrame | None:
    if reference is None or not marker.get("source"):
        return None
    source = settings.path(str(marker["source"]))
    if not source.is_file():
        return None  # the batch file was moved away: drift is not computed for this part
    drift = settings.drift_settings()
    special = {settings.key_column, settings.date_column, settings.target, drift.prediction, *drift.exclude}
    wanted = [c for c in (drift.columns or reference.columns) if c not in special]
    frame = read_table(source)
    if len(frame) != rows:
        raise MonitoringError(f"batch file {source} has {len(frame)} rows but its predictions have {rows}; "
                              f"expected the file the batch was scored from")
    return frame[[c for c in wanted if c in frame.columns]].reset_index(drop=True)


def _window_path(settings: MonitorSettings, window: str) -> Path:
    return settings.path(settings.monitoring_dir, "windows", f"{window}.json")


def read_window(settings: MonitorSettings, window: str) -> WindowSummary | None:
    path = _window_path(settings, window)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MonitoringError(f"cannot read the window summary {path}: {exc}; delete it and rebuild") from exc
    return WindowSummary.from_dict(data, str(path))


def save_window(settings: MonitorSettings, summary: WindowSummary) -> WindowSummary:
    text = atomic.dumps_json(summary.to_dict())
    atomic.write_text(_window_path(settings, summary.window), text)
    return WindowSummary.from_dict(json.loads(text), summary.window)  # metrics from what was saved


def window_bounds(settings: MonitorSettings, window: str, parts: Mapping[str, Part]) -> tuple[str, str]:
    if settings.date_column:
        return week_bounds(window)
    return min(p.first_date for p in parts.values()), max(p.last_date for p in parts.values())


def write_index(settings: MonitorSettings, batch: str, index: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    index.to_parquet(buffer, index=False)
    atomic.write_bytes(settings.path(settings.monitoring_dir, "keys", f"{batch}.parquet"), buffer.getvalue())


def windows_of_keys(settings: MonitorSettings, keys: set[str]) -> list[str]:
    windows: set[str] = set()
    for path in sorted(settings.path(settings.monitoring_dir, "keys").glob("*.parquet")):
        index = pd.read_parquet(path)
        windows |= set(index.loc[index["key"].isin(keys), "window"])
    return sorted(windows)


def relabel(settings: MonitorSettings, summary: WindowSummary, labels: pd.DataFrame,
             files: Mapping[str, str]) -> WindowSummary:
    """The window with its label sums recomputed from its own batches' predictions."""
    parts = {}
    for batch, part in summary.parts.items():
        frame, _ = predictions_of(settings, batch)
        chunk = frame[(assign_windows(frame, settings.date_column, batch) == summary.window).to_numpy()]
        label, used = labels_of(chunk[settings.key_column], labels)
        scores = ScoreSummary.of(chunk["score"].to_numpy(), chunk["decision"].to_numpy(), label,
                                 review_flags(chunk, settings))
        parts[batch] = part.with_scores(scores, {name: files[name] for name in used})
    return WindowSummary(summary.window, summary.start, summary.end, parts)
