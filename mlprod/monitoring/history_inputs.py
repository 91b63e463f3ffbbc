"""The history's inputs: committed predictions batches, label files and the labels of rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import MonitoringError
from .settings import MonitorSettings


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def read_table(path: Path, columns=None) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path, columns=columns)
        return pd.read_csv(path, usecols=columns)
    except (OSError, ValueError) as exc:
        raise MonitoringError(f"cannot read {path}: {exc}; expected a readable CSV or Parquet file") from exc


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
    return {p.name: md5_of(p) for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in (".csv", ".parquet")}


def read_labels(settings: MonitorSettings, names) -> pd.DataFrame:
    """Key (as text), label (0/1) and the label file of every labelled row; a later file (by name) wins."""
    from ..data.labels import binary_target

    frames = []
    for name in sorted(names):
        path = settings.path(settings.labels_dir, name)
        frame = read_table(path)
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


def predictions_of(settings: MonitorSettings, batch_id: str) -> tuple[pd.DataFrame, dict]:
    folder = settings.path(settings.predictions_dir)
    marker_path = folder / f"{batch_id}.done.json"
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MonitoringError(f"cannot read the commit marker {marker_path}: {exc}") from exc
    frame = read_table(folder / f"{batch_id}.parquet")
    missing = [c for c in (settings.key_column, "score", "decision", "model_version", "scored_at")
               if c not in frame.columns]
    if missing:
        raise MonitoringError(f"predictions of batch {batch_id!r} lack column(s) {missing}; expected the "
                              f"predictions record (key {settings.key_column!r}, score, decision, ...)")
    return frame, marker


def labels_of(keys: pd.Series, labels: pd.DataFrame) -> tuple[np.ndarray, dict[str, str]]:
    joined = pd.DataFrame({"key": keys.astype(str).to_numpy()}).merge(labels, on="key", how="left")
    label = joined["label"].fillna(-1).astype(np.int64).to_numpy()
    return label, sorted(set(joined["file"].dropna()))
