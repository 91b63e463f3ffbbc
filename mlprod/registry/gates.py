"""Promotion gates: what ``params.yaml`` declares, the arithmetic of each rule, and the policy.

Per metric (``register.gates`` in ``params.yaml``)::

    roc_auc:  {threshold: 0.70, min_change: -0.005, min_relative_change: null}
    log_loss: {threshold: 0.45, greater_is_better: false}

* ``threshold``: the challenger's value must be at least (at most, when lower is better) this;
* ``min_change``: the improvement over the champion, in the metric's units, must be at least this
  (negative: a tolerated loss, e.g. ``-0.005`` lets the challenger be up to 0.005 worse);
* ``min_relative_change``: the improvement divided by ``|champion|`` must be at least this
  (``0.01``: one percent better). With a champion value of 0 the relative change of any improvement
  is +infinity, of any loss -infinity, and of no change 0;
* ``greater_is_better``: the direction; defaults to the metric's own and may not contradict it.

"Improvement" is ``challenger - champion`` when greater is better, ``champion - challenger`` otherwise,
so every rule reads "at least". Rules against the champion are *not evaluated* when there is no
champion yet. Comparisons allow 1e-12 for floating-point noise. Gates only compute results;
:func:`blocking` (the policy) decides which results stop a promotion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..errors import ConfigError
from .scoring import get_metric

RULES = ("threshold", "min_change", "min_relative_change")
GATE_KEYS = (*RULES, "greater_is_better")
EPSILON = 1e-12


@dataclass(frozen=True)
class MetricGate:
    metric: str
    greater_is_better: bool
    threshold: float | None = None
    min_change: float | None = None
    min_relative_change: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "greater_is_better": self.greater_is_better, "threshold": self.threshold,
                "min_change": self.min_change, "min_relative_change": self.min_relative_change}


@dataclass(frozen=True)
class GatePolicy:
    """The gates a challenger must pass, and whether missing upstream reports block promotion."""

    metrics: tuple[MetricGate, ...]
    require_validation: bool = False
    require_drift_report: bool = False
    block_on_drift: tuple[str, ...] | None = None  # drift triggers that block (None: any retraining reason)

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": [g.to_dict() for g in self.metrics], "require_validation": self.require_validation,
                "require_drift_report": self.require_drift_report,
                "block_on_drift": list(self.block_on_drift) if self.block_on_drift is not None else None}


@dataclass(frozen=True)
class RuleResult:
    rule: str  # one of RULES
    required: float
    observed: float | None  # None when not evaluated or not finite (see note)
    passed: bool | None  # None: not evaluated
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "required": self.required, "observed": self.observed, "passed": self.passed,
                "note": self.note}


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome. ``passed`` is ``None`` when the gate could not be evaluated (``message`` says why)."""

    name: str  # the metric, "validation" or "drift"
    kind: str  # "metric" | "validation" | "drift"
    passed: bool | None
    message: str
    challenger: float | None = None
    champion: float | None = None
    greater_is_better: bool | None = None
    rules: tuple[RuleResult, ...] = ()
    source: str | None = None  # the file a validation/drift gate read

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "kind": self.kind, "passed": self.passed, "message": self.message,
                "challenger": _finite(self.challenger), "champion": _finite(self.champion),
                "greater_is_better": self.greater_is_better, "rules": [r.to_dict() for r in self.rules],
                "source": self.source}
        return {k: v for k, v in data.items() if v is not None and v != [] or k == "passed"}


def parse_gates(data: Any, *, where: str = "params.yaml [register] gates") -> tuple[MetricGate, ...]:
    """``{metric: {rule: value}}`` to :class:`MetricGate` values; strict about names, keys and types."""
    if data is None:
        return ()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of metric names to rules, e.g. "
                          f"{{roc_auc: {{threshold: 0.7, min_change: 0}}}}, got {type(data).__name__} {data!r}")
    gates = []
    for name, rules in data.items():
        here = f"{where}.{name}"
        metric = get_metric(name, where=here)
        if not isinstance(rules, Mapping):
            raise ConfigError(f"{here}: expected a mapping of rules ({', '.join(GATE_KEYS)}), got {rules!r}")
        unknown = [str(k) for k in rules if k not in GATE_KEYS]
        if unknown:
            raise ConfigError(f"{here}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(GATE_KEYS)}")
        values = {rule: _number(rules.get(rule), f"{here}.{rule}") for rule in RULES}
        if all(v is None for v in values.values()):
            raise ConfigError(f"{here}: no rule set; give at least one of {', '.join(RULES)}")
        direction = rules.get("greater_is_better", metric.greater_is_better)
        if not isinstance(direction, bool):
            raise ConfigError(f"{here}.greater_is_better: expected true or false, got {direction!r}")
        if direction != metric.greater_is_better:
            raise ConfigError(f"{here}.greater_is_better: {metric.name!s} is better when "
                              f"{'greater' if metric.greater_is_better else 'lower'}; set it to "
                              f"{str(metric.greater_is_better).lower()} or remove the key")
        gates.append(MetricGate(metric=metric.name, greater_is_better=direction, **values))
    return tuple(gates)


