"""The ``deployment:`` section of params.yaml, parsed strictly, and the :class:`Experiment` it implies.

Modes (docs/traffic.md, "Deployment settings"): ``none`` (the default: one model serves everything), ``ab`` (arms
with shares in percent), ``canary`` (the challenger under the ``canary`` alias, a ramp schedule in percent, a step
length and guardrail thresholds), ``shadow`` (a challenger that scores off the response path through a bounded
queue) and ``blue_green`` (the serving alias, switched only by ``mlprod promote``/``rollback``). The sections of
modes not selected may stay in the file (switching is one line) and are checked as strictly.

Only parsing lives here; ``mlprod serve`` and ``mlprod score`` act on these settings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .assignment import Arm, Experiment

MODES = ("none", "ab", "canary", "shadow", "blue_green")
WHERE = "params.yaml deployment"
CANARY_ALIAS = "canary"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_REGISTRY_REF = re.compile(rf"^({_NAME})@({_NAME})$")


@dataclass(frozen=True)
class ModelRef:
    """A model: ``NAME@alias`` in the registry, or a model folder (any other text)."""

    text: str
    name: str | None = None  # registered model name (registry references)
    alias: str | None = None
    folder: str | None = None  # a local model folder

    @classmethod
    def parse(cls, value: Any, where: str) -> ModelRef:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: expected a model reference NAME@alias (e.g. lead-scoring@challenger) or a "
                              f"model folder, got {value!r}")
        match = _REGISTRY_REF.match(value)
        if match:
            return cls(value, name=match.group(1), alias=match.group(2))
        return cls(value, folder=value)


@dataclass(frozen=True)
class ArmSettings:
    name: str
    model: ModelRef
    share: float  # percent of the units in the experiment


@dataclass(frozen=True)
class ABSettings:
    arms: tuple[ArmSettings, ...]
    coverage: float = 100.0  # percent of all units in the experiment (the coverage gate); the rest get no arm


@dataclass(frozen=True)
class Guardrails:
    """Canary thresholds, plain numbers; crossing any one rolls the canary back (``mlprod canary step``)."""

    max_error_rate: float = 0.01  # share of the canary's requests that failed
    max_fallback_rate: float = 0.05  # share of the canary's rows answered by a fallback tier
    max_latency_p99_ms: float = 500.0  # the canary's 99th percentile latency
    max_score_psi: float = 0.2  # score drift of the canary against the champion (population stability index)
    max_metric_drop: float = 0.02  # the model metric (estimated, then realised) may fall at most this much
    max_kpi_drop: float = 0.05  # the business KPI may fall at most this much (relative)


@dataclass(frozen=True)
class CanarySettings:
    model: str  # the registered model; the challenger is <model>@canary, the champion <model>@champion
    ramp: tuple[float, ...] = (1.0, 5.0, 25.0, 100.0)  # percent of units on the canary at each step
    step_hours: float = 24.0  # how long each step lasts before it is evaluated
    guardrails: Guardrails = field(default_factory=Guardrails)

    @property
    def challenger(self) -> ModelRef:
        return ModelRef(f"{self.model}@{CANARY_ALIAS}", name=self.model, alias=CANARY_ALIAS)

    @property
    def champion(self) -> ModelRef:
        return ModelRef(f"{self.model}@champion", name=self.model, alias="champion")


@dataclass(frozen=True)
class ShadowSettings:
    model: ModelRef  # the challenger: scores every request off the response path; never answers
    queue_size: int = 1000  # bounded queue of shadow rows; rows arriving when it is full are dropped and counted


@dataclass(frozen=True)
class BlueGreenSettings:
    alias: str = "champion"  # the alias served; promote/rollback move it through the gates


@dataclass(frozen=True)
class DeploymentSettings:
    mode: str = "none"
    experiment: str | None = None  # the experiment key (seeds the arm split unless salt is given)
    salt: str | None = None  # the arm split's salt (GrowthBook's seed); default: the experiment key
    coverage_salt: str | None = None  # the coverage gate's salt; default: <salt>:coverage
    unit_id: str | None = None  # the column / request field holding the unit id that is hashed
    strata: tuple[str, ...] = ()  # columns reported per stratum with every analysis (segment, geography)
    ab: ABSettings | None = None
    canary: CanarySettings | None = None
    shadow: ShadowSettings | None = None
    blue_green: BlueGreenSettings = field(default_factory=BlueGreenSettings)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = WHERE,
                     model_name: str | None = None, key: str | None = None) -> DeploymentSettings:
        """``model_name`` (params.yaml project.model_name) is the default of ``canary.model``; ``key``
        (project.key) the default of ``unit_id``."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping of settings (e.g. mode: ab), got {data!r}")
        data = dict(data)
        _check_keys(data, ["mode", "experiment", "salt", "coverage_salt", "unit_id", "strata", "ab", "canary",
                           "shadow", "blue_green"], where)
        mode = data.get("mode", "none")
        if mode not in MODES:
            raise ConfigError(f"{where}.mode: expected one of {', '.join(MODES)}, got {mode!r}")
        out: dict[str, Any] = {"mode": mode}
        for name in ("experiment", "salt", "coverage_salt", "unit_id"):
            if data.get(name) is not None:
                out[name] = _text(data[name], f"{where}.{name}")
        if "unit_id" not in out and key:
            out["unit_id"] = key
        if "strata" in data:
            out["strata"] = _columns(data["strata"], f"{where}.strata")
        if data.get("ab") is not None:
            out["ab"] = _ab(data["ab"], f"{where}.ab")
        if data.get("canary") is not None or (mode == "canary" and model_name):
            out["canary"] = _canary(data.get("canary") or {}, f"{where}.canary", model_name)
        if data.get("shadow") is not None:
            out["shadow"] = _shadow(data["shadow"], f"{where}.shadow")
        if data.get("blue_green") is not None:
            out["blue_green"] = _blue_green(data["blue_green"], f"{where}.blue_green")
        settings = cls(**out)
        settings._check_mode(where)
        return settings

    def _check_mode(self, where: str) -> None:
        if self.mode in ("ab", "canary"):
            for key, example in (("experiment", "checkout-2026-11"), ("unit_id", "customer_id")):
                if getattr(self, key) is None:
                    also = " (or set project.key, its default)" if key == "unit_id" else ""
                    raise ConfigError(f"{where}.{key}: mode {self.mode} needs it; add e.g. `{key}: {example}` "
                                      f"under deployment:{also}")
        if self.mode == "ab" and self.ab is None:
            raise ConfigError(f"{where}.ab: mode ab needs its arms; add e.g. ab: {{arms: [{{name: champion, model: "
                              f"lead-scoring@champion, share: 50}}, {{name: challenger, model: "
                              f"lead-scoring@challenger, share: 50}}]}}")
        if self.mode == "canary" and self.canary is None:
            raise ConfigError(f"{where}.canary.model: mode canary needs the registered model; add canary: "
                              f"{{model: lead-scoring}} (its challenger is lead-scoring@{CANARY_ALIAS})")
        if self.mode == "shadow" and self.shadow is None:
            raise ConfigError(f"{where}.shadow.model: mode shadow needs the challenger; add shadow: "
                              f"{{model: lead-scoring@challenger}}")

    def to_experiment(self, step: int = 0) -> Experiment | None:
        """The experiment units are assigned by: ``ab``'s arms, or ``canary``'s ramp step ``step`` (arms champion
        and canary, canary last so that a growing share keeps its units); None for none, shadow and blue_green."""
        common = {"salt": self.salt, "coverage_salt": self.coverage_salt, "hash_attribute": self.unit_id or "id"}
        if self.mode == "ab":
            assert self.ab is not None and self.experiment is not None
            arms = tuple(Arm(a.name, a.share) for a in self.ab.arms)
            return Experiment(self.experiment, arms, coverage=self.ab.coverage / 100, **common)
        if self.mode == "canary":
            assert self.canary is not None and self.experiment is not None
            ramp = self.canary.ramp
            if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < len(ramp):
                raise ConfigError(f"canary step: expected 0 to {len(ramp) - 1} (the ramp {list(ramp)}), got {step!r}")
            return self.canary_experiment(self.experiment, ramp[step])
        return None

    def canary_experiment(self, key: str, share: float) -> Experiment:
        """Arms champion and canary with ``share`` percent on the canary (last, so that a growing share keeps its
        units), under experiment ``key`` (the rollout's, from its state file): what serve and score assign by."""
        common = {"salt": self.salt, "coverage_salt": self.coverage_salt, "hash_attribute": self.unit_id or "id"}
        return Experiment(key, (Arm("champion", 100.0 - share), Arm("canary", float(share))), **common)


