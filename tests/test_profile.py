"""Reference profiles: one pass, exact merges, strict versioned files, chunked files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlprod.atomic import dumps_json
from mlprod.errors import DataError, ProfileError
from mlprod.profile import (
    ProfileBuilder,
    build_profile,
    merge_profiles,
    profile_file,
    read_profile,
)

FLOATY = ("mean", "m2")


def assert_same_profile(a, b):
    """Equal profiles: everything exact except the float rounding of mean and m2."""
    da, db = a.to_dict(), b.to_dict()
    for col_a, col_b in zip(da.pop("columns"), db.pop("columns"), strict=True):
        for key in FLOATY:
            x, y = col_a.pop(key, None), col_b.pop(key, None)
            assert (x is None) == (y is None), (col_a["name"], key)
            assert x is None or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (col_a["name"], key)
        assert col_a == col_b
    assert da == db


def frame(rng, n=500):
    income = rng.lognormal(10, 0.5, n)
    income[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "income": income,
        "age": rng.integers(18, 80, n),
        "year": rng.integers(2015, 2025, n).astype(float),
        "city": rng.choice(["paris", "rome", "oslo", None], n, p=[0.5, 0.3, 0.15, 0.05]),
        "vip": rng.random(n) < 0.1,
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D"),
    })


def test_counts_and_moments_match_pandas():
    df = frame(np.random.default_rng(1))
    profile = build_profile(df)
    assert profile.n_rows == 500 and list(profile.columns) == list(df.columns)
    income = profile["income"]
    assert income.kind == "numeric" and income.missing == df.income.isna().sum()
    assert income.count == df.income.notna().sum()
    assert income.min == df.income.min() and income.max == df.income.max()
    assert income.mean == pytest.approx(df.income.mean(), rel=1e-12)
    assert income.variance == pytest.approx(df.income.var(), rel=1e-12)
    city = profile["city"]
    assert city.kind == "categorical" and city.missing == df.city.isna().sum()
    assert city.frequencies == {k: int(v) for k, v in df.city.value_counts().sort_index().items()}
    assert profile["vip"].kind == "categorical" and set(profile["vip"].frequencies) <= {"True", "False"}
    when = profile["when"]
    assert when.kind == "numeric" and when.min == pd.Timestamp("2024-01-01").timestamp()


def test_quantiles_and_reference_bins_are_within_one_bucket():
    values = np.random.default_rng(2).normal(100, 15, 20_000)
    column = build_profile(pd.DataFrame({"x": values}))["x"]
    estimated = column.quantiles([0, 0.1, 0.5, 0.9, 1])
    exact = np.quantile(values, [0, 0.1, 0.5, 0.9, 1])
    assert estimated[0] == exact[0] and estimated[-1] == exact[-1]
    width = (values.max() - values.min()) / 512  # linear buckets are at most this wide
    assert np.allclose(estimated, exact, atol=width)
    edges = column.bin_edges(10)
    assert len(edges) == 11 and edges[0] == values.min() and edges[-1] == values.max()
    counts = column.histogram(edges)
    assert sum(counts) == 20_000
    assert all(abs(c - 2000) < 200 for c in counts), counts  # deciles hold ~10% each


def test_narrow_band_far_from_zero_keeps_resolution():
    years = np.random.default_rng(3).integers(2015, 2025, 5000).astype(float)
    column = build_profile(pd.DataFrame({"year": years}))["year"]
    assert column.buckets.grid == "linear" and column.n_distinct == 10


def test_outliers_do_not_swallow_the_histogram():
    values = np.append(np.random.default_rng(4).lognormal(10, 0.5, 5000), 1e12)
    column = build_profile(pd.DataFrame({"x": values}))["x"]
    assert column.buckets.grid == "log" and column.n_distinct > 100


def test_edge_cases_give_defined_profiles():
    df = pd.DataFrame({"constant": [3.0] * 5, "empty": [np.nan] * 5, "infs": [np.inf, -np.inf, 1.0, 2.0, np.nan],
                       "nothing": [None] * 5})
    profile = build_profile(df)
    assert profile["constant"].variance == 0 and profile["constant"].quantiles([0.5]) == [3.0]
    assert profile["empty"].count == 0 and profile["empty"].missing == 5 and profile["empty"].mean is None
    assert profile["empty"].quantiles([0.5]) == [None] and profile["empty"].bin_edges() == []
    assert profile["infs"].count == 2 and profile["infs"].missing == 3
    assert profile["nothing"].kind == "categorical" and profile["nothing"].missing == 5
    empty = build_profile(df.iloc[:0])
    assert empty.n_rows == 0 and len(empty.sample) == 0
    roundtrip(profile, tmp=None)


def test_forced_categorical_and_category_limit():
    df = pd.DataFrame({"code": [1, 2, 2, 3, 3, 3, 4, 4, 4, 4]})
    column = build_profile(df, categorical=["code"], max_categories=2)["code"]
    assert column.kind == "categorical" and column.frequencies == {"3": 3, "4": 4} and column.other == 3
    with pytest.raises(ProfileError, match=r"categorical=\[...\] names column\(s\) \['nope'\]"):
        build_profile(df, categorical=["nope"])
    with pytest.raises(ProfileError, match=r"column\(s\) \['nope'\] are not in the data; available: \['code'\]"):
        build_profile(df, columns=["nope"])


def test_sample_is_bounded_and_independent_of_row_order():
    df = frame(np.random.default_rng(5), n=3000)
    profile = build_profile(df, sample_size=200)
    shuffled = build_profile(df.sample(frac=1.0, random_state=0), sample_size=200)
    assert len(profile.sample) == 200 and profile.to_dict()["sample"] == shuffled.to_dict()["sample"]
    rows = profile.sample_frame()
    assert list(rows.columns) == list(df.columns) and len(rows) == 200
    assert rows.age.dtype == np.int64 and rows.vip.dtype == bool
    assert set(map(tuple, rows[["age", "city"]].astype(str).to_numpy())) <= set(
        map(tuple, df[["age", "city"]].astype(str).to_numpy()))


def roundtrip(profile, tmp):
    import tempfile
    from pathlib import Path

    folder = Path(tmp or tempfile.mkdtemp())
    first = profile.save(folder / "a.json")
    second = profile.save(folder / "b.json")
    assert first.read_bytes() == second.read_bytes()
    loaded = read_profile(first)
    assert loaded.to_dict() == profile.to_dict()
    assert loaded.save(folder / "c.json").read_bytes() == first.read_bytes()
    return json.loads(first.read_text())


def test_file_round_trip_is_deterministic_and_versioned(tmp_path):
    data = roundtrip(build_profile(frame(np.random.default_rng(6))), tmp_path)
    assert data["schema_version"] == 1 and data["format"] == "mlprod-profile"
    assert [c["name"] for c in data["columns"]] == ["income", "age", "year", "city", "vip", "when"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(schema_version=2), r"schema_version 2 is not supported \(this mlprod reads 1\)"),
    (lambda d: d.update(extra=1), r"unknown key\(s\) \['extra'\]; allowed: \["),
    (lambda d: d["columns"][0].update(colour="red"), r"columns\[0\]: unknown key\(s\) \['colour'\]"),
    (lambda d: d["columns"][0]["log_bins"]["counts"].__setitem__(0, 10**6), r"counts add up to \d+, expected"),
    (lambda d: d["settings"].update(log_alpha=0.05), r"settings.log_alpha is 0.05 but this mlprod uses 0.01"),
    (lambda d: d.update(n_rows=3), r"count \+ missing = 500, expected n_rows 3"),
])
def test_reader_rejects_what_it_does_not_know(tmp_path, change, message):
    path = build_profile(frame(np.random.default_rng(7))).save(tmp_path / "p.json")
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match=message):
        read_profile(path)


def test_reader_names_missing_and_broken_files(tmp_path):
    with pytest.raises(ProfileError, match="does not exist"):
        read_profile(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ProfileError, match="not readable JSON"):
        read_profile(tmp_path / "bad.json")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), cuts=st.lists(st.integers(0, 300), max_size=3),
       scale=st.sampled_from([1e-12, 1e-3, 1.0, 1e6, 1e300]))
def test_merging_chunk_profiles_equals_the_whole_profile(seed, n, cuts, scale):
    rng = np.random.default_rng(seed)
    values = rng.normal(0, scale, n)
    values[rng.random(n) < 0.1] = np.nan
    df = pd.DataFrame({
        "x": values,
        "offset": 1e6 + rng.integers(0, 50, n).astype(float),
        "count": rng.poisson(3, n),
        "label": rng.choice(["a", "b", "c", "d"], n),
    })
    whole = build_profile(df, sample_size=25, max_categories=10)
    bounds = sorted({0, n, *(c for c in cuts if c <= n)})
    builder = ProfileBuilder(sample_size=25, max_categories=10)
    parts = [df.iloc[lo:hi] for lo, hi in zip(bounds, bounds[1:])] or [df]
    for part in parts:
        builder.partial_fit(part)
    assert_same_profile(builder.profile_, whole)
    if scale < 1e300:  # exact sums: the same numbers however the rows are split (squares of 1e300 overflow)
        assert builder.profile_.to_dict() == whole.to_dict()
    dumps_json(whole.to_dict())  # always writable: no NaN or infinity
    if len(parts) >= 2:
        merged = merge_profiles(build_profile(parts[0], sample_size=25, max_categories=10),
                                build_profile(pd.concat(parts[1:]), sample_size=25, max_categories=10))
        assert_same_profile(merged, whole)


def test_merge_rejects_incompatible_parts():
    a = build_profile(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(ProfileError, match=r"different columns: \['x'\] and \['y'\]"):
        merge_profiles(a, build_profile(pd.DataFrame({"y": [1.0]})))
    with pytest.raises(ProfileError, match=r"column 'x' holds numbers in one part and text \(categories\) in "
                                           r"the other"):
        merge_profiles(a, build_profile(pd.DataFrame({"x": ["a"]})))


def test_a_part_where_a_column_is_all_missing_takes_the_other_parts_kind():
    empty = build_profile(pd.DataFrame({"x": [np.nan, np.nan]}))  # read as float: no type of its own
    words = build_profile(pd.DataFrame({"x": ["a", "b", None]}))
    for merged in (merge_profiles(empty, words), merge_profiles(words, empty)):
        column = merged["x"]
        assert (column.kind, column.count, column.missing, column.frequencies) == ("categorical", 2, 3,
                                                                                   {"a": 1, "b": 1})
    numbers = build_profile(pd.DataFrame({"x": [1.0, 3.0]}))
    nothing = build_profile(pd.DataFrame({"x": pd.Series([None, None], dtype=object)}))
    column = merge_profiles(nothing, numbers)["x"]
    assert (column.kind, column.count, column.missing, column.min, column.max) == ("numeric", 2, 2, 1.0, 3.0)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_profile_file_in_batches_equals_profiling_it_whole(tmp_path, suffix):
    from mlprod.data import write_table

    df = frame(np.random.default_rng(8), n=2500).drop(columns=["when", "vip"])
    path = write_table(df, tmp_path / f"data{suffix}")
    seen = []
    streamed = profile_file(path, batch_rows=600, progress=lambda done, total: seen.append((done, total)))
    assert [done for done, _ in seen] == [600, 1200, 1800, 2400, 2500]
    assert seen[-1][1] == (2500 if suffix == ".parquet" else None)
    assert_same_profile(streamed, build_profile(pd.read_csv(path) if suffix == ".csv" else df))


def mixed_frame(n: int, seed: int = 3) -> pd.DataFrame:
    """Numbers with and without gaps, integers and flags with gaps, text with gaps, dates, many categories."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.8, n)
    income[rng.random(n) < 0.07] = np.nan
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "income": income,
        "score": rng.normal(0, 1, n),
        "visits": pd.array(np.where(rng.random(n) < 0.05, None, rng.poisson(4, n)), dtype="Int64"),
        "flag": pd.array(np.where(rng.random(n) < 0.05, None, rng.random(n) < 0.3), dtype="boolean"),
        "active": rng.random(n) < 0.6,
        "city": pd.array([f"city_{k}" for k in rng.zipf(1.5, n).clip(max=400)], dtype="str"),
        "region": pd.array(np.where(rng.random(n) < 0.1, None, rng.choice(["n", "s", "e", "w"], n)), dtype="str"),
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
    })


@pytest.mark.parametrize("batch_rows", [977, 3000, 20_000])
def test_parquet_row_groups_in_batches_give_the_identical_profile(tmp_path, batch_rows):
    """Batches that split row groups (and a last short batch): the same profile, number for number, as the
    whole table (means and variances from exact sums; categories beyond max_categories counted exactly)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlprod.data import read_table

    df = mixed_frame(12_000)
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=2_500)
    assert pq.ParquetFile(path).metadata.num_row_groups == 5
    whole = build_profile(read_table(path), sample_size=50, max_categories=20)
    streamed = profile_file(path, batch_rows=batch_rows, sample_size=50, max_categories=20)
    assert streamed.columns["city"].other > 0  # more categories than kept: the kept list is still exact
    assert streamed.to_dict() == whole.to_dict()


def test_profile_file_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        profile_file(tmp_path / "missing.parquet")
    with pytest.raises(DataError, match="unsupported extension '.txt'"):
        profile_file(tmp_path / "data.txt")
