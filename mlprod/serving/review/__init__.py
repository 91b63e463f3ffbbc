"""Routing uncertain predictions to people (docs/serving.md, "Routing to people").

    learn_then_test(scores, labels, threshold=, alpha=, delta=) -> LTTResult    # :mod:`.ltt`
    calibration_files(trained_dir, holdout, scores, threshold=) -> {name: bytes} # the evaluate stage, risk_control
    calibrate_review(model_dir, holdout, target=, alpha=, delta=) -> record     # writes review_calibration.json
    recalibrate(model_dir, holdout, params) -> record | None                    # after (re)training
    realised_error_by_week(log, labels, alpha=, key=, target=) -> DataFrame     # :mod:`.guarantee`
    queue(paths) / export(paths, file) / import_decisions(paths, file)          # :mod:`.reviewqueue`, `mlprod review`
"""

from __future__ import annotations

from ...lazy import lazy_exports

_API = {
    "BandTest": "mlprod.serving.review.ltt",
    "LTTResult": "mlprod.serving.review.ltt",
    "learn_then_test": "mlprod.serving.review.ltt",
    "symmetric_bands": "mlprod.serving.review.ltt",
    "CALIBRATION_FILE": "mlprod.serving.review.calibration",
    "calibrate_review": "mlprod.serving.review.calibration",
    "calibration_files": "mlprod.serving.review.calibration",
    "calibrated_band": "mlprod.serving.review.calibration",
    "read_calibration": "mlprod.serving.review.calibration",
    "recalibrate": "mlprod.serving.review.calibration",
    "monitor_guarantee": "mlprod.serving.review.guarantee",
    "realised_error_by_week": "mlprod.serving.review.guarantee",
    "ImportResult": "mlprod.serving.review.reviewqueue",
    "ReviewPaths": "mlprod.serving.review.reviewqueue",
    "export": "mlprod.serving.review.reviewqueue",
    "import_decisions": "mlprod.serving.review.reviewqueue",
    "queue": "mlprod.serving.review.reviewqueue",
}

__all__ = sorted(_API)

__getattr__, __dir__ = lazy_exports(__name__, _API)
