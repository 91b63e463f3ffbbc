"""Profiles of a partitioned Parquet dataset on Dask: one profile per partition on the workers, tree-reduced
with :func:`mlprod.profile.merge_profiles` (exact: the same profile as one process reading every batch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import DataError, ProfileError
from .cluster import client_for, tree_reduce


def open_partitions(path: Any):
    """The dataset of ``path`` (a folder, a glob or one Parquet file as a dataset of one partition), its partitions'
    paths absolute: the workers' working directory is not the driver's."""
    import dataclasses
    from pathlib import Path

    from ..data.partitions import PARQUET, is_dataset, open_dataset

    if not is_dataset(path) and Path(path).suffix.lower() not in PARQUET:
        raise DataError(f"{str(path)!r}: with a Dask scheduler the data must be Parquet (a file, a folder of "
                        f"partitions or a glob); convert CSV to Parquet or leave out --dask")
    dataset = open_dataset(path)
    parts = tuple(dataclasses.replace(part, path=part.path.absolute()) for part in dataset.partitions)
    return dataclasses.replace(dataset, partitions=parts)


def profile_dataset(path: Any, dask: Any, *, columns=None, categorical=(), sample_size: int, max_categories: int,
                    batch_rows: int, transform: Callable | None = None):
    dataset = open_partitions(path)
    settings = dict(columns=None if transform else columns, categorical=tuple(categorical or ()),
                    sample_size=sample_size, max_categories=max_categories)
    read = None if transform is None else columns
    with client_for(dask) as client:
        parts = [client.submit(profile_partition, dataset, i, settings, read, batch_rows, transform, pure=False)
                 for i in range(len(dataset.partitions))]
        profile = tree_reduce(client, parts, merge).result()
    if profile.n_rows == 0:
        raise DataError(f"partitioned dataset {str(path)!r} has no rows; nothing to profile")
    return profile


def profile_partition(dataset, index: int, settings: dict, columns, batch_rows: int, transform=None):
    """The exact (mergeable) profile of one partition, read batch by batch on a worker."""
    from ..profile.build import ProfileBuilder

    builder = ProfileBuilder(**settings)
    part = dataset.partitions[index]
    for batch in dataset.partition_batches(index, columns=columns, batch_rows=batch_rows):
        if transform is not None:
            batch = transform(batch)
        try:
            builder.partial_fit(batch)
        except ProfileError as exc:
            raise DataError(f"partition {str(part.path)!r} (rows from {part.offset + 1}): {exc}") from exc
    if not hasattr(builder, "profile_"):  # a partition without rows still has the columns
        import pandas as pd

        empty = pd.DataFrame({name: pd.Series(dtype="float64") for name in
                              dataset.partition_batches(index, columns=columns).columns})
        builder.partial_fit(transform(empty) if transform is not None else empty)
    return builder.profile_


def merge(a, b):
    from ..profile.build import merge_profiles

    return merge_profiles(a, b)
