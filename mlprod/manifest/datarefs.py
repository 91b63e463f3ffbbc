"""References to data files: DVC content hash, rows, columns, and a dataset id.

The hash is DVC's (md5 of the file's bytes), taken from ``dvc.lock`` when DVC has already hashed the
file: a file output's entry directly, a file inside a directory output from the directory's listing in
the DVC cache. The file is not re-read in that case. The lock entry is trusted only while it is
current: same size, and the file not modified after ``dvc.lock`` was written. Otherwise (no DVC, a
file DVC does not track, an edited file) mlprod hashes the file itself the same way DVC does. The project's
default DVC remote (name and URL, :mod:`.remote`) is recorded with each reference, so the data can be pulled by
its md5 in another clone.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .. import yamlio
from ..errors import ConfigError
from .remote import default_remote
from .schema import DataRef, ManifestError

_CHUNK = 1 << 20


def data_ref(path: str | Path, role: str, *, root: Path, rows: int | None = None,
             columns: list[str] | None = None) -> DataRef:
    """Describe the data file ``path`` (relative to the project ``root`` or absolute)."""
    full = (root / path) if not Path(path).is_absolute() else Path(path)
    if not full.is_file():
        raise ManifestError(f"{path}: data file not found (needed for the manifest's {role} data reference)")
    rel = project_relative(full, root)
    md5 = locked_md5(rel, root)
    source = "dvc.lock"
    if md5 is None:
        md5, source = file_md5(full), "computed"
    if full.suffix.lower() in (".parquet", ".pq"):
        meta_rows, meta_columns = _parquet_shape(full)
        rows = meta_rows if rows is None else rows
        columns = meta_columns if columns is None else columns
    return DataRef(role=role, path=rel, md5=md5, hash_source=source, dataset_id=f"{rel}@md5:{md5[:12]}",
                   rows=rows, columns=list(columns or []), remote=default_remote(root))


def locked_md5(rel: str, root: Path, *, verify_newer: bool = False) -> str | None:
    """DVC's md5 for the project file ``rel`` if ``dvc.lock`` has a current entry for it, else None.

    A file written after ``dvc.lock`` (edited, a stage still running, or simply checked out by ``dvc
    checkout``/``dvc pull`` after git wrote the lock file) is not trusted on its size; with
    ``verify_newer`` it is hashed and the entry is current when the hashes agree."""
    lock = root / "dvc.lock"
    full = root / rel
    try:
        lock_mtime = lock.stat().st_mtime_ns
        stat = full.stat()
    except FileNotFoundError:
        return None
    if stat.st_mtime_ns > lock_mtime:
        if not verify_newer:
            return None
        entry = _lock_entry(rel, root, stat.st_size)
        return entry if entry is not None and file_md5(full) == entry else None
    return _lock_entry(rel, root, stat.st_size)


def _lock_entry(rel: str, root: Path, size: int) -> str | None:
    for out in lock_outputs(root):
        path, md5 = out.get("path"), out.get("md5")
        if not isinstance(path, str) or not isinstance(md5, str):
            continue
        path = path.rstrip("/")
        if path == rel and not md5.endswith(".dir"):
            return md5 if out.get("size") in (None, size) else None
        if md5.endswith(".dir") and rel.startswith(path + "/"):
            for entry in _dir_listing(root, md5):
                if entry.get("relpath") == rel[len(path) + 1:]:
                    return entry.get("md5") if entry.get("size") in (None, size) else None
    return None


def lock_outputs(root: Path) -> list[dict]:
    """Every output entry of every stage in ``root/dvc.lock`` (empty without one)."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return []
    try:
        data = yamlio.load_file(lock) or {}
    except ConfigError:
        return []
    outs: list[dict] = []
    for stage in (data.get("stages") or {}).values():
        if isinstance(stage, dict):
            outs.extend(o for o in stage.get("outs") or () if isinstance(o, dict))
    return outs


def cache_path(root: Path, md5: str) -> Path:
    """Where DVC 3 keeps the object ``md5`` in the project's local cache."""
    return root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def _dir_listing(root: Path, md5: str) -> list[dict]:
    try:
        listing = json.loads(cache_path(root, md5).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return listing if isinstance(listing, list) else []


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _parquet_shape(path: Path) -> tuple[int | None, list[str] | None]:
    try:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path)  # the footer only
        return meta.num_rows, [name for name in meta.schema.names if not name.startswith("__index_level_")]
    except Exception:  # noqa: BLE001 - the shape is informative; a reader error surfaces elsewhere
        return None, None


def project_relative(path: Path, root: Path) -> str:
    """``path`` relative to the project ``root``; absolute when it is outside (never with '..')."""
    try:
        rel = Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()
    except ValueError:
        return path.resolve().as_posix()
    return path.resolve().as_posix() if rel == ".." or rel.startswith("../") else rel

