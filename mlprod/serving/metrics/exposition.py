"""The ``/metrics`` text: this process's collectors, or every worker's added up in multiprocess mode."""

from __future__ import annotations

import threading

from .collectors import ServingMetrics, multiprocess_folder

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_lock = threading.Lock()
_metrics: ServingMetrics | None = None


def serving_metrics() -> ServingMetrics:
    """This process's collectors, created on first use (collectors are registered once per process)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = ServingMetrics()
        return _metrics


def render_metrics(metrics: ServingMetrics | None = None) -> str:
    """The Prometheus exposition text. With ``PROMETHEUS_MULTIPROC_DIR`` set: every process's values from
    that folder, aggregated by a fresh registry with a ``MultiProcessCollector`` (prometheus_client's
    documented way); else the collectors of ``metrics`` (default: this process's)."""
    from prometheus_client import CollectorRegistry, generate_latest

    folder = multiprocess_folder()
    if folder is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        return generate_latest(registry).decode("utf-8")
    return generate_latest((metrics or serving_metrics()).registry).decode("utf-8")


def mark_process_dead(pid: int) -> None:
    """Forget a worker that exited (its live gauges); call from the process manager (e.g. gunicorn's child_exit)."""
    folder = multiprocess_folder()
    if folder is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, folder)
