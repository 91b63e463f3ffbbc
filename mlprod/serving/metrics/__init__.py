"""Prometheus metrics of the serving process(es) (docs/serving_metrics.md).

    metrics = serving_metrics()                      # this process's collectors, created once
    metrics.observe_request(200, seconds); metrics.observe_rows(outputs)
    metrics.model_loaded(name, version, sha256, features=manifest_features)
    text = render_metrics()                          # all workers' values with PROMETHEUS_MULTIPROC_DIR
"""

from .collectors import (ERROR_KINDS, FALLBACK_REASONS, NO_ARM, OTHER, PREFIX, RELOAD_RESULTS, SHADOW_RESULTS, TIERS,
                         ServingMetrics)
from .exposition import CONTENT_TYPE, mark_process_dead, render_metrics, serving_metrics

__all__ = ["CONTENT_TYPE", "ERROR_KINDS", "FALLBACK_REASONS", "NO_ARM", "OTHER", "PREFIX", "RELOAD_RESULTS",
           "SHADOW_RESULTS", "TIERS", "ServingMetrics", "mark_process_dead", "render_metrics", "serving_metrics"]