def _check_keys(data: dict, allowed: list[str], where: str) -> None:
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")


def _mapping(data: Any, where: str, example: str) -> dict:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping such as {example}, got {data!r}")
    return dict(data)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        hint = f"; quote it: '{value}'" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
        raise ConfigError(f"{where}: expected a non-empty text, got {value!r}{hint}")
    return value


def _number(value: Any, where: str, *, low: float, high: float | None = None, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and (high is None or value <= high)
    if not ok:
        bounds = f"{'>' if open_low else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(f"{where}: expected a number {bounds}, got {value!r}")
    return float(value)


def _columns(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of column names (e.g. [segment, region]), got {value!r}")
    names = tuple(_text(v, f"{where}[{i}]") for i, v in enumerate(value))
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: column names repeat in {list(names)}; list each once")
    return names


def _ab(data: Any, where: str) -> ABSettings:
    data = _mapping(data, where, "{arms: [{name: champion, model: lead-scoring@champion, share: 50}, ...]}")
    _check_keys(data, ["arms", "coverage"], where)
    arms_data = data.get("arms")
    if not isinstance(arms_data, list) or len(arms_data) < 2:
        raise ConfigError(f"{where}.arms: expected a list of two or more arms {{name, model, share}}, got "
                          f"{arms_data!r}")
    arms = []
    for i, arm in enumerate(arms_data):
        at = f"{where}.arms[{i}]"
        arm = _mapping(arm, at, "{name: challenger, model: lead-scoring@challenger, share: 50}")
        _check_keys(arm, ["name", "model", "share"], at)
        for key in ("name", "model", "share"):
            if key not in arm:
                raise ConfigError(f"{at}.{key}: missing; each arm needs name, model and share (percent)")
        arms.append(ArmSettings(_text(arm["name"], f"{at}.name"), ModelRef.parse(arm["model"], f"{at}.model"),
                                _number(arm["share"], f"{at}.share", low=0, high=100)))
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.arms: arm names repeat in {names}; give each arm its own name")
    total = math.fsum(a.share for a in arms)
    if abs(total - 100) > 1e-6:
        raise ConfigError(f"{where}.arms: the shares add up to {total:g} %; expected 100 (shares are percent of the "
                          f"units in the experiment; use coverage for the part of all units)")
    out: dict[str, Any] = {"arms": tuple(arms)}
    if "coverage" in data:
        out["coverage"] = _number(data["coverage"], f"{where}.coverage", low=0, high=100)
    return ABSettings(**out)


def _canary(data: Any, where: str, model_name: str | None) -> CanarySettings:
    data = _mapping(data, where, "{model: lead-scoring, ramp: [1, 5, 25, 100], step_hours: 24}")
    _check_keys(data, ["model", "ramp", "step_hours", "guardrails"], where)
    model = data.get("model", model_name)
    if model is None:
        raise ConfigError(f"{where}.model: missing; name the registered model (e.g. model: lead-scoring), whose "
                          f"challenger carries the alias {CANARY_ALIAS!r}")
    model = _text(model, f"{where}.model")
    ref = ModelRef.parse(model, f"{where}.model")
    if ref.alias is not None and ref.alias != CANARY_ALIAS:
        raise ConfigError(f"{where}.model: the canary's challenger is the alias {CANARY_ALIAS!r}, got {model!r}; "
                          f"write {ref.name} or {ref.name}@{CANARY_ALIAS}")
    if ref.folder is not None and not re.fullmatch(_NAME, model):
        raise ConfigError(f"{where}.model: expected a registered model name (the canary moves registry aliases), "
                          f"got {model!r}")
    out: dict[str, Any] = {"model": ref.name or model}
    if "ramp" in data:
        out["ramp"] = _ramp(data["ramp"], f"{where}.ramp")
    if "step_hours" in data:
        out["step_hours"] = _number(data["step_hours"], f"{where}.step_hours", low=0, open_low=True)
    if data.get("guardrails") is not None:
        out["guardrails"] = _guardrails(data["guardrails"], f"{where}.guardrails")
    return CanarySettings(**out)


def _ramp(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a list of percents ending at 100 (e.g. [1, 5, 25, 100]), got {value!r}")
    ramp = tuple(_number(v, f"{where}[{i}]", low=0, high=100, open_low=True) for i, v in enumerate(value))
    if any(b <= a for a, b in zip(ramp, ramp[1:])) or ramp[-1] != 100:
        raise ConfigError(f"{where}: expected increasing percents ending at 100 (e.g. [1, 5, 25, 100]), got {value!r}")
    return ramp


def _guardrails(data: Any, where: str) -> Guardrails:
    data = _mapping(data, where, "{max_error_rate: 0.01, max_latency_p99_ms: 500}")
    names = list(Guardrails.__dataclass_fields__)
    _check_keys(data, names, where)
    rates = {"max_error_rate", "max_fallback_rate"}
    return Guardrails(**{k: _number(v, f"{where}.{k}", low=0, high=1 if k in rates else None)
                         for k, v in data.items()})


def _shadow(data: Any, where: str) -> ShadowSettings:
    data = _mapping(data, where, "{model: lead-scoring@challenger, queue_size: 1000}")
    _check_keys(data, ["model", "queue_size"], where)
    if "model" not in data:
        raise ConfigError(f"{where}.model: missing; name the challenger (e.g. model: lead-scoring@challenger)")
    out: dict[str, Any] = {"model": ModelRef.parse(data["model"], f"{where}.model")}
    if "queue_size" in data:
        size = data["queue_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"{where}.queue_size: expected a whole number >= 1, got {size!r}")
        out["queue_size"] = size
    return ShadowSettings(**out)


def _blue_green(data: Any, where: str) -> BlueGreenSettings:
    data = _mapping(data, where, "{alias: champion}")
    _check_keys(data, ["alias"], where)
    if "alias" not in data:
        return BlueGreenSettings()
    alias = _text(data["alias"], f"{where}.alias")
    if not re.fullmatch(_NAME, alias):
        raise ConfigError(f"{where}.alias: expected a registry alias (letters, digits, _ . -), got {alias!r}")
    return BlueGreenSettings(alias)
