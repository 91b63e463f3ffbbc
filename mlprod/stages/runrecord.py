"""The run record: a small JSON file written for every notebook execution.

It says which notebook (by content hash) ran as which stage, with which resolved parameters (and which
of them are the project's shared facts, ``project:`` in params.yaml), when, with what outcome, and
where the executed notebook is. Model manifests build their lineage on it.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import ConfigError

SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # version 1 had no run_id, version 2 no shared
RUN_RECORD_FILE = "run.json"


@dataclass(frozen=True)
class CellFailure:
    """Where and how a run failed."""

    kind: str  # "cell_error" | "kernel_died" | "timeout" | "interrupted" | "kernel_start"
    message: str
    cell: int | None = None  # 1-based number in the source notebook
    cell_id: str | None = None
    ename: str | None = None
    evalue: str | None = None


@dataclass(frozen=True)
class RunRecord:
    stage: str
    notebook: str
    notebook_sha256: str
    status: str  # "succeeded" | "failed"
    started_at: str
    ended_at: str
    duration_seconds: float
    parameters: dict[str, Any]
    defaults_used: list[str]
    overrides: list[str]
    params_file: str | None
    executed_notebook: str
    html: str | None
    python: dict[str, str] = field(default_factory=lambda: {
        "executable": sys.executable, "version": platform.python_version(), "platform": platform.platform()})
    failure: CellFailure | None = None
    run_id: str | None = None  # unique per execution; a model manifest names the run that produced it
    shared: list[str] = field(default_factory=list)  # parameters whose value is the project's shared fact
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if v is not None}

    def write(self, path: Path) -> Path:
        return atomic.write_json(path, self.to_dict())


def display_path(path: str | Path) -> str:
    """``path`` as a run record and mlprod's messages show it: relative to the working directory when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_run_record(path: str | Path) -> RunRecord:
    """Load a run record, rejecting unknown schema versions and keys."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: run record not found; run the stage with `mlprod run` first") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable run record: {exc}") from exc
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ConfigError(f"{path}: run record schema_version {version!r} is not supported "
                          f"(this mlprod reads versions {', '.join(map(str, READABLE_VERSIONS))}); upgrade mlprod")
    allowed = set(RunRecord.__dataclass_fields__)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown keys in run record: {', '.join(unknown)}")
    if data.get("failure") is not None:
        data["failure"] = CellFailure(**data["failure"])
    for name in ("params_file", "html"):  # written without them when None (to_dict drops None values)
        data.setdefault(name, None)
    return RunRecord(**data)
