"""Canary automation: ``start`` a rollout, ``step`` it (evaluate the guardrails, then advance, hold or roll back),
and report its ``status``. ``mlprod canary`` is a thin layer over these functions.

A step reads the canary's rows so far from the prediction log (the state's experiment key, arms ``champion`` and
``canary``, logged since the rollout started) and the label files, evaluates :mod:`mlprod.traffic.guardrails`, and
acts: ``rollback`` on any breach (the ``canary`` alias moved back to the champion's version under the registry
lock, logged in the alias-move log with the decision record's reference, so ``mlprod registry history`` shows it;
state ``rolled_back``); ``advance`` when ``step_hours`` have passed, no guardrail is breached and every early one
could be evaluated (state step + 1; at the last step, 100 %, the champion moves to the canary's version through
``mlprod promote``'s gates: state ``promoted``); ``hold`` otherwise. Registry first, state file second: a step cut
short between them is reported by the next one (the alias no longer matches the state). Steps are idempotent: a
second run right after an advance holds (its step has just started).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import guardrails as g
from .canary_state import CanaryState, read_state, state_path, write_state
from .deployment import CANARY_ALIAS, DeploymentSettings

logger = logging.getLogger(__name__)
DECISION_SCHEMA_VERSION = 1
DECISION_FILE = "monitoring/canary/decision.json"
ACTIONS = ("start", "hold", "advance", "rollback", "promote", "none")


@dataclass(frozen=True)
class Project:
    """What a canary step reads from params.yaml."""

    root: Path
    params_file: Path
    deployment: DeploymentSettings
    log_dir: Path
    labels_dir: Path
    key: str | None
    target: str | None
    positive_label: Any = None

    @property
    def state_file(self) -> Path:
        return state_path(self.root)

    @property
    def canary(self):
        if self.deployment.mode != "canary" or self.deployment.canary is None:
            raise ConfigError(f"{self.params_file}: deployment.mode is {self.deployment.mode!r}; mlprod canary needs "
                              "`mode: canary` under deployment: (with experiment and canary: {model: NAME}; unit_id defaults to "
                              "project.key)")
        return self.deployment.canary


@dataclass(frozen=True)
class StepSettings:
    min_rows: int = 100  # canary rows (and units per arm for comparisons) before a guardrail can breach or pass
    alpha: float = 0.05  # false-rollback rate of the sequential tests, split over them
    tau2: float | None = None  # mSPRT mixing variance; None: max_metric_drop ** 2
    metrics_url: str | None = None


def load_project(params_file: str | Path | None = None) -> Project:
    from ..project.facts import read_facts
    from ..serving.predictionlog import PredictionLogSettings
    from ..stages.params import load_params_file, project_root

    root, found = project_root(params_file=params_file)
    if found is None or not Path(found).is_file():
        raise ConfigError(f"no params.yaml in {Path.cwd()} or its parents (or --params-file {params_file} is not a "
                          "file); run mlprod canary inside the project")
    params = load_params_file(found)
    facts = read_facts(params, found)
    deployment = DeploymentSettings.from_mapping(params.get("deployment"), model_name=facts.model_name,
                                             key=facts.key)
    monitor = params.get("monitor") if isinstance(params.get("monitor"), dict) else {}
    log_dir = root / PredictionLogSettings.from_mapping(params.get("prediction_log")).dir
    labels = root / (monitor.get("labels_dir") or "monitoring/labels")
    return Project(root, Path(found), deployment, log_dir, labels, facts.key, facts.target, facts.positive_label)


def now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")


# -- start -----------------------------------------------------------------------------------------------------
def start(project: Project, *, registry=None, now: datetime | None = None, version: str | None = None) -> CanaryState:
    """Begin a rollout at step 0: needs ``mode: canary``, ``NAME@champion`` and ``NAME@canary`` (``version``: point
    ``NAME@canary`` at that version first, logged in the registry history)."""
    from ..registry.store import Registry

    canary = project.canary
    registry = registry or Registry.open(project.root)
    registry.require_model(canary.model)
    old = read_state(project.state_file, project.canary.ramp)
    if old is not None and old.status == "running":
        raise ConfigError(f"{project.state_file}: a rollout of {old.model} version {old.canary_version} is running "
                          f"(step {old.step}); let mlprod canary step finish it, or remove the file to start over")
    if version is not None:
        point_canary(registry, canary.model, str(version), reason=f"canary {project.deployment.experiment}: start")
    versions = {}
    for alias in (CANARY_ALIAS, "champion"):
        found = registry.alias(canary.model, alias)
        if found is None:
            how = ("mlprod canary start --version N sets it to the challenger's version" if alias == CANARY_ALIAS else
                   "mlprod promote sets it")
            raise ConfigError(f"{canary.model!r} has no {alias!r} alias; a canary needs {canary.model}@canary (the "
                              f"challenger) and {canary.model}@champion: {how}")
        versions[alias] = str(found.version)
    if versions[CANARY_ALIAS] == versions["champion"]:
        raise ConfigError(f"{canary.model}@canary and @champion are both version {versions['champion']}; point the "
                          "canary alias at the challenger's version (mlprod canary start --version N)")
    moment = now_text(now)
    state = CanaryState(experiment=project.deployment.experiment or "", model=canary.model,
                        canary_version=versions[CANARY_ALIAS], champion_version=versions["champion"], step=0,
                        status="running", step_started=moment, updated=moment,
                        history=({"time": moment, "step": 0, "action": "start", "reasons": []},))
    write_state(project.state_file, state)
    return state


def point_canary(registry, model: str, version: str, *, reason: str) -> None:
    """Move ``NAME@canary`` to ``version``, logged in the registry history (``mlprod canary start --version``)."""
    from ..registry.champion import point_alias

    point_alias(registry, model, CANARY_ALIAS, version, action="canary", reason=reason)


def status(project: Project) -> CanaryState:
    state = read_state(project.state_file, project.canary.ramp)
    if state is None:
        raise ConfigError(f"{project.state_file}: no canary rollout has started; run mlprod canary start")
    return state


# -- the data of a step ----------------------------------------------------------------------------------------
def rollout_rows(project: Project, state: CanaryState):
    """The prediction log's rows of the rollout: its experiment, arms champion/canary, since it started."""
    from ..serving.predictionlog import read_log

    started = state.history[0].get("time") if state.history else state.step_started
    log = read_log(project.log_dir, since=started or None)
    return log[(log["experiment"] == state.experiment) & log["arm"].isin(["champion", "canary"])]


