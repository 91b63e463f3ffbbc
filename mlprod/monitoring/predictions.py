"""The predictions record: one Parquet file per scored batch, committed by a marker written last.

``<dir>/<batch_id>.parquet`` holds the key (or ``row``), the date column when the project has one,
``score``, ``decision``, ``model_name``, ``model_version``, ``model_sha256``, ``batch_id`` and
``scored_at``, with the key-value metadata ``mlprod.schema=predictions`` and
``mlprod.schema_version=1``. ``<dir>/<batch_id>.done.json`` (sorted keys) is written after it, both
atomically: a predictions file without its marker was left by a run that stopped midway and does not
exist for readers; the next run replaces it. Readers ignore columns they do not know (later issues add
``arm``), so an optional column group added after the base columns is not a schema_version bump: it
carries its own version.

The serving column group (written when the batch was scored through the resilient predictor,
:mod:`mlprod.monitoring.resilient`): ``tier`` (primary | fallback | rules | default), ``fallback_reason``
(null for primary), ``needs_review`` (bool) and ``filled_features`` (feature names joined by ``,``; ``""``
none), with the metadata ``mlprod.serving_columns=1``; the marker then has a ``serving`` entry (the
fallback model, rows per tier and fallback reason, rows routed to review, filled and out-of-range inputs
per feature). Records written before have neither; readers take both (:func:`serving_columns`).

The traffic column group (written when params.yaml ``deployment:`` splits the rows between models, ab or canary;
:mod:`mlprod.monitoring.traffic`): ``experiment`` (the experiment key) and ``arm`` (the arm's name), both null for a
row not in the experiment, with the metadata ``mlprod.traffic_columns=1``; the marker then has a ``traffic`` entry
(mode, experiment, unit id column, per arm its model, threshold and rows). ``model_version`` and the other model
columns say per row which model scored it. Records written before have neither (:func:`traffic_columns`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

from ..errors import DataError

SCHEMA = "predictions"
SCHEMA_VERSION = 1
MARKER_SUFFIX = ".done.json"
REQUIRED = ("score", "decision", "model_name", "model_version", "model_sha256", "batch_id", "scored_at")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_MARKER_KEYS = ("schema_version", "batch_id", "source", "source_md5", "rows", "predictions_sha256", "model",
                "threshold", "gate", "scored_at")
_OPTIONAL_MARKER_KEYS = ("serving", "traffic")  # scored through the resilient predictor; under a deployment
SERVING_COLUMNS = ("tier", "fallback_reason", "needs_review", "filled_features")
SERVING_COLUMNS_VERSION = 1
_SERVING_KEY = b"mlprod.serving_columns"
TRAFFIC_COLUMNS = ("experiment", "arm")
TRAFFIC_COLUMNS_VERSION = 1
_TRAFFIC_KEY = b"mlprod.traffic_columns"
_GROUPS = ((SERVING_COLUMNS, SERVING_COLUMNS_VERSION, _SERVING_KEY, "serving"),
           (TRAFFIC_COLUMNS, TRAFFIC_COLUMNS_VERSION, _TRAFFIC_KEY, "traffic"))


def check_batch_id(batch_id: str, *, source: str | Path | None = None) -> str:
    """``batch_id`` if it is made of ``[A-Za-z0-9._-]`` (not starting with a dot), else a :class:`DataError`."""
    if not isinstance(batch_id, str) or not _BATCH_ID.fullmatch(batch_id):
        where = f"{source}: " if source is not None else ""
        raise DataError(f"{where}batch id {batch_id!r} (the file name without its extension) may only use letters, "
                        "digits, '.', '_' and '-' and must not start with '.'; rename the file, e.g. "
                        "'2025-W02.parquet'")
    return batch_id


def predictions_path(folder: str | Path, batch_id: str) -> Path:
    return Path(folder) / f"{check_batch_id(batch_id)}.parquet"


def marker_path(folder: str | Path, batch_id: str) -> Path:
    return Path(folder) / f"{check_batch_id(batch_id)}{MARKER_SUFFIX}"


def committed(folder: str | Path) -> list[str]:
    """The batch ids committed in ``folder`` (marker and predictions file present), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    ids = []
    for marker in folder.glob(f"*{MARKER_SUFFIX}"):
        batch_id = marker.name[: -len(MARKER_SUFFIX)]
        if _BATCH_ID.fullmatch(batch_id) and marker.is_file() and (folder / f"{batch_id}.parquet").is_file():
            ids.append(batch_id)
    return sorted(ids)


def is_committed(folder: str | Path, batch_id: str) -> bool:
    return marker_path(folder, batch_id).is_file() and predictions_path(folder, batch_id).is_file()


