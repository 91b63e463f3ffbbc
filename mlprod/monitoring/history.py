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

Where the pieces live: :mod:`.settings` (:class:`MonitorSettings`), :mod:`.history_inputs` (batches, label files),
:mod:`.window_parts` (window summaries on disk, the key index), :mod:`.history_file` (``history.parquet``),
:mod:`.window_metrics` (the rows of one window). Their public names are importable from here as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .. import atomic
from ..errors import MonitoringError
from .history_file import (ALERT_WHEN, COLUMNS, KINDS, READS, SCHEMA_VERSION, history_path, read_history,  # noqa: F401
                           write_history)
from .history_inputs import committed_batches, label_files, read_labels  # noqa: F401
from .settings import MonitorSettings
from .window_metrics import window_rows
from .window_parts import batch_parts, read_window, relabel, save_window, window_bounds, windows_of_keys, write_index
from .windows import WindowSummary

__all__ = ["ALERT_WHEN", "COLUMNS", "KINDS", "READS", "SCHEMA_VERSION", "STATE_SCHEMA_VERSION", "MonitorSettings",
           "UpdateResult", "committed_batches", "history_path", "initialise", "label_files", "pending", "read_history",
           "read_labels", "read_window", "update", "write_history", "write_index"]

STATE_SCHEMA_VERSION = 1  # the state file's own format (unchanged by the history's)


@dataclass(frozen=True)
class UpdateResult:
    added_batches: tuple[str, ...]
    label_files: tuple[str, ...]
    windows: tuple[str, ...]  # recomputed
    history_file: Path | None


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


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
        parts, index = batch_parts(settings, batch, reference, labels, files)
        for window, part in parts.items():
            summary = touched.get(window) or read_window(settings, window)
            merged = dict(summary.parts) if summary else {}
            merged[batch] = part
            start, end = window_bounds(settings, window, merged)
            touched[window] = save_window(settings, WindowSummary(window, start, end, merged))
        write_index(settings, batch, index)
    if changed_files or removed_files:
        keys = set(labels[labels["file"].isin(changed_files)]["key"])
        earlier = {w for name in changed_files + removed_files for w in state.get("label_windows", {}).get(name, [])}
        for window in sorted(set(windows_of_keys(settings, keys)) | earlier):  # earlier: a file rewritten
            summary = touched.get(window) or read_window(settings, window)
            if summary is None:
                continue
            touched[window] = save_window(settings, relabel(settings, summary, labels, files))
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
