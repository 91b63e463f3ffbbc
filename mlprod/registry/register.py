"""Registering a model from its manifest folder as an MLflow run and a registry version.

The run holds the manifest's parameters and metrics, tags for the git state, data hashes and
manifest hash, the manifest and hash-checked artifact (``mlprod/model/``, what mlprod loads back, with
the model folder's ``reference_profile.json`` when there is one: monitoring measures drift against it),
the model card when there is one (``mlprod/model_card/``), and an MLflow model (sklearn flavor,
skops serialization, signature and input example) that the registry version points to. The version
is linked to the manifest's semantic version (tag ``mlprod.semver`` and its description).

Registering is idempotent: the same artifact (sha256) is found, not registered again. A semantic
version already registered for a different artifact is refused (versions are never reused).

The parts live in their own modules and are re-exported here: :mod:`.runlog` (the MLflow run and model),
:mod:`.download` (reading a version back, verified), :mod:`.compatibility` (whether the champion can score the
new model's data).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MlprodError, RegistryError
from ..manifest.schema import MANIFEST_FILE, Manifest, read_manifest
from ..manifest.store import verified_artifact_bytes
from .compatibility import INPUTS_TAG, INPUTS_TAG_LIMIT, check_comparable, recorded_inputs
from .download import MODEL_ARTIFACTS, alias_version, download_model, download_verified
from .runlog import CARD_ARTIFACTS, PROFILE_FILE, log_run, mlflow_uris
from .store import Registry

# re-exported: callers import these from here (download_verified, alias_version, recorded_inputs, ...)
__all__ = ["CARD_ARTIFACTS", "CARD_FILES", "INPUTS_TAG", "MODEL_ARTIFACTS", "PROFILE_FILE", "RegisteredVersion",
           "alias_version", "download_model", "download_verified", "recorded_inputs", "register_model", "registered",
           "version_tags"]

logger = logging.getLogger(__name__)
CARD_FILES = ("model_card.md", "model_card.html", "MODEL_CARD.md")


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str  # the registry's version number
    semver: str
    run_id: str
    artifact_sha256: str
    created: bool  # False: this artifact was already registered

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def register_model(model_dir: str | Path, *, model_card: str | Path | None = None,
                   example_data: str | Path | None = None, registry: Registry | None = None,
                   experiment: str | None = None, allow_incompatible: bool = False) -> RegisteredVersion:
    """Register the model in ``model_dir`` (verified against its manifest first); see the module docstring.

    ``model_card`` defaults to a ``model_card.md``/``.html`` in ``model_dir``; ``example_data`` (for the
    input example and signature) to the manifest's evaluation data, else its training data.
    ``experiment`` defaults to the model's name. A model whose inputs the current champion cannot score
    (columns it needs are missing or of another kind) is refused under the same name unless
    ``allow_incompatible``: the gates could not compare the two, and a new name is proposed.
    """
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    artifact = verified_artifact_bytes(model_dir, manifest)
    manifest_sha = hashlib.sha256((model_dir / MANIFEST_FILE).read_bytes()).hexdigest()
    card = _model_card(model_dir, model_card)
    registry = registry or Registry.open()
    with registry.lock(manifest.name):
        existing = _existing(registry, manifest)
        if existing is not None:
            if card is not None:  # e.g. the card written by a later stage: attach it to the registered version
                _attach_card(registry, existing, card)
            return existing
        check_comparable(registry, manifest, allow_incompatible)
        experiment_id = registry.experiment_id(experiment or manifest.name)
        tags = version_tags(manifest, manifest_sha)
        if card is not None:
            tags["mlprod.model_card"] = f"{CARD_ARTIFACTS}/{card.name}"
        with mlflow_uris(registry):  # MLflow resolves the logged model (models:/m-...) through its global URI
            with registry.errors(f"logging {manifest.name} {manifest.version}"):
                run_id, model_uri, model_id = log_run(registry, experiment_id, model_dir, manifest, artifact, tags,
                                                      card, example_data)
            if registry.registered_model(manifest.name) is None:
                registry.call(f"creating model {manifest.name!r}", registry.client.create_registered_model,
                              manifest.name, tags={"mlprod.managed": "true"}, description=manifest.description or None)
            version = registry.call(
                f"creating a version of {manifest.name!r}", registry.client.create_model_version, manifest.name,
                model_uri, run_id=run_id, tags=tags, description=_description(manifest, manifest_sha),
                model_id=model_id)
    logger.info("registered %s %s as version %s (%s)", manifest.name, manifest.version, version.version,
                registry.location.display)
    return RegisteredVersion(name=manifest.name, version=str(version.version), semver=manifest.version,
                             run_id=run_id, artifact_sha256=manifest.artifact.sha256, created=True)


def registered(version: Any) -> RegisteredVersion:
    """A registry :class:`ModelVersion` as a :class:`RegisteredVersion` (for versions mlprod registered)."""
    tags = version.tags or {}
    return RegisteredVersion(name=version.name, version=str(version.version), semver=tags.get("mlprod.semver", "?"),
                             run_id=version.run_id or "", artifact_sha256=tags.get("mlprod.artifact_sha256", ""),
                             created=False)


def _attach_card(registry: Registry, version: RegisteredVersion, card: Path) -> None:
    with registry.errors(f"attaching the model card to {version.name!r} version {version.version}"):
        registry.client.log_artifact(version.run_id, str(card), CARD_ARTIFACTS)
        registry.client.set_tag(version.run_id, "mlprod.model_card", f"{CARD_ARTIFACTS}/{card.name}")
        registry.client.set_model_version_tag(version.name, version.version, "mlprod.model_card",
                                              f"{CARD_ARTIFACTS}/{card.name}")
    logger.info("attached %s to %s version %s", card, version.name, version.version)


def version_tags(manifest: Manifest, manifest_sha: str) -> dict[str, str]:
    git = manifest.lineage.git
    tags = {"mlprod.semver": manifest.version, "mlprod.artifact_sha256": manifest.artifact.sha256,
            "mlprod.manifest_sha256": manifest_sha, "mlprod.artifact_path": MODEL_ARTIFACTS,
            "mlprod.git.dirty": str(git.dirty).lower(), "mlprod.git.commit": git.commit or "",
            "mlprod.git.diff_sha256": git.diff_sha256 or "", "mlprod.git.branch": git.branch or "",
            "mlprod.previous_semver": manifest.previous.version if manifest.previous else ""}
    inputs = json.dumps([[c.name, c.dtype] for c in manifest.inputs], ensure_ascii=False)
    if len(inputs) <= INPUTS_TAG_LIMIT:  # longer schemas are read from the manifest in the run
        tags[INPUTS_TAG] = inputs
    for role in sorted({d.role for d in manifest.data}):
        for i, ref in enumerate(manifest.data_by_role(role)):
            key = f"mlprod.data.{role}" + (f".{i}" if i else "")
            tags[f"{key}.md5"] = ref.md5
            tags[f"{key}.dataset_id"] = ref.dataset_id
    return {k: v for k, v in tags.items() if v != ""}


def _existing(registry: Registry, manifest: Manifest) -> RegisteredVersion | None:
    if registry.registered_model(manifest.name) is None:
        return None
    versions = registry.versions(manifest.name)
    for version in versions:
        if (version.tags or {}).get("mlprod.artifact_sha256") == manifest.artifact.sha256:
            found = registered(version)
            if found.semver != manifest.version:
                logger.warning("%s: this artifact is already registered as version %s (%s); the manifest now says %s",
                               manifest.name, found.version, found.semver, manifest.version)
            else:
                logger.info("%s %s is already registered as version %s", manifest.name, manifest.version,
                            found.version)
            return found
    for version in versions:
        if (version.tags or {}).get("mlprod.semver") == manifest.version:
            raise RegistryError(
                f"registry {registry.location.display}: {manifest.name} {manifest.version} is already registered as "
                f"version {version.version} with a different artifact (sha256 "
                f"{(version.tags or {}).get('mlprod.artifact_sha256', '?')[:12]}..., this one "
                f"{manifest.artifact.sha256[:12]}...); a version is never reused: save the model with a new version")
    _check_not_older(registry, manifest, versions)
    return None


def _check_not_older(registry: Registry, manifest: Manifest, versions: list) -> None:
    """A new artifact's semantic version must be above every version already registered for the model."""
    from ..manifest.semver import Version

    registered_versions = []
    for version in versions:
        try:
            registered_versions.append(Version.parse((version.tags or {}).get("mlprod.semver", "")))
        except MlprodError:
            continue  # not registered by mlprod
    if not registered_versions:
        return
    latest, new = max(registered_versions), Version.parse(manifest.version)
    if new < latest:
        raise RegistryError(
            f"registry {registry.location.display}: {manifest.name} {new} is older than {latest}, already registered; "
            f"versions never go backwards. Set the version explicitly (train.model_version: "
            f"'{latest.bump('patch')}' or higher, as the change requires) and retrain.")


def _model_card(model_dir: Path, model_card: str | Path | None) -> Path | None:
    if model_card is not None:
        card = Path(model_card)
        if not card.is_file():
            raise RegistryError(f"model card {card} does not exist; give an existing file or leave the option out")
        return card
    return next((model_dir / name for name in CARD_FILES if (model_dir / name).is_file()), None)


def _description(manifest: Manifest, manifest_sha: str) -> str:
    git = manifest.lineage.git
    commit = f"git {git.commit[:12]}{' (uncommitted changes)' if git.dirty else ''}" if git.commit else "no git commit"
    text = f"{manifest.name} {manifest.version} - mlprod manifest sha256 {manifest_sha[:12]}, {commit}."
    return f"{text} {manifest.description}".strip()
