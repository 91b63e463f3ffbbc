"""The serving metrics: prometheus_client collectors with bounded labels, created once per process.

Every label value comes from a fixed list (tiers, fallback reasons, error kinds, reload results, HTTP
status codes) or from the loaded model's manifest (feature names); anything else is counted under
``other``, so a bad request can never create a new time series. Request ids are never labels.

Multiprocess mode (several worker processes): prometheus_client picks it when it is imported with
``PROMETHEUS_MULTIPROC_DIR`` set; each process then writes its values to files in that folder and
:func:`mlprod.serving.metrics.render_metrics` adds them up. The model-info gauge uses ``livemax``: a version
shows 1 while any live worker serves it (call :func:`mark_process_dead` when a worker exits).
"""

from __future__ import annotations

import os
import threading
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import Any

from mlprod.errors import ConfigError

PREFIX = "mlprod_serving"
OTHER = "other"
TIERS = ("primary", "fallback", "rules", "default", "failed")
FALLBACK_REASONS = ("none", "error", "timeout", "circuit_open", "not_finite", "out_of_bounds", "wrong_shape",
                    "invalid_input", "out_of_range", "all_tiers_failed")
ERROR_KINDS = ("malformed_request", "too_large", "invalid_row", "all_tiers_failed", "internal", "prediction_log")
RELOAD_RESULTS = ("success", "failure")
SHADOW_RESULTS = ("scored", "dropped", "failed")
NO_ARM = "none"  # the arm label of rows in no arm (no unit id, outside the coverage gate, arm unavailable)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def multiprocess_folder() -> str | None:
    """The multiprocess folder when ``PROMETHEUS_MULTIPROC_DIR`` is set (a ConfigError when it is not a folder)."""
    folder = multiprocess_dir()
    if folder is not None and not os.path.isdir(folder):
        raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR={folder!r} is not a folder; create it (empty) before the "
                          f"server starts, or unset the variable for a single process")
    return folder


def check_multiprocess() -> str | None:
    """:func:`multiprocess_folder`, also checking that this process records into it: prometheus_client chooses
    multiprocess mode when it is imported, so a variable set later would leave this process's values out."""
    folder = multiprocess_folder()
    if folder is not None:
        from prometheus_client import values

        if values.ValueClass is values.MutexValue:
            raise ConfigError("PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported, so this "
                              "process would keep its metrics to itself; set the variable before the server starts")
    return folder


