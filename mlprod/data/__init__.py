"""Data layer: the embedded demo dataset, reading/writing CSV and Parquet, time-based splits, the checks
that a table has the columns params.yaml names, and the label as 0/1.

Names are imported lazily, so ``import mlprod.data`` does not import pandas.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_API = {
    "make_leads": "mlprod.data.demo",
    "read_table": "mlprod.data.io",
    "write_table": "mlprod.data.io",
    "TimeSplit": "mlprod.data.split",
    "time_split": "mlprod.data.split",
    "time_split_fractions": "mlprod.data.split",
    "require_columns": "mlprod.data.columns",
    "require_numeric": "mlprod.data.columns",
    "table_columns": "mlprod.data.columns",
    "binary_target": "mlprod.data.labels",
    "LabelSummary": "mlprod.data.labels",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
