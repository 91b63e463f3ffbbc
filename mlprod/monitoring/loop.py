"""The production loop's monitor and decide steps, shared by the ``pipelines/monitoring`` stages and
``mlprod monitor`` (cron): one library function per step, so both run exactly the same code.

Order of work in :func:`monitor` (and why):
1. take the monitoring folder's lock (``<monitoring_dir>/.mlprod/locks/history.lock``): two runs at once
   (cron and ``dvc repro``) never update the history together; the kernel releases it however a run ends;
2. look for new committed batches and new or changed label files: with nothing new the run ends here,
   without asking the registry (cron every few minutes costs about a second);
3. resolve the champion in the registry (the alias now) and read the reference profile registered with
   it (its training rows' features and scores under ``prediction``): drift is measured against the model
   that scores, not against the training pipeline's outputs;
4. :func:`mlprod.monitoring.history.update`, then the plots CSV (one row per window) and the metrics
   summary, each written atomically.

:func:`decide` reads the history and applies :func:`mlprod.monitoring.policy.decide`; ``last_retrain``
``"auto"`` counts only the windows scored by the latest model version (after a retrain, the old model's
alerts no longer count).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .. import atomic
from ..errors import MonitoringError
from .history import MonitorSettings
from .policy import PolicySettings

logger = logging.getLogger(__name__)
LOCK_NAME = "history"
PLOT_KINDS_PREFIXED = ("estimated", "realised")  # metrics both kinds have (roc_auc, precision, ...)


@dataclass(frozen=True)
class Champion:
    """The registered model the reference comes from; ``profile`` None when it was registered without one."""

    name: str
    alias: str
    registry_version: str
    version: str  # semantic version
    profile: Any
    roc_auc: float | None  # the holdout ROC AUC its manifest records
    review: tuple[tuple[float, float], float] | None = None  # (band, alpha) of its review_calibration.json, if any

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "alias": self.alias, "registry_version": self.registry_version,
                "version": self.version, "reference_roc_auc": self.roc_auc, "profile": self.profile is not None}


@dataclass(frozen=True)
class MonitorRun:
    new_batches: tuple[str, ...]
    label_files: tuple[str, ...]
    windows: tuple[str, ...]  # recomputed
    champion: Champion | None  # None: nothing new, the registry was not asked
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.new_batches or self.label_files)

    def line(self) -> str:
        if not self.changed:
            return f"nothing new (no batch or label file since the last run; {self.seconds:.2f} s)"
        model = f" against {self.champion.name} {self.champion.version}" if self.champion else ""
        return (f"added {len(self.new_batches)} batch(es), {len(self.label_files)} label file(s); recomputed "
                f"{len(self.windows)} window(s){model} ({self.seconds:.2f} s)")


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def split_model(model: str) -> tuple[str, str]:
    """``NAME@alias`` as (name, alias)."""
    name, sep, alias = str(model).rpartition("@")
    if not sep or not name or not alias:
        raise MonitoringError(f"model {model!r}: expected NAME@alias (e.g. lead-scoring@champion), the registered "
                              f"model whose reference profile drift is measured against")
    return name, alias


def champion(model: str, *, root: str | Path = ".") -> Champion:
    """Resolve ``NAME@alias`` now and read its registered reference profile and holdout ROC AUC."""
    from ..profile.files import read_profile
    from ..registry.register import alias_version, download_verified
    from ..registry.store import Registry
    from .scoring import PROFILE_FILE

    name, alias = split_model(model)
    registry = Registry.open(root)
    version = alias_version(registry, name, alias, instead=" first")
    with tempfile.TemporaryDirectory(prefix="mlprod-monitor-") as tmp:
        folder, manifest = download_verified(registry, version, Path(tmp))
        profile = read_profile(folder / PROFILE_FILE) if (folder / PROFILE_FILE).is_file() else None
        review = _calibrated_review(folder, manifest)
    if profile is None:
        logger.warning("%s version %s was registered without %s: drift is not measured (register the model "
                       "folder again with this mlprod)", name, version.version, PROFILE_FILE)
    auc = (manifest.metrics.get("holdout") or {}).get("roc_auc")
    return Champion(name, alias, str(version.version), manifest.version, profile,
                    float(auc) if isinstance(auc, (int, float)) else None, review)


def _calibrated_review(folder: Path, manifest) -> tuple[tuple[float, float], float] | None:
    """The band and alpha the model folder's review calibration certifies; None (with a warning when the file is
    there but unusable) otherwise."""
    from ..errors import ReviewError
    from ..serving.review.calibration import CALIBRATION_FILE, calibrated_band, read_calibration

    if not (folder / CALIBRATION_FILE).is_file():
        return None
    try:
        return calibrated_band(folder, manifest), float(read_calibration(folder)["alpha"])
    except (ReviewError, KeyError, TypeError, ValueError) as exc:
        logger.warning("the champion's review calibration is not used: %s", exc)
        return None


def monitor(settings: MonitorSettings, *, model: str, reference_roc_auc: float | str | None = "auto",
            plots_file: str | Path | None = None, metrics_file: str | Path | None = None,
            as_of: str | None = None, wait: float = 0.0) -> MonitorRun:
    """Add what is new to the history (see the module docstring). ``reference_roc_auc``: ``"auto"`` the
    champion's holdout ROC AUC (the floor for ``roc_auc`` alerts is it minus ``max_auc_drop``), a number, or
    None (no floor). Paths are relative to ``settings.root``."""
    import dataclasses

    from ..stages.stagelock import stage_lock
    from . import history

    started = time.perf_counter()
    if not (reference_roc_auc is None or reference_roc_auc == "auto" or (
            isinstance(reference_roc_auc, (int, float)) and not isinstance(reference_roc_auc, bool)
            and 0 <= reference_roc_auc <= 1)):
        raise MonitoringError(f"reference_roc_auc: expected 'auto', a number in [0, 1] or null, got "
                              f"{reference_roc_auc!r}")
    split_model(model)
    folder = settings.path(settings.monitoring_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with stage_lock(folder, LOCK_NAME, wait=wait):
        new_batches, changed = history.pending(settings)
        if not new_batches and not changed:
            history.initialise(settings)  # a first run with nothing yet still leaves valid (empty) outputs
            _write_outputs(settings, plots_file, metrics_file, None)
            return MonitorRun((), (), (), None, time.perf_counter() - started)
        found = champion(model, root=settings.root)
        if reference_roc_auc == "auto":
            settings = dataclasses.replace(settings, reference_roc_auc=found.roc_auc)
        elif reference_roc_auc is not None:
            settings = dataclasses.replace(settings, reference_roc_auc=float(reference_roc_auc))
        if settings.review_calibrated:
            settings = _with_calibrated_band(settings, found)
        result = history.update(settings, found.profile, as_of=as_of or now())
        _write_outputs(settings, plots_file, metrics_file, found)
    return MonitorRun(result.added_batches, result.label_files, result.windows, found,
                      time.perf_counter() - started)


def _with_calibrated_band(settings: MonitorSettings, found: Champion) -> MonitorSettings:
    """serving.review.method risk_control: the guarantee is watched at the band and alpha calibrated for the champion;
    without a calibration it is not watched (a warning says so)."""
    import dataclasses

    if found.review is None:
        logger.warning("serving.review.method is risk_control but %s %s has no usable review_calibration.json: the "
                       "error among automatically decided rows is not monitored (register the model folder with its "
                       "calibration)", found.name, found.version)
        return dataclasses.replace(settings, review_alpha=None)
    band, alpha = found.review
    return dataclasses.replace(settings, review_band=band, review_alpha=alpha)


def _write_outputs(settings: MonitorSettings, plots_file, metrics_file, found: Champion | None) -> None:
    from . import history

    frame = history.read_history(history.history_path(settings))
    if plots_file is not None:
        path = settings.path(str(plots_file))
        if found is not None or not path.is_file():
            atomic.write_text(path, plots_table(frame).to_csv(index=False, lineterminator="\n"))
    if metrics_file is not None:
        path = settings.path(str(metrics_file))
        if found is not None or not path.is_file():
            atomic.write_json(path, metrics_summary(frame, found))


def plots_table(history: pd.DataFrame) -> pd.DataFrame:
    """One row per window (in time order) and one column per metric, for ``dvc plots`` with the window on x:
    ``estimated_``/``realised_`` prefixes for the performance metrics, the metric's own name otherwise;
    per-feature drift is left out (it is in the history)."""
    rows = history[~history["metric"].astype(str).str.contains(":")].copy()
    if rows.empty:
        return pd.DataFrame({"window": [], "window_start": [], "model_version": []})
    rows["column"] = [f"{k}_{m}" if k in PLOT_KINDS_PREFIXED and not m.startswith("estimate_") else m
                      for k, m in zip(rows["kind"], rows["metric"])]
    wide = rows.pivot_table(index=["window_start", "window"], columns="column", values="value", aggfunc="first")
    wide = wide[sorted(wide.columns)].reset_index()
    versions = history.drop_duplicates("window").set_index("window")["model_version"]
    wide.insert(2, "model_version", wide["window"].map(versions))
    return wide[["window", "window_start", "model_version", *[c for c in wide.columns
                                                              if c not in ("window", "window_start", "model_version")]]]


def metrics_summary(history: pd.DataFrame, found: Champion | None) -> dict[str, Any]:
    """The DVC metrics of the monitor step: counts and the latest window's metrics and alerts."""
    windows = history.drop_duplicates("window").sort_values(["window_start", "window"], kind="stable")
    out: dict[str, Any] = {"windows": int(len(windows)), "alerts": int(history["alert"].astype(bool).sum())}
    if len(windows):
        latest = windows["window"].iloc[-1]
        rows = history[history["window"] == latest]
        out["latest_window"] = str(latest)
        out["latest_alerts"] = sorted(f"{k}:{m}" for k, m, a in zip(rows["kind"], rows["metric"], rows["alert"]) if a)
        table = plots_table(history)
        last = table[table["window"] == latest].iloc[0]
        out["latest"] = {c: (None if pd.isna(last[c]) else round(float(last[c]), 6)) for c in table.columns
                         if c not in ("window", "window_start", "model_version")}
    if found is not None:
        out["reference"] = found.record()
    return out


