"""Champion/challenger: evaluate the gates, move the ``champion`` alias, roll it back.

:func:`evaluate` loads the challenger and the current champion from the registry (each verified
against its manifest's sha256 before it is deserialized), scores both on the same holdout file and
applies the gates. :func:`promote` moves the alias only when no gate blocks, or when forced with a
reason. The move is a compare-and-set under the registry lock: if the champion changed since the
gates were evaluated, they are evaluated again against the new champion before anything moves, and
the alias is read back afterwards. Setting the alias is the single commit point, so a promotion
interrupted at any step leaves the previous champion in place.

After a move, ``NAME-serving@champion`` follows (when that serving model exists;
:func:`mlprod.serving.registration.follow_champion`): outside the lock, never undoing the move; a failure is logged
and, for a promotion, written into the decision's notes.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RegistryError
from ..manifest.datarefs import file_md5
from . import history
from .compatibility import incompatibilities
from .decision import Decision, artifact_file
from .gates import GatePolicy, GateResult, blocking, evaluate_gate
from .lock import current_user
from .register import download_verified
from .scoring import METRICS, ScoringError, score
from .store import Registry
from .upstream import drift_gate, validation_gate

logger = logging.getLogger(__name__)
CHAMPION = "champion"
CANARY = "canary"  # the alias a canary rollout serves beside the champion (mlprod.traffic.canary)
_CURRENT = object()


@dataclass(frozen=True)
class EvaluationInputs:
    """What the gates are evaluated on (kept with a decision so it can be re-evaluated)."""

    policy: GatePolicy
    holdout_path: str
    target: str
    threshold: float = 0.5
    validation_summary: str | None = None
    drift_report: str | None = None


def evaluate(model: str, version: str | int, inputs: EvaluationInputs, *, registry: Registry | None = None,
             champion: Any = _CURRENT) -> Decision:
    """Score challenger ``version`` and the champion on ``inputs.holdout_path`` and apply the gates."""
    from ..data.io import read_table

    registry = registry or Registry.open()
    challenger = registry.version(model, version)
    if champion is _CURRENT:
        champion = registry.alias(model, CHAMPION)
    holdout = Path(inputs.holdout_path)
    frame = read_table(holdout)
    names = list(METRICS)
    comparison: GateResult | None = None
    with tempfile.TemporaryDirectory(prefix="mlprod-gates-") as tmp:
        scores = {"challenger": _score(registry, challenger, Path(tmp) / "challenger", frame, inputs, names)}
        if champion is not None and str(champion.version) == str(challenger.version):
            scores["champion"] = scores["challenger"]
        elif champion is not None:
            try:
                scores["champion"] = _score(registry, champion, Path(tmp) / "champion", frame, inputs, names)
            except ScoringError as exc:
                comparison = _incomparable(model, champion, exc)
    missing = "the champion cannot score these rows" if comparison is not None else "no champion to compare with"
    results = [evaluate_gate(g, scores["challenger"][g.metric],
                             scores["champion"][g.metric] if "champion" in scores else None, no_champion=missing)
               for g in inputs.policy.metrics]
    if comparison is not None:
        results.insert(0, comparison)
    results += [validation_gate(inputs.validation_summary), drift_gate(inputs.drift_report, inputs.policy.block_on_drift)]
    return Decision(
        model=model, registry=registry.location.display, challenger=_describe(challenger),
        champion=_describe(champion) if champion is not None else None,
        holdout={"path": str(inputs.holdout_path), "md5": file_md5(holdout), "rows": len(frame),
                 "target": inputs.target, "threshold": inputs.threshold},
        metrics=scores, gates=tuple(results), policy=inputs.policy.to_dict(),
        blocking=tuple(r.name for r in blocking(results, inputs.policy)), user=current_user(), inputs=inputs)


def unevaluated(model: str, version: str | int, inputs: EvaluationInputs, problem: str, *,
                registry: Registry | None = None) -> Decision:
    """A decision whose gates could not be evaluated (``problem`` says why): it blocks unless forced."""
    registry = registry or Registry.open()
    champion = registry.alias(model, CHAMPION)
    gate = GateResult(name="evaluation", kind="evaluation", passed=None, message=f"gates not evaluated: {problem}")
    return Decision(model=model, registry=registry.location.display, challenger=_describe(registry.version(model, version)),
                    champion=_describe(champion) if champion is not None else None,
                    holdout={"path": str(inputs.holdout_path), "target": inputs.target, "threshold": inputs.threshold},
                    metrics={}, gates=(gate,), policy=inputs.policy.to_dict(), blocking=("evaluation",),
                    user=current_user(), inputs=None)


def promote(decision: Decision, *, force: bool = False, reason: str = "", registry: Registry | None = None,
            alias: str = CHAMPION) -> Decision:
    """Move ``champion`` to the challenger if ``decision`` passed (or ``force`` with a ``reason``).

    ``alias="canary"``: a challenger that passes the gates gets ``NAME@canary`` instead (outcome ``canary``); the
    champion then moves only through the canary rollout's last step (:mod:`mlprod.traffic.canary`)."""
    if force and not reason.strip():
        raise RegistryError("a forced promotion needs a reason (--reason TEXT); it is recorded in the history")
    registry = registry or Registry.open()
    model, challenger = decision.model, decision.challenger["version"]
    if decision.champion and decision.champion["version"] == str(challenger):
        return _record(registry, decision.replace(outcome="unchanged", reason=reason))
    if not decision.passed and not force:
        return _record(registry, decision.replace(outcome="rejected", reason=f"gates failed: "
                                                  f"{', '.join(decision.blocking)}"))
    if alias == CANARY:
        move = point_alias(registry, model, CANARY, str(challenger), action="canary",
                           reason=reason or "gates passed", decision=decision.reference)
        return _record(registry, decision.replace(outcome="canary", reason=reason,
                                                  alias_move=None if move is None else move.to_dict() | {"state": "done"}))
    if alias != CHAMPION:
        raise RegistryError(f"promote: alias must be {CHAMPION!r} or {CANARY!r}, got {alias!r}")
    with registry.lock(model):
        history.settle(registry, model, CHAMPION)
        current = registry.alias(model, CHAMPION)
        baseline = decision.champion["version"] if decision.champion else None
        if _version(current) != baseline and not force:
            if decision.inputs is None:
                raise RegistryError(f"{model!r}: the champion changed from version {baseline} to "
                                    f"{_version(current)} since the gates were evaluated; evaluate them again")
            logger.info("%s: champion moved from %s to %s since the gates were evaluated; evaluating again",
                        model, baseline, _version(current))
            note = (f"the champion changed from version {baseline} to {_version(current)} while the gates were "
                    "evaluated; they were evaluated again against the new champion")
            decision = evaluate(model, challenger, decision.inputs, registry=registry, champion=current).replace(
                notes=decision.notes + (note,))
            if not decision.passed:
                return _record(registry, decision.replace(outcome="rejected", reason=f"gates failed: "
                                                          f"{', '.join(decision.blocking)}"))
        if _version(current) == str(challenger):
            return _record(registry, decision.replace(outcome="unchanged", reason=reason))
        outcome = "promoted" if decision.passed else "forced"
        move = history.begin_move(registry, model, alias=CHAMPION, action="promote" if decision.passed else "force",
                                  to_version=str(challenger), from_version=_version(current),
                                  reason=reason or "gates passed", decision=decision.reference)
        move_alias(registry, model, move, expected_before=_version(current))
    decision = decision.replace(outcome=outcome, reason=reason, alias_move=move.to_dict() | {"state": "done"})
    note = _follow_serving(registry, model)
    return _record(registry, decision.replace(notes=decision.notes + (note,)) if note else decision)


