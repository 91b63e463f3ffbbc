"""Saving a model with its manifest, loading it only after the hash check, adding evaluation results.

From a notebook::

    manifest = mlprod.save_model(pipeline, model_dir, name="lead-scoring", X=X_train,
                                 training_data=train_path, metrics={"training": {...}})
    model = mlprod.load_model(model_dir)

Lineage (git state, the stage run and its parameters, data hashes, imported packages, previous
version) is captured automatically; the version is proposed from the previous manifest by the rules in
:mod:`mlprod.manifest.semver` (or checked against them when given).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import atomic
from ..modelfile.skops_io import ModelFileError, dumps_model, loads_model
from .attached import with_files, write_files
from .datarefs import data_ref
from .environment import current_environment
from .gitstate import git_state
from .history import find_previous
from .schema import (FILES_SCHEMA_VERSION, MANIFEST_FILE, SCHEMA_VERSION, Artifact, DataRef, InputColumn,
                     InteractiveRun, Lineage, Manifest, ManifestError, Output, ParameterDifference, Previous, StageRun,
                     read_manifest, write_manifest)
from .semver import check_version, propose_version

logger = logging.getLogger(__name__)
ARTIFACT_FILE = "model.skops"
ENV_RUN = "MLPROD_RUN"


def save_model(model: Any, model_dir: str | Path, *, name: str, X: Any = None,
               training_data: str | Path | Iterable[str | Path] = (), metrics: dict[str, dict] | None = None,
               output: str = "", description: str = "", version: str | None = None,
               previous: str | Path | Manifest | None = None) -> Manifest:
    """Write ``model`` (skops, deterministic bytes) and its manifest into ``model_dir``.

    ``X`` is a sample of the model's input (a DataFrame, for the input schema); ``training_data`` the
    data file(s) it was fitted on. ``version`` is checked against the previous version; by default
    the next version is proposed. Returns the manifest written.
    """
    root = project_root()
    model_dir = Path(model_dir)
    data = dumps_model(model)
    artifact = Artifact(path=ARTIFACT_FILE, sha256=hashlib.sha256(data).hexdigest(), size=len(data), format="skops",
                        class_name=f"{type(model).__module__}.{type(model).__qualname__}",
                        hyperparameters=hyperparameters(model), features=model_features(model))
    paths = [training_data] if isinstance(training_data, (str, Path)) else list(training_data)
    rows = len(X) if X is not None and len(paths) == 1 else None
    refs = [data_ref(p, "training", root=root, rows=rows if not str(p).endswith((".parquet", ".pq")) else None)
            for p in paths]
    run, values = current_run(), run_parameters()
    manifest = Manifest(
        name=_check_name(name), version=version or "0.0.0", created_at=_now(), description=description,
        artifact=artifact, inputs=input_schema(model, X), output=output_description(model, output),
        data=refs, parameters={run.stage: values} if values is not None else {},
        metrics=_clean_metrics(metrics or {}), lineage=Lineage(git=git_state(root), runs=[run]),
        environment=current_environment(), schema_version=_schema_version([run], refs))
    prior = _previous_manifest(previous, model_dir, root)
    if prior is not None and prior.name != manifest.name:
        logger.info("previous model in %s is named %r; %r starts its own version line", model_dir, prior.name, name)
        prior = None
    if version is None:
        proposed, change = propose_version(prior, manifest)
        manifest = _replace(manifest, version=proposed)
    else:
        change = check_version(prior, manifest)
    if prior is not None:
        manifest = _replace(manifest, previous=Previous(version=prior.version, sha256=prior.artifact.sha256,
                                                        manifest_md5=_manifest_md5(prior)))
    atomic.write_bytes(model_dir / ARTIFACT_FILE, data)
    write_manifest(manifest, model_dir)
    logger.info("saved %s %s (%s): %s", manifest.name, manifest.version, change.level,
                "; ".join(change.reasons) or "unchanged")
    return manifest


def load_model(model_dir: str | Path) -> Any:
    """Load the model in ``model_dir`` after checking its sha256 against the manifest (before deserializing)."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    data = verified_artifact_bytes(model_dir, manifest)
    try:
        return loads_model(data, source=model_dir / manifest.artifact.path)
    except ModelFileError as exc:
        raise ManifestError(str(exc)) from exc