def auto_last_retrain(history: pd.DataFrame) -> str | None:
    """The start of the first window scored by the latest model version, after windows of another version
    (None: one version throughout)."""
    windows = history.drop_duplicates("window").sort_values(["window_start", "window"], kind="stable")
    if windows.empty:
        return None
    versions = windows["model_version"].astype(str).tolist()
    latest = versions[-1]
    i = len(versions) - 1
    while i > 0 and versions[i - 1] == latest:
        i -= 1
    return None if i == 0 else str(windows["window_start"].iloc[i])


def decide(history_file: str | Path, policy: Any = None, *, last_retrain: str | None = "auto",
           decision_file: str | Path | None = None, metrics_file: str | Path | None = None,
           as_of: str | None = None):
    """The retraining decision over the history; written as the decision record and a flat metrics file."""
    from .history import read_history
    from .policy import PolicySettings
    from .policy import decide as policy_decide

    settings = policy if isinstance(policy, PolicySettings) else PolicySettings.from_mapping(policy, "decide")
    frame = read_history(history_file)
    if last_retrain == "auto":
        last_retrain = auto_last_retrain(frame)
    elif last_retrain is not None:
        try:
            datetime.fromisoformat(str(last_retrain)[:10])
        except ValueError as exc:
            raise MonitoringError(f"decide.last_retrain: expected 'auto', null or an ISO date (2025-03-01), got "
                                  f"{last_retrain!r}") from exc
        last_retrain = str(last_retrain)
    decision = policy_decide(frame, settings, as_of=as_of or now(), last_retrain=last_retrain)
    if decision_file is not None:
        decision.write(decision_file)
    if metrics_file is not None:
        atomic.write_json(metrics_file, decision_metrics(decision))
    return decision


