"""time_split / time_split_fractions: boundaries, order, index, and clear errors."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mlprod.data.split import TimeSplit, time_split, time_split_fractions
from mlprod.errors import ConfigError, DataError


def _events() -> pd.DataFrame:
    """Ten rows, deliberately not in date order, with a non-default index."""
    days = ["2024-01-05", "2024-01-01", "2024-01-03", "2024-01-02", "2024-01-10",
            "2024-01-04", "2024-01-07", "2024-01-06", "2024-01-09", "2024-01-08"]  # fmt: skip
    return pd.DataFrame({"day": days, "row": range(10)}, index=range(100, 110))


def test_boundaries_with_string_dates_keep_order_and_reset_index():
    split = time_split(_events(), "day", "2024-01-04", "2024-01-08")
    assert split.train["day"].tolist() == ["2024-01-01", "2024-01-03", "2024-01-02"]
    assert split.holdout["day"].tolist() == ["2024-01-05", "2024-01-04", "2024-01-07", "2024-01-06"]
    assert split.current["day"].tolist() == ["2024-01-10", "2024-01-09", "2024-01-08"]
    for part in (split.train, split.holdout, split.current):
        assert part.index.tolist() == list(range(len(part)))
        assert part["row"].is_monotonic_increasing
    assert split.sizes() == {"train": 3, "holdout": 4, "current": 3}
    assert (split.holdout_start, split.current_start) == (pd.Timestamp("2024-01-04"), pd.Timestamp("2024-01-08"))


def test_datetime_column_and_timestamp_cutoffs():
    events = _events().assign(day=lambda d: pd.to_datetime(d["day"]) + pd.Timedelta(hours=12))
    split = time_split(events, "day", pd.Timestamp("2024-01-04 12:00"), "2024-01-08 12:00:01")
    assert split.sizes() == {"train": 3, "holdout": 5, "current": 2}
    assert split.train["day"].dtype == events["day"].dtype


def test_timezone_aware_dates_take_naive_cutoffs_in_their_zone():
    events = _events().assign(day=lambda d: pd.to_datetime(d["day"]).dt.tz_localize("Europe/Berlin"))
    assert time_split(events, "day", "2024-01-04", "2024-01-08").sizes() == {"train": 3, "holdout": 4, "current": 3}


def test_mixed_date_formats_are_parsed():
    events = _events()
    events.loc[104, "day"] = "2024/01/10"
    assert time_split(events, "day", "2024-01-04", "2024-01-08").current["row"].tolist() == [4, 8, 9]


def test_split_is_frozen():
    split = time_split(_events(), "day", "2024-01-04", "2024-01-08")
    assert isinstance(split, TimeSplit)
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.train = split.current


def test_missing_date_column():
    with pytest.raises(DataError, match=r"'when' is not in the data; available columns: \['day', 'row'\]"):
        time_split(_events(), "when", "2024-01-04", "2024-01-08")


def test_unparseable_dates_counted_with_an_example():
    events = _events()
    events.loc[[102, 107], "day"] = ["soon", "later"]
    with pytest.raises(DataError, match=r"2 of 10 value\(s\) in column 'day' are not dates, e\.g\. 'soon'"):
        time_split(events, "day", "2024-01-04", "2024-01-08")


def test_missing_dates():
    events = _events()
    events.loc[103, "day"] = None
    with pytest.raises(DataError, match=r"column 'day' has 1 missing date\(s\) of 10 \(first at position 3\)"):
        time_split(events, "day", "2024-01-04", "2024-01-08")


def test_numeric_date_column_is_refused():
    with pytest.raises(DataError, match=r"column 'row' holds numbers"):
        time_split(_events(), "row", "2024-01-04", "2024-01-08")


@pytest.mark.parametrize(
    ("holdout_start", "current_start", "fragment"),
    [
        ("2024-01-08", "2024-01-04", "holdout_start (2024-01-08) must be before current_start (2024-01-04)"),
        ("2024-01-04", "2024-01-04", "must be before"),
        ("next week", "2024-01-08", "holdout_start='next week' is not a date"),
    ],
)
def test_bad_cutoffs(holdout_start, current_start, fragment):
    with pytest.raises(ConfigError) as info:
        time_split(_events(), "day", holdout_start, current_start)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("holdout_start", "current_start", "empty"),
    [
        ("2023-01-01", "2024-01-08", "train"),
        ("2024-01-04 06:00", "2024-01-04 18:00", "holdout"),
        ("2024-01-04", "2024-02-01", "current"),
        ("2025-01-01", "2025-02-01", "holdout and current"),
    ],
)
def test_empty_parts_report_the_data_range(holdout_start, current_start, empty):
    with pytest.raises(DataError) as info:
        time_split(_events(), "day", holdout_start, current_start)
    message = str(info.value)
    assert f"leaves the {empty} part(s) empty" in message
    assert "the data spans 2024-01-01 to 2024-01-10" in message


def test_fractions_split_by_time_order():
    split = time_split_fractions(_events(), "day", holdout_fraction=0.3, current_fraction=0.2)
    assert split.sizes() == {"train": 5, "holdout": 3, "current": 2}
    assert split.current["day"].tolist() == ["2024-01-10", "2024-01-09"]
    assert split.holdout["day"].tolist() == ["2024-01-07", "2024-01-06", "2024-01-08"]
    assert (split.holdout_start, split.current_start) == (pd.Timestamp("2024-01-06"), pd.Timestamp("2024-01-09"))
    assert split.train.index.tolist() == list(range(5))


def test_fractions_keep_rows_of_one_date_together():
    frame = pd.DataFrame({"day": ["2024-01-01"] * 3 + ["2024-01-02"] * 4 + ["2024-01-03"] * 3})
    split = time_split_fractions(frame, "day", holdout_fraction=0.2, current_fraction=0.2)
    assert split.sizes() == {"train": 3, "holdout": 4, "current": 3}


def test_fractions_fail_when_dates_are_all_the_same():
    frame = pd.DataFrame({"day": ["2024-01-01"] * 10})
    with pytest.raises(DataError, match="share the same dates"):
        time_split_fractions(frame, "day", 0.2, 0.2)


@pytest.mark.parametrize(
    ("holdout", "current", "fragment"),
    [
        (0.0, 0.2, "holdout_fraction must be a number strictly between 0 and 1, got 0.0"),
        (0.2, 1.0, "current_fraction must be a number strictly between 0 and 1"),
        (0.6, 0.4, "must be below 1"),
        ("a lot", 0.2, "got 'a lot'"),
    ],
)
def test_bad_fractions(holdout, current, fragment):
    with pytest.raises(ConfigError) as info:
        time_split_fractions(_events(), "day", holdout, current)
    assert fragment in str(info.value)


def test_fractions_need_enough_rows():
    with pytest.raises(DataError, match="3 rows in column 'day' are too few"):
        time_split_fractions(_events().head(3), "day", 0.1, 0.1)
