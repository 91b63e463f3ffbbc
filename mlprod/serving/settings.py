"""The ``serving:`` section of params.yaml, parsed strictly: an unknown key is a ConfigError listing the allowed ones.

Rule expressions are only checked for shape here (a ``when`` text and a ``score`` in [0, 1]); they are compiled
against the model's input columns when the predictor is built (:class:`mlprod.serving.tiers.RuleTier`), where a
bad rule is a ConfigError naming ``serving.rules[i]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

OUT_OF_RANGE = ("clip", "route")
REVIEW_METHODS = ("band", "risk_control")
WHERE = "params.yaml serving"


@dataclass(frozen=True)
class BreakerSettings:
    failures: int = 5  # consecutive failed or timed-out calls that open the breaker
    reset_seconds: float = 30.0  # an open breaker lets one trial call through after this long (half-open)


@dataclass(frozen=True)
class Rule:
    when: str  # a rule expression over the model's inputs (mlprod's safe rule language)
    score: float  # the score of a row the expression is true for


@dataclass(frozen=True)
class ReviewSettings:
    """``serving.review``: how rows are routed to people (docs/serving.md, "Routing to people")."""

    method: str = "band"  # band: serving.review_band as written | risk_control: the band calibrated on the holdout
    alpha: float = 0.1  # risk_control: the target error rate among automatically decided rows ...
    delta: float = 0.1  # ... guaranteed with probability 1 - delta
    dir: str = "monitoring/review"  # the review queue's own records (decided.csv)


@dataclass(frozen=True)
class ServingSettings:
    time_budget_ms: float = 200.0  # per request and model tier
    max_workers: int = 4  # threads per model tier's bounded executor
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    out_of_range: str = "clip"  # clip | route (the row skips the primary: fallback_reason out_of_range)
    fill: dict[str, Any] = field(default_factory=dict)  # feature -> fill value, overriding the profile's
    rules: tuple[Rule, ...] = ()  # evaluated in order, first match wins
    default_score: float = 0.0  # the constant last tier
    review_band: tuple[float, float] | None = None  # [low, high]: scores inside go to review
    review: ReviewSettings = field(default_factory=ReviewSettings)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = WHERE) -> ServingSettings:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
        data = dict(data)
        _check_keys(data, ["time_budget_ms", "max_workers", "breaker", "out_of_range", "fill", "rules",
                           "default_score", "review_band", "review"], where)
        out: dict[str, Any] = {}
        if "time_budget_ms" in data:
            out["time_budget_ms"] = float(_number(data["time_budget_ms"], f"{where}.time_budget_ms", low=0,
                                                  open_low=True))
        if "max_workers" in data:
            out["max_workers"] = _whole(data["max_workers"], f"{where}.max_workers", low=1)
        if "breaker" in data:
            out["breaker"] = _breaker(data["breaker"], f"{where}.breaker")
        if "out_of_range" in data:
            if data["out_of_range"] not in OUT_OF_RANGE:
                raise ConfigError(f"{where}.out_of_range: expected {' or '.join(OUT_OF_RANGE)}, "
                                  f"got {data['out_of_range']!r}")
            out["out_of_range"] = data["out_of_range"]
        if "fill" in data:
            out["fill"] = _fill(data["fill"], f"{where}.fill")
        if "rules" in data:
            out["rules"] = _rules(data["rules"], f"{where}.rules")
        if "default_score" in data:
            out["default_score"] = float(_number(data["default_score"], f"{where}.default_score", low=0, high=1))
        if "review_band" in data:
            out["review_band"] = _band(data["review_band"], f"{where}.review_band")
        if "review" in data:
            out["review"] = _review(data["review"], f"{where}.review")
        return cls(**out)


def _check_keys(data: dict, allowed: list[str], where: str) -> None:
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")


def _number(value: Any, where: str, *, low: float | None = None, high: float | None = None,
            open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if open_low else '>='} {low}")
        if high is not None:
            bounds.append(f"<= {high}")
        raise ConfigError(f"{where}: expected a number {' and '.join(bounds)}, got {value!r}")
    return value


def _whole(value: Any, where: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{where}: expected a whole number >= {low}, got {value!r}")
    return value


def _breaker(data: Any, where: str) -> BreakerSettings:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping such as {{failures: 5, reset_seconds: 30}}, got {data!r}")
    data = dict(data)
    _check_keys(data, ["failures", "reset_seconds"], where)
    out: dict[str, Any] = {}
    if "failures" in data:
        out["failures"] = _whole(data["failures"], f"{where}.failures", low=1)
    if "reset_seconds" in data:
        out["reset_seconds"] = float(_number(data["reset_seconds"], f"{where}.reset_seconds", low=0, open_low=True))
    return BreakerSettings(**out)


def _fill(data: Any, where: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping feature -> fill value (e.g. {{income: 0}}), got {data!r}")
    out = {}
    for name, value in data.items():
        if value is None or isinstance(value, (list, dict)) or (isinstance(value, float) and not math.isfinite(value)):
            raise ConfigError(f"{where}.{name}: expected a number or a text, got {value!r}")
        out[str(name)] = value
    return out


def _rules(data: Any, where: str) -> tuple[Rule, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected a list of {{when: <rule expression>, score: <0..1>}}, got {data!r}")
    rules = []
    for i, item in enumerate(data):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{at}: expected {{when: <rule expression>, score: <0..1>}}, got {item!r}")
        item = dict(item)
        _check_keys(item, ["when", "score"], at)
        if not isinstance(item.get("when"), str) or not item["when"].strip():
            raise ConfigError(f"{at}.when: expected a rule expression such as 'n_interactions >= 10', "
                              f"got {item.get('when')!r}")
        if "score" not in item:
            raise ConfigError(f"{at}: score is missing; give the score (0..1) of a row the rule matches")
        rules.append(Rule(item["when"], float(_number(item["score"], f"{at}.score", low=0, high=1))))
    return tuple(rules)


def _band(data: Any, where: str) -> tuple[float, float] | None:
    if data is None:
        return None
    if not isinstance(data, (list, tuple)) or len(data) != 2:
        raise ConfigError(f"{where}: expected [low, high] within [0, 1] or null, got {data!r}")
    low = float(_number(data[0], f"{where}[0]", low=0, high=1))
    high = float(_number(data[1], f"{where}[1]", low=0, high=1))
    if low > high:
        raise ConfigError(f"{where}: low {low} is above high {high}; write [low, high]")
    return low, high


def _review(data: Any, where: str) -> ReviewSettings:
    if data is None:
        return ReviewSettings()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping such as {{method: risk_control, alpha: 0.1, delta: 0.1}}, "
                          f"got {data!r}")
    data = dict(data)
    _check_keys(data, ["method", "alpha", "delta", "dir"], where)
    out: dict[str, Any] = {}
    if "method" in data:
        if data["method"] not in REVIEW_METHODS:
            raise ConfigError(f"{where}.method: expected {' or '.join(REVIEW_METHODS)}, got {data['method']!r}")
        out["method"] = data["method"]
    for name in ("alpha", "delta"):
        if name in data:
            value = _number(data[name], f"{where}.{name}", low=0, open_low=True, high=1)
            if value >= 1:
                raise ConfigError(f"{where}.{name}: expected a number > 0 and < 1, got {value!r}")
            out[name] = float(value)
    if "dir" in data:
        if not isinstance(data["dir"], str) or not data["dir"].strip():
            raise ConfigError(f"{where}.dir: expected a folder path, got {data['dir']!r}")
        out["dir"] = data["dir"]
    return ReviewSettings(**out)