def labels_by_unit(project: Project):
    """unit -> outcome (0/1) from the label files, or None when there are none (or they cannot be joined)."""
    from .analysis.inputs import label_table

    folder = project.labels_dir
    if not project.key or not project.target or not folder.is_dir():
        return None
    if project.deployment.unit_id not in (None, project.key):
        return None  # labels are keyed by project.key; the log's unit ids are another column
    if not any(p.suffix.lower() in (".csv", ".parquet") for p in folder.iterdir() if p.is_file()):
        return None
    return label_table(folder, key=project.key, target=project.target, positive_label=project.positive_label,
                   kpi=None, strata=()).set_index("unit")["outcome"]


def evaluate(project: Project, state: CanaryState, rows, labels, settings: StepSettings) -> list[g.Check]:
    """Every guardrail on ``rows`` (the rollout's log rows) and ``labels`` (unit -> 0/1, or None)."""
    limits = project.canary.guardrails
    tau2 = settings.tau2 or max(limits.max_metric_drop, 1e-3) ** 2
    alpha = settings.alpha / g.SEQUENTIAL_TESTS
    arms = {arm: rows[rows["arm"] == arm] for arm in ("champion", "canary")}
    c = arms["canary"]
    checks = [g.rate_check("error_rate", int((c["tier"] == "rejected").sum()), len(c), limits.max_error_rate,
                           settings.min_rows),
              g.rate_check("fallback_rate", int((~c["tier"].isin(["primary", "rejected"])).sum()), len(c),
                           limits.max_fallback_rate, settings.min_rows)]
    scored = {arm: f[f["score"].notna() & f["decision"].notna()] for arm, f in arms.items()}
    scores = {arm: f["score"].to_numpy(dtype=float) for arm, f in scored.items()}
    value = g.psi(scores["champion"], scores["canary"])
    enough = min(len(scores["champion"]), len(scores["canary"])) >= settings.min_rows
    checks.append(g.Check("score_psi", value, limits.max_score_psi,
                          g.WAIT if not enough else g.BREACH if value > limits.max_score_psi else g.PASS,
                          f"{len(scores['canary'])} canary / {len(scores['champion'])} champion scored rows"))
    estimated = {arm: np.where(f["decision"].to_numpy() == 1, scores[arm], 1 - scores[arm])
                 for arm, f in scored.items()}
    common = dict(tau2=tau2, alpha=alpha, min_rows=settings.min_rows)
    checks.append(g.drop_check("estimated_accuracy", g.summary(estimated["champion"]), g.summary(estimated["canary"]),
                               limits.max_metric_drop, relative=False, **common))
    if settings.metrics_url:
        checks += _served_checks(settings.metrics_url, limits, settings.min_rows)
    checks += _realised_checks(scored, labels, limits, common)
    return checks


