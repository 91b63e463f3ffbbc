"""Scoring a batch: load the model (a folder or ``NAME@alias`` from the registry), check its inputs, predict.

A model folder is loaded with :func:`mlprod.load_model` (sha256 checked against the manifest before the
artifact is deserialized). ``NAME@alias`` is resolved in the registry when the run starts: the version
the alias points to is downloaded to a temporary folder, its manifest is checked against the sha256 the
registry recorded, and it is loaded the same hash-verified way; the registry version is recorded.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError

logger = logging.getLogger(__name__)
DEFAULT_THRESHOLD = 0.5
PROFILE_FILE = "reference_profile.json"  # written beside the model by the train stage
_ALIAS_REF = re.compile(r"(?P<name>[^@/\\]+)@(?P<alias>[A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class ScoringModel:
    """A loaded, verified model with what the predictions record says about it."""

    model: Any
    manifest: Any
    name: str
    version: str  # semver
    sha256: str
    registry_version: str | None  # the registry's version number when loaded through an alias
    reference: str  # what the user named: a folder or NAME@alias
    profile: Any = None  # the reference profile saved with the model (a mlprod.profile.Profile), if any
    predictor: Any = None  # a mlprod.serving.ResilientPredictor when scored through it (mlprod.monitoring.resilient)
    fallback: dict[str, Any] | None = None  # the fallback model's record (name, version, sha256, registry_version)
    note: str = ""  # why it is not scored through the resilient predictor, when a reference was asked to be

    @property
    def record(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256,
                "registry_version": self.registry_version}

    @property
    def default_threshold(self) -> float:
        """The threshold the evaluate stage recorded in the manifest, else 0.5."""
        value = (self.manifest.parameters.get("evaluate") or {}).get("threshold")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else DEFAULT_THRESHOLD


def load_scoring_model(reference: str | Path, *, root: str | Path | None = None) -> ScoringModel:
    """The model named by ``reference``: a model folder, or ``NAME@alias`` resolved in the registry now.

    The reference profile saved beside the model (``reference_profile.json``) is read too, for the gates.
    """
    folder, alias = check_reference(reference)
    if folder is not None:
        return from_folder(folder, str(reference), registry_version=None)
    return _from_registry(*alias, root=root)


def check_reference(reference: str | Path) -> tuple[Path | None, tuple[str, str] | None]:
    """(model folder, None) or (None, (name, alias)) for ``reference``, without loading anything."""
    from ..manifest.schema import MANIFEST_FILE

    text = str(reference)
    folder = Path(text)
    if folder.is_dir():
        if not (folder / MANIFEST_FILE).is_file():
            raise ConfigError(f"model {text!r}: {folder} has no {MANIFEST_FILE}; point at a folder written by "
                              "mlprod.save_model (e.g. models/model)")
        return folder, None
    match = _ALIAS_REF.fullmatch(text)
    if match is None:
        raise ConfigError(f"model {text!r}: expected a model folder (with {MANIFEST_FILE}, e.g. models/model) or "
                          "NAME@alias from the registry (e.g. lead-scoring@champion); no such folder")
    return None, (match["name"], match["alias"])


def from_folder(folder: Path, reference: str, *, registry_version: str | None, note: str = "") -> ScoringModel:
    """The model saved in ``folder``, loaded hash-verified, with its reference profile if present."""
    from ..manifest.schema import read_manifest
    from ..manifest.store import load_model

    manifest = read_manifest(folder)
    model = load_model(folder)  # sha256 checked before deserializing
    profile = None
    if (folder / PROFILE_FILE).is_file():
        from ..profile import read_profile

        profile = read_profile(folder / PROFILE_FILE)
    return ScoringModel(model=model, manifest=manifest, name=manifest.name, version=manifest.version,
                        sha256=manifest.artifact.sha256, registry_version=registry_version, reference=reference,
                        profile=profile, note=note)


def _from_registry(name: str, alias: str, *, root: str | Path | None) -> ScoringModel:
    with model_folder(f"{name}@{alias}", root=root) as (folder, registry_version):
        return from_folder(folder, f"{name}@{alias}", registry_version=registry_version)


@contextmanager
def model_folder(reference: str | Path, *, root: str | Path | None = None) -> Iterator[tuple[Path, str | None]]:
    """``(folder, registry version)`` for ``reference``: the model folder itself (version None), or the version
    ``NAME@alias`` points to now, downloaded to a temporary folder (deleted on exit) and checked against the sha256
    the registry recorded."""
    folder, alias = check_reference(reference)
    if folder is not None:
        yield folder, None
        return
    from ..registry.register import alias_version, download_verified
    from ..registry.store import Registry

    name, alias_name = alias
    registry = Registry.open(root)
    version = alias_version(registry, name, alias_name, instead=" or name a model folder instead")
    with tempfile.TemporaryDirectory(prefix="mlprod-score-") as tmp:
        downloaded, manifest = download_verified(registry, version, Path(tmp))
        logger.info("%s@%s is version %s (%s)", name, alias_name, version.version, manifest.version)
        yield downloaded, str(version.version)


def check_inputs(model: ScoringModel, frame: Any, *, source: str | Path) -> None:
    """A :class:`DataError` unless ``frame`` has every input column the model was trained on, of its kind."""
    from ..data.columns import require_columns
    from ..registry.compatibility import incompatibilities

    needed = [(c.name, c.dtype) for c in model.manifest.inputs]
    require_columns(frame, {"model inputs": [name for name, _ in needed]}, source=source)
    problems = incompatibilities(needed, [(str(c), str(t)) for c, t in frame.dtypes.items()])
    if problems:
        raise DataError(f"{source}: {model.name} {model.version} cannot score these rows: {'; '.join(problems)}")


def score_frame(model: ScoringModel, frame: Any, *, threshold: float, batch_id: str, scored_at: str,
                key: str | None = None, date_column: str | None = None, source: str | Path = "<data>") -> Any:
    """The predictions record's columns for ``frame`` (see :mod:`mlprod.monitoring.predictions`)."""
    import numpy as np

    check_inputs(model, frame, source=source)
    from ..data.columns import require_columns

    require_columns(frame, {"project.key": key, "project.date_column": date_column}, source=source)
    columns = [c.name for c in model.manifest.inputs]
    try:
        proba = model.model.predict_proba(frame[columns])
    except Exception as exc:  # a model that cannot score these values: say which batch and model
        raise DataError(f"{source}: {model.name} {model.version} failed to score the batch: "
                        f"{type(exc).__name__}: {exc}") from exc
    score = np.asarray(proba, dtype="float64")[:, -1]
    return record_frame(model, frame, score, (score >= threshold).astype("int8"), batch_id=batch_id,
                        scored_at=scored_at, key=key, date_column=date_column)


def record_frame(model: ScoringModel, frame: Any, score: Any, decision: Any, *, batch_id: str, scored_at: str,
                 key: str | None, date_column: str | None) -> Any:
    """The predictions record's base columns (:mod:`mlprod.monitoring.predictions`) for ``frame``'s rows."""
    import numpy as np
    import pandas as pd

    out = {}
    if key:
        out[key] = frame[key].to_numpy()
    else:
        out["row"] = np.arange(len(frame), dtype="int64")
    if date_column:
        out[date_column] = frame[date_column].to_numpy()
    codes = np.zeros(len(frame), dtype="int8")  # one value per column: categoricals, not a million objects

    def constant(value: str) -> Any:
        return pd.Categorical.from_codes(codes, categories=[value])

    out.update({
        "score": score,
        "decision": decision,
        "model_name": constant(model.name),
        "model_version": constant(model.version),
        "model_sha256": constant(model.sha256),
        "batch_id": constant(batch_id),
        "scored_at": constant(scored_at),
    })
    return pd.DataFrame(out, copy=False)


def check_threshold(value: Any) -> float:
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        threshold = float("nan")
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be a number between 0 and 1, got {value!r}")
    return threshold