class ServingMetrics:
    """The collectors of one serving process, on ``registry`` (a new private one by default)."""

    def __init__(self, registry: Any = None, *, tiers: Iterable[str] = TIERS,
                 reasons: Iterable[str] = FALLBACK_REASONS, features: Iterable[str] = ()) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = check_multiprocess() is not None
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.tiers = frozenset(tiers)
        self.reasons = frozenset(reasons)
        self.features = frozenset(features)
        self._lock = threading.Lock()
        self._model: tuple[str, str, str] | None = None
        on = {"registry": self.registry}
        self.requests = Counter(f"{PREFIX}_requests", "HTTP requests answered, by status code", ["status"], **on)
        self.latency = Histogram(f"{PREFIX}_request_latency_seconds", "Time to answer a request",
                                 buckets=LATENCY_BUCKETS, **on)
        self.rows = Counter(f"{PREFIX}_rows", "Rows scored, by the tier that scored them and why it fell back",
                            ["tier", "fallback_reason"], **on)
        self.review_rows = Counter(f"{PREFIX}_review_rows", "Rows routed to the review queue (needs_review)", **on)
        self.filled = Counter(f"{PREFIX}_filled_inputs", "Missing inputs filled with a fallback value, per feature",
                              ["feature"], **on)
        self.out_of_range = Counter(f"{PREFIX}_out_of_range_inputs", "Inputs outside the validated range, per "
                                    "feature", ["feature"], **on)
        self.errors = Counter(f"{PREFIX}_errors", "Errors, by kind", ["kind"], **on)
        self.reloads = Counter(f"{PREFIX}_model_reloads", "Model reload attempts, by result", ["result"], **on)
        self.arms: frozenset = frozenset()  # the deployment's arm names (set_arms); others count as "other"
        self.arm_requests = Counter(f"{PREFIX}_arm_requests", "Requests (parts of requests) answered per arm, by "
                                    "HTTP status", ["arm", "status"], **on)
        self.arm_latency = Histogram(f"{PREFIX}_arm_latency_seconds", "Time an arm's model took on its rows of a "
                                     "request", ["arm"], buckets=LATENCY_BUCKETS, **on)
        self.arm_rows = Counter(f"{PREFIX}_arm_rows", "Rows answered per arm, by the tier that scored them",
                                ["arm", "tier"], **on)
        self.arm_ready = Gauge(f"{PREFIX}_arm_ready", "1 while the arm's model is loaded, 0 while its rows go to "
                               "the champion", ["arm"], multiprocess_mode="livemin", **on)
        self.shadow_rows = Counter(f"{PREFIX}_shadow_rows", "Shadow rows, by result (scored, dropped: the queue was "
                                   "full, failed)", ["result"], **on)
        self.model_info = Gauge(f"{PREFIX}_model_info", "The model being served (1) and models no longer served (0)",
                                ["name", "version", "sha256"], multiprocess_mode="livemax", **on)

    # -- recording -----------------------------------------------------------------------------------------
    def observe_request(self, status: int, seconds: float) -> None:
        code = int(status)
        self.requests.labels(str(code) if 100 <= code <= 599 else OTHER).inc()
        self.latency.observe(seconds)

    def observe_rows(self, outputs: Any) -> None:
        """Count a request's rows: per (tier, fallback_reason), routed to review, filled inputs per feature.
        ``outputs`` is a DataFrame or a sequence of mappings with tier, fallback_reason, needs_review and
        filled_features."""
        records = outputs.to_dict(orient="records") if hasattr(outputs, "columns") else outputs
        rows: Tally = Tally()
        filled: Tally = Tally()
        review = 0
        for out in records:
            reason = out.get("fallback_reason")
            reason = "none" if reason is None or reason != reason else str(reason)
            rows[(self._bounded(out.get("tier"), self.tiers), self._bounded(reason, self.reasons))] += 1
            review += bool(out.get("needs_review", False))
            filled.update(self._bounded(f, self.features) for f in (out.get("filled_features") or ()))
        for (tier, reason), n in rows.items():
            self.rows.labels(tier, reason).inc(n)
        if review:
            self.review_rows.inc(review)
        for feature, n in filled.items():
            self.filled.labels(feature).inc(n)

    def count_out_of_range(self, counts: Mapping[str, int]) -> None:
        for feature, n in counts.items():
            if n:
                self.out_of_range.labels(self._bounded(feature, self.features)).inc(n)

    def count_error(self, kind: str, n: int = 1) -> None:
        self.errors.labels(self._bounded(kind, ERROR_KINDS)).inc(n)

    def model_loaded(self, name: str, version: str, sha256: str, *, features: Iterable[str] | None = None,
                     reload: bool = False) -> None:
        """The model now served: its info series 1, the previous model's 0 (multiprocess mode) or gone."""
        current = (str(name), str(version), str(sha256))
        with self._lock:
            previous, self._model = self._model, current
            if features is not None:
                self.features = frozenset(features)
            if previous is not None and previous != current:
                self.model_info.labels(*previous).set(0)
                if not self.multiprocess:  # removal is not implemented in multiprocess mode: 0 says "not served"
                    self.model_info.remove(*previous)
            self.model_info.labels(*current).set(1)
        if reload:
            self.reloads.labels("success").inc()

    # -- deployments (arms, shadow) ------------------------------------------------------------------------
    def set_arms(self, names: Iterable[str]) -> None:
        self.arms = frozenset(names) | {NO_ARM}

    def observe_arm(self, arm: str | None, status: int, seconds: float, tiers: Iterable[str] = ()) -> None:
        """One arm's part of a request: its status, its model's time, and the tier of each of its rows."""
        label = self._bounded(arm or NO_ARM, self.arms)
        code = int(status)
        self.arm_requests.labels(label, str(code) if 100 <= code <= 599 else OTHER).inc()
        self.arm_latency.labels(label).observe(seconds)
        for tier, n in Tally(self._bounded(t, self.tiers) for t in tiers).items():
            self.arm_rows.labels(label, tier).inc(n)

    def arm_state(self, arm: str, ready: bool) -> None:
        self.arm_ready.labels(self._bounded(arm, self.arms)).set(1 if ready else 0)

    def count_shadow(self, result: str, n: int = 1) -> None:
        if n:
            self.shadow_rows.labels(self._bounded(result, frozenset(SHADOW_RESULTS))).inc(n)

    def reload_failed(self) -> None:
        """A new model was found but not swapped in (download, hash check or load failed)."""
        self.reloads.labels("failure").inc()

    @staticmethod
    def _bounded(value: Any, allowed: frozenset) -> str:
        value = str(value)
        return value if value in allowed else OTHER
