"""Running the server: uvicorn with ``workers`` processes, each building its app from ``MLPROD_SERVE_CONFIG``.

Order of work (and why): the config is checked and the port probed first (a user mistake ends before
anything starts); ``PROMETHEUS_MULTIPROC_DIR`` is set before any worker starts, because prometheus_client
chooses multiprocess mode when it is imported; uvicorn then runs the workers. On SIGTERM or SIGINT uvicorn
stops accepting connections, lets requests in flight finish for up to ``grace_seconds`` (then cancels them)
and runs each worker's shutdown: the prediction log is flushed and a thread hung in a model cannot keep the
process alive (:mod:`.app`).
"""

from __future__ import annotations

import logging
import os
import socket

from ...errors import ConfigError
from . import affinity
from .config import ENV, ServeConfig, load_settings
from .models import ModelSource
from .workers import prepare_metrics_folder, remove_metrics_folder

log = logging.getLogger(__name__)
APP = "mlprod.serving.server.app:app_from_env"


class ServerFailed(ConfigError):
    """The server could not start (a worker failed at startup)."""

    exit_code = 1


def check(config: ServeConfig) -> ServeConfig:
    """Everything that can be checked before starting: options, params.yaml sections, the model reference (and the
    fallback, found by itself unless given or turned off: :func:`choose_fallback`), the port."""
    config = config.checked()
    load_settings(config)
    config = check_deployment(config)
    ModelSource(config.reference, None, config.root).check()
    config = choose_fallback(config)
    ModelSource(config.reference, config.fallback, config.root).check()
    probe = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((config.host, config.port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}; choose another "
                          "--port (or stop what is using it)") from None
    finally:
        probe.close()
    return config


def check_deployment(config: ServeConfig) -> ServeConfig:
    """params.yaml ``deployment:`` (strict), MODEL from it when not given (blue_green: ``NAME@alias``), the arms'
    model folders and, in canary mode, the canary state file (a broken one stops the start: exit 2)."""
    from dataclasses import replace

    from ...traffic.deployment import ModelRef as DeploymentRef
    from .config import default_reference, load_deployment

    if not config.reference:
        config = replace(config, reference=default_reference(config))
        log.info("model: %s (from params.yaml deployment)", config.reference)
    deployment, unit_id, _ = load_deployment(config)
    refs: list[DeploymentRef] = []
    if deployment.mode == "ab":
        refs = [a.model for a in deployment.ab.arms]
    elif deployment.mode == "shadow":
        refs = [deployment.shadow.model]
    for ref in refs:  # folders must exist now; a registry alias may appear later (its rows go to MODEL meanwhile)
        ModelSource(ref.text, None, config.root).check()
    if deployment.mode in ("ab", "canary") and not unit_id:
        raise ConfigError("params.yaml deployment.unit_id: mode {} assigns each row by its unit id; set "
                          "deployment.unit_id (or project.key)".format(deployment.mode))
    if deployment.mode == "canary":
        from ...traffic.canary_state import read_state, state_path

        read_state(state_path(config.root), deployment.canary.ramp)
    if deployment.mode == "blue_green":
        log.info("blue-green: serving %s; switch with mlprod promote / mlprod rollback (hot reloaded within "
                 "--poll-seconds)", config.reference)
    return config


def choose_fallback(config: ServeConfig) -> ServeConfig:
    """``config`` with its fallback reference: ``--fallback`` as given, none with ``--no-fallback``, else the one
    :func:`mlprod.serving.fallbacks.fallback_for` finds (``NAME-fallback@alias``, or params.yaml's
    ``fallback.evaluated_dir`` for a model folder). The choice is logged."""
    from dataclasses import replace
    from pathlib import Path

    if config.fallback is not None:
        log.info("fallback model: %s (--fallback)", config.fallback)
        return config
    if not config.auto_fallback:
        log.info("fallback model: none (--no-fallback)")
        return config
    from ...stages.params import load_params_file
    from ..fallbacks import fallback_for

    params = load_params_file(config.params_file) if config.params_file else {}
    reference = str(Path(config.reference).resolve()) if Path(config.reference).is_dir() else config.reference
    found = fallback_for(reference, root=config.root, params=params)
    log.info("fallback model: %s", f"{found} (found by itself; --no-fallback to serve without)" if found else
             "none found (no NAME-fallback@alias in the registry, or no fallback.evaluated_dir model for a folder)")
    return replace(config, fallback=found)


def serve(config: ServeConfig) -> int:
    """Run the server until SIGTERM/SIGINT; 0 after a graceful stop."""
    import uvicorn

    config = check(config)
    folder, ours = prepare_metrics_folder(config.workers)
    if config.cpu_affinity == "auto" and affinity.supported():
        os.environ[affinity.ENV] = str(affinity.claims_folder())
    # one OpenMP thread per model call (unless set): small requests from several threads each starting a parallel
    # region on every core cost more than they gain (measured: ~1.5x the requests/s); scale with --workers
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ[ENV] = config.to_env()
    try:
        try:
            uvicorn.run(APP, factory=True, host=config.host, port=config.port, workers=config.workers,
                        lifespan="on", access_log=False, log_level="info", server_header=False,
                        timeout_graceful_shutdown=int(max(1, round(config.grace_seconds))))
        except KeyboardInterrupt:  # uvicorn re-raises the signal it handled, after the graceful stop
            pass
        except SystemExit as exc:  # uvicorn exits when a worker could not start (the reason is logged above)
            if exc.code:
                raise ServerFailed(f"the server did not start (uvicorn exit status {exc.code}); see the "
                                   "messages above") from None
    finally:
        os.environ.pop(ENV, None)
        remove_metrics_folder(folder, ours)
        os.environ.pop(affinity.ENV, None)
    return 0
