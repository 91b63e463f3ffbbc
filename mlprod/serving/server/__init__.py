"""``mlprod serve``: the HTTP server over :class:`mlprod.serving.ResilientPredictor` (docs/serving.md).

    config = ServeConfig(reference="lead-scoring@champion", port=5000, workers=2)
    serve(config)                    # runs until SIGTERM/SIGINT; 0 after a graceful stop
    app = ServingApp(config)         # the raw ASGI app of one worker (tests, other ASGI servers)

Modules: :mod:`.protocol` (MLflow's scoring protocol in and out), :mod:`.app` (routes, per-request work),
:mod:`.models` (loading, verifying, hot reload), :mod:`.traffic` (params.yaml deployment: arms, canary,
shadow), :mod:`.workers` (metrics folder of several workers), :mod:`.run` (uvicorn), :mod:`.config`. uvicorn and prometheus_client are imported only when a server starts.
"""

from __future__ import annotations

from ...lazy import lazy_exports

_API = {
    "ServeConfig": "mlprod.serving.server.config",
    "parse_size": "mlprod.serving.server.config",
    "ServingApp": "mlprod.serving.server.app",
    "ModelHolder": "mlprod.serving.server.models",
    "ModelSource": "mlprod.serving.server.models",
    "RequestError": "mlprod.serving.server.protocol",
    "serve": "mlprod.serving.server.run",
    "check": "mlprod.serving.server.run",
}

__all__ = sorted(_API)

__getattr__, __dir__ = lazy_exports(__name__, _API)
