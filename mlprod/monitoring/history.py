"""The monitoring history: per-window summaries kept up to date as batches and labels arrive, and the
history table of metrics per window.

Order of work in :func:`update` (and why):
1. list the committed predictions (a file without its ``.done.json`` marker does not exist) and the
   label files; what the state file says was already summarised is skipped, so a rerun with nothing
   new rewrites nothing;
2. each new batch: its predictions (and the batch file it was scored from, for the feature profile) are
   split into windows; every (window, batch) part is added to ``windows/<window>.json`` and the batch's
   keys to ``keys/<batch>.parquet``. Earlier batches are never read: a window is the merge of its parts;
3. new or changed label files: their keys are looked up in the key index, and only the windows holding
   them have their label sums recomputed, from those windows' own predictions files;
4. the history rows of the touched windows are recomputed (``as_of`` now), the others kept as they
   were; the history and then the state are written atomically (a run killed midway redoes its work).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import atomic
from ..errors import MonitoringError
from .kpi import parse_kpis
from .strict import reject_unknown
from .window_metrics import window_rows
from .windows import Part, ScoreSummary, WindowSummary, assign_windows, week_bounds

# 2: ``alert_when`` (which side of ``threshold`` alerts). Version-1 files are read with it null.
SCHEMA_VERSION = 2
READS = ("1", "2")
STATE_SCHEMA_VERSION = 1  # the state file's own format (unchanged by the history's)
KINDS = ("drift", "estimated", "kpi", "realised", "volume")
# "above": value > threshold (>= for drift distances); "below": value < threshold; "outside": |value| > threshold
ALERT_WHEN = ("above", "below", "outside")
COLUMNS = ("window", "window_start", "window_end", "metric", "kind", "value", "threshold", "alert", "alert_when",
           "model_version", "rows", "labelled_rows", "as_of")


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


@dataclass(frozen=True)
class UpdateResult:
    added_batches: tuple[str, ...]
    label_files: tuple[str, ...]
    windows: tuple[str, ...]  # recomputed
    history_file: Path | None


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _read_table(path: Path, columns=None) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path, columns=columns)
        return pd.read_csv(path, usecols=columns)
    except (OSError, ValueError) as exc:
        raise MonitoringError(f"cannot read {path}: {exc}; expected a readable CSV or Parquet file") from exc


# --- inputs -----------------------------------------------------------------------------------------

def committed_batches(settings: MonitorSettings) -> list[str]:
    """Batch ids with a predictions file and its commit marker, sorted."""
    folder = settings.path(settings.predictions_dir)
    if not folder.is_dir():
        return []
    return sorted(m.name[: -len(".done.json")] for m in folder.glob("*.done.json")
                  if (folder / (m.name[: -len(".done.json")] + ".parquet")).is_file())


def label_files(settings: MonitorSettings) -> dict[str, str]:
    folder = settings.path(settings.labels_dir)
    if not folder.is_dir():
        return {}
    return {p.name: _md5(p) for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in (".csv", ".parquet")}


def read_labels(settings: MonitorSettings, names) -> pd.DataFrame:
    """Key (as text), label (0/1) and the label file of every labelled row; a later file (by name) wins."""
    from ..data.labels import binary_target

    frames = []
    for name in sorted(names):
        path = settings.path(settings.labels_dir, name)
        frame = _read_table(path)
        missing = [c for c in (settings.key_column, settings.target) if c not in frame.columns]
        if missing:
            raise MonitoringError(f"labels file {path} has no column(s) {missing}; expected the key "
                                  f"({settings.key_column!r}) and the target ({settings.target!r})")
        frame, _ = binary_target(frame[[settings.key_column, settings.target]], settings.target,
                                 positive_label=settings.positive_label, source=str(path), one_class_ok=True)
        frames.append(pd.DataFrame({"key": frame[settings.key_column].astype(str),
                                    "label": frame[settings.target].astype(np.int64), "file": name}))
    if not frames:
        return pd.DataFrame({"key": pd.Series(dtype=object), "label": pd.Series(dtype=np.int64),
                             "file": pd.Series(dtype=object)})
    return pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last")


def _predictions(settings: MonitorSettings, batch_id: str) -> tuple[pd.DataFrame, dict]:
    folder = settings.path(settings.predictions_dir)
    marker_path = folder / f"{batch_id}.done.json"
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MonitoringError(f"cannot read the commit marker {marker_path}: {exc}") from exc
    frame = _read_table(folder / f"{batch_id}.parquet")
    missing = [c for c in (settings.key_column, "score", "decision", "model_version", "scored_at")
               if c not in frame.columns]
    if missing:
        raise MonitoringError(f"predictions of batch {batch_id!r} lack column(s) {missing}; expected the "
                              f"predictions record (key {settings.key_column!r}, score, decision, ...)")
    return frame, marker


def _labels_of(keys: pd.Series, labels: pd.DataFrame) -> tuple[np.ndarray, dict[str, str]]:
    joined = pd.DataFrame({"key": keys.astype(str).to_numpy()}).merge(labels, on="key", how="left")
    label = joined["label"].fillna(-1).astype(np.int64).to_numpy()
    return label, sorted(set(joined["file"].dropna()))


# --- parts ------------------------------------------------------------------------------------------

def _parts(settings: MonitorSettings, batch_id: str, reference, labels: pd.DataFrame,
           files: Mapping[str, str]) -> tuple[dict[str, Part], pd.DataFrame]:
    from ..profile.build import build_profile

    frame, marker = _predictions(settings, batch_id)
    windows = assign_windows(frame, settings.date_column, batch_id)
    features = _features(settings, batch_id, marker, reference, len(frame))
    drift = settings.drift_settings()
    parts = {}
    for window in sorted(set(windows)):
        rows = (windows == window).to_numpy()
        chunk = frame[rows]
        label, used = _labels_of(chunk[settings.key_column], labels)
        scores = ScoreSummary.of(chunk["score"].to_numpy(), chunk["decision"].to_numpy(), label)
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


def _features(settings, batch_id, marker, reference, rows) -> pd.DataFrame | None:
    if reference is None or not marker.get("source"):
        return None
    source = settings.path(str(marker["source"]))
    if not source.is_file():
        return None  # the batch file was moved away: drift is not computed for this part
    drift = settings.drift_settings()
    special = {settings.key_column, settings.date_column, settings.target, drift.prediction, *drift.exclude}
    wanted = [c for c in (drift.columns or reference.columns) if c not in special]
    frame = _read_table(source)
    if len(frame) != rows:
        raise MonitoringError(f"batch file {source} has {len(frame)} rows but its predictions have {rows}; "
                              f"expected the file the batch was scored from")
    return frame[[c for c in wanted if c in frame.columns]].reset_index(drop=True)


# --- window files -----------------------------------------------------------------------------------

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


def _save_window(settings: MonitorSettings, summary: WindowSummary) -> WindowSummary:
    text = atomic.dumps_json(summary.to_dict())
    atomic.write_text(_window_path(settings, summary.window), text)
    return WindowSummary.from_dict(json.loads(text), summary.window)  # metrics from what was saved


def _bounds(settings: MonitorSettings, window: str, parts: Mapping[str, Part]) -> tuple[str, str]:
    if settings.date_column:
        return week_bounds(window)
    return min(p.first_date for p in parts.values()), max(p.last_date for p in parts.values())


# --- the history file -------------------------------------------------------------------------------

def history_path(settings: MonitorSettings) -> Path:
    return settings.path(settings.monitoring_dir, "history.parquet")


def read_history(path: str | Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        return pd.DataFrame({c: [] for c in COLUMNS})
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    version = meta.get(b"mlprod.schema_version", b"?").decode()
    if meta.get(b"mlprod.schema") != b"monitoring_history" or version not in READS:
        raise MonitoringError(f"{path} is not a monitoring history of schema_version {' or '.join(READS)} (got "
                              f"{version}); rebuild it with this mlprod")
    frame = table.to_pandas()
    if "alert_when" not in frame.columns:  # version 1: the direction was not recorded
        frame.insert(list(COLUMNS).index("alert_when"), "alert_when", pd.Series([None] * len(frame), dtype=object))
    return frame


def write_history(path: str | Path, rows: pd.DataFrame) -> Path:
    """Atomically, deterministically: sorted by window start, window, kind, metric; schema in metadata."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = rows.sort_values(["window_start", "window", "kind", "metric"], kind="stable").reset_index(drop=True)
    schema = pa.schema([("window", pa.string()), ("window_start", pa.string()), ("window_end", pa.string()),
                        ("metric", pa.string()), ("kind", pa.string()), ("value", pa.float64()),
                        ("threshold", pa.float64()), ("alert", pa.bool_()), ("alert_when", pa.string()),
                        ("model_version", pa.string()),
                        ("rows", pa.int64()), ("labelled_rows", pa.int64()), ("as_of", pa.string())],
                       metadata={"mlprod.schema": "monitoring_history", "mlprod.schema_version": str(SCHEMA_VERSION)})
    table = pa.Table.from_pandas(frame[list(COLUMNS)], schema=schema, preserve_index=False)
    table = table.replace_schema_metadata(schema.metadata)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return atomic.write_bytes(path, buffer.getvalue())