def improvement(challenger: float, champion: float, greater_is_better: bool) -> float:
    """How much better the challenger is, in the metric's units (negative: worse)."""
    return challenger - champion if greater_is_better else champion - challenger


def relative_improvement(challenger: float, champion: float, greater_is_better: bool) -> float:
    """:func:`improvement` divided by ``|champion|``; ``±inf`` (or 0 for no change) when the champion is 0."""
    change = improvement(challenger, champion, greater_is_better)
    if champion == 0:
        return 0.0 if change == 0 else math.copysign(math.inf, change)
    return change / abs(champion)


def evaluate_gate(gate: MetricGate, challenger: float, champion: float | None, *,
                  no_champion: str = "no champion to compare with") -> GateResult:
    """Apply every rule of ``gate`` to the two values (``champion`` None: ``no_champion`` says why)."""
    rules: list[RuleResult] = []
    word = ">=" if gate.greater_is_better else "<="
    if gate.threshold is not None:
        if not _ok(challenger):
            rules.append(RuleResult("threshold", gate.threshold, None, False, "challenger value is undefined"))
        else:
            margin = challenger - gate.threshold if gate.greater_is_better else gate.threshold - challenger
            rules.append(RuleResult("threshold", gate.threshold, challenger, margin >= -EPSILON,
                                    f"challenger {word} threshold"))
    for rule, required in (("min_change", gate.min_change), ("min_relative_change", gate.min_relative_change)):
        if required is None:
            continue
        if champion is None:
            rules.append(RuleResult(rule, required, None, None, no_champion))
        elif not (_ok(challenger) and _ok(champion)):
            rules.append(RuleResult(rule, required, None, False, "metric undefined for challenger or champion"))
        elif rule == "min_change":
            change = improvement(challenger, champion, gate.greater_is_better)
            rules.append(RuleResult(rule, required, change, change >= required - EPSILON, "improvement"))
        else:
            relative = relative_improvement(challenger, champion, gate.greater_is_better)
            note = "improvement / |champion|"
            if math.isinf(relative):
                note = f"champion is 0: relative improvement is {'+' if relative > 0 else '-'}infinite"
            rules.append(RuleResult(rule, required, relative if math.isfinite(relative) else None,
                                    relative >= required - EPSILON, note))
    verdicts = [r.passed for r in rules]
    passed = False if False in verdicts else None if all(v is None for v in verdicts) else True
    return GateResult(name=gate.metric, kind="metric", passed=passed, message=_message(gate, rules, passed),
                      challenger=challenger, champion=champion, greater_is_better=gate.greater_is_better,
                      rules=tuple(rules))


def blocking(results: Iterable[GateResult], policy: GatePolicy) -> list[GateResult]:
    """The results that stop a promotion: failed gates, and unevaluated upstream gates the policy requires."""
    required = {"validation": policy.require_validation, "drift": policy.require_drift_report}
    return [r for r in results if r.passed is False or (r.passed is None and required.get(r.kind, False))]


def _message(gate: MetricGate, rules: list[RuleResult], passed: bool | None) -> str:
    if passed is None:
        return "not evaluated: " + "; ".join(sorted({r.note for r in rules}))
    failed = [r for r in rules if r.passed is False]
    if not failed:
        return "passed"
    return "; ".join(f"{r.rule} {_fmt(r.observed) if r.observed is not None else r.note} < required "
                     f"{_fmt(r.required)}" if r.rule != "threshold" else
                     f"threshold: {_fmt(r.observed) if r.observed is not None else r.note} "
                     f"{'<' if gate.greater_is_better else '>'} {_fmt(r.required)}" for r in failed)


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a number or null, got {type(value).__name__} {value!r}")
    return float(value)
