"""Batch scoring on Dask: every pending batch of an inbox (each partition of a dataset folder) is gated, scored
and committed on a worker, with the same predictions files and markers as :func:`mlprod.monitoring.inbox.score_inbox`
in one process. The driver holds the predictions folder's lock, leaves out committed batches, and collects one
small result per batch. Each worker loads the model (hash-verified, through the resilient predictor) once and
keeps it for the following batches. The workers write to the predictions folder: on a cluster of several
machines it must be on a shared file system."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ScaleError
from .cluster import client_for

_MODELS: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def score_on_dask(dask: Any, files: list[Path], out: Path, quarantine_dir: Path, *, model, fallback, serving,
                  time_budget, root: Path, threshold, gates, reference, key, date_column) -> tuple[list, dict]:
    """(BatchResults of ``files`` in order, the loaded model's facts) scored on the cluster."""
    if not files:
        return [], {}
    root = Path(root).absolute()  # the workers' working directory is not the driver's: every path is absolute
    with client_for(dask) as client:
        setup = client.scatter({"model": _absolute(model),
                                "fallback": None if fallback is None else _absolute(fallback),
                                "serving": serving, "time_budget": time_budget, "root": str(root),
                                "threshold": threshold, "gates": gates, "reference": reference, "key": key,
                                "date_column": date_column, "out": str(Path(out).absolute()),
                                "quarantine": str(Path(quarantine_dir).absolute()),
                                "registry": _pinned(model, root),
                                "fallback_registry": None if fallback is None else _pinned(fallback, root)},
                               broadcast=True)
        futures = [client.submit(score_batch, str(Path(file).absolute()), setup, pure=False) for file in files]
        done = client.gather(futures)
    results = [result for result, _ in done]
    facts = next((f for _, f in done if f), {})
    return results, facts


def _absolute(reference: Any) -> str:
    """A model folder as an absolute path (NAME@alias as it is)."""
    return str(Path(reference).absolute()) if Path(str(reference)).is_dir() else str(reference)


def _pinned(model: Any, root: Path) -> dict | None:
    """For NAME@alias: the registry the driver uses and the version the alias points to now, so that every worker
    loads that version from that registry (or stops) instead of what its own environment or a moved alias says."""
    from ..monitoring.scoring import check_reference
    from ..registry.register import alias_version
    from ..registry.store import Registry, redact

    _, alias = check_reference(_absolute(model))
    if alias is None:
        return None
    registry = Registry.open(root)
    version = alias_version(registry, *alias)
    return {"uri": registry.location.tracking_uri, "shown": redact(registry.location.tracking_uri),
            "version": str(version.version)}


def loaded_model(setup: dict):
    """The model of ``setup``, loaded once per worker process (hash-verified by the loader)."""
    from ..monitoring.resilient import load_resilient
    from ..registry.store import locate, redact

    pinned = setup.get("registry")
    if pinned is not None and locate(setup["root"]).tracking_uri != pinned["uri"]:
        raise ScaleError(f"this Dask worker's model registry is {redact(locate(setup['root']).tracking_uri)}, the "
                         f"scoring command's is {pinned['shown']}: start the workers with the same "
                         f"MLFLOW_TRACKING_URI (or unset it on both to use the project's mlflow.db)")
    key = (setup["model"], setup["fallback"], repr(setup["serving"]), setup["time_budget"], setup["root"])
    with _LOCK:
        if key not in _MODELS or _moved(_MODELS[key], setup):
            _MODELS[key] = load_resilient(setup["model"], fallback=setup["fallback"], settings=setup["serving"],
                                          time_budget=setup["time_budget"], root=Path(setup["root"]))
        loaded = _MODELS[key]
    moved = _moved(loaded, setup)
    if moved:
        name, pinned_version, now = moved
        raise ScaleError(f"{name} moved from version {pinned_version} to {now} while the batches were being "
                         f"scored; score again (committed batches are kept)")
    return loaded


def _moved(loaded, setup: dict) -> tuple[str, str, str | None] | None:
    """(reference, pinned version, loaded version) when the loaded model or fallback is not the pinned version."""
    pinned, pinned_fallback = setup.get("registry"), setup.get("fallback_registry")
    if pinned is not None and loaded.registry_version != pinned["version"]:
        return setup["model"], pinned["version"], loaded.registry_version
    now = (loaded.fallback or {}).get("registry_version")
    if pinned_fallback is not None and now != pinned_fallback["version"]:
        return setup["fallback"], pinned_fallback["version"], now
    return None


def score_batch(file: str, setup: dict):
    """Gate, score and commit one batch on a worker; returns (BatchResult, the model's facts)."""
    from ..errors import DataError
    from ..monitoring import batch_gates
    from ..monitoring import predictions as records
    from ..manifest.datarefs import file_md5, project_relative
    from ..monitoring.batch_result import BatchResult, now_utc
    from ..monitoring.resilient import score_frame as score_resilient
    from ..monitoring.scoring import score_frame

    path, root = Path(file), Path(setup["root"])
    out, quarantine_dir = Path(setup["out"]), Path(setup["quarantine"])
    batch_id, source = path.stem, project_relative(path, root)
    key, date_column = setup["key"], setup["date_column"]
    loaded = loaded_model(setup)
    threshold = loaded.default_threshold if setup["threshold"] is None else setup["threshold"]
    facts = {"record": loaded.record, "threshold": threshold, "fallback": loaded.fallback, "note": loaded.note}
    md5 = file_md5(path)
    earlier = batch_gates.quarantined(quarantine_dir, batch_id, _Done(md5))
    if earlier:
        return BatchResult(batch_id, "quarantined", source, detail=f"quarantined earlier: {earlier}"), facts
    needed = [c.name for c in loaded.manifest.inputs] + [c for c in (key, date_column) if c]
    tick = time.perf_counter()
    reference = setup["reference"]
    gate, frame, problem = batch_gates.gate(path, batch_id, setup["gates"],
                                            reference if reference is not None else loaded.profile, needed)
    facts["gate_seconds"] = time.perf_counter() - tick
    scored_at, serving_entry = now_utc(), None
    if problem is None:
        try:
            if loaded.predictor is not None:
                scored, serving_entry = score_resilient(loaded, frame, threshold=threshold, batch_id=batch_id,
                                                        scored_at=scored_at, key=key, date_column=date_column,
                                                        source=path)
            else:
                scored = score_frame(loaded, frame, threshold=threshold, batch_id=batch_id, scored_at=scored_at,
                                     key=key, date_column=date_column, source=path)
        except DataError as exc:
            problem = (str(exc), None)
    if problem is not None:
        summary, result = problem
        batch_gates.quarantine(quarantine_dir, batch_id, source, md5, summary, result)
        return BatchResult(batch_id, "quarantined", source, detail=summary), facts
    entry = {"source": source, "source_md5": md5, "model": loaded.record, "threshold": threshold, "gate": gate,
             "scored_at": scored["scored_at"].iloc[0] if len(scored) else now_utc()}
    if serving_entry is not None:
        entry["serving"] = serving_entry
    marker = records.write_predictions(out, batch_id, scored, entry)
    return BatchResult(batch_id, "scored", source, rows=marker["rows"], serving=serving_entry), facts


class _Done:
    """A finished future of ``value`` (``batch_gates.quarantined`` takes the md5 as a future)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def result(self) -> str:
        return self.value


def refuse(deployment, model) -> None:
    from ..monitoring.scoring import ScoringModel

    if isinstance(model, ScoringModel):
        raise ScaleError("scoring on Dask loads the model on each worker: pass the model folder or NAME@alias, "
                         "not a loaded model")
    if deployment is not None and getattr(deployment, "mode", None) not in (None, "none", "single"):
        raise ScaleError(f"params.yaml deployment mode {deployment.mode!r} (ab, canary, shadow) scores in one "
                         f"process only; leave out --dask (or dask.address) for this deployment")
