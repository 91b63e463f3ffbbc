"""A partitioned Parquet dataset: a folder of Parquet files, or a glob, read as one table in file-name order.

Each partition knows its row offset (from the files' footers, read without the data), so a partition
read on its own gives the same row labels (``offset .. offset + rows - 1``) as the whole dataset, and
results that name rows (validation examples) use the dataset's global row numbers. A column's dtype is
the dataset's: an integer or boolean column with a missing value in any partition is float64 / object
in every partition, as in the concatenated table.

Nothing here imports Dask: the single-process paths iterate the partitions one batch at a time
(:func:`dataset_batches`), the Dask paths (:mod:`mlprod.scale`) hand one partition to each task.
"""

from __future__ import annotations

import dataclasses
import glob as globbing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlprod.errors import DataError

PARQUET = (".parquet", ".pq")
_GLOB_CHARS = set("*?[")


def is_dataset(path) -> bool:
    """True for a folder or a glob pattern (a partitioned dataset), False for a single file."""
    if not isinstance(path, (str, Path)):
        return False
    text = str(path)
    return Path(text).is_dir() or bool(_GLOB_CHARS & set(text))


@dataclass(frozen=True)
class Partition:
    path: Path
    rows: int
    offset: int  # rows in the partitions before this one


@dataclass(frozen=True)
class Dataset:
    source: str
    partitions: tuple[Partition, ...]
    to_float: frozenset[str]  # integer columns with a gap somewhere in the dataset
    to_object: frozenset[str]  # boolean columns with a gap somewhere in the dataset
    exact: bool
    reason: str

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    def partition_batches(self, index: int, *, columns: Iterable[str] | None = None, batch_rows: int = 100_000):
        """The batches of partition ``index`` with the dataset's dtypes and global row labels."""
        from .stream import parquet_batches

        part = self.partitions[index]
        batches = parquet_batches(part.path, columns=columns, batch_rows=batch_rows)
        return dataclasses.replace(batches, _start=part.offset, _step=1, _to_float=self.to_float & set(batches.columns),
                                   _to_object=self.to_object & set(batches.columns))


def partition_files(source: str | Path) -> list[Path]:
    """The Parquet files of a folder (recursively, hidden and ``_``-prefixed files left out) or of a glob,
    sorted by path."""
    text = str(source)
    if Path(text).is_dir():
        files = [p for p in Path(text).rglob("*") if p.suffix.lower() in PARQUET and p.is_file()
                 and not any(part.startswith((".", "_")) for part in p.relative_to(text).parts)]
    else:
        files = [Path(p) for p in globbing.glob(text, recursive=True)
                 if Path(p).suffix.lower() in PARQUET and Path(p).is_file()]
    if not files:
        raise DataError(f"partitioned dataset {text!r} has no Parquet files (.parquet, .pq); point it at a folder "
                        f"of Parquet files or a glob such as 'data/batch/*.parquet'")
    return sorted(files, key=lambda p: str(p))


def open_dataset(source: str | Path, *, columns: Iterable[str] | None = None) -> Dataset:
    """Read the footers of every partition: rows, offsets, the dataset's dtypes; the same columns everywhere."""
    from .stream import parquet_batches

    files = partition_files(source)
    parts, offset, names = [], 0, None
    to_float: set[str] = set()
    to_object: set[str] = set()
    reasons = []
    for path in files:
        batches = parquet_batches(path, columns=columns)
        if names is None:
            names = batches.columns
        elif batches.columns != names:
            raise DataError(f"partitioned dataset {str(source)!r}: partition {str(path)!r} has the columns "
                            f"{batches.columns}, the first partition {names}; every partition needs the same "
                            f"columns in the same order")
        to_float |= batches._to_float
        to_object |= batches._to_object
        if not batches.exact:
            reasons.append(f"{path.name}: {batches.reason}")
        parts.append(Partition(path, batches.rows, offset))
        offset += batches.rows
    return Dataset(str(source), tuple(parts), frozenset(to_float), frozenset(to_object), not reasons,
                   "; ".join(reasons))


class DatasetBatches:
    """All partitions' batches in order, with continuing row labels (like one Parquet file's batches)."""

    def __init__(self, dataset: Dataset, columns: Iterable[str] | None, batch_rows: int) -> None:
        self.dataset, self.batch_rows = dataset, batch_rows
        self.columns = None if columns is None else list(columns)
        self.rows, self.exact, self.reason = dataset.rows, dataset.exact, dataset.reason

    def __iter__(self) -> Iterator:
        for index in range(len(self.dataset.partitions)):
            yield from self.dataset.partition_batches(index, columns=self.columns, batch_rows=self.batch_rows)


def dataset_batches(source: str | Path, *, columns: Iterable[str] | None = None,
                    batch_rows: int = 100_000) -> DatasetBatches:
    return DatasetBatches(open_dataset(source, columns=columns), columns, batch_rows)


def read_dataset(source: str | Path, *, columns: list[str] | None = None):
    """The whole dataset as one data frame (the single-process fallback when it cannot be streamed)."""
    import pandas as pd

    frames = list(dataset_batches(source, columns=columns, batch_rows=1 << 30))
    frame = pd.concat(frames) if len(frames) > 1 else frames[0]
    if len(frame) == 0:
        raise DataError(f"partitioned dataset {str(source)!r} has no rows")
    return frame
