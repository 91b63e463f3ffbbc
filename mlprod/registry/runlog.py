"""The MLflow run a registered version points to: parameters, metrics, tags, mlprod's files and an MLflow model.

:func:`log_run` logs the manifest and the hash-checked artifact under ``mlprod/model/`` (with the model folder's
``reference_profile.json`` when there is one: monitoring measures drift against it, and the files the manifest
records, hash-checked: e.g. ``review_calibration.json``), the model card when there is
one (``mlprod/model_card/``), and an MLflow model (sklearn flavor, skops serialization with only the types the
audited file needs, signature and input example). :func:`mlflow_uris` points MLflow's fluent API at a registry for
a block and puts back what was there.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import RegistryError
from ..manifest.attached import verified_file_bytes
from ..manifest.schema import MANIFEST_FILE, Manifest
from ..manifest.store import project_root
from .download import MODEL_ARTIFACTS
from .store import Registry

logger = logging.getLogger(__name__)
CARD_ARTIFACTS = "mlprod/model_card"
PROFILE_FILE = "reference_profile.json"  # the model folder's reference profile, logged beside the manifest
EXAMPLE_ROWS = 5
_PINNED = ("scikit-learn", "numpy", "scipy", "pandas", "skops")
_FIX = "rebuild the model folder (dvc repro) and register it again"
QUIET = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"


@contextmanager
def mlflow_uris(registry: Registry) -> Iterator[None]:
    """Point MLflow's fluent API (start_run, log_model) at ``registry`` for the block, and put back what was
    there: ``mlflow.set_tracking_uri`` also sets MLFLOW_TRACKING_URI in this process's environment, which
    would point every later Registry.open in the process (a notebook, a test) at this store. MLflow's own
    "View run ... at" lines on stdout (a tracking server) are off for the block: mlprod reports the run itself."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", QUIET)
    environment = {name: os.environ.get(name) for name in names}
    before = (getattr(tracking_utils, "_tracking_uri", None), getattr(registry_utils, "_registry_uri", None))
    os.environ[QUIET] = "true"
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


def log_run(registry: Registry, experiment_id: str, model_dir: Path, manifest: Manifest, artifact: bytes,
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
            for name in sorted(manifest.files):  # files the manifest vouches for (the review calibration), checked
                (folder / name).write_bytes(verified_file_bytes(model_dir, manifest, name, fix=_FIX))
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
