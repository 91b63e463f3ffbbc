"""The demo stream: deterministic weekly batches after the demo data, a shift at a fixed week, late labels;
and the demo dataset itself unchanged by the shared generator."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from mlprod.data import make_leads
from mlprod.data.stream_demo import FIRST_ID, SHIFT_WEEK, StreamSpec, make_stream, make_week, write_stream
from mlprod.errors import ConfigError


def _digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).values.tobytes()).hexdigest()


def test_make_leads_output_is_unchanged_by_the_stream_generator():
    # values computed with make_leads before draw_leads was factored out of it
    assert _digest(make_leads()) == "44ae0d7ae14c426774cc8b43ecae686257f29b24dcf48564059f45cf0a7b4a2d"
    assert _digest(make_leads(n_rows=1000, seed=7)) == \
        "1ebe37220278cda1d85d1e23b166f0c014b750468bf429b0bc8b1d570a0db549"


def test_stream_is_deterministic_and_a_prefix_of_a_longer_stream():
    short, long = StreamSpec(n_weeks=3), StreamSpec(n_weeks=20)
    assert _digest(make_stream(short)) == _digest(make_stream(short))
    for week in (1, 2, 3):
        pd.testing.assert_frame_equal(make_week(short, week), make_week(long, week))
    assert _digest(make_week(StreamSpec(seed=1), 1)) != _digest(make_week(StreamSpec(seed=2), 1))


def test_weeks_follow_the_demo_data_with_fresh_ids_and_iso_week_ids():
    spec = StreamSpec()
    frame = make_stream(spec)
    assert spec.week_ids[0] == "2025-W02" and len(spec.week_ids) == 12
    assert frame["created_at"].min() == pd.Timestamp("2025-01-06")  # after the demo's last day, 2024-12-31
    assert frame["lead_id"].min() == FIRST_ID and frame["lead_id"].is_unique
    iso = frame["created_at"].dt.strftime("%G-W%V")
    assert (iso == frame["week"]).all()  # every row lies in its batch's ISO week


def test_the_shift_starts_at_the_documented_week_after_several_calm_weeks():
    spec = StreamSpec()
    assert SHIFT_WEEK == 8 and spec.shift_id == "2025-W09"
    frame = make_stream(spec)
    paid = frame.assign(paid=frame["channel"] == "paid_search").groupby("week")["paid"].mean()
    before, after = paid.loc[spec.week_ids[:SHIFT_WEEK - 1]], paid.loc[spec.week_ids[SHIFT_WEEK - 1:]]
    assert before.max() < 0.2 < 0.3 < after.min()  # the demo's July-2024 channel mix: 15% -> 36% paid search
    calm = make_stream(StreamSpec(shift_week=None))
    assert (calm.assign(paid=calm["channel"] == "paid_search").groupby("week")["paid"].mean() < 0.2).all()
    assert StreamSpec(shift_week=None).shift_id is None


def test_write_stream_writes_batches_without_labels_and_only_the_labels_that_arrived(tmp_path):
    spec = StreamSpec(n_weeks=6, label_delay=2, rows_per_week=200)
    files = write_stream(tmp_path, spec, as_of=5)
    assert sorted(files.inbox) == spec.week_ids[:5]
    assert sorted(files.labels) == spec.week_ids[:3]  # weeks 1..5-2
    batch = pd.read_parquet(tmp_path / "inbox" / f"{spec.week_ids[0]}.parquet")
    assert "converted" not in batch.columns and len(batch) == 200
    labels = pd.read_parquet(tmp_path / "labels" / f"{spec.week_ids[0]}.parquet")
    assert list(labels.columns) == ["lead_id", "converted"]
    assert labels["lead_id"].tolist() == batch["lead_id"].tolist()
    before = (tmp_path / "inbox" / f"{spec.week_ids[0]}.parquet").read_bytes()
    write_stream(tmp_path, spec, as_of=6)
    assert (tmp_path / "inbox" / f"{spec.week_ids[0]}.parquet").read_bytes() == before
    assert sorted(p.stem for p in (tmp_path / "labels").iterdir()) == spec.week_ids[:4]


@pytest.mark.parametrize("bad", [{"n_weeks": 0}, {"label_delay": -1}, {"shift_week": 0}, {"rows_per_week": "5"}])
def test_bad_stream_settings_are_one_clear_error(bad):
    with pytest.raises(ConfigError, match="demo stream"):
        StreamSpec(**bad)
