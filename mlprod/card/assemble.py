"""Building the :class:`~mlprod.card.schema.ModelCard` value from what the pipeline recorded and measured.

``build_card(model_dir, **inputs)`` reads the manifest and the hash-verified model (required), the
``card:`` section of params.yaml, the evaluation metrics, data and plots, the validation summary,
the registry decision record and the drift report (all optional: what is missing is listed on the
card), and measures the model itself: slice analysis on the evaluation data and the failure-mode
probes. Nothing is rendered here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..errors import CardError
from ..manifest.schema import MANIFEST_FILE, Manifest, read_manifest
from .compare import compare_manifests, rollback_plan
from .decision import PROMOTED, champion_version, comparison_from_decision, matches
from .fallback import fallback_model
from .info import CARD_SECTION, CardInfo, CardSettings, parse_card_info, parse_settings
from .monitoring import monitoring_plan
from .recommend import recommendations
from .schema import (Comparison, Curves, DataSet, Details, InputColumn, ModelCard, Performance, Rollback,
                     ValidationSummary)
from .sources import DEFAULT_MODEL_DIR, CardInputs, Collector, find_root, resolve, shown

_NUMERIC_DTYPES = ("int", "uint", "float", "Int", "UInt", "Float")


def build_card(model_dir: str | Path = DEFAULT_MODEL_DIR, *, settings: CardSettings | dict | None = None,
               info: CardInfo | dict | None = None, **inputs: Any) -> ModelCard:
    """Assemble the model card of the model in ``model_dir``; keyword ``inputs`` are :class:`CardInputs` fields."""
    allowed = [f.name for f in dataclasses.fields(CardInputs) if f.name != "model_dir"]
    unknown = sorted(set(inputs) - set(allowed))
    if unknown:
        raise CardError(f"build_card: unknown input(s) {unknown}; allowed: {', '.join(allowed)}")
    paths = CardInputs(model_dir=model_dir, **inputs)
    settings = settings if isinstance(settings, CardSettings) else parse_settings(settings)
    root, params_file = find_root(paths.params_file)
    c = Collector()
    params = _params(params_file)
    info = _card_info(info, params, params_file, c)

    model_dir = Path(paths.model_dir)
    manifest = read_manifest(model_dir)
    from ..manifest.store import load_model

    model = load_model(model_dir)  # refused unless the artifact's sha256 matches the manifest
    c.used("model manifest", model_dir / MANIFEST_FILE)
    features = _features(manifest, settings)
    target = settings.target or _recorded(manifest, "target")
    metrics = c.json("evaluation metrics", paths.metrics_file,
                     "holdout metrics are taken from the model manifest instead")
    threshold = _threshold(settings, metrics, manifest)
    performance = Performance(
        target=target or "(unknown)", threshold=threshold,
        holdout=dict((metrics or {}).get("holdout") or manifest.metrics.get("holdout") or {}),
        training=dict(manifest.metrics.get("training") or {}),
        source=str(paths.metrics_file) if metrics and "holdout" in metrics else f"{model_dir / MANIFEST_FILE}")

    evaluation = c.table("evaluation data", _data_path(paths.evaluation_data, manifest, "evaluation", root),
                         "no slice analysis, known limitations or failure-mode probes")
    training = c.table("training data", _data_path(paths.training_data, manifest, "training", root),
                       "training data summary from the manifest only; probe ranges from the evaluation data")
    if evaluation is not None and target and target not in evaluation.columns:
        raise CardError(f"evaluation data has no target column {target!r} (columns: {', '.join(evaluation.columns)}); "
                        "set the card's target setting to the label column")
    if target is None:
        c.note_missing("target column", "settings: target", "no slice analysis (no label column known)")

    slices, failure_modes, scores = _measure(model, manifest, evaluation, training, features, target, threshold,
                                             settings, c)
    curves = _curves(paths.plots_dir, c, evaluation, target, scores)
    validation = _validation(c.json("validation summary", paths.validation_file,
                                    "no data validation results on the card"), paths, c)
    comparison, rollback = _champion(manifest, paths, root, c)
    fallback = fallback_model(paths.fallback_dir, paths.fallback_metrics_file, paths.fallback_decision_file,
                              manifest, c)
    drift = c.json("drift report", paths.drift_file, "monitoring plan without the latest drift decision")
    monitoring = monitoring_plan(params, shown(params_file) if params_file else "params.yaml", drift,
                                 str(paths.drift_file) if drift is not None else None)
    if monitoring is None:
        c.note_missing("drift_report section of params.yaml", params_file or "params.yaml",
                       "no monitoring plan (no drift thresholds or retraining triggers configured)")

    card = ModelCard(
        title=info.title or manifest.name, details=_details(manifest, model, model_dir, features), info=info,
        performance=performance,
        evaluation_data=_dataset("evaluation", manifest, evaluation, target, paths.evaluation_data, info),
        training_data=_dataset("training", manifest, training, target, paths.training_data, info),
        slices=slices, failure_modes=failure_modes, curves=curves, validation=validation, comparison=comparison,
        rollback=rollback, monitoring=monitoring, recommendations=(), settings=settings,
        missing=tuple(c.missing), sources=tuple(c.sources), fallback=fallback)
    return dataclasses.replace(card, recommendations=tuple(recommendations(card)))


def _measure(model: Any, manifest: Manifest, evaluation: Any, training: Any, features: list[tuple[str, str]],
             target: str | None, threshold: float, settings: CardSettings, c: Collector) -> tuple:
    """Slice analysis and failure probes on the evaluation data: ``(slices, failure_modes, scores)``."""
    if evaluation is None:
        return None, None, None
    unscoreable = _unscoreable(manifest, model)
    if unscoreable:
        c.note_missing("binary probability output", manifest.output.kind, f"{unscoreable}: no slice analysis, "
                       "failure modes or curves (they need one probability per row)")
        return None, None, None
    from threadpoolctl import threadpool_limits

    from .probes import measure_failure_modes, observed_ranges, positive_scores
    from .slices import analyse_slices

    labelled = evaluation if target is None else _labelled(evaluation, target)
    with threadpool_limits(limits=1):  # evaluation-sized data: faster single-threaded
        scores = positive_scores(model, labelled)
    slices = None
    if target is not None:
        sliced = [(n, k) for n, k in features if n in settings.slice_columns or not settings.slice_columns]
        slices = analyse_slices(labelled, labelled[target].to_numpy(), scores, sliced, threshold, settings)
    ranges_from = training if training is not None else evaluation
    failure_modes = measure_failure_modes(
        model, evaluation, features, settings, ranges=observed_ranges(ranges_from, features),
        range_source="training data" if training is not None else "evaluation data")
    return slices, failure_modes, scores


def _champion(manifest: Manifest, paths: CardInputs, root: Path, c: Collector) -> tuple[Comparison, Rollback]:
    """The comparison with the champion (decision record, else previous manifest) and the rollback plan."""
    decision = c.json("registry decision record", paths.decision_file,
                      "champion comparison from the previous manifest; no gate results")
    if decision is not None and not matches(decision, manifest):
        c.note_missing("registry decision record", paths.decision_file,
                       f"the record there is about another artifact, not {manifest.name} {manifest.version}: not used")
        decision = None
    previous = _previous_manifest(manifest, root)
    if decision is not None:
        comparison = comparison_from_decision(decision, manifest, str(paths.decision_file), previous)
    else:
        comparison = compare_manifests(manifest, previous, source=_previous_source(manifest, previous))
    return comparison, _rollback(manifest, decision, previous, str(paths.model_dir))


def _unscoreable(manifest: Manifest, model: Any) -> str | None:
    """Why the card cannot measure the model (it needs a binary classifier's probabilities), or None."""
    if not hasattr(model, "predict_proba"):
        return f"{type(model).__name__} has no predict_proba"
    classes = manifest.output.classes
    if classes and len(classes) != 2:
        return f"the model has {len(classes)} classes, not 2"
    return None


def _labelled(frame: Any, target: str) -> Any:
    """Rows with a label; the labels must be 0/1."""
    labelled = frame[frame[target].notna()]
    values = set(labelled[target].unique().tolist())
    if not values <= {0, 1}:  # True and False compare equal to 1 and 0
        shown = ", ".join(repr(v) for v in sorted(values, key=str)[:5])
        raise CardError(f"evaluation data: target column {target!r} must hold 0/1 labels, found {shown}; "
                        "set the card's target setting to the 0/1 label column")
    return labelled


def _params(params_file: Path | None) -> dict[str, Any] | None:
    from ..stages.params import load_params_file

    return load_params_file(params_file) if params_file is not None else None


def _card_info(info: CardInfo | dict | None, params: dict | None, params_file: Path | None, c: Collector) -> CardInfo:
    if isinstance(info, CardInfo):
        return info
    if info is not None:
        return parse_card_info(info, source="card info")
    if params is not None and CARD_SECTION in params:
        c.used("card section", f"{shown(params_file)} [{CARD_SECTION}]")
        return parse_card_info(params[CARD_SECTION], source=f"{params_file} [{CARD_SECTION}]")
    c.note_missing(f"{CARD_SECTION}: section of params.yaml", params_file or "params.yaml",
                   "purpose, intended use, owners, license and ethical considerations are not stated")
    return CardInfo()


def _features(manifest: Manifest, settings: CardSettings) -> list[tuple[str, str]]:
    features = [(c.name, "numeric" if c.dtype.startswith(_NUMERIC_DTYPES) else "categorical")
                for c in manifest.inputs]
    for key in ("slice_columns", "intersection_columns"):
        unknown = sorted(set(getattr(settings, key)) - {n for n, _ in features})
        if unknown:
            raise CardError(f"{key}: {unknown} are not inputs of {manifest.name}; "
                            f"inputs: {', '.join(n for n, _ in features)}")
    return features


def _recorded(manifest: Manifest, key: str) -> Any:
    """A parameter recorded in the manifest (the evaluating stage's first, then the others)."""
    stages = sorted(manifest.parameters, key=lambda s: (s != "evaluate", s))
    for stage in stages:
        value = manifest.parameters[stage].get(key)
        if value is not None:
            return value
    return None


def _threshold(settings: CardSettings, metrics: dict | None, manifest: Manifest) -> float:
    for value in (settings.threshold, (metrics or {}).get("threshold"), _recorded(manifest, "threshold")):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 0.5


def _data_path(given: str | Path | None, manifest: Manifest, role: str, root: Path) -> Path | None:
    if given != "auto":
        return Path(given) if given is not None else None
    refs = manifest.data_by_role(role)
    return resolve(refs[0].path, root) if refs else None


def _details(manifest: Manifest, model: Any, model_dir: Path, features: list[tuple[str, str]]) -> Details:
    steps = getattr(model, "steps", None)
    final = steps[-1] if steps else None
    hyper = manifest.artifact.hyperparameters
    if final is not None:
        prefix = f"{final[0]}__"
        hyper = {k[len(prefix):]: v for k, v in hyper.items() if k.startswith(prefix)}
    estimator = type(final[1] if final else model).__name__
    out = manifest.output
    output = out.description or out.kind
    if out.classes:
        output += f" ({out.kind}; classes {', '.join(map(str, out.classes))})"
    kinds = dict(features)
    return Details(name=manifest.name, version=manifest.version, created_at=manifest.created_at,
                   description=manifest.description, model_type=manifest.artifact.class_name, estimator=estimator,
                   hyperparameters=dict(sorted(hyper.items())), artifact=str(model_dir / manifest.artifact.path),
                   sha256=manifest.artifact.sha256, size=manifest.artifact.size,
                   inputs=tuple(InputColumn(c.name, c.dtype, kinds[c.name]) for c in manifest.inputs), output=output,
                   git_commit=manifest.lineage.git.commit, git_dirty=manifest.lineage.git.dirty,
                   previous_version=manifest.previous.version if manifest.previous else None,
                   manifest=str(model_dir / MANIFEST_FILE), python=manifest.environment.python,
                   packages=dict(sorted(manifest.environment.packages.items())))


def _dataset(role: str, manifest: Manifest, frame: Any, target: str | None, given: Any,
             info: CardInfo) -> DataSet | None:
    refs = manifest.data_by_role(role)
    ref = refs[0] if refs else None
    if ref is None and frame is None:
        return None
    positives = period = None
    if frame is not None:
        if target and target in frame.columns:
            positives = int((frame[target] == 1).sum())
        period = _period(frame)
    description = info.training_data if role == "training" else info.evaluation_data
    path = ref.path if ref is not None and given == "auto" else str(given)
    return DataSet(role=role, path=path, dataset_id=ref.dataset_id if ref is not None and given == "auto" else None,
                   rows=len(frame) if frame is not None else (ref.rows if ref is not None else None),
                   positives=positives, period=period, description=description)


def _period(frame: Any) -> str | None:
    import pandas as pd

    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            values = frame[name].dropna()
            if len(values):
                return f"{name} from {values.min():%Y-%m-%d} to {values.max():%Y-%m-%d}"
    return None


def _curves(plots_dir: str | Path | None, c: Collector, evaluation: Any, target: str | None,
            scores: Any) -> Curves | None:
    folder = Path(plots_dir) if plots_dir is not None else None
    if folder is not None:
        roc = c.curve(folder / "roc.csv", "fpr", "tpr")
        pr = c.curve(folder / "precision_recall.csv", "recall", "precision")
        cal = c.curve(folder / "calibration.csv", "predicted", "observed")
        if roc or pr or cal:
            return Curves(roc=roc or (), precision_recall=pr or (), calibration=cal or (), source=str(folder))
    if evaluation is None or target is None or scores is None:
        c.note_missing("evaluation plots", folder or "(not given)", "no ROC, precision-recall or calibration curves")
        return None
    c.note_missing("evaluation plots", folder, "curves computed by the card from the evaluation data instead")
    from .curves import compute_curves

    labelled = _labelled(evaluation, target)
    return compute_curves(labelled[target].to_numpy(), scores, source="computed from the evaluation data")


def _validation(summary: dict | None, paths: CardInputs, c: Collector) -> ValidationSummary | None:
    if summary is None:
        return None
    details = None
    if paths.validation_details is not None and Path(paths.validation_details).is_file():
        details = c.json("validation details", paths.validation_details, "")
    findings = []
    for dataset in (details or {}).get("datasets", []) if isinstance(details, dict) else []:
        for check in dataset.get("checks", []) if isinstance(dataset, dict) else []:
            if isinstance(check, dict) and check.get("action") in ("fail", "warn"):
                findings.append(f"{check['action'].upper()} {dataset.get('name')}: {check.get('check')} - "
                                f"{check.get('message')}")
    datasets = []
    for name, entry in sorted((summary.get("datasets") or {}).items()):
        if isinstance(entry, dict):
            datasets.append((str(name), int(entry.get("rows", 0)), str(entry.get("status", "?")),
                             int(entry.get("failed", 0)), int(entry.get("warnings", 0))))
    return ValidationSummary(source=str(paths.validation_file), status=str(summary.get("status", "unknown")),
                             checks=int(summary.get("checks", 0)), failed=int(summary.get("failed", 0)),
                             warnings=int(summary.get("warnings", 0)), datasets=tuple(datasets),
                             findings=tuple(findings))


def _rollback(manifest: Manifest, decision: dict | None, previous: Manifest | None, model_dir: str) -> Rollback:
    outcome = (decision or {}).get("outcome")
    if decision is not None and outcome == "rejected":
        champion = champion_version(decision) or "none"
        return Rollback(current=manifest.version, previous=None, steps=(),
                        predecessor=manifest.previous.version if manifest.previous else None,
                        summary=f"nothing (not promoted; the champion stays {champion})", notes=(
            f"{manifest.name} {manifest.version} was not promoted (the gates rejected it): the champion stays "
            f"{champion}, so there is nothing to roll back.",))
    if decision is not None and outcome in PROMOTED:
        target = champion_version(decision)
    else:
        target = manifest.previous.version if manifest.previous else None
    known = previous is not None and target is not None and previous.version == target
    rebuildable = known and not previous.lineage.git.dirty  # a clean commit rebuilds it exactly
    return rollback_plan(manifest, target, registered=decision is not None,
                         previous_commit=previous.lineage.git.commit if rebuildable else None,
                         previous_sha256=previous.artifact.sha256 if known else None, model_dir=model_dir)


def _previous_manifest(manifest: Manifest, root: Path) -> Manifest | None:
    if manifest.previous is None or not manifest.previous.manifest_md5:
        return None
    from ..manifest.history import cached_manifest

    return cached_manifest(root, manifest.previous.manifest_md5)


def _previous_source(manifest: Manifest, previous: Manifest | None) -> str:
    if manifest.previous is None:
        return "model manifest (no previous version recorded)"
    if previous is None:
        return f"model manifest (previous version {manifest.previous.version}; its manifest is not in the DVC cache)"
    return f"manifest of the previous version {previous.version} (DVC cache)"