def point_alias(registry: Registry, model: str, alias: str, version: str, *, action: str, reason: str,
                decision: str | None = None) -> history.AliasMove | None:
    """Move a non-champion ``alias`` (e.g. ``canary``) to ``version`` under the lock, logged; the champion's own
    version is refused. None when the alias already points there."""
    registry.version(model, version)  # a clear error for a version that does not exist
    with registry.lock(model):
        history.settle(registry, model, alias)
        champion = _version(registry.alias(model, CHAMPION))
        if champion == version:
            raise RegistryError(f"{model!r} version {version} is the champion; the {alias} alias goes on another "
                                "version (the challenger registered by the register stage)")
        current = _version(registry.alias(model, alias))
        if current == version:
            return None
        move = history.begin_move(registry, model, alias=alias, action=action, to_version=version,
                                  from_version=current, reason=reason, decision=decision)
        move_alias(registry, model, move, expected_before=current)
    return move


def rollback(model: str, *, reason: str = "", registry: Registry | None = None) -> history.AliasMove:
    """Move ``champion`` back to the version that held it before the current champion's promotion."""
    registry = registry or Registry.open()
    registry.require_model(model)
    with registry.lock(model):
        history.settle(registry, model, CHAMPION)
        current = _version(registry.alias(model, CHAMPION))
        if current is None:
            raise RegistryError(f"{model!r} has no champion to roll back")
        line = history.champion_line(history.read_moves(registry, model), CHAMPION)
        if not line or line[-1] != current:
            raise RegistryError(f"{model!r}: the champion (version {current}) was not set by mlprod's last logged "
                                f"move (the log ends at {line[-1] if line else 'nothing'}); choose the version "
                                "yourself: mlprod promote MODEL --version V --force --reason TEXT")
        if len(line) < 2:
            raise RegistryError(f"{model!r}: version {current} is the first champion; there is no previous champion "
                                "to roll back to")
        target = registry.version(model, line[-2])
        move = history.begin_move(registry, model, alias=CHAMPION, action="rollback", to_version=str(target.version),
                                  from_version=current, reason=reason or "rollback")
        move_alias(registry, model, move, expected_before=current)
        registry.call("tagging the rolled-back version", registry.client.set_model_version_tag, model, current,
                      "mlprod.rolled_back", move.time)
    _follow_serving(registry, model)  # a failure is logged as an error; the rollback stands
    return dataclasses.replace(move, state="done")


