"""``NAME-serving``: the resilient pyfunc registered as a model of its own, whose ``champion`` follows NAME's.

Order of work in :func:`register_serving` (and why):
1. the primary's registered version (default: where ``NAME@champion`` points) and, when registered,
   ``NAME-fallback@champion`` are downloaded and checked against the registry's sha256 tags
   (:func:`mlprod.registry.register.download_verified`), and a :class:`~mlprod.serving.ResilientPredictor` is
   built from them with the ``serving:`` settings: a combination that cannot serve is never registered;
2. under the registry lock, a ``NAME-serving`` version built from the same primary, fallback and settings
   (tags ``mlprod.primary_sha256``, ``mlprod.fallback_sha256``, ``mlprod.serving_settings_sha256``; under
   ``serving.review.method: risk_control`` the settings digest covers the primary's ``review_calibration.json``
   too, which travels inside the primary's folder) is reused, else one is logged (models-from-code, :mod:`mlprod.serving.pyfunc`; nothing pickled) and registered;
3. ``NAME-serving@champion`` is set to it: the single commit point.

:func:`follow_champion` is what :func:`mlprod.registry.champion.promote` and ``rollback`` call after they moved
``NAME@champion`` (or ``NAME-fallback@champion``): once ``NAME-serving`` exists, its champion follows. It never
raises: the primary's move is already recorded; a failure is logged and returned as a note (promote writes it
into the decision's ``notes``), and ``register_serving`` can be run again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import RegistryError
from .fallbacks import FALLBACK_SUFFIX

logger = logging.getLogger(__name__)
SERVING_SUFFIX = "-serving"
CHAMPION = "champion"
PRIMARY_SHA_TAG = "mlprod.primary_sha256"
FALLBACK_SHA_TAG = "mlprod.fallback_sha256"
SETTINGS_SHA_TAG = "mlprod.serving_settings_sha256"  # the serving: section (and, under risk_control, the calibration)
CALIBRATION_SHA_TAG = "mlprod.review_calibration_sha256"
_REQUIREMENTS = ("mlflow", "scikit-learn", "numpy", "scipy", "pandas", "skops", "pyyaml")


@dataclass(frozen=True)
class ServingVersion:
    name: str  # NAME-serving
    version: str  # its registry version
    primary: str  # NAME's registry version it serves
    primary_sha256: str
    fallback_sha256: str | None
    created: bool  # False: an existing version was reused

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def serving_name(name: str) -> str:
    return f"{name}{SERVING_SUFFIX}"


def register_serving(name: str, registry: Any = None, *, version: str | int | None = None,
                     serving: Mapping[str, Any] | None = None) -> ServingVersion:
    """Register (or reuse) the ``NAME-serving`` version serving NAME ``version`` (default: NAME@champion) and point
    ``NAME-serving@champion`` at it; see the module docstring. ``serving`` is the ``serving:`` section (default:
    the project's params.yaml, else the defaults)."""
    from ..registry.register import alias_version, download_verified
    from ..registry.store import Registry
    from . import ResilientPredictor, ServingSettings

    if name.endswith(SERVING_SUFFIX):
        raise RegistryError(f"{name!r} is a serving model already; give the primary's name "
                            f"({name.removesuffix(SERVING_SUFFIX)!r})")
    registry = registry or Registry.open()
    raw = dict(serving) if serving is not None else _project_serving()
    settings = ServingSettings.from_mapping(raw)
    settings_text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    settings_sha = hashlib.sha256(settings_text.encode()).hexdigest()
    primary = (registry.version(name, version) if version is not None else
               alias_version(registry, name, CHAMPION, instead=" before registering its serving model"))
    fallback = registry.alias(name + FALLBACK_SUFFIX, CHAMPION)
    target = serving_name(name)
    with tempfile.TemporaryDirectory(prefix="mlprod-serving-") as tmp:
        folders = {"primary": download_verified(registry, primary, Path(tmp) / "primary")}
        if fallback is not None:
            folders["fallback"] = download_verified(registry, fallback, Path(tmp) / "fallback")
        primary_sha = folders["primary"][1].artifact.sha256
        fallback_sha = folders["fallback"][1].artifact.sha256 if fallback is not None else None
        calibration = _calibration_sha(settings, folders["primary"][1])
        if calibration:  # a recalibrated band is another serving model: its settings differ
            settings_sha = hashlib.sha256(f"{settings_text}\n{calibration}".encode()).hexdigest()
        # build it once here: a combination that cannot serve (e.g. a fallback needing other inputs) is refused now
        ResilientPredictor.from_folders(folders["primary"][0], folders.get("fallback", (None,))[0],
                                        settings=settings).close()
        wanted = {PRIMARY_SHA_TAG: primary_sha, FALLBACK_SHA_TAG: fallback_sha or "", SETTINGS_SHA_TAG: settings_sha}
        with registry.lock(target):
            found = _existing(registry, target, wanted)
            created = found is None
            if found is None:
                settings_file = Path(tmp) / "serving.json"
                settings_file.write_text(settings_text + "\n", encoding="utf-8")
                tags = {**wanted, "mlprod.primary_model": name, "mlprod.primary_version": str(primary.version),
                        "mlprod.primary_semver": folders["primary"][1].version}
                if fallback is not None:
                    tags["mlprod.fallback_version"] = str(fallback.version)
                if calibration:
                    tags[CALIBRATION_SHA_TAG] = calibration
                found = _log_and_register(registry, target, folders, settings_file, tags)
            registry.call(f"moving {target}@{CHAMPION}", registry.client.set_registered_model_alias, target,
                          CHAMPION, str(found.version))
    result = ServingVersion(name=target, version=str(found.version), primary=str(primary.version),
                            primary_sha256=primary_sha, fallback_sha256=fallback_sha, created=created)
    logger.info("%s@%s -> version %s (%s %s version %s%s)", target, CHAMPION, result.version,
                "registered for" if created else "reused for", name, result.primary,
                f", fallback version {fallback.version}" if fallback is not None else "")
    return result


def follow_champion(registry: Any, model: str) -> str | None:
    """After ``model``'s champion moved: re-point ``NAME-serving@champion`` (NAME is ``model`` without a
    ``-fallback`` suffix) when ``NAME-serving`` is registered. Returns a note when that failed (logged as an
    error), ``None`` otherwise; never raises."""
    if model.endswith(SERVING_SUFFIX):
        return None
    name = model.removesuffix(FALLBACK_SUFFIX)
    target = serving_name(name)
    try:
        if registry.registered_model(target) is None or registry.alias(name, CHAMPION) is None:
            return None
        register_serving(name, registry)
    except Exception as exc:  # the primary's move is recorded: report, never undo it
        note = (f"the serving model {target!r} still serves its previous version: rebuilding it after this move "
                f"failed ({type(exc).__name__}: {exc}); fix the cause and run `mlprod registry serving {name}` "
                f"(register_serving({name!r}))")
        logger.error("%s", note)
        logger.debug("serving model follow-up failed", exc_info=True)
        return note
    return None


def _calibration_sha(settings: Any, manifest: Any) -> str:
    """The sha256 of the primary's review calibration under ``risk_control`` (checked when the predictor is built
    from the folder, just before), else ''."""
    from .review.calibration import CALIBRATION_FILE

    return manifest.files.get(CALIBRATION_FILE, "") if settings.review.method == "risk_control" else ""


def _project_serving() -> dict[str, Any]:
    from ..stages.params import find_params_file, load_params_file

    path = find_params_file()
    section = load_params_file(path).get("serving") if path is not None else None
    return dict(section or {})


def _existing(registry: Any, target: str, wanted: dict[str, str]) -> Any | None:
    if registry.registered_model(target) is None:
        return None
    for version in reversed(registry.versions(target)):
        tags = version.tags or {}
        if all(tags.get(k, "") == v for k, v in wanted.items()):
            return version
    return None


def _log_and_register(registry: Any, target: str, folders: dict, settings_file: Path, tags: dict[str, str]) -> Any:
    import warnings

    import mlflow
    import mlflow.pyfunc

    from ..registry.runlog import mlflow_uris
    from . import pyfunc

    manifest = folders["primary"][1]
    artifacts = {pyfunc.PRIMARY: str(folders["primary"][0]), pyfunc.SETTINGS: str(settings_file)}
    if "fallback" in folders:
        artifacts[pyfunc.FALLBACK] = str(folders["fallback"][0])
    experiment_id = registry.experiment_id(target)
    with mlflow_uris(registry), registry.errors(f"logging {target} for {manifest.name} {manifest.version}"):
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{target} ({manifest.name} {manifest.version})",
                              tags=tags, nested=mlflow.active_run() is not None) as run:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=str(Path(pyfunc.__file__)), artifacts=artifacts,
                    signature=signature(manifest), pip_requirements=_requirements(),
                    metadata={"mlprod_primary_semver": manifest.version,
                              "mlprod_primary_sha256": manifest.artifact.sha256})
        if registry.registered_model(target) is None:
            registry.client.create_registered_model(
                target, tags={"mlprod.serving_of": manifest.name},
                description=f"The resilient serving model of {manifest.name!r} (mlprod; docs/serving.md)")
        return registry.client.create_model_version(
            target, info.model_uri, run_id=run.info.run_id, tags=tags, model_id=info.model_id,
            description=f"serves {manifest.name} {manifest.version} (sha256 {manifest.artifact.sha256[:12]})")


def signature(manifest: Any) -> Any:
    """Every input optional (``required=False``): MLflow's input check would refuse a request missing a column
    before the model could fill it; the output columns as the predictor returns them."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import Array

    kinds = {"int64": "long", "int32": "integer", "float64": "double", "float32": "float", "bool": "boolean"}
    inputs = [ColSpec(kinds.get(c.dtype, "datetime" if c.dtype.startswith("datetime") else "string"), c.name,
                      required=False) for c in manifest.inputs]
    outputs = [ColSpec("double", "score"), ColSpec("long", "decision", required=False), ColSpec("string", "tier"),
               ColSpec("string", "fallback_reason", required=False), ColSpec(Array("string"), "filled_features"),
               ColSpec("boolean", "needs_review"), ColSpec("string", "model_version")]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in _REQUIREMENTS:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins
