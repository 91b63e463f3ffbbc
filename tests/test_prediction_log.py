from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlprod.errors import ConfigError, PredictionLogError
from mlprod.serving.predictionlog import (COLUMNS, ModelRef, PredictionLogSettings, PredictionLogWarning, PredictionLogWriter,
                                  prune, read_log, segments)
from mlprod.serving.predictionlog.schema import arrow_schema

import predlog_workers

MODEL = ModelRef("lead-scoring", "1.2.0", "ab" * 32)
OUTPUTS = [
    {"score": 0.91, "decision": 1, "tier": "primary", "fallback_reason": None, "filled_features": [],
     "needs_review": False},
    {"score": 0.5, "decision": 0, "tier": "fallback", "fallback_reason": "timeout", "filled_features": ["income"],
     "needs_review": True},
    {"score": None, "decision": None, "tier": "failed", "fallback_reason": "all_tiers_failed",
     "filled_features": [], "needs_review": True},
]
INPUTS = pd.DataFrame({"lead_id": [17, 18, 19], "age": [34, 51, None], "income": [52000.0, float("nan"), 1.0],
                       "region": ["north", "south", "east"]})


def settings(tmp_path: Path, **kw) -> PredictionLogSettings:
    return PredictionLogSettings(**{"dir": str(tmp_path / "log"), "segment_rows": 100, "flush_seconds": 60, **kw})


def test_round_trip_keeps_every_column_in_order_with_schema_version(tmp_path):
    with PredictionLogWriter(settings(tmp_path), key="lead_id") as writer:
        writer.log_request("req-1", OUTPUTS, model=MODEL, inputs=INPUTS, experiment=None)
    [segment] = segments(tmp_path / "log")
    assert segment.parent.name == datetime.now(timezone.utc).strftime("%Y-%m-%d")
    host_pid = segment.name.split("-")
    assert str(os.getpid()) in host_pid and segment.name.endswith("-000000.parquet")
    metadata = pq.read_schema(segment).metadata
    assert metadata[b"mlprod.schema_version"] == b"1" and metadata[b"mlprod.schema"] == b"prediction_log"
    frame = read_log(tmp_path / "log")
    assert list(frame.columns) == list(COLUMNS)
    assert frame["request_id"].tolist() == ["req-1"] * 3 and frame["row"].tolist() == [0, 1, 2]
    assert frame["unit_id"].tolist() == ["17", "18", "19"]
    assert frame["score"].iloc[0] == 0.91 and pd.isna(frame["score"].iloc[2])
    assert frame["tier"].tolist() == ["primary", "fallback", "failed"]
    assert [list(f) for f in frame["filled_features"]] == [[], ["income"], []]
    assert frame["needs_review"].tolist() == [False, True, True]
    assert frame["model_version"].unique().tolist() == ["1.2.0"]
    assert str(frame["logged_at"].dt.tz) == "UTC"
    assert frame["features"].isna().all() and frame["arm"].isna().all()


def test_log_features_only_listed_values_are_kept(tmp_path):
    with PredictionLogWriter(settings(tmp_path, log_features=("region", "income")), key="lead_id") as writer:
        writer.log_request("req-1", OUTPUTS, model=MODEL, inputs=INPUTS)
    frame = read_log(tmp_path / "log")
    values = [json.loads(text) for text in frame["features"]]
    assert values == [{"income": 52000.0, "region": "north"}, {"income": None, "region": "south"},
                      {"income": 1.0, "region": "east"}]
    raw = b"".join(p.read_bytes() for p in segments(tmp_path / "log"))
    assert b"age" not in raw  # the unlisted feature's name (and values) never reach the file


def test_default_logs_no_feature_values(tmp_path):
    with PredictionLogWriter(settings(tmp_path)) as writer:
        writer.log_request("req-1", OUTPUTS, model=MODEL, inputs=INPUTS)
    frame = read_log(tmp_path / "log")
    assert frame["features"].isna().all() and frame["unit_id"].isna().all()
    assert b"north" not in segments(tmp_path / "log")[0].read_bytes()


def test_segment_rows_and_flush_seconds_write_segments_without_close(tmp_path):
    writer = PredictionLogWriter(settings(tmp_path, segment_rows=3, flush_seconds=0.2))
    writer.log_request("a", OUTPUTS, model=MODEL)  # 3 rows: full
    deadline = time.monotonic() + 5
    while len(segments(tmp_path / "log")) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(segments(tmp_path / "log")) == 1
    writer.log_request("b", OUTPUTS[:1], model=MODEL)  # 1 row: written after flush_seconds
    while len(segments(tmp_path / "log")) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(segments(tmp_path / "log")) == 2
    writer.close()
    assert len(read_log(tmp_path / "log")) == 4
    with pytest.raises(RuntimeError, match="closed"):
        writer.log_request("c", OUTPUTS, model=MODEL)


def test_threads_log_concurrently_every_row_once(tmp_path):
    writer = PredictionLogWriter(settings(tmp_path, segment_rows=50, flush_seconds=0.05))

    def serve(t: int) -> None:
        for r in range(100):
            writer.log_request(f"t{t}-{r}", OUTPUTS, model=MODEL)

    threads = [threading.Thread(target=serve, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    frame = read_log(tmp_path / "log")
    assert len(frame) == 8 * 100 * 3
    assert not frame.duplicated(["request_id", "row"]).any()
    assert frame["logged_at"].is_monotonic_increasing
    assert writer.rows_written == len(frame) and writer.rows_dropped == 0


def test_two_processes_write_disjoint_segments_and_reader_sees_every_row_once(tmp_path):
    folder = str(tmp_path / "log")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=predlog_workers.write_requests, args=(folder, f"w{i}", 200, 3, 64))
               for i in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    names = [p.name for p in segments(folder)]
    pids = {str(w.pid) for w in workers}
    assert {n.split("-")[-3] for n in names} == pids  # each segment names the process that wrote it
    assert len(names) == len(set(names)) >= 2 * -(-600 // 64)
    assert all(pq.read_metadata(p).num_rows <= 64 for p in segments(folder))
    frame = read_log(folder)
    assert len(frame) == 2 * 200 * 3
    assert not frame.duplicated(["request_id", "row"]).any()
    assert set(frame["request_id"].str[:2]) == {"w0", "w1"}


def test_sigkill_mid_run_leaves_only_complete_segments(tmp_path):
    folder = tmp_path / "log"
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=predlog_workers.write_forever, args=(str(folder), 25))
    child.start()
    deadline = time.monotonic() + 60
    while len(segments(folder)) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert child.exitcode == -signal.SIGKILL
    day = segments(folder)[0].parent
    (day / ".segment-cut-short.parquet.x1y2.tmp").write_bytes(b"PAR1 half a segment")  # as a kill mid-write leaves
    frame = read_log(folder)  # no warning, no error: temp files are never read
    assert frame.attrs["skipped"] == []
    files = segments(folder)
    assert len(files) >= 5
    sizes = [pq.read_table(path).num_rows for path in files]  # every segment reads whole
    # a flush writes what the buffer holds by then in segments of at most segment_rows (the last one may be shorter)
    assert 0 < min(sizes) and max(sizes) == 25 and len(frame) == sum(sizes)
    assert not frame.duplicated(["request_id", "row"]).any()


def test_corrupt_and_foreign_files_are_skipped_with_a_warning_naming_them(tmp_path):
    with PredictionLogWriter(settings(tmp_path)) as writer:
        writer.log_request("req-1", OUTPUTS, model=MODEL)
    day = segments(tmp_path / "log")[0].parent
    corrupt = day / "zz-1-20250101T000000000000Z-000000.parquet"
    corrupt.write_bytes(b"not parquet at all")
    foreign = day / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    with pytest.warns(PredictionLogWarning) as caught:
        frame = read_log(tmp_path / "log")
    messages = " ".join(str(w.message) for w in caught)
    assert str(corrupt) in messages and str(foreign) in messages
    assert len(frame) == 3 and sorted(frame.attrs["skipped"]) == sorted([str(corrupt), str(foreign)])


def test_future_schema_version_is_refused(tmp_path):
    day = tmp_path / "log" / "2025-03-01"
    day.mkdir(parents=True)
    table = arrow_schema().empty_table().replace_schema_metadata(
        {b"mlprod.schema": b"prediction_log", b"mlprod.schema_version": b"2"})
    pq.write_table(table, day / "h-1-x-000000.parquet")
    with pytest.raises(PredictionLogError, match=r"schema version 2, this mlprod reads versions up to 1; upgrade"):
        read_log(tmp_path / "log")


def test_since_until_and_time_order(tmp_path):
    moments = [datetime(2025, 3, d, 12, tzinfo=timezone.utc) for d in (3, 1, 2)]
    with PredictionLogWriter(settings(tmp_path, segment_rows=1)) as writer:
        for i, moment in enumerate(moments):
            writer.log_request(f"r{i}", OUTPUTS[:1], model=MODEL, logged_at=moment)
    assert sorted(p.parent.name for p in segments(tmp_path / "log")) == ["2025-03-01", "2025-03-02", "2025-03-03"]
    frame = read_log(tmp_path / "log")
    assert frame["request_id"].tolist() == ["r1", "r2", "r0"]
    assert read_log(tmp_path / "log", since="2025-03-02")["request_id"].tolist() == ["r2", "r0"]
    assert read_log(tmp_path / "log", since="2025-03-02", until="2025-03-03")["request_id"].tolist() == ["r2"]
    assert list(read_log(tmp_path / "nothing-here").columns) == list(COLUMNS)


def test_prune_removes_only_whole_old_day_folders(tmp_path):
    folder = tmp_path / "log"
    for name in ("2025-01-01", "2025-01-09", "2025-01-10", "2025-01-11", "notes"):
        (folder / name).mkdir(parents=True)
        (folder / name / "a.parquet").write_bytes(b"x")
    (folder / "README.txt").write_text("keep me")
    removed = prune(folder, keep_days=2, today=date(2025, 1, 11))
    assert [p.name for p in removed] == ["2025-01-01"]
    assert sorted(p.name for p in folder.iterdir()) == ["2025-01-09", "2025-01-10", "2025-01-11", "README.txt", "notes"]
    assert [p.name for p in prune(folder, keep_days=1, today=date(2025, 1, 11))] == ["2025-01-09"]
    with pytest.raises(PredictionLogError, match="keep_days"):
        prune(folder, keep_days=0)


def test_settings_are_strict():
    parsed = PredictionLogSettings.from_mapping({"dir": "x", "log_features": ["age"], "keep_days": None})
    assert parsed.log_features == ("age",) and parsed.keep_days is None
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'segment_row'; allowed: dir, segment_rows, "
                                          r"flush_seconds, keep_days, log_features"):
        PredictionLogSettings.from_mapping({"segment_row": 5})
    for bad in ({"segment_rows": 0}, {"flush_seconds": "1m"}, {"keep_days": 0}, {"log_features": "age"},
                {"dir": ""}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            PredictionLogSettings.from_mapping(bad)


def test_params_yaml_section_parses():
    from mlprod.yamlio import load_file

    section = load_file(Path(__file__).parents[1] / "params.yaml")["prediction_log"]
    parsed = PredictionLogSettings.from_mapping(section)
    assert parsed.dir == "monitoring/prediction_log" and parsed.log_features == ()


def _log_in_forked_child(writer: PredictionLogWriter) -> None:
    writer.log_request("child", OUTPUTS[:2], model=MODEL)
    writer.close()


def test_forked_child_starts_afresh_and_never_rewrites_the_parents_rows(tmp_path):
    writer = PredictionLogWriter(settings(tmp_path))
    writer.log_request("parent", OUTPUTS[:1], model=MODEL)  # buffered in the parent when the worker forks
    child = multiprocessing.get_context("fork").Process(target=_log_in_forked_child, args=(writer,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    writer.close()
    frame = read_log(tmp_path / "log")
    assert sorted(frame["request_id"]) == ["child", "child", "parent"]
    assert {p.name.split("-")[-3] for p in segments(tmp_path / "log")} == {str(os.getpid()), str(child.pid)}


def test_outputs_and_inputs_as_dataframes(tmp_path):
    with PredictionLogWriter(settings(tmp_path, log_features=("age",)), key="lead_id") as writer:
        writer.log_request("req-1", pd.DataFrame(OUTPUTS), model=MODEL, inputs=INPUTS)
    frame = read_log(tmp_path / "log")
    assert frame["tier"].tolist() == ["primary", "fallback", "failed"] and pd.isna(frame["decision"].iloc[2])
    assert [json.loads(t) for t in frame["features"]] == [{"age": 34.0}, {"age": 51.0}, {"age": None}]
    assert frame["unit_id"].tolist() == ["17", "18", "19"]


def test_a_key_column_with_a_gap_logs_whole_numbers_without_a_decimal_point(tmp_path):
    """pandas reads a key column with a missing value as floats; unit ids must still match integer label keys."""
    import pandas as pd

    from mlprod.serving.predictionlog import PredictionLogSettings, PredictionLogWriter, read_log
    from mlprod.serving.predictionlog.writer import ModelRef

    settings = PredictionLogSettings.from_mapping({"dir": str(tmp_path / "log")})
    writer = PredictionLogWriter(settings, key="lead_id")
    inputs = pd.DataFrame({"lead_id": [101, None, 103]})
    outputs = [{"score": 0.5, "decision": 1, "tier": "primary"}] * 3
    writer.log_request("r1", outputs, model=ModelRef("m", "1.0.0", "abc"), inputs=inputs)
    writer.close()
    units = read_log(tmp_path / "log")["unit_id"]
    assert units[[0, 2]].tolist() == ["101", "103"] and units.isna()[1]


def test_a_predict_result_with_a_rejected_row_is_logged_with_a_null_decision(tmp_path):
    # ResilientPredictor.predict gives decision as Int8 with pandas.NA for a rejected row: bool(NA) raises
    outputs = pd.DataFrame({"score": [0.7, float("nan")], "decision": pd.array([1, None], dtype="Int8"),
                            "tier": ["primary", "rejected"], "fallback_reason": [None, "wrong_type:age"],
                            "filled_features": [(), ()], "needs_review": [False, False], "model_version": ["1", "1"]})
    with PredictionLogWriter(PredictionLogSettings(dir=str(tmp_path / "log"))) as writer:
        assert writer.log_request("r1", outputs, model=ModelRef("m", "1", "abc")) == 2
    log = read_log(tmp_path / "log")
    assert log["decision"].tolist()[0] == 1 and pd.isna(log["decision"].tolist()[1])


# -- log_frame: the columnar path gives the bytes log_request gives ----------------------------------------------
def _segment_bytes(tmp_path: Path, name: str, method: str, outputs, **kw) -> bytes:
    moment = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    writer = PredictionLogWriter(PredictionLogSettings(dir=str(tmp_path / name), segment_rows=1000,
                                                       flush_seconds=60, log_features=kw.pop("log_features", ())),
                                 key=kw.pop("key", None))
    assert getattr(writer, method)("batch-7", outputs, model=MODEL, logged_at=moment, **kw) == len(outputs)
    writer.close()
    [segment] = segments(tmp_path / name)
    return segment.read_bytes()


def _both_paths(tmp_path: Path, outputs, **kw) -> bytes:
    rows = _segment_bytes(tmp_path, "rows", "log_request", outputs, **dict(kw))
    columns = _segment_bytes(tmp_path, "columns", "log_frame", outputs, **dict(kw))
    assert pq.read_table(pa.BufferReader(columns)).equals(pq.read_table(pa.BufferReader(rows)))
    assert columns == rows
    return columns


SCORED = pd.DataFrame({
    "score": [0.91, 0.5, float("nan"), 0.25, 1.0],
    "decision": pd.array([1, 0, None, 0, 1], dtype="Int8"),  # a rejected row: pandas.NA
    "tier": pd.Categorical(["primary", "fallback", "failed", "primary", "primary"]),
    "fallback_reason": pd.Categorical([None, "timeout", "all_tiers_failed", None, None]),
    "filled_features": [(), ("income",), (), ("age", "income"), ()],
    "needs_review": [False, True, True, False, False],
})
KEYED = pd.DataFrame({"lead_id": [17, 18, 19, 20, 21], "age": [34, 51, None, 20, 70],
                      "income": [52000.0, float("nan"), 1.0, float("inf"), 3.5],
                      "region": ["north", "south", None, "east", "west"],
                      "seen": pd.to_datetime(["2025-01-01", "2025-01-02", None, "2025-01-04", "2025-01-05"])})


def test_log_frame_writes_the_bytes_log_request_writes_for_a_scored_batch(tmp_path):
    _both_paths(tmp_path, SCORED, inputs=KEYED, key="lead_id", experiment="shadow-1", arm="shadow",
                log_features=("age", "income", "region", "seen", "absent"), row_numbers=[4, 5, 6, 7, 8])


def test_log_frame_matches_log_request_for_rows_as_mappings_and_odd_column_types(tmp_path):
    _both_paths(tmp_path, OUTPUTS, inputs=INPUTS, key="lead_id", log_features=("age",))
    outputs = pd.DataFrame({"score": [1, 0], "decision": [1.0, float("nan")], "tier": ["primary", 3],
                            "fallback_reason": [float("nan"), 7], "filled_features": [["a"], None],
                            "needs_review": [0, 1], "model_version": ["4", None]})
    text_keys = pd.DataFrame({"lead_id": ["x-1", None]})
    float_keys = pd.DataFrame({"lead_id": [12.0, float("nan")]})  # a key column with a gap: "12", null
    _both_paths(tmp_path / "a", outputs, inputs=text_keys, key="lead_id")
    _both_paths(tmp_path / "b", outputs, inputs=float_keys, key="lead_id")
    _both_paths(tmp_path / "c", outputs)  # no inputs: unit_id and features null


def test_log_frame_and_log_request_share_segments_cut_at_segment_rows(tmp_path):
    writer = PredictionLogWriter(settings(tmp_path, segment_rows=4))
    writer.log_request("a", OUTPUTS, model=MODEL)
    writer.log_frame("b", SCORED, model=MODEL)  # 3 + 5 rows: segments of 4, 4
    writer.log_request("c", OUTPUTS[:1], model=MODEL)
    writer.close()
    assert [pq.read_metadata(p).num_rows for p in segments(tmp_path / "log")] == [4, 4, 1]
    frame = read_log(tmp_path / "log")
    assert frame["request_id"].tolist() == ["a"] * 3 + ["b"] * 5 + ["c"]
    assert frame["row"].tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 0]
    assert writer.rows_written == 9


def test_log_frame_refuses_inputs_of_another_length(tmp_path):
    with PredictionLogWriter(settings(tmp_path), key="lead_id") as writer:
        with pytest.raises(ValueError, match="2 input rows but 5 outputs"):
            writer.log_frame("r", SCORED, model=MODEL, inputs=INPUTS.iloc[:2])


def test_log_frame_features_json_is_built_a_column_at_a_time_with_log_requests_bytes(tmp_path):
    """The columnar features JSON (numbers, booleans, texts a column at a time) gives the per-row writer's bytes
    for odd values: -0.0, 1e-05, float32, uint8, booleans, nullable Int64 with NA, quotes and non-ASCII text,
    tz-aware times, mixed objects, and a feature name needing escapes."""
    inputs = pd.DataFrame({
        "lead_id": [1, 2, 3, 4, 5],
        "f": [-0.0, 1e-05, 1.5e300, float("-inf"), 0.1],
        "f32": np.array([0.1, 2.5, float("nan"), 3.0, -1.0], dtype="float32"),
        "u8": np.array([0, 1, 2, 254, 255], dtype="uint8"),
        "flag": [True, False, True, True, False],
        "nullable": pd.array([1, None, 3, None, -5], dtype="Int64"),
        "text": ['say "hi"', "ñandú", "", None, "tab\there"],
        "when": pd.to_datetime(["2025-01-01 10:00", None, "2025-03-01 00:00", "2025-04-01 00:00", "2025-05-01 12:30"]).tz_localize("UTC"),
        "mixed": [1, "a", 2.5, None, True],
        'we"ird': [1, 2, 3, 4, 5],
        "pct%s": pd.array(["a", None, "b", "a", "ü"], dtype="string"),
    })
    names = ("f", "f32", "u8", "flag", "nullable", "text", "when", "mixed", 'we"ird', "pct%s", "absent")
    data = _both_paths(tmp_path, SCORED, inputs=inputs, key="lead_id", log_features=names)
    features = pq.read_table(pa.BufferReader(data)).column("features").to_pylist()
    first = json.loads(features[0])
    assert list(first) == sorted(names) and first["absent"] is None and first["f"] == 0.0
    assert json.loads(features[3])["f"] is None and json.loads(features[1])["nullable"] is None