def decision_metrics(decision) -> dict[str, Any]:
    checks = {c.name: int(bool(c.passed)) for c in decision.checks}
    return {"retrain": int(bool(decision.retrain)), "windows": len(decision.windows),
            "triggers_fired": sum(1 for c in decision.checks if c.kind == "trigger" and c.passed),
            "checks": checks, "model_version": decision.model_version}


@dataclass(frozen=True)
class LoopSettings:
    """The monitoring pipeline's settings from params.yaml: the ``monitor:`` and ``decide:`` sections with the
    project's facts, parsed strictly (the same for the pipeline's stages, ``mlprod monitor`` and the runbook)."""

    monitor: MonitorSettings
    model: str  # NAME@alias
    reference_roc_auc: Any
    plots_file: str | None
    metrics_file: str | None
    policy: PolicySettings
    last_retrain: str | None
    history_file: str
    decision_file: str
    decision_metrics_file: str
    dashboard_dir: str
    runbook_dir: str


def read_settings(params_file: str | Path, root: str | Path, *, need_model: bool = True) -> LoopSettings:
    """:class:`LoopSettings` from ``params_file``; a bad section (or, with ``need_model``, no model name) is a
    ConfigError. A number for ``monitor.reference_roc_auc`` is the monitor settings' own; ``auto`` is resolved
    from the champion when the history is updated."""
    from ..errors import ConfigError
    from ..project.facts import read_facts
    from ..stages.params import load_params_file

    params = load_params_file(params_file)
    facts = read_facts(params, params_file)
    monitor, decide = (_section(params, name, params_file) for name in ("monitor", "decide"))
    if need_model and not facts.model_name:
        raise ConfigError(f"{params_file}: project.model_name is not set; expected the registered model's name")
    alias = monitor.pop("alias", "champion")
    reference_roc_auc = monitor.pop("reference_roc_auc", "auto")
    if isinstance(reference_roc_auc, (int, float)) and not isinstance(reference_roc_auc, bool):
        monitor["reference_roc_auc"] = reference_roc_auc
    plots_file, metrics_file = monitor.pop("plots_file", None), monitor.pop("metrics_file", None)
    settings = MonitorSettings.from_mapping({
        **review_watch(params_file, params), **monitor, "root": str(root), "key": facts.key, "date_column": facts.date_column,
        "target": facts.target or "target", "positive_label": facts.positive_label},
        where=f"{params_file} [monitor]")
    files = {k: decide.pop(k, d) for k, d in (("history_file", "monitoring/history.parquet"),
                                               ("decision_file", "reports/monitoring/decision.json"),
                                               ("metrics_file", "metrics/decision.json"),
                                               ("dashboard_dir", "reports/monitoring/dashboard"),
                                               ("runbook_dir", "reports/runbook"))}
    last_retrain = decide.pop("last_retrain", "auto")
    policy = PolicySettings.from_mapping(decide, f"{params_file} [decide]")
    return LoopSettings(monitor=settings, model=f"{facts.model_name}@{alias}", reference_roc_auc=reference_roc_auc,
                        plots_file=plots_file, metrics_file=metrics_file, policy=policy, last_retrain=last_retrain,
                        history_file=files["history_file"], decision_file=files["decision_file"],
                        decision_metrics_file=files["metrics_file"], dashboard_dir=files["dashboard_dir"],
                        runbook_dir=files["runbook_dir"])


def review_watch(params_file: str | Path, params: dict | None = None) -> dict[str, Any]:
    """The review guarantee's :class:`MonitorSettings` keys from params.yaml's ``serving`` section: its review band
    (under risk_control, the champion's calibrated band, resolved by :func:`monitor`) and alpha; nothing when no row
    is routed to people. Alpha is a promise only under risk_control (the band was calibrated to keep the error below
    it): under ``band`` the error among automatically decided rows is recorded but never alerts."""
    if params is None:
        from ..stages.params import load_params_file

        params = load_params_file(params_file)
    if params.get("serving") is None:
        return {}
    from ..serving.settings import ServingSettings

    serving = ServingSettings.from_mapping(params["serving"], f"{params_file} [serving]")
    calibrated = serving.review.method == "risk_control"
    if serving.review_band is None and not calibrated:
        return {}
    return {"review_alpha": serving.review.alpha if calibrated else None, "review_calibrated": calibrated,
            "review_band": None if calibrated else tuple(serving.review_band)}


def _section(params: dict, name: str, params_file) -> dict:
    from ..errors import ConfigError

    section = params.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"{params_file}: section {name!r} must be a mapping, got {type(section).__name__}")
    return dict(section)
