"""Mergeable reference profiles: a compact, versioned summary of a table that drift and validation
checks compare against, so the raw reference data need not be at hand.

Public API (names are imported lazily; ``import mlprod.profile`` does not import pandas)::

    build_profile(df, *, columns=None, categorical=(), sample_size=1000, max_categories=1000) -> Profile
    ProfileBuilder(**same keywords).fit(df) / .partial_fit(chunk) -> builder; result in builder.profile_
    merge_profiles(a, b) -> Profile          # == build_profile(pd.concat([a_rows, b_rows]))
    profile_file(path, *, columns=None, batch_rows=100_000, progress=None, transform=None, ...) -> Profile
                                             # CSV/Parquet in chunks, memory bounded by one chunk
    read_profile(path) -> Profile            # strict: unknown schema_version or keys are rejected
    Profile.save(path) -> Path               # versioned, deterministic JSON via mlprod.atomic

``Profile``: ``n_rows``, ``columns`` (name -> ``ColumnProfile``, in table order), ``sample`` (up to
``sample_size`` whole rows chosen by a hash of their values, so independent of order and chunking),
``sample_frame()`` (the sample as a DataFrame), ``profile[name]`` (a column, with a clear error).

``ColumnProfile``: ``name``, ``kind`` ("numeric" | "categorical"), ``dtype``, ``count`` (non-missing),
``missing``, ``rows``, ``missing_share``, ``n_distinct``; numeric: ``min``, ``max``, ``mean``,
``variance`` (ddof=1), ``std``, ``quantiles(qs)``, ``bin_edges(n_bins=10)`` (reference-quantile bin
edges), ``histogram(edges)`` (row counts per bin) and the underlying exact histograms ``log_bins`` /
``linear_bins`` (see :mod:`mlprod.profile.grid`); categorical: ``frequencies`` (text -> rows) and
``other`` (rows in categories beyond ``max_categories``).

Missing values are None/NaN/NaT and, for numbers, +-inf. Booleans and text are categorical; numbers and
datetimes (as epoch seconds) are numeric unless listed in ``categorical``. Merging is exact for counts,
histograms, min/max, frequencies and the sample. While a profile is built (``partial_fit``,
``profile_file``) it also keeps the exact sums behind mean and variance and the counts of up to
100,000 categories per column, so a file profiled in batches gives the same numbers as profiled whole;
merging saved profiles (which hold no exact sums) agrees on mean and variance up to float rounding.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "Profile": "mlprod.profile.build",
    "ProfileBuilder": "mlprod.profile.build",
    "Sample": "mlprod.profile.build",
    "build_profile": "mlprod.profile.build",
    "merge_profiles": "mlprod.profile.build",
    "ColumnProfile": "mlprod.profile.columns",
    "profile_file": "mlprod.profile.files",
    "read_profile": "mlprod.profile.files",
    "iter_batches": "mlprod.profile.files",
    "SCHEMA_VERSION": "mlprod.profile.files",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
