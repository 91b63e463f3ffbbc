"""The ``register`` section of ``params.yaml``, parsed strictly (used by the CLI; the notebook gets it injected)."""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError
from .gates import GatePolicy, parse_gates

SECTION = "register"
_DEFAULTS: dict[str, Any] = {
    "model_dir": "models/model", "holdout_path": "data/prepared/holdout.parquet", "target": "converted",
    "threshold": 0.5, "gates": {}, "validation_summary": None, "drift_report": None, "block_on_drift": None,
    "require_validation": False,
    "require_drift_report": False, "model_card": None, "decision_file": "reports/register/decision.json",
    "metrics_file": "metrics/register.json", "fail_on_reject": False,
    "fallback_dir": None, "fallback_decision_file": "reports/register/fallback_decision.json",
    "alias": "champion",
}
ALIASES = ("champion", "canary")  # what a challenger that passes the gates moves (docs/traffic.md for canary)
KEYS = tuple(_DEFAULTS)
_PATHS = ("model_dir", "holdout_path", "validation_summary", "drift_report", "model_card", "decision_file",
          "metrics_file", "fallback_dir", "fallback_decision_file")


@dataclass(frozen=True)
class RegisterSettings:
    model_dir: str
    holdout_path: str
    target: str
    threshold: float
    policy: GatePolicy
    validation_summary: str | None
    drift_report: str | None
    model_card: str | None
    decision_file: str
    metrics_file: str
    fail_on_reject: bool
    fallback_dir: str | None = None  # the evaluated fallback model (NAME-fallback); None: the project has none
    fallback_decision_file: str = "reports/register/fallback_decision.json"
    alias: str = "champion"  # champion: promote; canary: point NAME@canary, the canary rollout moves the champion

    def inputs(self, **overrides: Any) -> Any:
        from .champion import EvaluationInputs

        values = {"policy": self.policy, "holdout_path": self.holdout_path, "target": self.target,
                  "threshold": self.threshold, "validation_summary": self.validation_summary,
                  "drift_report": self.drift_report}
        return EvaluationInputs(**{**values, **{k: v for k, v in overrides.items() if v is not None}})


def parse_settings(data: Mapping[str, Any] | None, *, where: str = f"params.yaml [{SECTION}]") -> RegisterSettings:
    data = dict(data or {})
    unknown = [str(k) for k in data if k not in KEYS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], KEYS, n=1)
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(KEYS)}"
                          + (f". Did you mean {close[0]!r}?" if close else ""))
    values = {**_DEFAULTS, **data}
    for key in ("model_dir", "holdout_path", "target", "decision_file", "metrics_file", "fallback_decision_file"):
        if not isinstance(values[key], str) or not values[key]:
            raise ConfigError(f"{where}.{key}: expected a non-empty text, got {values[key]!r}")
    for key in ("validation_summary", "drift_report", "model_card", "fallback_dir"):
        if values[key] is not None and not isinstance(values[key], str):
            raise ConfigError(f"{where}.{key}: expected a file path or null, got {values[key]!r}")
    for key in ("require_validation", "require_drift_report", "fail_on_reject"):
        if not isinstance(values[key], bool):
            raise ConfigError(f"{where}.{key}: expected true or false, got {values[key]!r}")
    if values["alias"] not in ALIASES:
        raise ConfigError(f"{where}.alias: expected one of {', '.join(ALIASES)}, got {values['alias']!r}; champion "
                          "promotes a challenger that passes the gates, canary points NAME@canary at it for a canary "
                          "rollout (mlprod canary start)")
    block_on = values["block_on_drift"]
    if block_on is not None and (not isinstance(block_on, list) or not all(isinstance(t, str) for t in block_on)):
        raise ConfigError(f"{where}.block_on_drift: expected a list of drift triggers (e.g. [performance]), [] or "
                          f"null, got {block_on!r}")
    from ..drift.settings import TRIGGERS

    unknown_triggers = [t for t in block_on or () if t not in TRIGGERS]
    if unknown_triggers:
        raise ConfigError(f"{where}.block_on_drift: unknown trigger(s) {', '.join(unknown_triggers)}; allowed: "
                          f"{', '.join(TRIGGERS)}")
    threshold = values["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1 \
            or math.isnan(threshold):
        raise ConfigError(f"{where}.threshold: expected a probability between 0 and 1, got {threshold!r}")
    policy = GatePolicy(metrics=parse_gates(values["gates"], where=f"{where}.gates"),
                        require_validation=values["require_validation"],
                        require_drift_report=values["require_drift_report"],
                        block_on_drift=tuple(block_on) if block_on is not None else None)
    return RegisterSettings(model_dir=values["model_dir"], holdout_path=values["holdout_path"], target=values["target"],
                            threshold=float(threshold), policy=policy, validation_summary=values["validation_summary"],
                            drift_report=values["drift_report"], model_card=values["model_card"],
                            decision_file=values["decision_file"], metrics_file=values["metrics_file"],
                            fail_on_reject=values["fail_on_reject"], fallback_dir=values["fallback_dir"],
                            fallback_decision_file=values["fallback_decision_file"], alias=values["alias"])


def load_settings(params_file: str | Path | None = None) -> RegisterSettings:
    """The ``register`` section of ``params_file`` (default: the project's params.yaml)."""
    from ..stages.params import find_params_file, load_params_file, shared_facts, stage_section

    path = Path(params_file) if params_file else find_params_file()
    if path is None:
        raise ConfigError(f"no params.yaml found here or in a parent folder; the gates are read from its "
                          f"'{SECTION}:' section (or pass --params-file FILE)")
    params = load_params_file(path)
    section = stage_section(params, SECTION, path)
    if section is None:
        raise ConfigError(f"{path}: no '{SECTION}:' section; add one with the promotion gates (see docs/registry.md)")
    section = {**shared_facts(params, path, ("target",)), **section}  # what the register stage sees
    settings = parse_settings(section, where=f"{path} [{SECTION}]")
    root = path.resolve().parent
    if root == Path.cwd().resolve():
        return settings
    return dataclasses.replace(settings, **{  # relative paths are relative to the project root, not the cwd
        key: str(root / value) for key in _PATHS if (value := getattr(settings, key)) and not Path(value).is_absolute()})
