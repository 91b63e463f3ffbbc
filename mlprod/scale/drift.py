"""The current data of a drift report on Dask: each partition is type-checked, scored (when a model is given),
profiled and its residual sums taken on a worker; the profiles are tree-reduced on the workers. Only the
sequential views (windowed performance, the ADWIN detector) need the rows in order: each partition's labels
and scores (three numbers a row) reach the driver one partition at a time, in order."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DriftError, ProfileError
from .cluster import client_for, tree_reduce
from .profile import merge, open_partitions


def run_current(stream, source: Any, dask: Any, progress, batch_rows: int):
    """``stream`` (:class:`mlprod.drift.report._CurrentStream`) fed from the partitions of ``source``."""
    from ..profile.build import DEFAULT_SAMPLE_SIZE

    if str(source).lower().endswith(".json"):
        raise DriftError(f"current data {str(source)!r} is a profile; the current batch must be data")
    dataset = open_partitions(source)
    name = stream.name = f"current data {str(source)!r}"
    stream._start(dataset.rows)
    s = stream.settings
    labelled = bool(s.target and s.prediction)
    with client_for(dask) as client:
        shared = client.scatter({"reference": stream.reference, "model": stream.model}, broadcast=True)
        parts = [client.submit(current_partition, dataset, i, shared, s, stream.checked, stream.features, name,
                               batch_rows, DEFAULT_SAMPLE_SIZE, labelled, pure=False)
                 for i in range(len(dataset.partitions))]
        profiles = [client.submit(operator.itemgetter(0), part, pure=False) for part in parts]
        total = tree_reduce(client, profiles, merge)
        done = 0
        for index, part in enumerate(parts):  # in row order, one partition's labels at a time
            labels = client.submit(operator.itemgetter(1), part, pure=False).result()
            if labels is not None:
                _feed(stream, *labels)
            done += dataset.partitions[index].rows
            if progress:
                progress("profiling current", done, dataset.rows)
        profile = total.result()
    if profile.n_rows == 0:
        raise DriftError(f"{name} has no rows (only a header, or an empty table); nothing to compare")
    stream.profile = profile
    return profile, {"source": str(source), "rows": profile.n_rows}


def _feed(stream, y: np.ndarray, p: np.ndarray, when, sums: dict) -> None:
    from ..drift import concept as c

    stream.labelled = True
    stream.stats.update(y, p)
    for column, values in sums.items():
        stream.residuals.sums[column] += values
    stream.windows.update(y, p, when)
    if stream.detector is None:
        stream.detector = c.ErrorDetector()
    stream.detector.update(y, p, "current")


def current_partition(dataset, index: int, shared: dict, settings, checked, features, name: str, batch_rows: int,
                      sample_size: int, labelled: bool):
    """(exact profile, (labels, scores, dates, residual sums) or None) of one partition, on a worker."""
    from ..drift import concept as c
    from ..drift.inputs import checked_types, scored
    from ..profile.build import ProfileBuilder

    reference, model = shared["reference"], shared["model"]
    builder = ProfileBuilder(sample_size=sample_size)
    residuals = c.Residuals(reference, features, settings.n_bins) if labelled else None
    ys, ps, whens, seen = [], [], [], False
    first = dataset.partitions[index].offset
    for chunk in dataset.partition_batches(index, batch_rows=batch_rows):
        chunk = checked_types(chunk, reference, checked, name, first)
        pred = settings.prediction
        if model is not None and pred and pred not in chunk.columns:
            chunk = scored(model, chunk, pred, name, first)
        first += len(chunk)
        if labelled and settings.target in chunk.columns and pred in chunk.columns:
            seen = True
            try:
                y, p, keep = c.labelled(chunk, settings.target, pred)
            except DriftError as exc:
                raise DriftError(f"{name}: {exc}") from exc
            when = None
            if settings.date_column and settings.date_column in chunk.columns:
                when = pd.to_datetime(chunk[settings.date_column], errors="coerce").to_numpy()[keep]
            residuals.update(chunk.loc[keep] if not keep.all() else chunk, y, p)
            ys.append(y), ps.append(p), whens.append(when)
        try:
            builder.partial_fit(chunk)
        except ProfileError as exc:
            raise DriftError(f"{name}: {exc}") from exc
    profile = builder.profile_ if hasattr(builder, "profile_") else None
    if profile is None:
        raise DriftError(f"{name}: partition {str(dataset.partitions[index].path)!r} has no rows; remove it")
    if not seen:
        return profile, None
    has_when = all(w is not None for w in whens)
    return profile, (np.concatenate(ys), np.concatenate(ps), np.concatenate(whens) if has_when else None,
                     residuals.sums)
