"""read_table / write_table: round trips, deterministic bytes, and a DataError naming the file for bad input."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlprod.data.io import read_table, write_table
from mlprod.errors import DataError


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [3, 1, 2],
            "created_at": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03"]).astype("datetime64[ns]"),
            "income": [1234.5, 99.99, 50_000.0],
            "region": ["north", "central", "south"],
            "converted": [0, 1, 0],
        },
        index=[10, 20, 30],
    )


@pytest.mark.parametrize("name", ["leads.parquet", "leads.pq", "LEADS.PARQUET"])
def test_parquet_round_trip_is_exact_and_drops_the_index(tmp_path, name):
    frame = _frame()
    assert frame["lead_id"].dtype == "int64" and frame["converted"].notna().all()
    written = write_table(frame, tmp_path / "out" / name)
    assert written == tmp_path / "out" / name
    pd.testing.assert_frame_equal(read_table(written), frame.reset_index(drop=True))


def test_csv_round_trip(tmp_path):
    frame = _frame()
    path = write_table(frame, tmp_path / "leads.csv")
    assert path.read_text().splitlines()[0] == "lead_id,created_at,income,region,converted"
    back = read_table(path)
    assert back["lead_id"].tolist() == [3, 1, 2]
    assert back["income"].tolist() == [1234.5, 99.99, 50_000.0]
    assert back["region"].tolist() == ["north", "central", "south"]
    assert pd.to_datetime(back["created_at"]).tolist() == frame["created_at"].tolist()


@pytest.mark.parametrize("name", ["a.parquet", "a.csv"])
def test_same_frame_gives_identical_bytes(tmp_path, name):
    first = write_table(_frame(), tmp_path / "one" / name).read_bytes()
    second = write_table(_frame(), tmp_path / "two" / name).read_bytes()
    assert first == second


def test_write_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "t.parquet"
    write_table(_frame(), path)
    write_table(_frame().head(1), path)
    assert len(read_table(path)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_read_selected_columns_in_requested_order(tmp_path):
    for name in ["t.parquet", "t.csv"]:
        path = write_table(_frame(), tmp_path / name)
        back = read_table(path, columns=["region", "lead_id"])
        assert list(back.columns) == ["region", "lead_id"]
        assert back["lead_id"].tolist() == [3, 1, 2]


def _error(path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        read_table(path, **kwargs)
    message = str(info.value)
    assert path.name in message
    return message


def test_missing_file(tmp_path):
    assert "does not exist" in _error(tmp_path / "nowhere.csv")


def test_unsupported_extension_lists_supported(tmp_path):
    path = tmp_path / "leads.xlsx"
    path.write_bytes(b"whatever")
    message = _error(path)
    assert "'.xlsx'" in message and ".csv, .parquet, .pq" in message


def test_folder_instead_of_file(tmp_path):
    folder = tmp_path / "leads.parquet"
    folder.mkdir()
    assert "is a folder" in _error(folder)


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet"])
def test_zero_byte_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    assert "is empty (0 bytes)" in _error(path)


def test_csv_with_only_blank_lines(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n  \n\n")
    assert "has no columns" in _error(path)


def test_csv_with_header_but_no_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b\n")
    assert "has columns ['a', 'b'] but no rows" in _error(path)


def test_parquet_without_rows(tmp_path):
    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), path)
    assert "no rows" in _error(path)


def test_text_file_named_parquet(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("lead_id,converted\n1,0\n2,1\n")
    assert "could not be read as Parquet" in _error(path)


def test_truncated_parquet(tmp_path):
    path = write_table(_frame(), tmp_path / "cut.parquet")
    path.write_bytes(path.read_bytes()[:-20])
    assert "could not be read as Parquet" in _error(path)


def test_binary_file_named_csv(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage\n\x00\x9f")
    assert "could not be read as CSV" in _error(path)


def test_ragged_csv(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")
    message = _error(path)
    assert "could not be read as CSV" in message and "line 3" in message


def test_missing_requested_columns_are_named_with_available_ones(tmp_path):
    for name in ["t.parquet", "t.csv"]:
        path = write_table(_frame(), tmp_path / name)
        message = _error(path, columns=["region", "score", "label"])
        assert "['score', 'label']" in message
        assert "available columns: ['lead_id', 'created_at', 'income', 'region', 'converted']" in message


def test_duplicated_csv_header(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a\n1,2,3\n")
    assert "duplicated column names ['a']" in _error(path)


def test_duplicated_parquet_columns(tmp_path):
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["x", "x"]), path)
    assert "duplicated column names ['x']" in _error(path)


def test_write_rejects_duplicated_or_non_string_columns(tmp_path):
    duplicated = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match=r"dup\.parquet.*duplicated column names \['a'\]"):
        write_table(duplicated, tmp_path / "dup.parquet")
    with pytest.raises(DataError, match=r"numbers\.csv.*column names must be strings"):
        write_table(pd.DataFrame([[1, 2]]), tmp_path / "numbers.csv")
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_unsupported_extension(tmp_path):
    with pytest.raises(DataError, match=r"out\.json.*supported: \.csv, \.parquet, \.pq"):
        write_table(_frame(), tmp_path / "out.json")