def verified_artifact_bytes(model_dir: Path, manifest: Manifest) -> bytes:
    path = model_dir / manifest.artifact.path
    if Path(manifest.artifact.path).is_absolute() or ".." in Path(manifest.artifact.path).parts:
        raise ManifestError(f"{model_dir / MANIFEST_FILE}: artifact.path {manifest.artifact.path!r} must be a file "
                            "inside the model folder")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ManifestError(f"{path}: model artifact named in {model_dir / MANIFEST_FILE} is missing") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != manifest.artifact.sha256:
        raise ManifestError(f"{path}: sha256 {actual} does not match the manifest ({manifest.artifact.sha256}); the "
                            "artifact or the manifest was changed after the model was saved. Refusing to load it; "
                            "retrain the model (dvc repro) or restore both files.")
    return data


def add_evaluation(source_dir: str | Path, model_dir: str | Path, *, metrics: dict[str, dict],
                   evaluation_data: str | Path | Iterable[str | Path] = (),
                   files: Mapping[str, bytes] | None = None) -> Manifest:
    """Copy the verified model in ``source_dir`` to ``model_dir`` with ``metrics`` added to its manifest.

    Used by an evaluation stage: the trained model's folder stays untouched (it is the train stage's
    output), and ``model_dir`` holds the complete, evaluated model. Every other file in ``source_dir``
    (e.g. a reference profile) is copied along. ``files`` (name -> bytes, e.g. the review calibration) are
    written into ``model_dir`` and recorded with their sha256 in the manifest (:mod:`.attached`). The folder is
    replaced in one rename.
    """
    source_dir, model_dir = Path(source_dir), Path(model_dir)
    if source_dir.resolve() == model_dir.resolve():
        raise ManifestError(f"add_evaluation: source and target are both {model_dir}; write the evaluated model to "
                            "its own folder so the train stage's output stays unchanged")
    manifest = read_manifest(source_dir)
    data = verified_artifact_bytes(source_dir, manifest)
    root = project_root()
    paths = [evaluation_data] if isinstance(evaluation_data, (str, Path)) else list(evaluation_data)
    refs = [r for r in manifest.data if r.role != "evaluation"] + [data_ref(p, "evaluation", root=root) for p in paths]
    run, values = current_run(), run_parameters()
    parameters = dict(manifest.parameters)
    if values is not None:
        parameters[run.stage] = values
    runs = [r for r in manifest.lineage.runs if r.stage != run.stage] + [run]
    evaluated = _replace(manifest, metrics={**manifest.metrics, **_clean_metrics(metrics)}, data=refs,
                         parameters=parameters, lineage=Lineage(git=manifest.lineage.git, runs=runs),
                         schema_version=max(manifest.schema_version, _schema_version(runs, refs)))
    if files:
        evaluated = with_files(evaluated, files)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", dir=model_dir.parent))
    try:
        for item in sorted(source_dir.iterdir()):
            if item.name in (MANIFEST_FILE, manifest.artifact.path) or item.name.startswith("."):
                continue
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, staging / item.name)
        atomic.write_bytes(staging / manifest.artifact.path, data)
        write_files(staging, files or {})
        write_manifest(evaluated, staging)
        atomic.replace_dir(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return evaluated


def current_run() -> StageRun:
    """The stage run in progress: from ``mlprod run`` or, in JupyterLab, from ``init_stage``."""
    context = _run_context()
    if context:
        return StageRun(stage=context["stage"], notebook=context["notebook"],
                        notebook_sha256=context["notebook_sha256"], run_id=context.get("run_id"),
                        run_record=context.get("run_record"), started_at=context.get("started_at"))
    from ..stages.interactive import applied_stage

    applied = applied_stage() or {}
    notebook = os.environ.get("JPY_SESSION_NAME", "")  # set by Jupyter Server to the notebook's path
    sha = hashlib.sha256(Path(notebook).read_bytes()).hexdigest() if notebook and Path(notebook).is_file() else ""
    return StageRun(stage=applied.get("stage", "interactive"),
                    notebook=_project_path(notebook) if notebook else "<interactive session>",
                    notebook_sha256=sha, interactive=_interactive(applied) if applied else None)


def _schema_version(runs: list[StageRun], refs: list[DataRef]) -> int:
    """Version 2 when a run carries ``interactive`` or a data reference names a DVC remote (older readers must
    refuse them), else version 1 as before."""
    v2 = any(run.interactive for run in runs) or any(ref.remote for ref in refs)
    return FILES_SCHEMA_VERSION if v2 else SCHEMA_VERSION


def _interactive(applied: dict[str, Any]) -> InteractiveRun:
    """An interactive run's lineage: the values that differed from params.yaml, which side ran, where outputs went."""
    def plain(value: Any) -> Any:
        return json.loads(json.dumps(value, default=str))

    return InteractiveRun(
        values="cell" if applied.get("use_cell") else "params.yaml",
        outputs="pipeline" if applied.get("write_outputs") else "scratch",
        differences={d.name: ParameterDifference(section=d.section, cell=plain(d.cell),
                                                 params_yaml=plain(d.params_yaml))
                     for d in applied.get("differences", [])},
        redirected=dict(applied.get("redirected", {})))


def _project_path(notebook: str) -> str:
    """The notebook's path relative to the project root (POSIX) when it lies inside, as ``mlprod run`` records it."""
    path = Path(notebook)
    if not path.is_absolute():
        return notebook
    try:
        return path.resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return notebook


def run_parameters() -> dict[str, Any] | None:
    context = _run_context()
    if context:
        return context.get("parameters") or {}
    from ..stages.interactive import applied_stage

    applied = applied_stage()
    return json.loads(json.dumps(applied["parameters"], default=str)) if applied else None


def project_root() -> Path:
    from ..stages.params import find_params_file

    params = find_params_file()
    return params.parent.resolve() if params else Path.cwd().resolve()


def input_schema(model: Any, X: Any) -> list[InputColumn]:
    if X is not None and hasattr(X, "dtypes") and hasattr(X, "columns"):
        return [InputColumn(name=str(c), dtype=str(t)) for c, t in zip(X.columns, X.dtypes)]
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise ManifestError("save_model: pass X=<a DataFrame of the model's input> so the manifest can record the "
                            "input schema (feature names and dtypes)")
    return [InputColumn(name=str(n), dtype="unknown") for n in names]


def output_description(model: Any, description: str) -> Output:
    classes = getattr(model, "classes_", None)
    if classes is not None:
        kind = "probability" if hasattr(model, "predict_proba") else "class"
        return Output(kind=kind, description=description, classes=[_plain(c) for c in classes])
    return Output(kind="value", description=description)


def hyperparameters(model: Any) -> dict[str, Any]:
    try:
        params = model.get_params(deep=True)
    except Exception:  # noqa: BLE001 - not an estimator
        return {}
    out = {}
    for key, value in sorted(params.items()):
        value = _plain(value)
        if value is None or isinstance(value, (bool, int, float, str)) or (
                isinstance(value, list) and all(isinstance(v, (bool, int, float, str)) for v in value)):
            out[key] = value
    return {k: v for k, v in out.items() if v is not None}


def model_features(model: Any) -> list[str]:
    try:
        steps = getattr(model, "steps", None)
        if steps and len(steps) > 1:
            return [str(n) for n in model[:-1].get_feature_names_out()]
        names = getattr(model, "feature_names_in_", None)
        return [str(n) for n in names] if names is not None else []
    except Exception:  # noqa: BLE001 - a transformer without feature names
        return []


def _previous_manifest(previous: str | Path | Manifest | None, model_dir: Path, root: Path) -> Manifest | None:
    if isinstance(previous, Manifest):
        return previous
    if previous is not None:
        return read_manifest(previous)
    return find_previous(model_dir, root)


def _manifest_md5(manifest: Manifest) -> str:
    from .schema import dumps

    return hashlib.md5(dumps(manifest).encode("utf-8"), usedforsecurity=False).hexdigest()


def _run_context() -> dict[str, Any] | None:
    raw = os.environ.get(ENV_RUN)
    if not raw:
        return None
    try:
        context = json.loads(raw)
    except ValueError:
        return None
    return context if isinstance(context, dict) and context.get("stage") else None


def _clean_metrics(metrics: dict[str, dict]) -> dict[str, dict]:
    if not isinstance(metrics, dict) or not all(isinstance(v, dict) for v in metrics.values()):
        raise ManifestError("metrics: expected {data set name: {metric: value}}, e.g. {'holdout': {'roc_auc': 0.83}}")
    return {str(k): {str(m): _plain(v) for m, v in sorted(values.items())} for k, values in sorted(metrics.items())}


def _plain(value: Any) -> Any:
    """NumPy scalars to Python scalars; anything else not YAML-safe to None."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return None


def _check_name(name: str) -> str:
    import re

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise ManifestError(f"save_model: name {name!r} must be 1-100 letters, digits, '.', '_' or '-' "
                            "(it names the model in the registry)")
    return name


def _replace(manifest: Manifest, **changes: Any) -> Manifest:
    import dataclasses

    return dataclasses.replace(manifest, **changes)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
