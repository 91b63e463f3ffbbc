"""What a report is about: the model, its version and the date the report stands for, from recorded values.

A report names these under its title (:func:`mlprod.reporting.page.about_line`). The date comes from what was
recorded, never from the clock, so the same inputs give the same bytes: the newest row of the data the report
describes ("data up to"), else the model manifest's creation time ("model created").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class About:
    model: str | None = None
    version: str | None = None
    date: str | None = None
    date_means: str = "generated"  # "data up to", "model created", ...
    no_version: str = "no version yet"  # said after the model's name when there is no version

    def line(self) -> Any:
        from .page import about_line

        return about_line(self.model, self.version, self.date, what=self.date_means, no_version=self.no_version)


def newest_date(data: Any, column: str | None) -> str | None:
    """The newest value of ``column`` (ISO date) in a DataFrame, a CSV/Parquet file or a partitioned Parquet
    dataset, or in a list of them; None without one."""
    if data is None or not column:
        return None
    if isinstance(data, (list, tuple)):
        found = [d for d in (newest_date(item, column) for item in data) if d is not None]
        return max(found) if found else None
    import pandas as pd

    if isinstance(data, (str, Path)):
        from ..data.io import read_table
        from ..data.partitions import dataset_batches, is_dataset

        try:
            if is_dataset(data):  # one column, one batch at a time
                found = [d for d in (newest_date(b, column) for b in dataset_batches(data, columns=[column])) if d]
                return max(found) if found else None
            data = read_table(data, columns=[column])
        except Exception:  # noqa: BLE001 - a report without a date beats no report
            return None
    if not hasattr(data, "columns") or column not in data.columns or data[column].dropna().empty:
        return None
    newest = pd.to_datetime(data[column].dropna()).max()
    return newest.date().isoformat()


def about_model(model_dir: str | Path | None, *, data: Any = None, date_column: str | None = None,
                model_name: str | None = None) -> About:
    """The model in ``model_dir`` (its manifest's name and version; ``model_name`` when there is no model yet) and
    the newest date of ``data[date_column]``, else the manifest's creation date."""
    name, version, created = model_name, None, None
    if model_dir is not None and (Path(model_dir) / "model_manifest.yaml").is_file():
        from ..manifest.schema import read_manifest

        manifest = read_manifest(Path(model_dir))
        name, version, created = manifest.name, manifest.version, manifest.created_at
    date = newest_date(data, date_column)
    if date is not None:
        return About(name, version, date, "data up to")
    return About(name, version, created, "model created") if created else About(name, version)
