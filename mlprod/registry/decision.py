"""The decision record: challenger against champion, every gate's numbers, and what happened.

Written as versioned JSON (``schema_version``, sorted keys, atomically) beside the pipeline's outputs
and as an artifact of the challenger's run (``mlprod/decisions/<id>.json``), which the alias-move log
references. :func:`render` prints the readable gate table.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import atomic
from .gates import GateResult

SCHEMA_VERSION = 1
OUTCOMES = ("pending", "promoted", "forced", "rejected", "unchanged", "canary")  # canary: passed, NAME@canary moved


@dataclass(frozen=True)
class Decision:
    model: str
    registry: str
    challenger: dict[str, Any]  # version, semver, run_id, artifact_sha256
    champion: dict[str, Any] | None  # the same, None when there is no champion
    holdout: dict[str, Any]  # path, md5, rows, target, threshold
    metrics: dict[str, dict[str, float | None]]  # {"challenger": {...}, "champion": {...}}
    gates: tuple[GateResult, ...]
    policy: dict[str, Any]
    blocking: tuple[str, ...]  # the gates that stop the promotion (policy applied)
    decision_id: str = field(default_factory=lambda: new_id())
    created_at: str = field(default_factory=lambda: now())
    user: str = ""
    outcome: str = "pending"
    reason: str = ""
    alias_move: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    inputs: Any = field(default=None, compare=False, repr=False)  # what evaluate() was given, to re-evaluate

    @property
    def passed(self) -> bool:
        return not self.blocking

    @property
    def reference(self) -> str:
        return f"runs:/{self.challenger['run_id']}/{artifact_file(self.decision_id)}"

    def replace(self, **changes: Any) -> Decision:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "decision_id": self.decision_id, "created_at": self.created_at,
                "user": self.user, "model": self.model, "registry": self.registry, "challenger": self.challenger,
                "champion": self.champion, "holdout": self.holdout, "metrics": _finite(self.metrics),
                "gates": [g.to_dict() for g in self.gates], "policy": self.policy, "passed": self.passed,
                "blocking": list(self.blocking), "outcome": self.outcome, "reason": self.reason,
                "alias_move": self.alias_move, "notes": list(self.notes), "reference": self.reference}


def new_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def artifact_file(decision_id: str) -> str:
    return f"mlprod/decisions/{decision_id}.json"


def write_decision(decision: Decision, path: str | Path, *, metrics_file: str | Path | None = None) -> Path:
    """Write the decision record (and, when given, a small DVC metrics file) atomically."""
    if metrics_file:
        atomic.write_json(metrics_file, metrics_summary(decision))
    return atomic.write_json(path, decision.to_dict())


def metrics_summary(decision: Decision) -> dict[str, Any]:
    """What ``dvc metrics show`` displays: outcome, versions, gate counts and the compared metrics."""
    return {"schema_version": SCHEMA_VERSION, "outcome": decision.outcome, "promoted": decision.outcome in (
        "promoted", "forced"), "challenger_version": int(decision.challenger["version"]),
            "champion_version": int(decision.champion["version"]) if decision.champion else None,
            "gates": len(decision.gates), "gates_failed": sum(g.passed is False for g in decision.gates),
            "challenger": _rounded(decision.metrics.get("challenger", {})),
            "champion": _rounded(decision.metrics.get("champion", {}))}


def render(decision: Decision) -> str:
    """The gate table and the verdict, for a terminal or a notebook."""
    ch = decision.challenger
    champ = decision.champion
    vs = f"champion version {champ['version']} ({champ['semver']})" if champ else "no champion yet"
    holdout = decision.holdout
    lines = [f"{decision.model}: challenger version {ch['version']} ({ch['semver']}) vs {vs}",
             (f"holdout: {holdout.get('path')} ({holdout.get('rows', '?')} rows, target {holdout.get('target')!r}, "
              f"threshold {holdout.get('threshold')})"), ""]
    header = ("gate", "challenger", "champion", "rule", "required", "observed", "result")
    rows: list[tuple[str, ...] | str] = [header]  # a str is a message line under the previous row
    for gate in decision.gates:
        if gate.kind != "metric":
            rows.append((gate.name, "", "", "", "", "", _verdict(gate.passed, gate.name in decision.blocking)))
            rows.append(gate.message)
            continue
        label = f"{gate.name} ({'higher' if gate.greater_is_better else 'lower'} is better)"
        for i, rule in enumerate(gate.rules):
            sign = "<=" if rule.rule == "threshold" and not gate.greater_is_better else ">="
            observed = _num(rule.observed) if rule.observed is not None else "-"
            first = i == 0
            rows.append((label if first else "", _num(gate.challenger) if first else "",
                         _num(gate.champion) if first else "", rule.rule, f"{sign} {_num(rule.required)}",
                         observed, _verdict(rule.passed, False)))
            if rule.observed is None and rule.note:
                rows.append(f"({rule.note})")
    cells = [r for r in rows if isinstance(r, tuple)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in rows:
        if isinstance(row, str):
            indent = " " * (widths[0] + 4)
            lines.extend(textwrap.wrap(row, width=max(60, sum(widths) + 2 * len(widths)), initial_indent=indent,
                                       subsequent_indent=indent + "  ", break_on_hyphens=False))
        else:
            lines.append("  " + "  ".join(f"{c:<{w}}" for c, w in zip(row, widths)).rstrip())
    lines.append("")
    lines.append(verdict_line(decision))
    lines.extend(f"note: {note}" for note in decision.notes)
    return "\n".join(lines)


def verdict_line(decision: Decision) -> str:
    champ = decision.champion
    old = f"version {champ['version']} ({champ['semver']})" if champ else "none"
    new = f"version {decision.challenger['version']} ({decision.challenger['semver']})"
    failing = ", ".join(decision.blocking)
    if decision.outcome == "promoted":
        return f"PROMOTED: champion {old} -> {new}"
    if decision.outcome == "forced":
        return f"FORCED: champion {old} -> {new} although {failing} failed; reason: {decision.reason}"
    if decision.outcome == "rejected":
        return f"REJECTED ({failing} failed): champion stays {old}"
    if decision.outcome == "unchanged":
        return f"UNCHANGED: {new} is already the champion"
    if decision.outcome == "canary":
        return (f"CANARY: gates passed; {decision.model}@canary -> {new}, champion stays {old} until the canary "
                "rollout reaches 100 % (mlprod canary start)")
    return ("gates PASSED" if decision.passed else f"gates FAILED ({failing})") + " (not promoted yet)"


def _verdict(passed: bool | None, blocks: bool) -> str:
    if passed is None:
        return "not evaluated (blocks)" if blocks else "not evaluated"
    return "pass" if passed else "FAIL"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "undefined"
    return f"{value:.4f}"


def _rounded(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) and math.isfinite(v) else None for k, v in metrics.items()}


def _finite(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, float) and not math.isfinite(data):
        return None
    return data
