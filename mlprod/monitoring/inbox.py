"""Scoring an inbox: every batch file not yet committed passes the data gates, then is scored once.

Order of work, and why:

1. List the batch files (a file, or every CSV/Parquet file in a folder) and check their ids, before
   anything is locked or loaded: a bad name is a clear error, not a half-done run.
2. Take the lock of the predictions folder (``fcntl`` via :mod:`mlprod.stages.stagelock`, released by
   the kernel however the holder dies): two runs at once never score the same batch.
3. Leave out the committed batches (marker present). A committed batch is never rescored or rewritten,
   even when the champion changed since. A predictions file without its marker was left by a killed run
   and is replaced. With nothing new the run ends here, without loading the model (a cron no-op).
4. Load the model once (an alias is resolved now; through the resilient predictor with its fallback,
   :mod:`mlprod.monitoring.resilient`), then per batch, in id order: the gates (:mod:`.batch_gates`:
   :func:`mlprod.validation.validate` with the schema and the model's reference profile); a failing
   batch is quarantined with its report and the others go on (``fail_on_quarantine`` stops the run);
   a passing one is scored and committed (predictions file, then marker, both atomic).

Where the time goes on a large batch (``benchmarks/score_batches.py``): the model's ``predict_proba`` on
the whole batch, reading the file and writing the predictions. The rest is kept off that path: only the
columns the model, key and date need are read (all of them when one is missing, so the error lists the
file's columns); the source's md5, needed for the marker and for an earlier quarantine only, is computed
once per batch in a thread while the batch is read and scored (``hashlib`` releases the GIL).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, DataValidationError
from ..manifest.datarefs import file_md5, project_relative
from ..serving.predictionlog import PredictionLogWriter
from . import predictions as records
from . import batch_gates
from .batch_result import BatchResult, now_utc
from .resilient import check_fallback, check_time_budget, load_resilient
from .resilient import score_frame as score_resilient
from .scoring import ScoringModel, check_reference, check_threshold, score_frame
from .traffic import check_log_settings, log_rows, plan_traffic, score_arms

logger = logging.getLogger(__name__)
SUFFIXES = (".csv", ".parquet", ".pq")
LOCK_NAME = "score"
STATUSES = ("scored", "skipped", "quarantined")
TIERS = ("primary", "fallback", "rules", "default")


@dataclass(frozen=True)
class ScoreRun:
    """What one run did, batch by batch."""

    predictions_dir: Path
    quarantine_dir: Path
    results: tuple[BatchResult, ...]
    model: dict[str, Any] | None  # None when nothing needed scoring (the model was not loaded)
    threshold: float | None
    seconds: float
    gate_seconds: float = 0.0
    load_seconds: float = 0.0
    fallback: dict[str, Any] | None = None  # the fallback model's record, when one was loaded
    note: str = ""  # why the batches were scored by the model alone (not through the resilient predictor)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        counts = {status: sum(r.status == status for r in self.results) for status in STATUSES}
        object.__setattr__(self, "counts", counts)

    @property
    def rows_scored(self) -> int:
        return sum(r.rows or 0 for r in self.results if r.status == "scored")

    @property
    def tier_rows(self) -> dict[str, int]:
        """Rows scored per tier (primary, fallback, rules, default) over the batches scored through the predictor."""
        total = dict.fromkeys(TIERS, 0)
        for r in self.results:
            for tier, n in ((r.serving or {}).get("tiers") or {}).items():
                total[tier] = total.get(tier, 0) + n
        return total

    @property
    def review_rows(self) -> int:
        return sum((r.serving or {}).get("review_rows", 0) for r in self.results)

    def line(self) -> str:
        c = self.counts
        return (f"scored {c['scored']} batch(es) ({self.rows_scored:,} rows), skipped {c['skipped']} already "
                f"scored, quarantined {c['quarantined']}")

    def tiers_line(self) -> str | None:
        """Rows per tier and routed to review, when a batch was scored through the resilient predictor."""
        if not any(r.serving is not None for r in self.results):
            return None
        tiers = ", ".join(f"{tier} {n:,}" for tier, n in self.tier_rows.items())
        return f"rows by tier: {tiers}; routed to review {self.review_rows:,}"


def batch_files(data: str | Path) -> list[Path]:
    """The batch files in ``data``: the file itself, or the CSV/Parquet files of a folder by name."""
    path = Path(data)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
                       and p.is_file())
    else:
        raise DataError(f"{path}: no such file or folder; DATA is a batch file (CSV/Parquet) or an inbox folder "
                        "of them")
    if path.is_file() and path.suffix.lower() not in SUFFIXES:
        raise DataError(f"{path}: not a CSV or Parquet file (expected {', '.join(SUFFIXES)})")
    seen: dict[str, Path] = {}
    for file in files:
        batch_id = records.check_batch_id(file.stem, source=file)
        if batch_id in seen:
            raise DataError(f"{path}: two files are batch {batch_id!r} ({seen[batch_id].name}, {file.name}); keep "
                            "one file per batch")
        seen[batch_id] = file
    return files


def score_inbox(model: str | Path | ScoringModel, data: str | Path, out: str | Path, *,
                threshold: float | None = None, schema: Any = None, reference: Any = None,
                quarantine: str | Path | None = None, fail_on_quarantine: bool = False,
                key: str | None = None, date_column: str | None = None, target: str | None = None,
                root: str | Path | None = None, wait: float = 0.0, fallback: str | Path | None = None,
                serving: Any = None, time_budget: float | None = None, deployment: Any = None,
                prediction_log: Any = None, dask: Any = None) -> ScoreRun:
    """Score every new batch in ``data`` into the predictions folder ``out`` (see the module docstring).

    model: a model folder, ``NAME@alias`` (resolved only if a batch needs scoring) or a loaded model. A folder
    or an alias is scored through the resilient predictor (the record's serving column group); a loaded
    :class:`ScoringModel` through its ``predictor`` if it has one, else by the model alone.
    fallback: the fallback model (a folder or ``NAME@alias``, resolved with the model), if any.
    serving: the :class:`~mlprod.serving.ServingSettings` (params.yaml ``serving:``; default: its defaults).
    time_budget: seconds per batch and model tier before a call is abandoned (default: no limit).
    threshold: the decision threshold (default: the one the manifest records, else 0.5).
    schema: a schema file or :class:`~mlprod.validation.spec.Schema` for the gates (None: no gates);
    the ``target`` column, absent from unlabelled batches, is made optional.
    reference: the profile the statistical checks compare with (default: the model's reference profile).
    quarantine: where failing batches go (default ``<out>/../quarantine``).
    key, date_column: the project's key and date columns, copied into the predictions.
    root: the project root (source paths in markers are relative to it; the registry's location).
    wait: seconds to wait for another run holding the lock (then :class:`~mlprod.errors.StageBusyError`).
    deployment: params.yaml ``deployment:`` as :class:`~mlprod.traffic.deployment.DeploymentSettings` (None: MODEL
    scores every row); ab and canary split the rows between models (the record's traffic column group), shadow
    also scores every row with the shadow model into the prediction log only (:mod:`mlprod.monitoring.traffic`).
    prediction_log: the :class:`~mlprod.serving.predictionlog.PredictionLogSettings` shadow rows go to.
    dask: a Dask scheduler address or client: the pending batches are gated, scored and committed on its
    workers (:mod:`mlprod.scale.score`; the same files), the model loaded once per worker.
    """
    from ..stages.stagelock import stage_lock

    started = time.perf_counter()
    root = Path(root) if root is not None else Path.cwd()
    out = Path(out)
    quarantine_dir = Path(quarantine) if quarantine is not None else out.parent / "quarantine"
    if threshold is not None:
        threshold = check_threshold(threshold)
    if not isinstance(model, ScoringModel):
        check_reference(model)  # a wrong name is an error even when there is nothing to score
        if fallback is not None:
            check_fallback(fallback)
        check_time_budget(time_budget)
    files = batch_files(data)
    _check_folder(out, "predictions folder (-o)")
    _check_folder(quarantine_dir, "quarantine folder")
    gates = batch_gates.gate_schema(schema, target)
    results: list[BatchResult] = []
    loaded: ScoringModel | None = None
    plan = arms = thresholds = shadow = writer = None
    shadow_note = ""
    gate_seconds = load_seconds = 0.0
    dask_facts: dict[str, Any] = {}  # the model's facts, when the batches were scored on Dask workers
    out.mkdir(parents=True, exist_ok=True)
    with stage_lock(out, LOCK_NAME, wait=wait), ThreadPoolExecutor(1, thread_name_prefix="mlprod-md5") as hashing, \
            ExitStack() as stack:
        done = set(records.committed(out))
        for file in files:
            if file.stem in done:
                results.append(BatchResult(file.stem, "skipped", project_relative(file, root), detail="committed earlier"))
        pending = [f for f in files if f.stem not in done]
        if dask is not None and pending:
            from ..scale.score import refuse, score_on_dask

            refuse(deployment, model)
            tick = time.perf_counter()
            scored_here, dask_facts = score_on_dask(
                dask, pending, out, quarantine_dir, model=model, fallback=fallback, serving=serving,
                time_budget=time_budget, root=root, threshold=threshold, gates=gates, reference=reference, key=key,
                date_column=date_column)
            results += scored_here
            pending = []
            load_seconds = time.perf_counter() - tick
            for result in sorted(scored_here, key=lambda r: r.batch_id):
                if result.status == "quarantined":
                    _stop_if(fail_on_quarantine, result, quarantine_dir)
        for file in pending:
            batch_id, source = file.stem, project_relative(file, root)
            md5 = hashing.submit(file_md5, file)  # waited for when the marker or an earlier quarantine needs it
            earlier = batch_gates.quarantined(quarantine_dir, batch_id, md5)
            if earlier:
                results.append(BatchResult(batch_id, "quarantined", source, detail=f"quarantined earlier: {earlier}"))
                _stop_if(fail_on_quarantine, results[-1], quarantine_dir)
                continue
            if loaded is None:
                tick = time.perf_counter()
                plan = plan_traffic(deployment, model.reference if isinstance(model, ScoringModel) else model,
                                    root=root, key=key) if deployment is not None else None

                def load(reference: Any) -> ScoringModel:
                    if isinstance(reference, ScoringModel):
                        return reference
                    made = load_resilient(reference, fallback=fallback, settings=serving, time_budget=time_budget,
                                          root=root)
                    if made.predictor is not None:
                        stack.callback(made.predictor.close)
                    return made

                given = threshold
                if plan is not None and plan.mode != "shadow":
                    arms = {name: load(model if name == "champion" and plan.mode == "canary" else ref)
                            for name, ref in plan.arms.items()}
                    thresholds = {name: m.default_threshold if given is None else given for name, m in arms.items()}
                    loaded = arms[plan.default_arm]
                else:
                    loaded = load(model)
                if plan is not None and plan.mode == "shadow":
                    try:
                        shadow = load(plan.shadow)
                    except Exception as exc:  # a broken shadow never stops the champion's scoring
                        shadow_note = f"the shadow model {plan.shadow} was not loaded, no shadow rows: {exc}"
                        logger.warning(shadow_note)
                    else:
                        writer = stack.enter_context(PredictionLogWriter(check_log_settings(prediction_log),
                                                                         key=plan.unit_id or key, root=root))
                load_seconds = time.perf_counter() - tick
                threshold = loaded.default_threshold if threshold is None else threshold
            tick = time.perf_counter()
            needed = [c.name for m in (arms or {"": loaded}).values() for c in m.manifest.inputs]
            needed += [c for c in (key, date_column) if c]
            if plan is not None:
                needed += [c for c in (plan.unit_id,) if c]
            if shadow is not None:
                needed += [c.name for c in shadow.manifest.inputs] + list(writer.settings.log_features)
            gate, frame, problem = batch_gates.gate(file, batch_id, gates, reference if reference is not None else loaded.profile,
                                         needed)
            gate_seconds += time.perf_counter() - tick
            serving_entry = traffic_entry = None
            scored_at = now_utc()

            def score_one(scorer: ScoringModel, rows: Any, cut: float) -> tuple[Any, dict | None]:
                if scorer.predictor is not None:
                    return score_resilient(scorer, rows, threshold=cut, batch_id=batch_id, scored_at=scored_at,
                                           key=key, date_column=date_column, source=file)
                return score_frame(scorer, rows, threshold=cut, batch_id=batch_id, scored_at=scored_at, key=key,
                                   date_column=date_column, source=file), None

            if problem is None:
                try:
                    if arms is not None:
                        scored, serving_entry, traffic_entry = score_arms(plan, arms, thresholds, frame, score_one,
                                                                          source=file)
                    else:
                        scored, serving_entry = score_one(loaded, frame, threshold)
                except DataError as exc:
                    problem = (str(exc), None)
            if problem is not None:
                summary, result = problem
                batch_gates.quarantine(quarantine_dir, batch_id, source, md5.result(), summary, result)
                results.append(BatchResult(batch_id, "quarantined", source, detail=summary))
                logger.warning("quarantined %s: %s", batch_id, summary)
                _stop_if(fail_on_quarantine, results[-1], quarantine_dir)
                continue
            entry = {"source": source, "source_md5": md5.result(), "model": loaded.record, "threshold": threshold,
                     "gate": gate, "scored_at": scored["scored_at"].iloc[0] if len(scored) else now_utc()}
            if serving_entry is not None:
                entry["serving"] = serving_entry
            if traffic_entry is not None:
                entry["traffic"] = traffic_entry
            marker = records.write_predictions(out, batch_id, scored, entry)
            if shadow is not None:  # after the commit: the shadow never changes or holds up the record
                shadow_note = _shadow_batch(writer, batch_id, scored, frame, loaded, shadow, score_one,
                                            plan.experiment_key, given) or shadow_note
            results.append(BatchResult(batch_id, "scored", source, rows=marker["rows"], serving=serving_entry,
                                       traffic=traffic_entry))
            logger.info("scored %s: %d rows", batch_id, marker["rows"])
    order = {f.stem: i for i, f in enumerate(files)}
    results.sort(key=lambda r: order[r.batch_id])
    if loaded is None and dask_facts:  # scored on the workers
        return ScoreRun(predictions_dir=out, quarantine_dir=quarantine_dir, results=tuple(results),
                        model=dask_facts["record"], threshold=dask_facts["threshold"], seconds=time.perf_counter() - started,
                        gate_seconds=dask_facts.get("gate_seconds", 0.0), load_seconds=0.0,
                        fallback=dask_facts["fallback"], note=dask_facts["note"] or "")
    return ScoreRun(predictions_dir=out, quarantine_dir=quarantine_dir, results=tuple(results),
                    model=loaded.record if loaded is not None else None, threshold=threshold,
                    seconds=time.perf_counter() - started, gate_seconds=gate_seconds, load_seconds=load_seconds,
                    fallback=loaded.fallback if loaded is not None else None,
                    note="; ".join(n for n in (loaded.note if loaded is not None else "", shadow_note) if n))


def _shadow_batch(writer: Any, batch_id: str, scored: Any, frame: Any, champion: ScoringModel, shadow: ScoringModel,
                  score_one: Any, experiment: str | None, threshold: float | None) -> str:
    """Score the batch with the shadow model and log the champion's and the shadow's rows (the champion's record is
    already committed); a failure is logged and returned as a note, never raised."""
    try:
        shadowed, _ = score_one(shadow, frame, shadow.default_threshold if threshold is None else threshold)
    except Exception as exc:  # any failure of the shadow model stays off the record
        logger.warning("shadow model %s failed on batch %s: %s", shadow.reference, batch_id, exc)
        return f"the shadow model {shadow.reference} failed on batch {batch_id}: {exc}"
    log_rows(writer, batch_id, scored, frame, champion, arm="champion", experiment=experiment)
    log_rows(writer, batch_id, shadowed, frame, shadow, arm="shadow", experiment=experiment)
    writer.flush()
    if writer.last_error:
        return f"shadow rows of batch {batch_id} were not logged: {writer.last_error}"
    return ""


def _stop_if(fail: bool, result: BatchResult, folder: Path) -> None:
    if fail:
        raise DataValidationError(f"batch {result.batch_id!r} ({result.source}) is quarantined in "
                                  f"{folder / result.batch_id}: {result.detail}. Stopped (--fail-on-quarantine); "
                                  "fix or remove the batch and run again")


def _check_folder(path: Path, what: str) -> None:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is not a folder; name a folder (it is created if missing)")


def write_prometheus(run: ScoreRun, path: str | Path) -> Path:
    """The run's counts as a Prometheus textfile (for node_exporter's textfile collector), written atomically."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    batches = Gauge("mlprod_score_batches", "Batches in the last scoring run, by outcome", ["status"],
                    registry=registry)
    for status in STATUSES:
        batches.labels(status=status).set(run.counts[status])
    Gauge("mlprod_score_rows", "Rows scored in the last scoring run", registry=registry).set(run.rows_scored)
    tiers = Gauge("mlprod_score_tier_rows", "Rows scored in the last scoring run, by the tier that answered "
                  "(batches scored through the resilient predictor)", ["tier"], registry=registry)
    for tier, n in run.tier_rows.items():
        tiers.labels(tier=tier).set(n)
    Gauge("mlprod_score_review_rows", "Rows routed to review (needs_review) in the last scoring run",
          registry=registry).set(run.review_rows)
    Gauge("mlprod_score_run_seconds", "Duration of the last scoring run", registry=registry).set(run.seconds)
    Gauge("mlprod_score_last_run_timestamp_seconds", "When the last scoring run ended (Unix time)",
          registry=registry).set(time.time())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    return path