# --- update -----------------------------------------------------------------------------------------

def _state_path(settings: MonitorSettings) -> Path:
    return settings.path(settings.monitoring_dir, "state.json")


def _read_state(settings: MonitorSettings) -> dict:
    path = _state_path(settings)
    if not path.is_file():
        return {"schema_version": STATE_SCHEMA_VERSION, "batches": [], "label_files": {}}
    state = json.loads(path.read_text(encoding="utf-8"))
    if state.get("schema_version") != STATE_SCHEMA_VERSION:
        raise MonitoringError(f"{path}: unknown schema_version {state.get('schema_version')!r}; rebuild")
    return state


def pending(settings: MonitorSettings) -> tuple[list[str], list[str]]:
    """What :func:`update` would add: new committed batches, and new, changed or removed label files.
    Cheap (marker names and label files' md5 only): a scheduler checks it before loading anything."""
    state = _read_state(settings)
    done = set(state["batches"])
    files = label_files(settings)
    changed = {n for n, md5 in files.items() if state["label_files"].get(n) != md5} | (set(state["label_files"]) - set(files))
    return [b for b in committed_batches(settings) if b not in done], sorted(changed)


def initialise(settings: MonitorSettings) -> None:
    """Write an empty history, state and summary folders where none exist yet (valid outputs before any batch)."""
    for name in ("windows", "keys"):
        settings.path(settings.monitoring_dir, name).mkdir(parents=True, exist_ok=True)
    if not history_path(settings).is_file():
        write_history(history_path(settings), pd.DataFrame({c: [] for c in COLUMNS}))
    if not _state_path(settings).is_file():
        atomic.write_json(_state_path(settings), _read_state(settings))


