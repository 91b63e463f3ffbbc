"""Data layer: the embedded demo dataset, reading/writing CSV and Parquet, time-based splits.

Names are imported lazily, so ``import mlprod.data`` does not import pandas.
"""

from __future__ import annotations

from typing import Any

_API = {
    "make_leads": "mlprod.data.demo",
    "read_table": "mlprod.data.io",
    "write_table": "mlprod.data.io",
    "TimeSplit": "mlprod.data.split",
    "time_split": "mlprod.data.split",
    "time_split_fractions": "mlprod.data.split",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'mlprod.data' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
