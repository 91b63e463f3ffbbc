"""Column names of a CSV or Parquet file, read cheaply (no pandas, no pyarrow): the header line of a CSV, the
schema in a Parquet file's footer. Used by ``mlprod run`` before it starts a kernel, where importing pyarrow
alone would cost half a second per stage.
"""

from __future__ import annotations

import csv
import struct
from pathlib import Path

from ..errors import DataError

DATA_SUFFIXES = (".csv", ".parquet", ".pq")
_FOOTER = 8  # 4-byte little-endian metadata length + b"PAR1"
_MAX_FOOTER = 64 * 1024 * 1024


def is_data_file(value: object) -> bool:
    return isinstance(value, str) and value.lower().endswith(DATA_SUFFIXES)


def column_names(path: str | Path) -> list[str]:
    """The file's column names in order; raises :class:`DataError` naming the file when it cannot be read."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            return _csv_header(path)
        return _parquet_names(path)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError, IndexError, struct.error) as exc:
        raise DataError(f"{path}: cannot read its column names ({exc}); check that the file is complete") from exc


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.reader(handle):
            if row:
                return [name.strip() for name in row]
    return []


def _parquet_names(path: Path) -> list[str]:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        if size < 12:
            raise ValueError("too short for a Parquet file")
        handle.seek(size - _FOOTER)
        tail = handle.read(_FOOTER)
        if tail[4:] != b"PAR1":
            raise ValueError("no Parquet footer (missing PAR1 magic)")
        length = struct.unpack("<I", tail[:4])[0]
        if not 0 < length <= min(size - 12, _MAX_FOOTER):
            raise ValueError(f"invalid Parquet footer length {length}")
        handle.seek(size - _FOOTER - length)
        meta = handle.read(length)
    elements = _Compact(meta).schema_elements()
    if not elements:
        raise ValueError("the Parquet footer holds no schema")
    names, index = [], 1
    for _ in range(elements[0][1]):  # the root's children are the top-level columns
        names.append(elements[index][0])
        index = _skip_subtree(elements, index)
    return [n for n in names if not n.startswith("__index_level_")]


def _skip_subtree(elements: list[tuple[str, int]], index: int) -> int:
    children = elements[index][1]
    index += 1
    for _ in range(children):
        index = _skip_subtree(elements, index)
    return index


class _Compact:
    """Just enough of Thrift's compact protocol to read FileMetaData.schema (field 2): [(name, num_children)]."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def fields(self):
        """(field id, type) of each field of the struct at the current position, until its stop byte."""
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else self.zigzag()
            yield last, kind

    def skip(self, kind: int) -> None:
        if kind in (1, 2):  # bool in a field header
            return
        if kind == 3:
            self.pos += 1
        elif kind in (4, 5, 6):
            self.varint()
        elif kind == 7:
            self.pos += 8
        elif kind == 8:
            self.pos += self.varint()
        elif kind in (9, 10):
            size, elem = self._list_head()
            for _ in range(size):
                self.pos += 1 if elem in (1, 2) else 0
                if elem not in (1, 2):
                    self.skip(elem)
        elif kind == 11:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip(types >> 4)
                    self.skip(types & 0x0F)
        elif kind == 12:
            for _, inner in self.fields():
                self.skip(inner)
        else:
            raise ValueError(f"unknown Thrift type {kind}")

    def _list_head(self) -> tuple[int, int]:
        head = self.byte()
        size = head >> 4
        return (self.varint() if size == 15 else size), head & 0x0F

    def schema_elements(self) -> list[tuple[str, int]]:
        for field_id, kind in self.fields():
            if field_id == 2 and kind == 9:
                size, _ = self._list_head()
                return [self._element() for _ in range(size)]
            self.skip(kind)
        return []

    def _element(self) -> tuple[str, int]:
        name, children = "", 0
        for field_id, kind in self.fields():
            if field_id == 4 and kind == 8:
                length = self.varint()
                name = self.data[self.pos:self.pos + length].decode("utf-8")
                self.pos += length
            elif field_id == 5 and kind == 5:
                children = self.zigzag()
            else:
                self.skip(kind)
        return name, children