def update(settings: MonitorSettings, reference=None, *, as_of: str | None = None) -> UpdateResult:
    """Add new committed batches and new label files to the monitoring history (see the module docstring).
    ``reference``: the model's reference profile (features, and the score under the drift settings'
    ``prediction`` name) for drift; None skips drift."""
    as_of = as_of or _now()
    state = _read_state(settings)
    done = set(state["batches"])
    new_batches = [b for b in committed_batches(settings) if b not in done]
    files = label_files(settings)
    changed_files = sorted(n for n, md5 in files.items() if state["label_files"].get(n) != md5)
    removed_files = sorted(set(state["label_files"]) - set(files))
    if not new_batches and not changed_files and not removed_files:
        return UpdateResult((), (), (), None)
    labels = read_labels(settings, files)
    touched: dict[str, WindowSummary] = {}
    for batch in new_batches:
        parts, index = _parts(settings, batch, reference, labels, files)
        for window, part in parts.items():
            summary = touched.get(window) or read_window(settings, window)
            merged = dict(summary.parts) if summary else {}
            merged[batch] = part
            start, end = _bounds(settings, window, merged)
            touched[window] = _save_window(settings, WindowSummary(window, start, end, merged))
        write_index(settings, batch, index)
    if changed_files or removed_files:
        keys = set(labels[labels["file"].isin(changed_files)]["key"])
        earlier = {w for name in changed_files + removed_files for w in state.get("label_windows", {}).get(name, [])}
        for window in sorted(set(_windows_of_keys(settings, keys)) | earlier):  # earlier: a file rewritten
            summary = touched.get(window) or read_window(settings, window)
            if summary is None:
                continue
            touched[window] = _save_window(settings, _relabel(settings, summary, labels, files))
    history = read_history(history_path(settings))
    history = history[~history["window"].isin(list(touched))]
    new_rows = [row for window in sorted(touched) for row in window_rows(touched[window], reference, settings, as_of)]
    frame = pd.concat([history, pd.DataFrame(new_rows, columns=list(COLUMNS))], ignore_index=True)
    path = write_history(history_path(settings), frame)
    label_windows = {name: set(ws) for name, ws in state.get("label_windows", {}).items() if name in files}
    for window, summary in touched.items():
        for name in {n for part in summary.parts.values() for n in part.label_files}:
            label_windows.setdefault(name, set()).add(window)
    atomic.write_json(_state_path(settings), {"schema_version": STATE_SCHEMA_VERSION,
                                              "batches": sorted(done | set(new_batches)), "label_files": files,
                                              "label_windows": {n: sorted(w) for n, w in sorted(label_windows.items())}})
    return UpdateResult(tuple(new_batches), tuple(changed_files + removed_files), tuple(sorted(touched)), path)


def write_index(settings: MonitorSettings, batch: str, index: pd.DataFrame) -> None:
    import io

    buffer = io.BytesIO()
    index.to_parquet(buffer, index=False)
    atomic.write_bytes(settings.path(settings.monitoring_dir, "keys", f"{batch}.parquet"), buffer.getvalue())


def _windows_of_keys(settings: MonitorSettings, keys: set[str]) -> list[str]:
    windows: set[str] = set()
    for path in sorted(settings.path(settings.monitoring_dir, "keys").glob("*.parquet")):
        index = pd.read_parquet(path)
        windows |= set(index.loc[index["key"].isin(keys), "window"])
    return sorted(windows)


def _relabel(settings: MonitorSettings, summary: WindowSummary, labels: pd.DataFrame,
             files: Mapping[str, str]) -> WindowSummary:
    """The window with its label sums recomputed from its own batches' predictions."""
    parts = {}
    for batch, part in summary.parts.items():
        frame, _ = _predictions(settings, batch)
        chunk = frame[(assign_windows(frame, settings.date_column, batch) == summary.window).to_numpy()]
        label, used = _labels_of(chunk[settings.key_column], labels)
        scores = ScoreSummary.of(chunk["score"].to_numpy(), chunk["decision"].to_numpy(), label)
        parts[batch] = part.with_scores(scores, {name: files[name] for name in used})
    return WindowSummary(summary.window, summary.start, summary.end, parts)
