"""The files a model card is built from: where they are by default, reading them, noting what is missing.

Only the model folder (manifest + artifact) is required. Every other input is optional: when it is
absent the card says so (:class:`~mlprod.card.schema.Missing`) and leaves out what depended on it. A
file that exists but cannot be read is an error (:class:`~mlprod.errors.CardError`), never silently
skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CardError, DataError
from .schema import Missing

DEFAULT_MODEL_DIR = "models/model"
DEFAULT_OUTPUT_DIR = "reports/model_card"


@dataclass(frozen=True)
class CardInputs:
    """Paths of the inputs; relative paths are relative to the working directory (the project root).

    ``evaluation_data`` / ``training_data`` default to the files the manifest records for those roles.
    ``None`` for any optional input means "not used" and is reported as missing.
    """

    model_dir: str | Path = DEFAULT_MODEL_DIR
    metrics_file: str | Path | None = "metrics/evaluation.json"
    evaluation_data: str | Path | None = "auto"
    training_data: str | Path | None = "auto"
    plots_dir: str | Path | None = "plots"
    validation_file: str | Path | None = "metrics/validation.json"
    validation_details: str | Path | None = "reports/validation/results.json"
    decision_file: str | Path | None = "reports/register/decision.json"
    drift_file: str | Path | None = "metrics/drift.json"
    params_file: str | Path | None = "auto"  # "auto": params.yaml here or in a parent folder
    # the fallback model (its own card section only when its manifest is there; never listed as missing)
    fallback_dir: str | Path | None = "models/fallback"
    fallback_metrics_file: str | Path | None = "metrics/fallback.json"
    fallback_decision_file: str | Path | None = "reports/register/fallback_decision.json"


@dataclass
class Collector:
    """Reads optional inputs, remembering what was used and what was missing."""

    missing: list[Missing] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)

    def note_missing(self, what: str, path: Any, effect: str) -> None:
        self.missing.append(Missing(input=what, path=shown(path) if path is not None else "(not given)",
                                    effect=effect))

    def used(self, what: str, path: Any) -> None:
        self.sources.append((what, shown(path)))

    def json(self, what: str, path: str | Path | None, effect: str) -> dict[str, Any] | None:
        if path is None or not Path(path).is_file():
            self.note_missing(what, path, effect)
            return None
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CardError(f"{path}: cannot read the {what} (expected a JSON file): {exc}. Rerun the stage that "
                            "writes it, or point the card at another file.") from exc
        if not isinstance(data, dict):
            raise CardError(f"{path}: the {what} must be a JSON object, got {type(data).__name__}")
        self.used(what, path)
        return data

    def table(self, what: str, path: str | Path | None, effect: str):
        from ..data.io import read_table

        if path is None or not Path(path).is_file():
            self.note_missing(what, path, effect)
            return None
        try:
            frame = read_table(path)
        except DataError as exc:
            raise CardError(f"cannot read the {what}: {exc}") from exc
        self.used(what, path)
        return frame

    def curve(self, path: Path, x: str, y: str) -> tuple[tuple[float, float], ...] | None:
        """Points from a plots CSV with columns ``x`` and ``y``; None when the file is absent."""
        import pandas as pd

        if not path.is_file():
            return None
        try:
            frame = pd.read_csv(path)
            points = frame[[x, y]].dropna().astype(float).to_numpy()
        except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
            raise CardError(f"{path}: cannot read the curve (expected a CSV with columns {x!r} and {y!r}): "
                            f"{exc}") from exc
        self.used(f"plot {path.stem}", path)
        return tuple((float(a), float(b)) for a, b in points)


def shown(path: str | Path) -> str:
    """``path`` as written on the card: relative to the working directory when it is inside it."""
    p = Path(path)
    if p.is_absolute():
        try:
            return p.relative_to(Path.cwd()).as_posix()
        except ValueError:
            try:
                return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
            except ValueError:
                return str(p)
    return p.as_posix()


def resolve(path: str | Path | None, root: Path) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    return path if path.is_absolute() else root / path


def find_root(params_file: str | Path | None) -> tuple[Path, Path | None]:
    """The project root (folder of params.yaml, or the working directory) and the params file."""
    from ..stages.params import find_params_file

    if params_file == "auto":
        found = find_params_file()
        return (found.parent if found else Path.cwd()), found
    if params_file is None:
        return Path.cwd(), None
    path = Path(params_file)
    if not path.is_file():
        raise CardError(f"{path}: params file not found; pass an existing params.yaml (or none)")
    return path.resolve().parent, path
