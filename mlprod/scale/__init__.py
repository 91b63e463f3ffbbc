"""Dask for data that outgrows one process: profile building, validation, drift and batch scoring of a
partitioned Parquet dataset on a Dask cluster (docs/dask.md).

Each partition is processed on a worker into a mergeable summary (a profile, the validation layers' counts,
hash buckets of key values, a scored predictions file), and the summaries are tree-reduced on the workers
(:func:`mlprod.scale.cluster.tree_reduce`): nothing is concatenated on the driver. The results equal the
single-process results. Dask is imported only here, and only when a scheduler is given.
"""
