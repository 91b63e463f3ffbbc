"""Reading a registered version back: its run's manifest and artifact, checked against the registry's tags.

:func:`download_model` fetches the run's ``mlprod/model/`` folder (what :mod:`.register` logged: manifest,
artifact, reference profile); :func:`download_verified` then checks that the manifest describes the artifact the
registry recorded (tag ``mlprod.artifact_sha256``) and, when it vouches for other files (``files:``), that it is the
manifest registered (tag ``mlprod.manifest_sha256``), so loading the folder checks the artifact and those files
against a manifest the registry vouches for. :func:`alias_version` resolves ``NAME@alias`` with a clear error
when it points nowhere.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..errors import MlprodError, RegistryError
from ..manifest.schema import MANIFEST_FILE, Manifest, read_manifest
from .store import Registry

MODEL_ARTIFACTS = "mlprod/model"  # run artifact folder: manifest + mlprod's artifact


def download_model(registry: Registry, version: Any, target: Path) -> Path:
    """Download the manifest and artifact of a registered version into ``target``; returns the folder."""
    if not version.run_id or "mlprod.artifact_sha256" not in (version.tags or {}):
        raise RegistryError(f"{version.name!r} version {version.version} was not registered by mlprod (no manifest "
                            "to verify it against); register the model folder with `mlprod register DIR`, or "
                            "promote with --force to skip the comparison")
    target.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # no progress bars in logs and notebooks
    try:
        path = registry.call(f"downloading {version.name!r} version {version.version}",
                             registry.client.download_artifacts, version.run_id, MODEL_ARTIFACTS, str(target))
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = previous
    return Path(path)


def download_verified(registry: Registry, version: Any, target: Path) -> tuple[Path, Manifest]:
    """:func:`download_model`, then check that the manifest in the run describes the artifact the registry
    recorded (the version's ``mlprod.artifact_sha256`` tag); loading then checks the artifact against it."""
    path = download_model(registry, version, target)
    manifest = read_manifest(path)
    expected = (version.tags or {}).get("mlprod.artifact_sha256")
    if manifest.artifact.sha256 != expected:
        raise RegistryError(f"{version.name!r} version {version.version}: the manifest in its run does not describe "
                            f"the registered artifact (sha256 {expected}); the run's files were changed")
    _check_artifact(registry, version, path, manifest)
    recorded = (version.tags or {}).get("mlprod.manifest_sha256")
    if manifest.files and recorded and hashlib.sha256((path / MANIFEST_FILE).read_bytes()).hexdigest() != recorded:
        # the manifest vouches for the other files (e.g. the review calibration): it must be the registered one
        raise RegistryError(f"{version.name!r} version {version.version}: the manifest in its run is not the one "
                            f"registered (sha256 {recorded[:12]}...); the run's files were changed. Register the "
                            "model folder again (a new version)")
    return path, manifest


def _check_artifact(registry: Registry, version: Any, path: Path, manifest: Manifest) -> None:
    """The downloaded artifact's sha256 against the registered one, with the model and version in the message
    (loading checks it again against the manifest before deserializing; this says *which* registry entry is bad)."""
    from ..manifest.store import verified_artifact_bytes

    file = path / manifest.artifact.path
    try:
        verified_artifact_bytes(path, manifest)
    except MlprodError as exc:
        actual = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "(file missing)"
        raise RegistryError(
            f"{version.name!r} version {version.version}: the artifact {MODEL_ARTIFACTS}/{manifest.artifact.path} "
            f"downloaded from registry {registry.location.display} has sha256 {actual}, but sha256 "
            f"{manifest.artifact.sha256} was registered; the stored file was changed after registration. Refusing to "
            "load it: restore the file in the artifact store, or register the model folder again (a new "
            "version)") from exc


def alias_version(registry: Registry, name: str, alias: str, *, instead: str = "") -> Any:
    """The version ``alias`` of model ``name`` points to now; a clear error when it points nowhere."""
    registry.require_model(name)
    version = registry.alias(name, alias)
    if version is None:
        raise RegistryError(f"registry {registry.location.display}: {name!r} has no alias {alias!r}; promote a "
                            f"version (`mlprod promote {name} --version V`){instead}")
    return version
