"""Where a canary rollout stands: one small versioned JSON file, written by ``mlprod canary step`` and read by
``mlprod serve`` / ``mlprod score`` to know which ramp step's share to route to the canary.

The file (``CANARY_STATE``, relative to the project root; atomic writes, sorted keys, ``schema_version: 1``)::

    {"schema_version": 1, "experiment": "lead-scoring-canary-7", "model": "lead-scoring",
     "canary_version": "7", "champion_version": "5", "step": 1, "status": "running",
     "step_started": "2026-11-30T06:00:00Z", "updated": "2026-11-30T06:00:00Z", "history": [...]}

- ``step``: the index into ``deployment.canary.ramp`` now in force;
- ``status``: ``running`` (route ``ramp[step]`` % of units to the canary), ``rolled_back`` (route nothing to it:
  the canary alias was moved back) or ``promoted`` (the champion alias moved to the canary's version through
  ``mlprod promote``'s gates; route everything to the champion, which is now that version);
- ``history``: one entry per ``canary step`` decision (time, step, action, reasons), oldest first.

No file means no rollout has started: readers route as ``status: running, step: 0`` only when the deployment mode
is ``canary`` and a ``NAME@canary`` alias exists; :func:`read_state` returns None then.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError

CANARY_STATE = "monitoring/canary/state.json"
SCHEMA_VERSION = 1
STATUSES = ("running", "rolled_back", "promoted")


@dataclass(frozen=True)
class CanaryState:
    experiment: str
    model: str  # the registered model name
    canary_version: str  # the registry version under the canary alias when the rollout started
    champion_version: str | None  # the champion's registry version then (None: there was none)
    step: int = 0
    status: str = "running"
    step_started: str = ""  # ISO 8601 UTC
    updated: str = ""
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def share(self, ramp: tuple[float, ...]) -> float:
        """Percent of units routed to the canary now: ``ramp[step]`` while running, else 0 (rolled back) or 0
        (promoted: the champion is the canary's version, so everything goes to the champion arm)."""
        if self.status != "running":
            return 0.0
        return float(ramp[min(self.step, len(ramp) - 1)])

    def with_decision(self, entry: dict[str, Any], **changes: Any) -> CanaryState:
        return replace(self, history=(*self.history, dict(entry)), **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["history"] = [dict(h) for h in self.history]
        out["schema_version"] = SCHEMA_VERSION
        return out


def state_path(root: str | Path = ".") -> Path:
    return Path(root) / CANARY_STATE


def read_state(path: str | Path, ramp: tuple[float, ...] | list[float] | None = None) -> CanaryState | None:
    """The state in ``path``, or None when there is no file; a ConfigError naming the file for anything else
    (not JSON, a newer schema version, missing or wrong fields, times that are not ISO 8601 with a zone, a step
    beyond ``ramp``: the ramp in params.yaml was shortened during the rollout), with how to fix it."""
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise ConfigError(f"{path}: expected the canary state file, found something else; remove it")
        return None
    fix = "fix or remove it (mlprod canary step writes a new one)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable canary state file ({exc}); {fix}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object; {fix}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConfigError(f"{path}: canary state schema_version {version!r}; this mlprod reads version "
                          f"{SCHEMA_VERSION} (upgrade mlprod, or {fix})")
    fields = {k: v for k, v in data.items() if k != "schema_version"}
    known = set(CanaryState.__dataclass_fields__)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}; {fix}")
    required = [name for name, f in CanaryState.__dataclass_fields__.items()
                if name not in fields and f.default is MISSING and f.default_factory is MISSING]
    if required:
        raise ConfigError(f"{path}: missing field(s) {', '.join(required)}; {fix}")
    history = fields.get("history") or []
    if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
        raise ConfigError(f"{path}: history must be a list of objects; {fix}")
    state = CanaryState(**{**fields, "history": tuple(history)})
    step_ok = isinstance(state.step, int) and not isinstance(state.step, bool) and state.step >= 0
    if not step_ok or state.status not in STATUSES:
        raise ConfigError(f"{path}: step must be a whole number >= 0 and status one of {', '.join(STATUSES)} "
                          f"(got step {state.step!r}, status {state.status!r}); {fix}")
    texts = ("experiment", "model", "canary_version", "step_started")
    wrong = [name for name in texts if not isinstance(getattr(state, name), str) or not getattr(state, name)]
    wrong += [name for name in ("champion_version", "updated") if getattr(state, name) is not None
              and not isinstance(getattr(state, name), str)]
    if wrong:
        raise ConfigError(f"{path}: {', '.join(wrong)} must be texts; {fix}")
    for name in ("step_started", "updated"):
        if getattr(state, name) and not _zoned_time(getattr(state, name)):
            raise ConfigError(f"{path}: {name} {getattr(state, name)!r} is not an ISO 8601 time with a zone "
                              f"(e.g. 2026-11-30T06:00:00+00:00); {fix}")
    if ramp is not None and state.status == "running" and state.step >= len(ramp):
        raise ConfigError(f"{path}: the rollout is at step {state.step} but deployment.canary.ramp has "
                          f"{len(ramp)} step(s) ({list(ramp)}); the ramp was changed during the rollout: restore it, "
                          "or remove the state file and start again (mlprod canary start)")
    return state


def _zoned_time(text: str) -> bool:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def write_state(path: str | Path, state: CanaryState) -> Path:
    """Write ``state`` atomically (a reader sees the old file or the new one, never half of one)."""
    from ..atomic import write_json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, state.to_dict())
