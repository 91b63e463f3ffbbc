"""The ASGI app of a serving worker: a raw ASGI callable (no framework: its validation layer is what makes
``mlflow models serve`` slow).

Routes: ``POST /invocations`` (MLflow's scoring protocol, :mod:`.protocol`), ``GET /health`` (``/ping``: the
process answers), ``GET /ready`` (200 only with a verified model loaded, else 503 and why), ``GET /metrics``.

Order of work for ``/invocations`` (and why): the content type and declared length are checked before the
body is read; the body is read in chunks and refused (413) as soon as it passes the limit, before any
parsing. A small body (``INLINE_BODY_BYTES``, a few rows) is then parsed and answered on the event loop and only
its model calls go to the tiers' pools, awaited without blocking (one thread hand-off per request: at 1-row
requests the hand-offs cost more than the parsing); a larger one is parsed, scored and answered on a worker
thread, so the loop stays free. Either way the loop keeps answering ``/health`` and other requests while a model
is slow. A request takes the current model once: a reload never changes the model under a request in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...errors import MlprodError
from . import affinity
from .config import ServeConfig, load_settings
from .protocol import JSON_TYPES, CSV_TYPES, RequestError, answer, media_type, parse_body, predictions

log = logging.getLogger(__name__)
JSON = b"application/json"
FIRST_LOAD_WAIT = 300.0  # seconds a worker waits for its first model before it accepts connections anyway
# request bodies up to this size are parsed and answered on the event loop (a few rows: less work than handing
# the request to a thread and back); larger ones on a worker thread, so the loop stays free for other requests
INLINE_BODY_BYTES = 16 * 1024
EXIT_WATCHDOG_SECONDS = 5.0  # seconds; see ServingApp.start  # after shutdown: a thread hung in predict must not keep the process alive
_REASONS = {"nan": "not_finite", "bad_shape": "wrong_shape"}  # the predictor's words -> the metrics' labels


def app_from_env() -> ServingApp:
    """The app factory uvicorn imports in each worker (the config comes as JSON in ``MLPROD_SERVE_CONFIG``)."""
    if not logging.getLogger().handlers:  # a worker process started by uvicorn: log as the CLI does
        logging.basicConfig(level=logging.INFO, format="mlprod: %(message)s")
    return ServingApp(ServeConfig.from_env())


class ServingApp:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.holder: Any = None
        self.writer: Any = None
        self.metrics: Any = None
        self.pool: ThreadPoolExecutor | None = None
        self.cpu: int | None = None  # the CPU this worker is pinned to (--cpu-affinity auto)
        self.scoring: asyncio.Semaphore | None = None  # requests scoring at once (the rest wait their turn)
        self.router: Any = None  # deployment ab / canary: rows split across arms (.traffic.Router)
        self.shadow: Any = None  # deployment shadow: .traffic.ShadowScorer
        self.experiment: str | None = None  # the experiment key logged with shadow mode's answered rows

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        from ..metrics import FALLBACK_REASONS, TIERS, ServingMetrics
        from ..predictionlog import PredictionLogWriter
        from .models import ModelHolder, ModelSource

        serving, log_settings, key = load_settings(self.config)
        claims = os.environ.get(affinity.ENV)
        if claims:  # before any thread of ours starts: they inherit the CPU
            from .workers import alive

            self.cpu = affinity.pin_worker(claims, alive=alive)
            if self.cpu is not None:
                log.info("worker %d pinned to CPU %d (--cpu-affinity none lets the OS schedule it)", os.getpid(),
                         self.cpu)
        self.metrics = ServingMetrics(tiers=TIERS + ("rejected",), reasons=FALLBACK_REASONS)
        self.writer = PredictionLogWriter(log_settings, key=key, root=self.config.root)
        # no more requests scoring at once than a model tier has threads: a request beyond them would find the
        # tier's pool full and fall back at once (``timeout``) although nothing hangs; the others wait their turn
        scoring = min(self.config.threads, serving.max_workers)
        self.scoring = asyncio.Semaphore(scoring)
        self.pool = ThreadPoolExecutor(max_workers=scoring, thread_name_prefix="mlprod-serve")
        source = ModelSource(self.config.reference, self.config.fallback, self.config.root)
        self.holder = ModelHolder(source, serving, self.metrics, poll_seconds=self.config.poll_seconds,
                                  grace_seconds=self.config.grace_seconds)
        self.holder.start()
        self._start_deployment(serving)

    def _start_deployment(self, serving: Any) -> None:
        """ab / canary: a router over the arms' models; shadow: the shadow scorer (docs/traffic.md)."""
        from .config import load_deployment
        from .traffic import Router, build_shadow

        deployment, unit_id, _ = load_deployment(self.config)
        if deployment.mode in ("ab", "canary"):
            self.router = Router(deployment, self.config, serving, self.metrics, self.holder, unit_id)
            self.metrics.set_arms(self.router.arm_names)
            self.router.start()
        elif deployment.mode == "shadow":
            self.metrics.set_arms(("champion", "shadow"))
            self.experiment = deployment.experiment
            self.shadow = build_shadow(deployment, self.config, serving, self.metrics, self.writer)
            self.shadow.start()

    def stop(self) -> None:
        """After the server finished its requests: stop polling, flush the prediction log, close the models."""
        if self.holder is not None:
            self.holder.close()
        for part in (self.router, self.shadow):
            if part is not None:
                part.close()
        if self.writer is not None:
            self.writer.close()
            log.info("prediction log flushed: %d row(s) written by this worker", self.writer.rows_written)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        from ..metrics import mark_process_dead

        mark_process_dead(os.getpid())
        watchdog = threading.Thread(target=_exit_later, args=(EXIT_WATCHDOG_SECONDS,), daemon=True)
        watchdog.start()

    # -- ASGI ----------------------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except MlprodError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                # accept connections only after the first load attempt: with several workers, one still loading
                # would answer 503 while the others are ready (a failed load still starts: /ready says why)
                await asyncio.get_running_loop().run_in_executor(None, self.holder.attempted.wait, FIRST_LOAD_WAIT)
                if self.router is not None:  # the arms' first load too: a unit's first answer is its arm's
                    await asyncio.get_running_loop().run_in_executor(None, self.router.wait, FIRST_LOAD_WAIT)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict, receive: Any, send: Any) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            if method != "POST":
                return await _error(send, RequestError(405, "METHOD_NOT_ALLOWED", "use POST /invocations"))
            return await self._invocations(scope, receive, send)
        if method not in ("GET", "HEAD"):
            return await _error(send, RequestError(405, "METHOD_NOT_ALLOWED", f"use GET {path}"))
        if path in ("/health", "/ping"):
            return await _send(send, 200, b'{"status": "ok"}')
        if path == "/ready":
            return await self._ready(send)
        if path == "/metrics":
            from ..metrics import CONTENT_TYPE

            text = await asyncio.get_running_loop().run_in_executor(self.pool, self._render_metrics)
            return await _send(send, 200, text.encode(), CONTENT_TYPE.encode())
        await _error(send, RequestError(404, "NOT_FOUND", f"no route {path}; routes: POST /invocations, "
                                        "GET /health, /ready, /metrics"))

    async def _ready(self, send: Any) -> None:
        import json

        loaded = self.holder.current if self.holder is not None else None
        if loaded is None:
            problem = self.holder.problem if self.holder is not None else "the server is starting"
            return await _send(send, 503, json.dumps({"error_code": "NOT_READY", "message": problem}).encode())
        f = loaded.fallback
        fallback = None if f is None else {"model": f.name, "version": f.version, "sha256": f.sha256,
                                           "registry_version": f.registry_version}
        body = {"status": "ready", "model": loaded.name, "version": loaded.version, "sha256": loaded.sha256,
                "registry_version": loaded.registry_version, "fallback": fallback, "worker_pid": os.getpid(),
                "worker_cpu": self.cpu}
        if self.router is not None:
            body["deployment"] = {"mode": self.router.mode, "experiment": _key(self.router.experiment()),
                                  "arms": self.router.describe()}
        elif self.shadow is not None:
            body["deployment"] = {"mode": "shadow", "experiment": self.experiment,
                                  "arms": {"champion": {"ready": True, "model": loaded.name,
                                                        "version": loaded.version,
                                                        "registry_version": loaded.registry_version},
                                           "shadow": self.shadow.describe()}}
        await _send(send, 200, json.dumps(body).encode())

    def _render_metrics(self) -> str:
        from ..metrics import render_metrics
        from .workers import reap_dead_workers

        reap_dead_workers()
        return render_metrics(self.metrics)

    async def _invocations(self, scope: dict, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = _request_id(headers.get(b"x-request-id"))
        status = 500
        try:
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            kind = media_type(content_type)
            if kind not in JSON_TYPES + CSV_TYPES:
                parse_body(b"", content_type)  # raises the 415
            body = await _read_body(receive, headers.get(b"content-length"), self.config.max_request_bytes)
            loaded = self.holder.current if self.holder is not None else None
            if loaded is None:
                raise RequestError(503, "NOT_READY", self.holder.problem if self.holder else "starting")
            async with self.scoring:
                if self.router is not None:
                    out = await self._score_routed(body, content_type, request_id)
                elif len(body) <= INLINE_BODY_BYTES:
                    out = await self._score_on_loop(body, content_type, loaded, request_id)
                else:
                    out = await asyncio.get_running_loop().run_in_executor(
                        self.pool, self._score, body, content_type, loaded, request_id)
            status = 200
            await _send(send, 200, out, extra=[(b"x-request-id", request_id.encode())])
        except RequestError as exc:
            status = exc.status
            if self.metrics is not None and status in (400, 413, 415):
                self.metrics.count_error("too_large" if status == 413 else "malformed_request")
            extra = [(b"connection", b"close")] if status == 413 else []
            await _error(send, exc, extra=extra + [(b"x-request-id", request_id.encode())])
        except _ClientGone:
            status = 499
        except Exception:  # noqa: BLE001 - a bug must answer 500, count and log, never kill the worker
            log.exception("request %s failed", request_id)
            status = 500
            if self.metrics is not None:
                self.metrics.count_error("internal")
            await _error(send, RequestError(500, "INTERNAL_ERROR", f"the server failed on request {request_id}; "
                                            "see its log"))
        finally:
            if self.metrics is not None:
                self.metrics.observe_request(status, time.perf_counter() - started)

    def _score(self, body: bytes, content_type: str, loaded: Any, request_id: str) -> bytes:
        """A large request, on a worker thread: the predictor waits for its model calls there."""
        frame = _frame(body, content_type)
        try:
            result = loaded.predictor.predict(frame)
        except MlprodError as exc:  # e.g. a column sent twice: the request itself is malformed
            raise RequestError(400, "BAD_REQUEST", str(exc)) from None
        return self._answer(request_id, result, frame, loaded)

    async def _score_on_loop(self, body: bytes, content_type: str, loaded: Any, request_id: str) -> bytes:
        """A small request, on the event loop: only the model calls leave it (to the tier's pool), so a request
        costs one thread hand-off; parsing and answering a few rows takes less than a second hand-off would."""
        frame = _frame(body, content_type)
        try:
            result = await loaded.predictor.apredict(frame)
        except MlprodError as exc:
            raise RequestError(400, "BAD_REQUEST", str(exc)) from None
        return self._answer(request_id, result, frame, loaded)

    def _answer(self, request_id: str, result: Any, frame: Any, loaded: Any) -> bytes:
        rows = predictions(result)
        if self.shadow is None:
            self._record(request_id, result, rows, frame, loaded)
        else:
            self._record(request_id, result, rows, frame, loaded, experiment=self.experiment, arm="champion")
            self.shadow.submit(request_id, frame)  # never blocks: a full queue drops the rows (counted)
        return answer(rows)

    async def _score_routed(self, body: bytes, content_type: str, request_id: str) -> bytes:
        """ab / canary: each row to its unit's arm; each arm's rows scored by its model; answered in input order."""
        loop = asyncio.get_running_loop()
        frame = _frame(body, content_type) if len(body) <= INLINE_BODY_BYTES else await loop.run_in_executor(
            self.pool, _frame, body, content_type)
        try:
            experiment, groups = self.router.route(frame)
        except MlprodError as exc:  # e.g. a unit id that is neither a text nor a whole number
            raise RequestError(400, "BAD_REQUEST", str(exc)) from None
        answered: list[Any] = [None] * len(frame)
        for group in groups:
            part = frame if group.positions is None else frame.iloc[group.positions].reset_index(drop=True)
            began = time.perf_counter()
            try:
                result = await group.loaded.predictor.apredict(part)
            except MlprodError as exc:
                self.metrics.observe_arm(group.label, 400, time.perf_counter() - began)
                raise RequestError(400, "BAD_REQUEST", str(exc)) from None
            rows = predictions(result)
            self.metrics.observe_arm(group.label, 200, time.perf_counter() - began, [r["tier"] for r in rows])
            self._record(request_id, result, rows, part, group.loaded, experiment=experiment, arm=group.arm,
                         row_numbers=group.positions)
            if group.positions is None:
                answered = rows
            else:
                for position, row in zip(group.positions.tolist(), rows):
                    answered[position] = row
        return answer(answered)

    def _record(self, request_id: str, result: Any, rows: list[dict], frame: Any, loaded: Any,
                **logged: Any) -> None:
        from ..predictionlog import ModelRef

        try:
            self.writer.log_request(request_id, rows, model=ModelRef(loaded.name, loaded.version, loaded.sha256),
                                    inputs=frame, **logged)
        except Exception as exc:  # noqa: BLE001 - the answer still goes out; the loss is counted and logged
            self.metrics.count_error("prediction_log")
            log.error("request %s: not written to the prediction log: %s", request_id, exc)
        counted = [{"tier": r["tier"], "fallback_reason": _reason(r["fallback_reason"]),
                    "needs_review": r["needs_review"], "filled_features": r["filled_features"]} for r in rows]
        self.metrics.observe_rows(counted)
        inputs = result.attrs.get("inputs") or {}
        self.metrics.count_out_of_range(inputs.get("out_of_range") or {})
        rejected = (inputs.get("rejected") or {}).get("rows", 0)
        if rejected:
            self.metrics.count_error("invalid_row", rejected)


def _key(experiment: Any) -> str | None:
    return experiment.key if experiment is not None else None


def _frame(body: bytes, content_type: str) -> Any:
    frame = parse_body(body, content_type)
    if len(frame) == 0:
        raise RequestError(400, "BAD_REQUEST", "the request has no rows to score")
    return frame


def _reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    if reason.startswith("error:"):
        return "error"
    if reason.startswith("wrong_type:"):
        return "invalid_input"
    return _REASONS.get(reason, reason)


def _request_id(given: bytes | None) -> str:
    if given:
        text = given.decode("latin-1")[:128]
        if text.isprintable() and text.strip():
            return text.strip()
    return uuid.uuid4().hex


class _ClientGone(Exception):
    pass


async def _read_body(receive: Any, declared: bytes | None, limit: int) -> bytes:
    too_large = RequestError(413, "REQUEST_TOO_LARGE", f"the request body is larger than the limit of {limit} "
                             "bytes (--max-request-bytes); send fewer rows per request")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Any, status: int, body: bytes, content_type: bytes = JSON, extra: list | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Any, exc: RequestError, extra: list | None = None) -> None:
    await _send(send, exc.status, exc.body(), extra=extra)


def _exit_later(seconds: float) -> None:
    time.sleep(seconds)
    log.warning("a thread (a model call that never returned?) kept this worker alive %.0f s after shutdown; "
                "exiting now (the prediction log is already flushed)", seconds)
    logging.shutdown()
    os._exit(0)
