"""The calibrated review band: ``review_calibration.json`` in the model folder, next to the manifest.

The evaluate stage computes it on the holdout scores (:func:`calibration_files`, given to ``mlprod.add_evaluation``)
whenever ``serving.review.method`` is ``risk_control``, so every (re)training recalibrates; ``calibrate_review``
does the same for an existing folder. Learn-then-Test (:mod:`.ltt`) picks the band; the file is written
atomically, with sorted keys and no time stamp (the same model and holdout give the same bytes), and recorded with
its sha256 in the model's manifest (:mod:`mlprod.manifest.attached`): it travels with the model into the registry
and the serving pyfunc, and a missing, changed or unrecorded file is refused, never replaced by the plain band.
The file also names the model it was calibrated for (version and artifact sha256) and its alpha and delta:
:func:`calibrated_band` refuses a file left from another model or calibrated for other targets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ReviewError
from .ltt import LTTResult, learn_then_test

CALIBRATION_FILE = "review_calibration.json"
SCHEMA = "review_calibration"
SCHEMA_VERSION = 1
METHOD = "learn_then_test: binomial-tail p-values, fixed-sequence testing from the widest band"
FIX = ("re-run the evaluate stage, which writes it when serving.review.method is risk_control (`dvc repro "
       "evaluate`; for a registered model: retrain, or register the re-evaluated folder), or set "
       "serving.review.method: band")
_SCORES = "__mlprod_review_score__"  # the holdout scores, kept aligned with the labelled rows


def calibration_record(scores, labels, *, threshold: float, alpha: float, delta: float, manifest: Any,
                       bands: list[tuple[float, float]] | None = None, where: Any = "the holdout") -> dict[str, Any]:
    """Learn-then-Test on holdout ``scores`` and 0/1 ``labels``: the record for ``manifest``'s model. No certifiable
    band is a :class:`ReviewError`: raise ``alpha`` or ``delta``, or calibrate on more holdout rows."""
    result = learn_then_test(np.asarray(scores, dtype=float), np.asarray(labels), threshold=float(threshold),
                             alpha=alpha, delta=delta, bands=bands)
    if not result.certified:
        raise ReviewError(no_band_message(result, where))
    return to_record(result, model_version=manifest.version, model_sha256=manifest.artifact.sha256)


_FROM_PARAMS = object()


def calibration_files(trained_dir: str | Path, holdout_frame, scores, *, threshold: float,
                      params: dict[str, Any] | None = None, positive_label: Any = _FROM_PARAMS) -> dict[str, bytes]:
    """For the evaluate stage: ``{"review_calibration.json": bytes}`` calibrated on the holdout ``scores`` of the
    model in ``trained_dir`` when params.yaml's ``serving.review.method`` is ``risk_control``, else ``{}``; give it
    to ``mlprod.add_evaluation(..., files=...)``. ``params`` default: the stage's params.yaml. Labels come from
    ``project.target`` and ``positive_label`` (default: params.yaml's ``project.positive_label``); holdout rows
    without a label are left out."""
    import pandas as pd

    from ...atomic import dumps_json
    from ...manifest.schema import read_manifest

    params = _stage_params() if params is None else params
    review, target, positive = _review_settings(params)
    if review.method != "risk_control":
        return {}
    if positive_label is not _FROM_PARAMS:  # the stage's injected project.positive_label
        positive = positive_label
    scores = np.asarray(scores, dtype=float)
    if len(scores) != len(holdout_frame):
        raise ReviewError(f"review calibration: {len(scores):,} scores for {len(holdout_frame):,} holdout rows; give "
                          "the scores of exactly these rows")
    frame = pd.DataFrame({target: holdout_frame[target].to_numpy(), _SCORES: scores})
    frame, labels = _labelled(frame, target, positive)
    record = calibration_record(frame[_SCORES], labels, threshold=threshold, alpha=review.alpha,
                                delta=review.delta, manifest=read_manifest(trained_dir), where=trained_dir)
    return {CALIBRATION_FILE: dumps_json(record).encode("utf-8")}



def _labelled(frame, target: str, positive: Any):
    from ...data.labels import binary_target

    frame, _ = binary_target(frame, target, positive_label=positive, source="the review holdout")
    return frame, frame[target].to_numpy()


def _review_settings(params: dict[str, Any]):
    from ...project.facts import read_facts
    from ..settings import ServingSettings

    review = ServingSettings.from_mapping(params.get("serving")).review
    if review.method != "risk_control":
        return review, "", None
    facts = read_facts(params, "params.yaml")
    if not facts.target:
        raise ReviewError("review calibration: project.target is not set in params.yaml; the holdout's label "
                          "column is needed")
    return review, facts.target, facts.positive_label


def _stage_params() -> dict[str, Any]:
    import os

    from ...stages.params import find_params_file, load_params_file
    from ...stages.runner import ENV_PARAMS_FILE

    path = os.environ.get(ENV_PARAMS_FILE) or find_params_file()
    return load_params_file(path) if path else {}


def calibrate_review(model_dir: str | Path, holdout_frame, *, target: str, threshold: float | None = None,
                     alpha: float, delta: float, positive_label: Any = None,
                     bands: list[tuple[float, float]] | None = None) -> dict[str, Any]:
    """Choose the review band on ``holdout_frame`` (the model's inputs and ``target``) so that the error rate among
    automatically decided rows is at most ``alpha`` with probability ``1 - delta``; write it to
    ``model_dir/review_calibration.json``, record it in the folder's manifest and return what was written.

    ``threshold`` None: the manifest's (``evaluate.threshold``, else 0.5), as the predictor. No certifiable band is
    a :class:`ReviewError` (nothing is written): raise ``alpha`` or ``delta``, or calibrate on more holdout rows.
    """
    from ...atomic import dumps_json
    from ...manifest.attached import attach_files
    from ...manifest.schema import read_manifest
    from ...manifest.store import load_model
    from ..predictor import manifest_threshold

    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    threshold = manifest_threshold(manifest) if threshold is None else float(threshold)
    frame, _ = _labelled(holdout_frame, target, positive_label)
    columns = [c.name for c in manifest.inputs]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReviewError(f"calibrate_review: the holdout lacks the model's input column(s) {missing}; give the "
                          f"holdout split the evaluate stage scored")
    scores = np.asarray(load_model(model_dir).predict_proba(frame[columns])[:, 1], dtype=float)
    record = calibration_record(scores, frame[target].to_numpy(), threshold=threshold, alpha=alpha, delta=delta,
                                manifest=manifest, bands=bands, where=model_dir)
    attach_files(model_dir, {CALIBRATION_FILE: dumps_json(record).encode("utf-8")})
    return record


def no_band_message(result: LTTResult, where: Any) -> str:
    widest = result.tests[0] if result.tests else None
    got = (f"the widest band {list(widest.band)} leaves {widest.auto_rows:,} auto-decided holdout rows with "
           f"{widest.errors:,} errors (p-value {widest.p_value:.3g} > delta {result.delta})") if widest else "no bands"
    return (f"review calibration for {where}: no review band keeps the error among automatically decided rows below "
            f"alpha={result.alpha} with confidence 1 - delta={1 - result.delta:g} on {result.rows:,} holdout rows: "
            f"{got}. Nothing was written; raise serving.review.alpha (or delta), calibrate on more holdout rows, "
            "or use serving.review.method: band")


def to_record(result: LTTResult, *, model_version: str, model_sha256: str) -> dict[str, Any]:
    chosen = result.chosen
    assert chosen is not None
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "method": METHOD,
        "alpha": result.alpha, "delta": result.delta, "threshold": result.threshold,
        "band": [chosen.band[0], chosen.band[1]],
        "holdout_rows": result.rows, "auto_decided_rows": chosen.auto_rows,
        "auto_decided_share": round(chosen.auto_rows / result.rows, 6),
        "errors": chosen.errors, "empirical_error": round(chosen.empirical_error, 6),
        "p_value": float(f"{chosen.p_value:.6g}"), "bands_tested": len(result.tests),
        "model_version": model_version, "model_sha256": model_sha256,
    }


def read_calibration(model_dir: str | Path, manifest: Any = None) -> dict[str, Any]:
    """The calibration record of ``model_dir``, its bytes checked against the manifest's record first; a missing,
    unrecorded, changed, unreadable or newer-format file is a ReviewError naming the file and the fix."""
    from ...errors import ManifestError
    from ...manifest.attached import verified_file_bytes
    from ...manifest.schema import read_manifest

    path = Path(model_dir) / CALIBRATION_FILE
    manifest = read_manifest(model_dir) if manifest is None else manifest
    if CALIBRATION_FILE not in manifest.files and not path.is_file():
        raise ReviewError(f"{path} is missing: serving.review.method is risk_control, which serves the band "
                          f"calibrated for this model; {FIX}")
    try:
        data = verified_file_bytes(model_dir, manifest, CALIBRATION_FILE, fix=FIX)
        record = json.loads(data.decode("utf-8"))
    except ManifestError as exc:
        raise ReviewError(f"review calibration: {exc}") from exc
    except ValueError as exc:
        raise ReviewError(f"{path}: unreadable review calibration ({exc}); {FIX}") from exc
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ReviewError(f"{path}: not a review calibration file (schema {SCHEMA!r} expected); {FIX}")
    version = record.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ReviewError(f"{path}: review calibration of schema version {version!r}; this mlprod reads versions up "
                          f"to {SCHEMA_VERSION}: upgrade mlprod")
    band = record.get("band")
    if (not isinstance(band, list) or len(band) != 2 or not all(isinstance(v, (int, float)) for v in band)
            or not 0 <= band[0] <= band[1] <= 1):
        raise ReviewError(f"{path}: band must be [low, high] within [0, 1], got {band!r}; {FIX}")
    return record


def calibrated_band(model_dir: str | Path, manifest: Any, review: Any = None) -> tuple[float, float]:
    """The calibrated band of ``model_dir``, refused when it was calibrated for another model or (given the
    ``serving.review`` settings ``review``) for another alpha or delta."""
    record = read_calibration(model_dir, manifest)
    path = Path(model_dir) / CALIBRATION_FILE
    if record.get("model_sha256") != manifest.artifact.sha256:
        raise ReviewError(f"{path} was calibrated for model version {record.get('model_version')!r} (sha256 "
                          f"{str(record.get('model_sha256'))[:12]}), not this model ({manifest.version}, "
                          f"{manifest.artifact.sha256[:12]}); {FIX}")
    if review is not None and (record.get("alpha"), record.get("delta")) != (review.alpha, review.delta):
        raise ReviewError(f"{path} was calibrated for alpha={record.get('alpha')}, delta={record.get('delta')}; "
                          f"serving.review asks for alpha={review.alpha}, delta={review.delta}; {FIX}")
    return float(record["band"][0]), float(record["band"][1])


def recalibrate(model_dir: str | Path, holdout_frame, params: dict[str, Any]) -> dict[str, Any] | None:
    """Calibrate an existing ``model_dir`` on ``holdout_frame`` when params.yaml's ``serving.review.method`` is
    ``risk_control`` (target and positive label from ``project``, threshold from the manifest); returns the record,
    or None when the method is ``band`` (nothing to do). The evaluate stage does this itself
    (:func:`calibration_files`)."""
    review, target, positive = _review_settings(params)
    if review.method != "risk_control":
        return None
    return calibrate_review(model_dir, holdout_frame, target=target, alpha=review.alpha, delta=review.delta,
                            positive_label=positive)
