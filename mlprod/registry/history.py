"""The alias-move log, stored in the registry itself, and the history view built from it.

Every move of the ``champion`` alias (and every removed version) is a registered-model tag ``mlprod.move.<000001>`` holding JSON:
when, which action (promote, force, rollback), from which version to which, who, why, and the
decision record's reference. The log lives where the aliases live, so it works the same against
a team server. Moves are written under the registry lock in two steps: ``started`` before the alias
moves and ``done`` after; a ``started`` entry left by an interrupted process is settled the next
time the lock is taken (``done`` if the alias did move, else ``interrupted``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

from .lock import current_user
from .store import Registry

MOVE_PREFIX = "mlprod.move."
ACTIONS = ("promote", "force", "rollback", "remove")  # remove: a version deleted (alias "(removed)")
STATES = ("started", "done", "interrupted")
HISTORY_VERSION = 1


@dataclass(frozen=True)
class AliasMove:
    seq: int
    alias: str
    action: str
    to_version: str
    from_version: str | None = None
    time: str = ""
    user: str = ""
    reason: str = ""
    decision: str | None = None  # reference of the decision record (runs:/<run>/mlprod/decisions/<id>.json)
    state: str = "started"

    @property
    def key(self) -> str:
        return f"{MOVE_PREFIX}{self.seq:06d}"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def read_moves(registry: Registry, model: str) -> list[AliasMove]:
    """Every logged alias move of ``model``, oldest first."""
    found = registry.registered_model(model)
    moves = []
    for key, value in ((found.tags or {}) if found else {}).items():
        if not key.startswith(MOVE_PREFIX):
            continue
        try:
            data = json.loads(value)
            moves.append(AliasMove(**{k: data[k] for k in AliasMove.__dataclass_fields__ if k in data}))
        except (ValueError, TypeError):
            continue  # not written by mlprod; ignored
    return sorted(moves, key=lambda m: m.seq)


def begin_move(registry: Registry, model: str, *, alias: str, action: str, to_version: str,
               from_version: str | None, reason: str = "", decision: str | None = None) -> AliasMove:
    """Log a move as ``started`` (call under the registry lock, before moving the alias)."""
    moves = read_moves(registry, model)
    move = AliasMove(seq=(moves[-1].seq + 1) if moves else 1, alias=alias, action=action, to_version=str(to_version),
                     from_version=str(from_version) if from_version is not None else None,
                     time=datetime.now(timezone.utc).isoformat(timespec="milliseconds"), user=current_user(),
                     reason=reason[:2000], decision=decision, state="started")
    _write(registry, model, move)
    return move


def finish_move(registry: Registry, model: str, move: AliasMove, state: str = "done") -> AliasMove:
    done = replace(move, state=state)
    _write(registry, model, done)
    return done


def settle(registry: Registry, model: str, alias: str) -> None:
    """Resolve ``started`` moves left by interrupted processes (call under the registry lock)."""
    moves = read_moves(registry, model)
    current = (registry.registered_model(model).aliases or {}).get(alias) if moves else None
    for i, move in enumerate(moves):
        if move.state == "started" and move.alias == alias:
            last = i == len(moves) - 1
            moved = last and current is not None and str(current) == move.to_version
            finish_move(registry, model, move, "done" if moved else "interrupted")


def champion_line(moves: list[AliasMove], alias: str) -> list[str]:
    """The versions that held ``alias`` in turn, as a stack: promotions push, rollbacks pop."""
    stack: list[str] = []
    for move in moves:
        if move.alias != alias or move.state != "done":
            continue
        if move.action == "rollback" and stack and stack[-1] == move.from_version:
            stack.pop()
        if not stack or stack[-1] != move.to_version:
            stack.append(move.to_version)
    return stack


def model_history(registry: Registry, model: str) -> dict[str, Any]:
    """Versions (with semver, aliases, gate outcome, lineage tags) and the alias-move log of ``model``."""
    found = registry.require_model(model)
    aliases_by_version: dict[str, list[str]] = {}
    for alias, version in (found.aliases or {}).items():
        aliases_by_version.setdefault(str(version), []).append(alias)
    versions = []
    for v in registry.versions(model):
        tags = v.tags or {}
        versions.append({
            "version": str(v.version), "semver": tags.get("mlprod.semver"), "aliases": sorted(
                aliases_by_version.get(str(v.version), [])),
            "created_at": _time(v.creation_timestamp), "gates": tags.get("mlprod.gates"),
            "decision": tags.get("mlprod.decision"), "rolled_back_at": tags.get("mlprod.rolled_back"),
            "artifact_sha256": tags.get("mlprod.artifact_sha256"),
            "git_commit": tags.get("mlprod.git.commit"), "git_dirty": tags.get("mlprod.git.dirty"),
            "run_id": v.run_id})
    return {"schema_version": HISTORY_VERSION, "model": model, "registry": registry.location.display,
            "aliases": {a: str(v) for a, v in sorted((found.aliases or {}).items())},
            "versions": [{k: val for k, val in row.items() if val not in (None, [])} for row in versions],
            "moves": [m.to_dict() for m in read_moves(registry, model)]}


def render_history(data: dict[str, Any]) -> str:
    lines = [f"{data['model']} in {data['registry']}", "", "versions:"]
    rows = [("version", "semver", "created", "aliases", "gates", "artifact", "git")]
    for v in reversed(data["versions"]):
        git = (v.get("git_commit") or "")[:10] + (" (dirty)" if v.get("git_dirty") == "true" else "")
        rows.append((v["version"], v.get("semver", "-"), v.get("created_at", "")[:19].replace("T", " "),
                     ", ".join(v.get("aliases", [])) or "-",
                     v.get("gates", "-") + (", rolled back" if v.get("rolled_back_at") else ""),
                     (v.get("artifact_sha256") or "-")[:12], git or "-"))
    lines += _table(rows)
    lines += ["", "alias moves:"]
    if not data["moves"]:
        lines.append("  none yet")
    else:
        rows: list[tuple[str, ...] | str] = [("#", "time", "alias", "move", "action", "user", "reason")]
        for m in reversed(data["moves"]):
            state = "" if m["state"] == "done" else f" [{m['state']}]"
            reason = m.get("reason") or "-"
            move = (f"version {m['to_version']} deleted" if m["action"] == "remove" else
                    f"{m.get('from_version') or 'none'} -> {m['to_version']}")
            rows.append((str(m["seq"]), m["time"][:19].replace("T", " "), m["alias"], move, m["action"] + state,
                         m["user"], reason if len(reason) <= 60 else reason[:57] + "..."))
            if m.get("decision"):
                rows.append(f"decision: {m['decision']}")
        lines += _table(rows)
    return "\n".join(lines)


def _write(registry: Registry, model: str, move: AliasMove) -> None:
    registry.call(f"logging the {move.alias} move of {model!r}", registry.client.set_registered_model_tag, model,
                  move.key, json.dumps(move.to_dict(), sort_keys=True))


def _table(rows: list[tuple[str, ...] | str]) -> list[str]:
    """Aligned columns; a plain string is a note printed under the row before it."""
    cells = [r for r in rows if isinstance(r, tuple)]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(cells[0]))]
    return [f"  {'':<{widths[0]}}  {row}" if isinstance(row, str) else
            "  " + "  ".join(f"{c!s:<{w}}" for c, w in zip(row, widths)).rstrip() for row in rows]


def _time(millis: int | None) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(millis / 1000, timezone.utc).isoformat(timespec="seconds")
