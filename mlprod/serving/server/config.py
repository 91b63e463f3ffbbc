"""What ``mlprod serve`` runs with: the options, checked once, passed to every worker process as JSON."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass
from typing import Any

from ...errors import ConfigError

ENV = "MLPROD_SERVE_CONFIG"  # the JSON config a worker process reads (uvicorn starts workers by import string)
_SIZE = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>|b|k|kb|kib|m|mb|mib|g|gb|gib)", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


@dataclass(frozen=True)
class ServeConfig:
    reference: str  # a model folder or NAME@alias
    fallback: str | None = None  # a model folder or NAME@alias; None: found by itself unless auto_fallback is off
    auto_fallback: bool = True  # --no-fallback: False (serve without a fallback unless --fallback names one)
    root: str = "."  # the project root: params.yaml, the registry, the prediction log
    params_file: str | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    poll_seconds: float = 30.0
    max_request_bytes: int = 10 * 1000**2
    grace_seconds: float = 30.0  # in-flight requests get this long at shutdown; old models after a reload too
    threads: int = 8  # per worker: requests parsed and scored at once
    cpu_affinity: str = "auto"  # auto: one CPU per worker process (.affinity); none: the OS schedules them

    def checked(self) -> ServeConfig:
        if not 1 <= self.workers <= 64:
            raise ConfigError(f"--workers must be between 1 and 64, got {self.workers}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, got {self.port}")
        for name, value in (("--poll-seconds", self.poll_seconds), ("--grace-seconds", self.grace_seconds)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a number of seconds > 0, got {value}")
        from .affinity import MODES

        if self.cpu_affinity not in MODES:
            raise ConfigError(f"--cpu-affinity must be one of {', '.join(MODES)}, got {self.cpu_affinity!r}")
        if self.max_request_bytes < 1:
            raise ConfigError(f"--max-request-bytes must be at least 1, got {self.max_request_bytes}")
        return self

    def to_env(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls) -> ServeConfig:
        text = os.environ.get(ENV)
        if not text:
            raise ConfigError(f"{ENV} is not set: start the server with `mlprod serve`")
        return cls(**json.loads(text))


def parse_size(text: str) -> int:
    """Bytes from ``"10000"``, ``"10MB"``, ``"512KiB"``, ``"1.5M"`` (k/m/g are powers of 1000, KiB/MiB/GiB of 1024)."""
    match = _SIZE.fullmatch(str(text).strip())
    if match is None:
        raise ConfigError(f"--max-request-bytes: expected a size such as 10000, 512KiB or 10MB, got {text!r}")
    return int(float(match["n"]) * _UNITS[match["unit"].lower()])


def load_settings(config: ServeConfig) -> tuple[Any, Any, str | None]:
    """(ServingSettings, PredictionLogSettings, project key) from the project's params file (strict)."""
    from ...project.facts import read_facts
    from ...stages.params import load_params_file
    from ..predictionlog import PredictionLogSettings
    from ..settings import ServingSettings

    path = config.params_file
    params = load_params_file(path) if path else {}
    where = path or "params.yaml"
    serving = ServingSettings.from_mapping(params.get("serving") or {})
    log = PredictionLogSettings.from_mapping(params.get("prediction_log"), where=f"{where} [prediction_log]")
    return serving, log, read_facts(params, where).key


def load_deployment(config: ServeConfig) -> tuple[Any, str | None, str | None]:
    """(DeploymentSettings, the unit id column/field, project.model_name) from params.yaml (strict)."""
    from ...project.facts import read_facts
    from ...stages.params import load_params_file
    from ...traffic.deployment import DeploymentSettings

    path = config.params_file
    params = load_params_file(path) if path else {}
    facts = read_facts(params, path or "params.yaml")
    where = f"{path or 'params.yaml'} deployment"
    deployment = DeploymentSettings.from_mapping(params.get("deployment"), where=where, model_name=facts.model_name,
                                                  key=facts.key)
    return deployment, deployment.unit_id or facts.key, facts.model_name


def default_reference(config: ServeConfig) -> str:
    """The model MODEL stands for when it is not given: blue_green: ``NAME@<deployment.blue_green.alias>``; canary:
    ``NAME@champion``; ab: the first arm's model; otherwise a ConfigError saying to name it."""
    deployment, _, model_name = load_deployment(config)
    if deployment.mode == "blue_green" and model_name:
        return f"{model_name}@{deployment.blue_green.alias}"
    if deployment.mode == "canary":
        return deployment.canary.champion.text
    if deployment.mode == "ab":
        return deployment.ab.arms[0].model.text
    raise ConfigError("MODEL missing: name the model to serve (e.g. mlprod serve lead-scoring@champion or "
                      "models/model), or set params.yaml deployment.mode: blue_green with project.model_name")
