"""Functions run in spawned child processes by tests/test_prediction_log.py and tests/test_serving_metrics.py."""

from __future__ import annotations

import os
import time


def outputs(n: int, tier: str = "primary") -> list[dict]:
    return [{"score": i / max(n, 1), "decision": i % 2, "tier": tier, "fallback_reason": None,
             "filled_features": [], "needs_review": False} for i in range(n)]


def write_requests(folder: str, worker: str, requests: int, rows: int, segment_rows: int) -> None:
    from mlprod.serving.predictionlog import ModelRef, PredictionLogSettings, PredictionLogWriter

    settings = PredictionLogSettings(dir=folder, segment_rows=segment_rows, flush_seconds=60)
    with PredictionLogWriter(settings) as writer:
        for r in range(requests):
            writer.log_request(f"{worker}-{r}", outputs(rows), model=ModelRef("m", "1.0.0", "ab" * 32))


def write_forever(folder: str, segment_rows: int) -> None:
    from mlprod.serving.predictionlog import ModelRef, PredictionLogSettings, PredictionLogWriter

    writer = PredictionLogWriter(PredictionLogSettings(dir=folder, segment_rows=segment_rows, flush_seconds=60))
    r = 0
    while True:
        writer.log_request(f"req-{r}", outputs(1), model=ModelRef("m", "1.0.0", "ab" * 32))
        r += 1
        if r % 50 == 0:
            time.sleep(0.001)


def count_rows(multiproc_dir: str, tier: str, n: int, ready: str) -> None:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    from mlprod.serving.metrics import serving_metrics

    metrics = serving_metrics()
    metrics.observe_rows(outputs(n, tier))
    metrics.observe_request(200, 0.01)
    metrics.model_loaded("m", "1.0.0", "ab" * 32)
    open(ready, "w").close()


def reload_model(multiproc_dir: str, ready: str) -> None:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    from mlprod.serving.metrics import serving_metrics

    metrics = serving_metrics()
    metrics.model_loaded("m", "1.0.0", "aa" * 32)
    metrics.model_loaded("m", "1.1.0", "bb" * 32, reload=True)
    metrics.reload_failed()
    open(ready, "w").close()
