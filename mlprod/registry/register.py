"""Registering a model from its manifest folder as an MLflow run and a registry version.

The run holds the manifest's parameters and metrics, tags for the git state, data hashes and
manifest hash, the manifest and hash-checked artifact (``mlprod/model/``, what mlprod loads back, with
the model folder's ``reference_profile.json`` when there is one: monitoring measures drift against it),
the model card when there is one (``mlprod/model_card/``), and an MLflow model (sklearn flavor,
skops serialization, signature and input example) that the registry version points to. The version
is linked to the manifest's semantic version (tag ``mlprod.semver`` and its description).

Registering is idempotent: the same artifact (sha256) is found, not registered again. A semantic
version already registered for a different artifact is refused (versions are never reused).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import MlprodError, RegistryError
from ..manifest.schema import MANIFEST_FILE, Manifest, read_manifest
from ..manifest.store import project_root, verified_artifact_bytes
from .store import Registry

logger = logging.getLogger(__name__)
MODEL_ARTIFACTS = "mlprod/model"  # run artifact folder: manifest + mlprod's artifact
CARD_ARTIFACTS = "mlprod/model_card"
PROFILE_FILE = "reference_profile.json"  # the model folder's reference profile, logged beside the manifest
CARD_FILES = ("model_card.md", "model_card.html", "MODEL_CARD.md")
EXAMPLE_ROWS = 5
_PINNED = ("scikit-learn", "numpy", "scipy", "pandas", "skops")
INPUTS_TAG = "mlprod.inputs"  # the input schema, [[column, dtype], ...]
INPUTS_TAG_LIMIT = 4000


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
        _check_comparable(registry, manifest, allow_incompatible)
        experiment_id = registry.experiment_id(experiment or manifest.name)
        tags = version_tags(manifest, manifest_sha)
        if card is not None:
            tags["mlprod.model_card"] = f"{CARD_ARTIFACTS}/{card.name}"
        with _mlflow_uris(registry):  # MLflow resolves the logged model (models:/m-...) through its global URI
            with registry.errors(f"logging {manifest.name} {manifest.version}"):
                run_id, model_uri, model_id = _log_run(registry, experiment_id, model_dir, manifest, artifact, tags,
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
    return path, manifest


def alias_version(registry: Registry, name: str, alias: str, *, instead: str = "") -> Any:
    """The version ``alias`` of model ``name`` points to now; a clear error when it points nowhere."""
    registry.require_model(name)
    version = registry.alias(name, alias)
    if version is None:
        raise RegistryError(f"registry {registry.location.display}: {name!r} has no alias {alias!r}; promote a "
                            f"version (`mlprod promote {name} --version V`){instead}")
    return version


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


def _check_comparable(registry: Registry, manifest: Manifest, allow: bool) -> None:
    """Refuse a model the champion cannot be compared with (it could not score the new model's data)."""
    from .champion import CHAMPION
    from .compatibility import incompatibilities

    champion = registry.alias(manifest.name, CHAMPION)
    if champion is None:
        return
    recorded = recorded_inputs(registry, champion)
    problems = incompatibilities(recorded, [(c.name, c.dtype) for c in manifest.inputs])
    if not problems:
        if recorded != [(c.name, c.dtype) for c in manifest.inputs]:
            logger.warning("%s %s: its input schema differs from champion version %s's (a major version change); "
                           "the champion can still score its data, so the gates compare the two", manifest.name,
                           manifest.version, champion.version)
        return
    semver = (champion.tags or {}).get("mlprod.semver", "?")
    listed = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
    if allow:
        logger.warning("%s: registered although champion version %s (%s) cannot score its data (%s); promotion "
                       "needs --force", manifest.name, champion.version, semver, listed)
        return
    raise RegistryError(
        f"registry {registry.location.display}: {manifest.name!r} has champion version {champion.version} ({semver}), "
        f"which could not score this model's data: {listed}. The promotion gates could not compare the two, so this "
        f"looks like another model. Register it under its own name (train.model_name in params.yaml, e.g. "
        f"{_free_name(registry, manifest.name)!r}), or, if it really replaces the champion, register it with "
        "--allow-incompatible (promotion then needs --force --reason)")


def recorded_inputs(registry: Registry, version: Any) -> list[tuple[str, str]]:
    """The input schema recorded for a registered version (its tag, else the manifest in its run)."""
    tag = (version.tags or {}).get(INPUTS_TAG)
    if tag:
        try:
            return [(str(name), str(dtype)) for name, dtype in json.loads(tag)]
        except (ValueError, TypeError):
            logger.debug("unreadable %s tag on %s version %s", INPUTS_TAG, version.name, version.version)
    with tempfile.TemporaryDirectory(prefix="mlprod-inputs-") as tmp:
        folder = download_model(registry, version, Path(tmp))
        return [(c.name, c.dtype) for c in read_manifest(folder).inputs]


def _free_name(registry: Registry, name: str) -> str:
    for n in range(2, 100):
        candidate = f"{name}-{n}"
        if registry.registered_model(candidate) is None:
            return candidate
    return f"{name}-new"


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


@contextmanager
def _mlflow_uris(registry: Registry) -> Iterator[None]:
    """Point MLflow's fluent API (start_run, log_model) at ``registry`` for the block, and put back what was
    there: ``mlflow.set_tracking_uri`` also sets MLFLOW_TRACKING_URI in this process's environment, which
    would point every later Registry.open in the process (a notebook, a test) at this store."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    environment = {name: os.environ.get(name) for name in names}
    before = (getattr(tracking_utils, "_tracking_uri", None), getattr(registry_utils, "_registry_uri", None))
    mlflow.set_tracking_uri(registry.location.tracking_uri)
    mlflow.set_registry_uri(registry.location.registry_uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = before  # MLflow has no public reset
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _log_run(registry: Registry, experiment_id: str, model_dir: Path, manifest: Manifest, artifact: bytes,
             tags: dict[str, str], card: Path | None, example_data: str | Path | None) -> tuple[str, str, str]:
    import mlflow
    import mlflow.sklearn
    from mlflow.entities import Metric, Param

    from ..modelfile.skops_io import audit_model, loads_model

    client = registry.client
    source = model_dir / manifest.artifact.path
    model = loads_model(artifact, source=source)
    # MLflow's skops loader is given only the names this audited file needs beyond skops' defaults, so a
    # file swapped in the artifact store later is refused by mlflow.pyfunc.load_model as well
    trusted = list(audit_model(artifact, source=source).skops_trusted)
    example = _input_example(manifest, example_data)
    run_tags = {**tags, "mlprod.model_name": manifest.name}
    if manifest.lineage.git.commit:
        run_tags["mlflow.source.git.commit"] = manifest.lineage.git.commit
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{manifest.name} {manifest.version}",
                          tags=run_tags, nested=mlflow.active_run() is not None) as run:
        run_id = run.info.run_id
        params = [Param(k, v) for k, v in _params(manifest).items()]
        metrics = [Metric(k, v, 0, 0) for k, v in _metrics(manifest).items()]
        for start in range(0, max(len(params), len(metrics)), 100):
            client.log_batch(run_id, params=params[start:start + 100], metrics=metrics[start:start + 100])
        with tempfile.TemporaryDirectory(prefix="mlprod-register-") as tmp:
            folder = Path(tmp) / "model"
            folder.mkdir()
            (folder / MANIFEST_FILE).write_bytes((model_dir / MANIFEST_FILE).read_bytes())
            (folder / manifest.artifact.path).write_bytes(artifact)
            profile = model_dir / PROFILE_FILE
            if profile.is_file():  # the reference drift is measured against, downloaded with the model
                (folder / PROFILE_FILE).write_bytes(profile.read_bytes())
            client.log_artifacts(run_id, str(folder), MODEL_ARTIFACTS)
        if card is not None:
            client.log_artifact(run_id, str(card), CARD_ARTIFACTS)
            client.set_tag(run_id, "mlprod.model_card", f"{CARD_ARTIFACTS}/{card.name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's hint about integer columns and missing values
            info = mlflow.sklearn.log_model(
                model, name="model", serialization_format="skops", skops_trusted_types=trusted,
                signature=_signature(model, manifest, example), input_example=example,
                pip_requirements=_requirements(manifest),
                pyfunc_predict_fn="predict_proba" if manifest.output.kind == "probability" else "predict",
                metadata={"mlprod_semver": manifest.version, "mlprod_artifact_sha256": manifest.artifact.sha256})
    return run_id, info.model_uri, info.model_id


def _input_example(manifest: Manifest, example_data: str | Path | None) -> Any:
    from ..data.io import read_table
    from ..errors import DataError

    columns = [c.name for c in manifest.inputs]
    candidates = [Path(example_data)] if example_data else [
        project_root() / ref.path for role in ("evaluation", "training") for ref in manifest.data_by_role(role)]
    for path in candidates:
        try:
            frame = read_table(path)
        except DataError as exc:
            if example_data:
                raise
            logger.info("no input example from %s: %s", path, exc)
            continue
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise RegistryError(f"{path}: input example data lacks the model's input column(s) {', '.join(missing)}")
        return frame[columns].head(EXAMPLE_ROWS).reset_index(drop=True)
    logger.warning("%s %s: no data file found for an input example; the signature comes from the manifest",
                   manifest.name, manifest.version)
    return None


def _signature(model: Any, manifest: Manifest, example: Any) -> Any:
    from mlflow.models import infer_signature
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, Schema

    if example is not None:
        output = model.predict_proba(example) if manifest.output.kind == "probability" else model.predict(example)
        return infer_signature(example, output)
    kinds = {"int64": "long", "int32": "integer", "float64": "double", "float32": "float", "bool": "boolean"}
    columns = [ColSpec(kinds.get(c.dtype, "datetime" if c.dtype.startswith("datetime") else "string"), c.name)
               for c in manifest.inputs]
    return ModelSignature(inputs=Schema(columns))


def _requirements(manifest: Manifest) -> list[str]:
    packages = manifest.environment.packages
    return [f"{name}=={packages[name]}" for name in _PINNED if name in packages]


def _params(manifest: Manifest) -> dict[str, str]:
    params = {"model.class": manifest.artifact.class_name, "model.semver": manifest.version}
    for stage, values in sorted(manifest.parameters.items()):
        for key, value in sorted(values.items()):
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            params[f"{stage}.{key}"] = text[:6000]
    return params


def _metrics(manifest: Manifest) -> dict[str, float]:
    return {f"{dataset}.{name}": float(value) for dataset, values in sorted(manifest.metrics.items())
            for name, value in sorted(values.items())
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


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
