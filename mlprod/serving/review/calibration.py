"""The calibrated review band: ``review_calibration.json`` in the model folder, next to the manifest.

``calibrate_review`` scores the holdout with the folder's model (sha256-checked), runs Learn-then-Test
(:mod:`.ltt`) and writes the file atomically, with sorted keys and no time stamp (the same model and holdout give
the same bytes). The file names the model it was calibrated for (version and artifact sha256):
:func:`calibrated_band` refuses a file left from another model, so a retrained model is never served with its
predecessor's band.
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
WRITE_HINT = ("mlprod.serving.review.calibrate_review(model_dir, holdout, target=..., threshold=..., alpha=..., "
              "delta=...) (or recalibrate(model_dir, holdout, params) after the evaluate stage)")


def calibrate_review(model_dir: str | Path, holdout_frame, *, target: str, threshold: float | None = None,
                     alpha: float, delta: float, positive_label: Any = None,
                     bands: list[tuple[float, float]] | None = None) -> dict[str, Any]:
    """Choose the review band on ``holdout_frame`` (the model's inputs and ``target``) so that the error rate among
    automatically decided rows is at most ``alpha`` with probability ``1 - delta``; write it to
    ``model_dir/review_calibration.json`` and return what was written.

    ``threshold`` None: the manifest's (``evaluate.threshold``, else 0.5), as the predictor. No certifiable band is
    a :class:`ReviewError` (nothing is written): raise ``alpha`` or ``delta``, or calibrate on more holdout rows.
    """
    from ...atomic import write_json
    from ...data.labels import binary_target
    from ...manifest.schema import read_manifest
    from ...manifest.store import load_model
    from ..predictor import manifest_threshold

    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    threshold = manifest_threshold(manifest) if threshold is None else float(threshold)
    frame, _ = binary_target(holdout_frame, target, positive_label=positive_label, source="the review holdout")
    columns = [c.name for c in manifest.inputs]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReviewError(f"calibrate_review: the holdout lacks the model's input column(s) {missing}; give the "
                          f"holdout split the evaluate stage scored")
    scores = np.asarray(load_model(model_dir).predict_proba(frame[columns])[:, 1], dtype=float)
    result = learn_then_test(scores, frame[target].to_numpy(), threshold=threshold, alpha=alpha, delta=delta,
                             bands=bands)
    if not result.certified:
        raise ReviewError(no_band_message(result, model_dir))
    record = to_record(result, model_version=manifest.version, model_sha256=manifest.artifact.sha256)
    write_json(model_dir / CALIBRATION_FILE, record)
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


def read_calibration(model_dir: str | Path) -> dict[str, Any]:
    """The calibration record of ``model_dir``; a missing, unreadable or newer-format file is a ReviewError."""
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.is_file():
        raise ReviewError(f"{path} is missing: serving.review.method is risk_control, which serves the band "
                          f"calibrated for this model. Write it with {WRITE_HINT}, or set serving.review.method: band")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReviewError(f"{path}: unreadable review calibration ({exc}); write it again with {WRITE_HINT}") from exc
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ReviewError(f"{path}: not a review calibration file (schema {SCHEMA!r} expected)")
    version = record.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ReviewError(f"{path}: review calibration of schema version {version!r}; this mlprod reads versions up "
                          f"to {SCHEMA_VERSION}: upgrade mlprod")
    band = record.get("band")
    if (not isinstance(band, list) or len(band) != 2 or not all(isinstance(v, (int, float)) for v in band)
            or not 0 <= band[0] <= band[1] <= 1):
        raise ReviewError(f"{path}: band must be [low, high] within [0, 1], got {band!r}")
    return record


def calibrated_band(model_dir: str | Path, manifest: Any) -> tuple[float, float]:
    """The calibrated band of ``model_dir``, refused when it was calibrated for another model."""
    record = read_calibration(model_dir)
    if record.get("model_sha256") != manifest.artifact.sha256:
        raise ReviewError(f"{Path(model_dir) / CALIBRATION_FILE} was calibrated for model version "
                          f"{record.get('model_version')!r} (sha256 {str(record.get('model_sha256'))[:12]}), not this "
                          f"model ({manifest.version}, {manifest.artifact.sha256[:12]}); recalibrate with {WRITE_HINT}")
    return float(record["band"][0]), float(record["band"][1])


def recalibrate(model_dir: str | Path, holdout_frame, params: dict[str, Any]) -> dict[str, Any] | None:
    """After (re)training: calibrate ``model_dir`` on ``holdout_frame`` when params.yaml's ``serving.review.method``
    is ``risk_control`` (target and positive label from ``project``, threshold from the manifest); returns the record,
    or None when the method is ``band`` (nothing to do)."""
    from ...project.facts import read_facts
    from ..settings import ServingSettings

    review = ServingSettings.from_mapping(params.get("serving")).review
    if review.method != "risk_control":
        return None
    facts = read_facts(params, "params.yaml")
    if not facts.target:
        raise ReviewError("recalibrate: project.target is not set in params.yaml; the holdout's label column is needed")
    return calibrate_review(model_dir, holdout_frame, target=facts.target, alpha=review.alpha, delta=review.delta,
                            positive_label=facts.positive_label)
