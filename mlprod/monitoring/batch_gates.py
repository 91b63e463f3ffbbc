"""The data gates of a scored batch and the quarantine of a failing one (used by :func:`.inbox.score_inbox`).

A batch passes the schema (its target optional, the row-count comparison off: a batch is not the training set)
and the model's reference profile; a failing batch goes to ``quarantine/<batch id>/`` with its report, its
details and, written last, ``quarantined.json`` (the source's md5, so an unchanged file is not gated again).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import DataError

QUARANTINE_MARKER = "quarantined.json"
_BATCH_STATISTICS_OFF = ("row_count",)


def gate_schema(schema: Any, target: str | None) -> Any:
    """The schema for unlabelled batches: the target optional, the row-count comparison off."""
    if schema is None:
        return None
    from ..validation.spec import Schema, default_statistics, load_schema

    if not isinstance(schema, Schema):
        schema = load_schema(schema)
    columns = tuple(dataclasses.replace(c, required=False) if c.name == target else c for c in schema.columns)
    statistics = schema.statistics if schema.statistics is not None else default_statistics()
    statistics = tuple(s for s in statistics if s.name not in _BATCH_STATISTICS_OFF)
    return dataclasses.replace(schema, columns=columns, statistics=statistics)


def gate(file: Path, batch_id: str, schema: Any, reference: Any, needed: list[str]):
    """(gate record, frame, problem): ``problem`` is (summary, validation result) for a batch to quarantine.

    The frame holds the ``needed`` columns only when the file has them all, else every column (so that
    the message about the missing one lists the file's columns)."""
    from ..data.columns import table_columns
    from ..data.io import read_table

    if schema is None:
        gate = {"status": "skipped", "summary": "no schema given: the data gates did not run"}
        try:
            return gate, read_table(file, columns=wanted_columns(table_columns(file), needed)), None
        except DataError as exc:
            return gate, None, (str(exc), None)
    from ..validation import validate
    from ..validation.api import read_data

    try:
        result = validate({batch_id: file}, schema, reference=reference)
    except DataError as exc:
        return None, None, (str(exc), None)
    if result.status == "failed":
        return None, None, (result.failure_message(one_line=True, max_lines=5), result)
    warnings = [o.brief(dataset=False) for o in result.warnings]
    gate = {"status": "warned" if warnings else "passed",
            "summary": "; ".join(warnings[:5]) + (f" (+{len(warnings) - 5} more)" if len(warnings) > 5 else "")
            if warnings else f"{sum(len(d.results) for d in result.datasets)} checks passed"}
    try:
        return gate, read_data(file, schema, columns=wanted_columns(table_columns(file), needed)), None
    except DataError as exc:
        return None, None, (str(exc), None)


def wanted_columns(available: list[str], needed: list[str]) -> list[str] | None:
    """The ``needed`` columns once each, or None (every column) when the file lacks one of them."""
    wanted = list(dict.fromkeys(needed))
    return wanted if wanted and set(wanted) <= set(available) else None


def quarantine(folder: Path, batch_id: str, source: str, md5: str, summary: str, result: Any) -> None:
    from ..atomic import dumps_json, write_json, write_text

    target = folder / batch_id
    record = {"schema_version": 1, "batch_id": batch_id, "source": source, "source_md5": md5, "summary": summary,
              "quarantined_at": _now(), "report": None, "details": None}
    if result is not None:
        from ..validation import build_details
        from ..validation.report import render_html

        write_text(target / "details.json", dumps_json(build_details(result)))
        write_text(target / "report.html", render_html(result, title=f"Batch {batch_id}: data gates"))
        record.update(report="report.html", details="details.json")
    write_json(target / QUARANTINE_MARKER, record)  # last: the quarantine is complete


def quarantined(folder: Path, batch_id: str, md5: Future) -> str | None:
    """The summary of an earlier quarantine of this same file (same md5), else None (a changed file is re-gated).

    ``md5`` (the file's, being computed) is waited for only when there is an earlier quarantine."""
    import json

    try:
        record = json.loads((folder / batch_id / QUARANTINE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("source_md5") == md5.result():
        return str(record.get("summary", ""))
    return None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