def _served_checks(url: str, limits, min_rows: int) -> list[g.Check]:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (the user's own server)
            text = response.read().decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        why = f"cannot read {url}: {exc}"
        return [g.Check("latency_p99_ms", None, limits.max_latency_p99_ms, g.WAIT, why),
                g.Check("request_error_rate", None, limits.max_error_rate, g.WAIT, why)]
    served = g.served_metrics(g.parse_metrics(text))
    requests = int(served["requests"] or 0)
    p99 = served["latency_p99_ms"]
    latency = g.Check("latency_p99_ms", p99, limits.max_latency_p99_ms,
                      g.WAIT if p99 is None or requests < min_rows else
                      g.BREACH if p99 > limits.max_latency_p99_ms else g.PASS, f"{requests} canary requests")
    return [latency, g.rate_check("request_error_rate", int(served["errors"] or 0), requests, limits.max_error_rate,
                                  min_rows)]


def _realised_checks(scored, labels, limits, common) -> list[g.Check]:
    metric_drop, kpi_drop = limits.max_metric_drop, limits.max_kpi_drop
    if labels is None:
        return [g.Check("realised_accuracy", None, metric_drop, g.WAIT, "no label files yet"),
                g.Check("kpi", None, kpi_drop, g.WAIT, "no label files yet")]
    correct, kpi = {}, {}
    for arm, frame in scored.items():
        units = frame.drop_duplicates("unit_id")
        outcome = units["unit_id"].map(labels).to_numpy(dtype=float)
        known = ~np.isnan(outcome)
        correct[arm] = g.summary(units["decision"].to_numpy(dtype=float)[known] == outcome[known])
        kpi[arm] = g.summary(outcome[known])
    return [g.drop_check("realised_accuracy", correct["champion"], correct["canary"], metric_drop, relative=False,
                         **common),
            g.drop_check("kpi", kpi["champion"], kpi["canary"], kpi_drop, relative=True, **common)]


# -- step ------------------------------------------------------------------------------------------------------
def step(project: Project, settings: StepSettings = StepSettings(), *, registry=None,
         now: datetime | None = None) -> dict[str, Any]:
    """Evaluate the guardrails and act; returns the decision record (also written by the caller)."""
    from ..registry.store import Registry

    canary = project.canary
    state = status(project)
    moment = now or datetime.now(timezone.utc)
    _check_state(project, state)
    decision: dict[str, Any] = {
        "schema_version": DECISION_SCHEMA_VERSION, "kind": "canary_step", "time": now_text(moment),
        "decision_id": _new_id(moment), "model": state.model, "experiment": state.experiment,
        "canary_version": state.canary_version, "champion_version": state.champion_version, "step": state.step,
        "ramp": list(canary.ramp), "share": state.share(canary.ramp), "checks": [], "reasons": [],
        "alias_move": None, "promotion": None}
    if state.status != "running":
        return {**decision, "action": "none", "status": state.status,
                "reasons": [f"the rollout is over ({state.status}); start a new one with mlprod canary start"]}
    registry = registry or Registry.open(project.root)
    _check_alias(registry, state)
    rows = rollout_rows(project, state)
    checks = evaluate(project, state, rows, labels_by_unit(project), settings)
    decision["checks"] = [c.to_dict() for c in checks]
    decision["rows"] = {arm: int((rows["arm"] == arm).sum()) for arm in ("champion", "canary")}
    breached = [c for c in checks if c.verdict == g.BREACH]
    waiting = [c for c in checks if c.verdict == g.WAIT and c.name not in ("realised_accuracy", "kpi")]
    elapsed = (moment - _parse_time(state.step_started)).total_seconds() / 3600
    last = state.step >= len(canary.ramp) - 1
    if breached:
        action, reasons = "rollback", [f"{c.name} {c.value:.4g} beyond {c.threshold:g}" for c in breached]
    elif elapsed < canary.step_hours:
        action, reasons = "hold", [f"step {state.step} has run {elapsed:.2f} of {canary.step_hours:g} hours"]
    elif waiting:
        action, reasons = "hold", [f"{c.name}: not enough data ({c.detail})" for c in waiting]
    else:
        action, reasons = ("promote" if last else "advance"), ["every guardrail passed"]
    decision |= {"action": action, "reasons": reasons}
    if action == "rollback":
        decision["alias_move"] = roll_back(registry, state, "; ".join(reasons), decision)
        state = state.with_decision(_entry(decision), status="rolled_back", updated=now_text(moment))
    elif action == "promote":
        promotion = _promote(project, registry, state)
        decision["promotion"] = promotion
        if promotion["outcome"] in ("promoted", "unchanged"):
            state = state.with_decision(_entry(decision), status="promoted", updated=now_text(moment))
        else:
            decision |= {"action": "rollback", "reasons": [f"the promotion gates failed: {promotion['reason']}"]}
            decision["alias_move"] = roll_back(registry, state, decision["reasons"][0], decision)
            state = state.with_decision(_entry(decision), status="rolled_back", updated=now_text(moment))
    elif action == "advance":
        state = state.with_decision(_entry(decision), step=state.step + 1, step_started=now_text(moment),
                                    updated=now_text(moment))
    else:
        state = state.with_decision(_entry(decision), updated=now_text(moment))
    write_state(project.state_file, state)
    return {**decision, "status": state.status, "next_step": state.step, "next_share": state.share(canary.ramp)}


def roll_back(registry, state: CanaryState, reason: str, decision: dict[str, Any]) -> dict[str, Any] | None:
    """Move ``NAME@canary`` back to the champion's version (compare-and-set under the registry lock, logged with a
    reference to the decision record, stored on the canary version's run); None if it already was moved back."""
    from ..registry import history
    from ..registry.champion import CHAMPION, move_alias
    from ..registry.decision import artifact_file

    model = state.model
    version = registry.version(model, state.canary_version)
    reference = None
    if version.run_id:
        with registry.errors(f"recording the canary decision on {model!r} version {state.canary_version}"):
            registry.client.log_text(version.run_id, json.dumps(decision, indent=2, sort_keys=True),
                                     artifact_file(decision["decision_id"]))
        reference = f"runs:/{version.run_id}/{artifact_file(decision['decision_id'])}"
    with registry.lock(model):
        history.settle(registry, model, CANARY_ALIAS)
        current = registry.alias(model, CANARY_ALIAS)
        champion = registry.alias(model, CHAMPION)
        current = None if current is None else str(current.version)
        if current != state.canary_version or champion is None:
            return None
        move = history.begin_move(registry, model, alias=CANARY_ALIAS, action="rollback",
                                  to_version=str(champion.version), from_version=current,
                                  reason=f"canary {state.experiment}: {reason}", decision=reference)
        move_alias(registry, model, move, expected_before=current)
        registry.call("tagging the rolled-back canary", registry.client.set_model_version_tag, model, current,
                      "mlprod.rolled_back", move.time)
    return move.to_dict() | {"state": "done"}


def _promote(project: Project, registry, state: CanaryState) -> dict[str, Any]:
    from ..errors import MlprodError
    from ..registry.champion import evaluate as evaluate_gates
    from ..registry.champion import promote
    from ..registry.settings import load_settings

    settings = load_settings(project.params_file)
    try:
        gated = evaluate_gates(state.model, state.canary_version, settings.inputs(), registry=registry)
    except MlprodError as exc:
        return {"outcome": "rejected", "reason": f"the gates could not be evaluated: {exc}"}
    gated = promote(gated, reason=f"canary {state.experiment}: every guardrail passed at 100 %", registry=registry)
    return {"outcome": gated.outcome, "reason": gated.reason, "decision": gated.reference,
            "blocking": list(gated.blocking)}


def _check_state(project: Project, state: CanaryState) -> None:
    canary = project.canary
    fix = "fix deployment.canary in params.yaml, or remove the state file and run mlprod canary start"
    if state.model != canary.model:
        raise ConfigError(f"{project.state_file}: the rollout is of {state.model!r}, params.yaml names "
                          f"{canary.model!r}; {fix}")
    # the step against the ramp and the times are checked by read_state


def _check_alias(registry, state: CanaryState) -> None:
    found = registry.alias(state.model, CANARY_ALIAS)
    now = None if found is None else str(found.version)
    if now != state.canary_version:
        raise ConfigError(f"{state.model}@canary points to version {now or 'nothing'}, but the rollout in the state "
                          f"file is of version {state.canary_version}; see mlprod registry history {state.model}, "
                          "then start a new rollout (remove monitoring/canary/state.json, mlprod canary start)")


def _entry(decision: dict[str, Any]) -> dict[str, Any]:
    return {"time": decision["time"], "step": decision["step"], "action": decision["action"],
            "reasons": list(decision["reasons"]), "decision_id": decision["decision_id"]}


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _new_id(moment: datetime) -> str:
    import uuid

    return f"{moment.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def write_decision(decision: dict[str, Any], path: str | Path) -> Path:
    from ..atomic import write_json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, decision)
