"""Validation of a partitioned Parquet dataset on Dask, with the findings of one process reading it whole.

Per partition, on a worker: the three layers' accumulators (:class:`~mlprod.validation.schema_layer.SchemaChecks`,
:class:`~mlprod.validation.rules.RuleChecks`, :class:`~mlprod.validation.statistical.Observed`) take the
partition's batches, whose row labels are the dataset's global row numbers (each partition knows its row
offset), so example rows name global rows. The accumulators are tree-reduced pairwise, left before right, by
their own ``merge`` methods: counts add, the first ``max_examples`` example rows are kept in row order. Uniqueness is global: each
partition hashes its keys (128 bits and the global row, :func:`~mlprod.validation.keys.key_hashes`) into
``BUCKETS`` buckets by the hash's first bits; one task per bucket gathers that bucket from every partition
and finds the repeated keys, so a key repeated across two partitions is found and no node holds more than
about 1/``BUCKETS`` of the keys. Only counts and a few row numbers reach the driver, which reads the few
example rows of repeated keys back from the dataset.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..errors import ScaleError
from .cluster import client_for, tree_reduce
from .profile import open_partitions

BUCKETS = 16
_RECORD = np.dtype([("a", "<u8"), ("b", "<u8"), ("p", "<i8")])


class BucketKeys:
    """The keys of one unique check in one partition, split into hash buckets (in memory, 24 bytes a row)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.parts: list[np.ndarray] = []

    def add(self, frame) -> None:
        from ..validation.keys import key_hashes

        a, b = key_hashes(frame, self.columns)
        records = np.empty(a.size, dtype=_RECORD)
        records["a"], records["b"] = a, b
        records["p"] = np.asarray(frame.index, dtype=np.int64)  # the dataset's global row numbers
        self.parts.append(records)

    def buckets(self) -> list[np.ndarray]:
        records = np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=_RECORD)
        bucket = (records["a"] >> np.uint64(60)).astype(np.intp) % BUCKETS
        return [records[bucket == index] for index in range(BUCKETS)]

    def close(self) -> None:
        self.parts = []


class Repeated:
    """A key set after the reduction: what :meth:`RepeatedKeys.finish` would have returned."""

    def __init__(self, count: int, first: np.ndarray) -> None:
        self.count, self.first = count, first

    def finish(self, limit: int) -> tuple[int, np.ndarray]:
        return self.count, self.first[:limit]

    def close(self) -> None:
        pass


def validate_partitions(source, schema, profile, statistics, max_examples: int, batch_rows: int, dask: Any):
    """(results, rows, columns) of ``source`` validated on the Dask cluster ``dask``."""
    from ..validation.api import _rows_at

    dataset = open_partitions(source)
    with client_for(dask) as client:
        shared = client.scatter({"schema": schema, "profile": profile}, broadcast=True)
        parts = [client.submit(validate_partition, dataset, i, shared, max_examples, batch_rows, pure=False)
                 for i in range(len(dataset.partitions))]
        summaries = [client.submit(operator.itemgetter(0), part, pure=False) for part in parts]
        total = tree_reduce(client, summaries, merge)
        keys = client.submit(operator.itemgetter(1), parts[0], pure=False).result()  # the key columns (no rows)
        repeated = {}
        for key in keys:
            found = []
            for bucket in range(BUCKETS):
                pieces = [client.submit(_piece, part, key, bucket, pure=False) for part in parts]
                found.append(client.submit(repeats_in, max_examples, *pieces, pure=False))
            counts = client.gather(found)
            count = sum(c for c, _ in counts)
            first = np.sort(np.concatenate([f for _, f in counts]))[:max_examples]
            repeated[key] = Repeated(count, first)
        checks, rules, observed, n_columns = total.result()
    plan = checks.plan
    for key, result in repeated.items():
        plan.keysets[key] = result
    for check, (_, kind, column, key, what) in list(plan.repeats.items()):
        plan.repeats[check] = (repeated[tuple(key)], kind, column, key, what)
    found = checks.results(fetch=lambda positions, columns: _rows_at(source, positions, columns, batch_rows))
    found += rules.results()
    if observed is not None:
        found += observed.check(statistics)
    return found, plan.n_rows, n_columns


def _piece(part, key, bucket):
    return part[1][key][bucket]


def validate_partition(dataset, index: int, shared: dict, max_examples: int, batch_rows: int):
    """(the layers' accumulators, {key columns: hash buckets}) of one partition, on a worker."""
    from ..validation.api import check_batches
    from ..validation.rules import NotStreamable
    from ..validation.schema_layer import SchemaChecks

    schema, profile = shared["schema"], shared["profile"]
    checks = SchemaChecks(schema, max_examples=max_examples)
    checks.plan.key_factory = BucketKeys
    part = dataset.partitions[index]
    try:
        rules, observed, n_columns = check_batches(dataset.partition_batches(index, batch_rows=batch_rows), checks,
                                                   schema, profile, max_examples)
    except NotStreamable as exc:
        raise ScaleError(f"partition {str(part.path)!r} cannot be validated on its own ({exc}); validate the "
                         f"dataset without --dask (it is then read whole)") from exc
    if rules is None:
        raise ScaleError(f"partition {str(part.path)!r} has no rows; remove it from the dataset")
    plan = checks.plan
    plan.frame = None
    keys = {key: collector.buckets() for key, collector in plan.keysets.items()}
    plan.keysets = dict.fromkeys(plan.keysets)
    plan.repeats = {check: (None, *rest) for check, (_, *rest) in plan.repeats.items()}
    return (checks, rules, observed, n_columns), keys


def repeats_in(limit: int, *pieces: np.ndarray) -> tuple[int, np.ndarray]:
    """(rows whose key repeats within this bucket of every partition, their first ``limit`` global rows)."""
    records = np.concatenate(pieces) if pieces else np.zeros(0, dtype=_RECORD)
    records = records[np.lexsort((records["b"], records["a"]))]
    same = (records["a"][1:] == records["a"][:-1]) & (records["b"][1:] == records["b"][:-1])
    repeated = np.zeros(records.size, dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    return int(repeated.sum()), np.sort(records["p"][repeated])[:limit]


def merge(left, right):
    """The accumulators of ``left``'s rows followed by ``right``'s (each layer's ``merge``, in place on ``left``)."""
    from ..validation.rules import NotStreamable

    checks, rules, observed, n_columns = left
    try:
        checks.merge(right[0])
        rules.merge(right[1])
        if observed is not None:
            observed.merge(right[2])
    except NotStreamable as exc:
        raise ScaleError(f"the partitions cannot be validated separately ({exc}); validate the dataset without "
                         f"--dask (it is then read whole)") from exc
    return checks, rules, observed, n_columns
