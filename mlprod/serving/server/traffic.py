"""Deployment modes in a serving worker (params.yaml ``deployment:``, docs/traffic.md "Serving (mlprod serve)").

- ``ab`` / ``canary``: each row's unit id (``deployment.unit_id``, default ``project.key``) is assigned to an arm by
  :func:`mlprod.traffic.assignment.assign`; each arm answers with its own model (a :class:`ModelHolder`, polled
  and hot reloaded like the primary, with the shared fallback). The server's own model (MODEL) is the champion:
  it answers rows without a unit id or outside the coverage gate and the rows of an arm whose model is not
  loaded, all logged with arm null (not in the experiment: an analysis never counts them in an arm). Canary:
  arms ``champion`` (MODEL) and ``canary`` (``NAME@canary``) at ``state.share(ramp)`` %, the state file re-read
  when its modification time changes, checked at most once per second.
- ``shadow``: MODEL answers (rows logged with arm ``champion``); :class:`ShadowScorer` scores the same rows on
  its own bounded queue and single thread, logs them with arm ``shadow``, never returns them.
- ``blue_green`` and ``none``: no router (the plain path: MODEL answers).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
STATE_CHECK_SECONDS = 1.0
CLOSE_WAIT_SECONDS = 5.0  # at shutdown, queued shadow rows get this long to be scored and logged


@dataclass(frozen=True)
class Group:
    """Rows of one request answered by one model: ``positions`` in the request (None: all rows)."""

    arm: str | None  # logged arm (None: in no arm)
    label: str  # metrics arm label
    loaded: Any  # models.Loaded
    positions: Any


class ArmMetrics:
    """What a :class:`ModelHolder` reports for an arm's model: reloads, and the arm's readiness (not model_info,
    which stays the server's own model)."""

    def __init__(self, metrics: Any, arm: str) -> None:
        self.metrics, self.arm = metrics, arm

    def model_loaded(self, name: str, version: str, sha256: str, *, features: Any = None, reload: bool = False) -> None:
        self.metrics.arm_state(self.arm, True)
        if reload:
            self.metrics.reloads.labels("success").inc()

    def reload_failed(self) -> None:
        self.metrics.reload_failed()


class Router:
    """Splits a request's rows across arms (ab, canary)."""

    def __init__(self, deployment: Any, config: Any, serving: Any, metrics: Any, champion: Any, unit_id: str | None):
        from .models import ModelHolder, ModelSource

        self.deployment = deployment
        self.mode = deployment.mode
        self.champion = champion  # the server's ModelHolder (MODEL)
        self.unit_id = unit_id
        self.metrics = metrics
        self.holders: dict[str, Any] = {}
        arms: list[tuple[str, str]] = []
        if self.mode == "ab":
            arms = [(a.name, a.model.text) for a in deployment.ab.arms]
        elif self.mode == "canary":
            arms = [("champion", config.reference), ("canary", deployment.canary.challenger.text)]
        self.arm_names = tuple(name for name, _ in arms)
        for name, ref in arms:
            if ref == config.reference:
                self.holders[name] = champion
            else:
                source = ModelSource(ref, config.fallback, config.root)
                self.holders[name] = ModelHolder(source, serving, ArmMetrics(metrics, name),
                                                 poll_seconds=config.poll_seconds, grace_seconds=config.grace_seconds)
        self._owned = [h for h in self.holders.values() if h is not champion]
        self._state_path = None
        if self.mode == "canary":
            from ...traffic.canary_state import state_path

            self._state_path = state_path(config.root)
        self._state: Any = None
        self._state_mtime: Any = None
        self._checked = float("-inf")
        self._experiments: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        for name, holder in self.holders.items():
            if holder is not self.champion:
                self.metrics.arm_state(name, False)
                holder.start()

    def wait(self, timeout: float) -> None:
        for holder in self._owned:
            holder.attempted.wait(timeout)

    def close(self) -> None:
        for holder in self._owned:
            holder.close()

    def describe(self) -> dict[str, Any]:
        """The arms for /ready: each arm's model and versions, or why it is not loaded."""
        out = {}
        for name, holder in self.holders.items():
            loaded = holder.current
            out[name] = ({"ready": True, "model": loaded.name, "version": loaded.version,
                          "registry_version": loaded.registry_version, "sha256": loaded.sha256}
                         if loaded is not None else {"ready": False, "problem": holder.problem,
                                                     "answered_by": "champion (the server's model)"})
        return out

    # -- the experiment now --------------------------------------------------------------------------------
    def experiment(self) -> Any:
        """The Experiment rows are assigned by now (None: no experiment; the champion answers every row)."""
        if self.mode == "ab":
            return self._cached(("ab",), lambda: self.deployment.to_experiment())
        self._refresh_state()
        state = self._state
        ramp = self.deployment.canary.ramp
        if state is None:
            if self.holders["canary"].current is None:
                return None  # no state file and no NAME@canary: no canary
            key, share = self.deployment.experiment, float(ramp[0])
        else:
            key, share = state.experiment, state.share(ramp)
        return self._cached(("canary", key, share), lambda: self.deployment.canary_experiment(key, share))

    def _cached(self, key: tuple, build: Any) -> Any:
        found = self._experiments.get(key)
        if found is None:
            found = self._experiments[key] = build()
        return found

    def _refresh_state(self) -> None:
        now = time.monotonic()
        if now - self._checked < STATE_CHECK_SECONDS:
            return
        with self._lock:
            if now - self._checked < STATE_CHECK_SECONDS:
                return
            self._checked = now
            try:
                mtime = self._state_path.stat().st_mtime_ns
            except OSError:
                mtime = None
            if mtime == self._state_mtime:
                return
            from ...errors import MlprodError
            from ...traffic.canary_state import read_state

            try:
                self._state = read_state(self._state_path, self.deployment.canary.ramp)
            except MlprodError as exc:  # a broken file while serving: keep routing by the last good state
                log.error("canary state not re-read, still routing by the last one read: %s", exc)
            self._state_mtime = mtime
            log.info("canary state: %s", "none (step 0 if NAME@canary exists)" if self._state is None else
                     f"experiment {self._state.experiment}, step {self._state.step}, {self._state.status}")

    # -- a request's rows ----------------------------------------------------------------------------------
    def route(self, frame: Any) -> tuple[str | None, list[Group]]:
        """(experiment key, groups of rows with the model answering each) for one request."""
        import numpy as np

        from ...traffic.assignment import assign, column_ids

        experiment = self.experiment()
        champion = self.champion.current
        if experiment is None or self.unit_id is None or self.unit_id not in frame.columns:
            return (experiment.key if experiment is not None else None), [Group(None, "none", champion, None)]
        arms = assign(experiment, column_ids(frame[self.unit_id]))
        groups = []
        for name in [*experiment.names, None]:
            positions = np.flatnonzero(arms == name) if name is not None else np.flatnonzero(
                np.array([a is None for a in arms], dtype=bool))
            if len(positions) == 0:
                continue
            holder = self.holders.get(name) if name is not None else None
            loaded = holder.current if holder is not None else None
            if loaded is None:  # in no arm, or the arm's model is not loaded: the champion answers, in no arm
                groups.append(Group(None, "none", champion, positions))
            else:
                groups.append(Group(name, name, loaded, positions))
        if len(groups) == 1:
            groups[0] = Group(groups[0].arm, groups[0].label, groups[0].loaded, None)
        return experiment.key, groups


class ShadowScorer:
    """Scores answered requests' rows with the shadow model off the response path: a bounded queue (rows beyond
    ``queue_size`` waiting are dropped and counted) and one thread; a failure is counted, never seen by a client."""

    def __init__(self, holder: Any, writer: Any, metrics: Any, queue_size: int, experiment: str | None) -> None:
        self.holder, self.writer, self.metrics = holder, writer, metrics
        self.queue_size, self.experiment = queue_size, experiment
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting = 0  # rows queued, not yet scored
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlprod-serve-shadow", daemon=True)

    def start(self) -> None:
        self.holder.start()
        self._thread.start()

    def submit(self, request_id: str, frame: Any) -> bool:
        """Queue a request's rows; False (and counted as dropped) when they do not fit. Never blocks."""
        n = len(frame)
        with self._lock:
            if self._stop.is_set() or self._waiting + n > self.queue_size:
                fits = False
            else:
                self._waiting += n
                fits = True
        if not fits:
            self.metrics.count_shadow("dropped", n)
            return False
        self._queue.put((request_id, frame))
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            request_id, frame = item
            try:
                self.score(request_id, frame)
            finally:
                with self._lock:
                    self._waiting -= len(frame)

    def score(self, request_id: str, frame: Any) -> None:
        from ..predictionlog import ModelRef
        from .protocol import predictions

        loaded = self.holder.current
        try:
            if loaded is None:
                raise RuntimeError(self.holder.problem or "the shadow model is not loaded")
            rows = predictions(loaded.predictor.predict(frame))
            self.writer.log_request(request_id, rows, model=ModelRef(loaded.name, loaded.version, loaded.sha256),
                                    inputs=frame, experiment=self.experiment, arm="shadow")
        except Exception as exc:  # noqa: BLE001 - a shadow failure never reaches an answer: counted, logged
            self.metrics.count_shadow("failed", len(frame))
            log.warning("shadow scoring of request %s failed: %s", request_id, exc)
            return
        self.metrics.count_shadow("scored", len(frame))

    def describe(self) -> dict[str, Any]:
        loaded = self.holder.current
        return ({"ready": True, "model": loaded.name, "version": loaded.version,
                 "registry_version": loaded.registry_version, "sha256": loaded.sha256, "queued_rows": self._waiting}
                if loaded is not None else {"ready": False, "problem": self.holder.problem})

    def close(self, wait: float = CLOSE_WAIT_SECONDS) -> None:
        """Stop taking rows; the rows already queued get up to ``wait`` seconds to be scored and logged."""
        self._stop.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(wait)
        self.holder.close()


def build_shadow(deployment: Any, config: Any, serving: Any, metrics: Any, writer: Any) -> ShadowScorer:
    from .models import ModelHolder, ModelSource

    source = ModelSource(deployment.shadow.model.text, config.fallback, config.root)
    holder = ModelHolder(source, serving, ArmMetrics(metrics, "shadow"), poll_seconds=config.poll_seconds,
                         grace_seconds=config.grace_seconds)
    metrics.arm_state("shadow", False)
    return ShadowScorer(holder, writer, metrics, deployment.shadow.queue_size, deployment.experiment)