def write_predictions(folder: str | Path, batch_id: str, frame: Any, marker: dict[str, Any]) -> dict[str, Any]:
    """Write ``frame`` as ``<batch_id>.parquet``, then the marker (``marker`` plus rows, sha256, schema_version).

    Both writes are atomic and the marker comes last, so a stop at any point leaves either a committed
    batch or nothing a reader sees. Returns the marker as written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..atomic import write_bytes, write_json

    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"predictions of batch {batch_id!r}: column(s) {missing} missing; expected {list(REQUIRED)}")
    metadata = {b"mlprod.schema": SCHEMA.encode(), b"mlprod.schema_version": str(SCHEMA_VERSION).encode()}
    for columns, version, key, what in _GROUPS:
        group = [c for c in columns if c in frame.columns]
        if group and len(group) != len(columns):
            raise DataError(f"predictions of batch {batch_id!r}: the {what} column group is {list(columns)}, "
                            f"got only {group}")
        if group:
            metadata[key] = str(version).encode()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, column in enumerate(table.schema):  # categorical text (the constant columns) is stored as plain text
        if pa.types.is_dictionary(column.type):
            table = table.set_column(i, column.name, _plain_text(table.column(i), column.type.value_type))
    # pandas' own metadata would name categoricals; the Arrow types say all a reader needs
    table = table.replace_schema_metadata(metadata)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    write_bytes(predictions_path(folder, batch_id), data)
    record = dict(marker, schema_version=SCHEMA_VERSION, batch_id=batch_id, rows=int(len(frame)),
                  predictions_sha256=hashlib.sha256(data).hexdigest())
    unknown = sorted(set(record) - set(_MARKER_KEYS) - set(_OPTIONAL_MARKER_KEYS))
    if unknown:
        raise DataError(f"predictions marker of batch {batch_id!r}: unknown key(s) {unknown}; allowed: "
                        f"{list(_MARKER_KEYS + _OPTIONAL_MARKER_KEYS)}")
    write_json(marker_path(folder, batch_id), record)
    return record


def _plain_text(column: Any, value_type: Any) -> Any:
    """A dictionary column as its values: a repeat of the one value of a constant column (half the time of a
    cast, the same array), else a cast."""
    import pyarrow as pa

    chunks = column.chunks
    if len(chunks) == 1 and len(chunks[0].dictionary) == 1 and chunks[0].null_count == 0:
        return pa.repeat(chunks[0].dictionary.cast(value_type)[0], len(column))
    return column.cast(value_type)


def read_marker(folder: str | Path, batch_id: str) -> dict[str, Any]:
    """The commit marker of ``batch_id``, checked: a :class:`DataError` when it is missing or not a marker."""
    path = marker_path(folder, batch_id)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: batch {batch_id!r} is not committed in {folder} (no marker); score it with "
                        "`mlprod score MODEL DATA -o FOLDER`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable predictions marker ({exc}); delete it and its .parquet file, "
                        "then score the batch again") from None
    if not isinstance(record, dict) or record.get("schema_version") != SCHEMA_VERSION:
        got = record.get("schema_version") if isinstance(record, dict) else type(record).__name__
        raise DataError(f"{path}: predictions marker schema_version {got!r} is not supported (expected "
                        f"{SCHEMA_VERSION}); upgrade mlprod or score the batch again")
    missing = [key for key in _MARKER_KEYS if key not in record]
    if missing:
        raise DataError(f"{path}: predictions marker lacks {missing}; delete it and score the batch again")
    return record


def read_predictions(folder: str | Path, batch_id: str, *, verify: bool = True) -> Any:
    """The committed predictions of ``batch_id`` as a DataFrame (schema, version and columns checked).

    ``verify`` also checks the file's sha256 against the marker (a file changed after it was committed).
    """
    import pyarrow.parquet as pq

    record = read_marker(folder, batch_id)
    path = predictions_path(folder, batch_id)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: predictions of committed batch {batch_id!r} cannot be read ({exc})") from None
    if verify and hashlib.sha256(data).hexdigest() != record["predictions_sha256"]:
        raise DataError(f"{path}: sha256 does not match its marker {marker_path(folder, batch_id).name}; the file "
                        "was changed after it was committed. Restore it, or delete both files and score again")
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    metadata = table.schema.metadata or {}
    schema = metadata.get(b"mlprod.schema", b"").decode()
    version = metadata.get(b"mlprod.schema_version", b"").decode()
    if schema != SCHEMA or version != str(SCHEMA_VERSION):
        raise DataError(f"{path}: not a predictions file of schema version {SCHEMA_VERSION} (metadata "
                        f"mlprod.schema={schema or None!r}, mlprod.schema_version={version or None!r})")
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise DataError(f"{path}: predictions file lacks column(s) {missing}")
    for columns, version, key, what in _GROUPS:
        group = metadata.get(key)
        if group is None:
            continue
        if group.decode() != str(version):
            raise DataError(f"{path}: {what} column group version {group.decode()!r} is not supported (expected "
                            f"{version}); upgrade mlprod")
        lacking = [c for c in columns if c not in table.column_names]
        if lacking:
            raise DataError(f"{path}: predictions file declares the {what} column group but lacks {lacking}")
    return table.to_pandas()


def serving_columns(frame: Any) -> bool:
    """Whether a predictions frame has the serving column group (records scored before it was added do not:
    every row was then answered by the primary, none routed to review)."""
    return all(c in frame.columns for c in SERVING_COLUMNS)


def traffic_columns(frame: Any) -> bool:
    """Whether a predictions frame has the traffic column group (experiment, arm): records scored without an ab or
    canary deployment, or before the group was added, do not."""
    return all(c in frame.columns for c in TRAFFIC_COLUMNS)