def _follow_serving(registry: Registry, model: str) -> str | None:
    """After ``model``'s champion moved (outside the lock): ``NAME-serving@champion`` follows, when that model
    exists (:func:`mlprod.serving.registration.follow_champion`; never raises, returns a note on failure)."""
    from ..serving.registration import follow_champion

    return follow_champion(registry, model)


def latest_version(registry: Registry, model: str) -> str:
    registry.require_model(model)
    versions = registry.versions(model)
    if not versions:
        raise RegistryError(f"{model!r} has no versions; register one with `mlprod register DIR`")
    return str(versions[-1].version)


def move_alias(registry: Registry, model: str, move: history.AliasMove, *, expected_before: str | None) -> None:
    """Compare-and-set the alias (caller holds the lock): check, move, read back, then mark the log entry done."""
    try:
        if _version(registry.alias(model, move.alias)) != expected_before:
            raise RegistryError(f"{model!r}: the {move.alias} alias was moved by someone else during the promotion; "
                                "nothing was changed, try again")
        registry.call(f"moving {move.alias!r}", registry.client.set_registered_model_alias, model, move.alias,
                      move.to_version)
        after = _version(registry.alias(model, move.alias))
        if after != move.to_version:
            raise RegistryError(f"{model!r}: the {move.alias} alias points to version {after} right after it was "
                                f"set to {move.to_version}: another client moved it; check `mlprod registry "
                                f"history {model}`")
    except BaseException:
        try:
            history.settle(registry, model, move.alias)
        except Exception:  # the lock holder settles it next time
            logger.debug("could not settle the move log of %s", model, exc_info=True)
        raise
    history.finish_move(registry, model, move, "done")


def _record(registry: Registry, decision: Decision) -> Decision:
    """Store the decision on the challenger: its run's artifact and the version's gate tags."""
    import json

    ch = decision.challenger
    with registry.errors(f"recording the decision for {decision.model!r} version {ch['version']}"):
        if ch.get("run_id"):
            registry.client.log_text(ch["run_id"], json.dumps(decision.to_dict(), indent=2, sort_keys=True),
                                     artifact_file(decision.decision_id))
        if decision.outcome != "unchanged":
            gates = "passed" if decision.passed else "forced" if decision.outcome == "forced" else "failed"
            registry.client.set_model_version_tag(decision.model, ch["version"], "mlprod.gates", gates)
        registry.client.set_model_version_tag(decision.model, ch["version"], "mlprod.decision", decision.reference)
    return decision


def _score(registry: Registry, version: Any, folder: Path, frame: Any, inputs: EvaluationInputs,
           names: list[str]) -> dict[str, float]:
    from ..manifest.store import load_model

    path, manifest = download_verified(registry, version, folder)
    problems = incompatibilities([(c.name, c.dtype) for c in manifest.inputs],
                                 [(str(c), str(t)) for c, t in frame.dtypes.items()])
    if problems:
        raise ScoringError(f"{inputs.holdout_path}: version {version.version} cannot score these rows: "
                           f"{'; '.join(problems)}")
    model = load_model(path)  # hash-checked against the manifest before deserializing
    return score(model, frame, target=inputs.target, threshold=inputs.threshold, metrics=names,
                 source=inputs.holdout_path)


def _incomparable(model: str, champion: Any, exc: ScoringError) -> GateResult:
    """The finding for a champion that cannot score the holdout: it blocks unless the promotion is forced."""
    semver = (champion.tags or {}).get("mlprod.semver", "?")
    return GateResult(
        name="champion", kind="comparison", passed=False,
        message=f"the champion ({model!r} version {champion.version}, {semver}) cannot be compared: {exc}. The "
                "challenger's inputs differ from the champion's: register it under a name of its own "
                "(train.model_name in params.yaml), or promote it with --force --reason TEXT")


def _describe(version: Any) -> dict[str, Any]:
    tags = version.tags or {}
    return {"version": str(version.version), "semver": tags.get("mlprod.semver", "?"), "run_id": version.run_id,
            "artifact_sha256": tags.get("mlprod.artifact_sha256")}


def _version(version: Any) -> str | None:
    return None if version is None else str(version.version)
