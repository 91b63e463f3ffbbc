"""Monitoring history: windows, mergeable summaries, incremental == from scratch, late labels."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from mlprod.errors import MonitoringError
from mlprod.monitoring.history import MonitorSettings, read_history, update
from mlprod.profile import build_profile

AS_OF = "2024-06-01T00:00:00Z"


def write_predictions(root, batch_id, frame, *, threshold=0.5, version="1.0.0", marker=True, source=None):
    """A predictions record in the shared contract's format (Parquet + commit marker written last)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / "monitoring" / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    out["decision"] = (out["score"] >= threshold).astype("int8")
    out["model_name"], out["model_version"], out["model_sha256"] = "leads", version, "ab" * 32
    out["batch_id"], out["scored_at"] = batch_id, "2024-05-01T00:00:00Z"
    table = pa.Table.from_pandas(out, preserve_index=False)
    table = table.replace_schema_metadata({"mlprod.schema": "predictions", "mlprod.schema_version": "1"})
    pq.write_table(table, folder / f"{batch_id}.parquet")
    if marker:
        (folder / f"{batch_id}.done.json").write_text(json.dumps({
            "schema_version": 1, "batch_id": batch_id, "source": source, "rows": len(out),
            "model": {"name": "leads", "version": version, "sha256": "ab" * 32, "registry_version": None},
            "threshold": threshold, "scored_at": "2024-05-01T00:00:00Z"}, sort_keys=True))


def make_batch(root, batch_id, start, n, seed, *, first_key):
    """A batch file (features) and its predictions spanning the 7 days from ``start``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    region = rng.choice(["north", "south"], size=n)
    dates = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 7 * 24, size=n), unit="h")
    keys = np.arange(first_key, first_key + n)
    batch = pd.DataFrame({"lead_id": keys, "created_at": dates, "x": x, "region": region})
    (root / "inbox").mkdir(exist_ok=True)
    batch.to_csv(root / "inbox" / f"{batch_id}.csv", index=False)
    score = 1 / (1 + np.exp(-(x - 1)))
    write_predictions(root, batch_id, pd.DataFrame({"lead_id": keys, "created_at": dates, "score": score}),
                      source=f"inbox/{batch_id}.csv")
    return pd.DataFrame({"lead_id": keys, "converted": rng.binomial(1, score)})


def reference_profile():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    return build_profile(pd.DataFrame({"x": x, "region": rng.choice(["north", "south"], size=2000),
                                       "prediction": 1 / (1 + np.exp(-(x - 1)))}), sample_size=0)


def settings_for(root, **extra):
    return MonitorSettings(root=str(root), key="lead_id", date_column="created_at", target="converted",
                           kpis={"top_share_conversions": {"share": 0.2},
                                 "net_value": {"value_per_conversion": 100, "cost_per_wasted_call": 5}},
                           reference_roc_auc=0.75, disagreement_min_labelled=50, **extra)


BATCHES = [("b1", "2024-01-01", 300), ("b2", "2024-01-08", 250), ("b3", "2024-01-10", 200), ("b4", "2024-01-15", 300)]


def build_project(root):
    labels = {}
    for i, (batch, start, n) in enumerate(BATCHES):
        labels[batch] = make_batch(root, batch, start, n, seed=i, first_key=1000 * (i + 1))
    return labels


def monitoring_bytes(root):
    folder = root / "monitoring"
    files = sorted(p for p in (folder / "windows").glob("*.json"))
    return {p.name: p.read_bytes() for p in files}, (folder / "history.parquet").read_bytes()


def test_windows_are_iso_weeks_and_history_has_the_contract_columns(tmp_path):
    build_project(tmp_path)
    result = update(settings_for(tmp_path), reference_profile(), as_of=AS_OF)
    assert result.added_batches == ("b1", "b2", "b3", "b4")
    assert result.windows == ("2024-W01", "2024-W02", "2024-W03")
    history = read_history(tmp_path / "monitoring" / "history.parquet")
    assert list(history.columns) == ["window", "window_start", "window_end", "metric", "kind", "value", "threshold",
                                     "alert", "alert_when", "model_version", "rows", "labelled_rows", "as_of"]
    w2 = history[history["window"] == "2024-W02"]
    assert set(w2["window_start"]) == {"2024-01-08"} and set(w2["window_end"]) == {"2024-01-14"}
    assert set(history["kind"]) == {"volume", "estimated", "kpi", "drift"}  # no labels yet: nothing realised
    rows = history[(history["metric"] == "rows")].set_index("window")["value"]
    assert rows.sum() == sum(n for _, _, n in BATCHES)
    assert {"feature_drift:x", "feature_drift:region", "prediction_drift"} <= set(history["metric"])
    import pyarrow.parquet as pq

    meta = pq.read_schema(tmp_path / "monitoring" / "history.parquet").metadata
    assert meta[b"mlprod.schema_version"] == b"2"
    order = history[["window_start", "window", "kind", "metric"]].to_records(index=False).tolist()
    assert order == sorted(order)


def test_nothing_new_is_a_noop(tmp_path):
    build_project(tmp_path)
    settings = settings_for(tmp_path)
    update(settings, reference_profile(), as_of=AS_OF)
    before = monitoring_bytes(tmp_path)
    result = update(settings, reference_profile(), as_of="2030-01-01T00:00:00Z")
    assert result.windows == () and monitoring_bytes(tmp_path) == before


def test_predictions_without_commit_marker_are_not_read(tmp_path):
    build_project(tmp_path)
    write_predictions(tmp_path, "half", pd.DataFrame({"lead_id": [1], "created_at": [pd.Timestamp("2024-03-01")],
                                                      "score": [0.3]}), marker=False)
    result = update(settings_for(tmp_path), reference_profile(), as_of=AS_OF)
    assert "half" not in result.added_batches


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_history_equals_recomputation_in_any_batch_order(tmp_path, seed):
    scratch, incremental = tmp_path / "scratch", tmp_path / "incremental"
    for root in (scratch, incremental):
        root.mkdir()
        labels = build_project(root)
    for root in (scratch, incremental):
        (root / "monitoring" / "labels").mkdir(parents=True)
        pd.concat([labels["b1"], labels["b3"]]).to_csv(root / "monitoring" / "labels" / "week1.csv", index=False)
    update(settings_for(scratch), reference_profile(), as_of=AS_OF)
    # incremental: batches become visible one at a time, in a random order, with updates in between
    folder = incremental / "monitoring" / "predictions"
    markers = {p.name: p.read_bytes() for p in folder.glob("*.done.json")}
    for p in folder.glob("*.done.json"):
        p.unlink()
    names = sorted(markers)
    random.Random(seed).shuffle(names)
    for name in names:
        (folder / name).write_bytes(markers[name])
        update(settings_for(incremental), reference_profile(), as_of=AS_OF)
    assert monitoring_bytes(incremental) == monitoring_bytes(scratch)


def test_late_labels_recompute_only_their_windows(tmp_path):
    labels = build_project(tmp_path)
    settings = settings_for(tmp_path)
    update(settings, reference_profile(), as_of=AS_OF)
    before = read_history(tmp_path / "monitoring" / "history.parquet")
    windows_before = monitoring_bytes(tmp_path)[0]
    (tmp_path / "monitoring" / "labels").mkdir(parents=True)
    labels["b1"].to_csv(tmp_path / "monitoring" / "labels" / "late.csv", index=False)  # b1 is all in 2024-W01
    result = update(settings, reference_profile(), as_of="2024-07-01T00:00:00Z")
    assert result.label_files == ("late.csv",) and result.windows == ("2024-W01",)
    after = read_history(tmp_path / "monitoring" / "history.parquet")
    others = lambda h: h[h["window"] != "2024-W01"].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(others(before), others(after))
    windows_after = monitoring_bytes(tmp_path)[0]
    assert {k for k in windows_after if windows_after[k] != windows_before[k]} == {"2024-W01.json"}
    w1 = after[after["window"] == "2024-W01"]
    assert set(w1["as_of"]) == {"2024-07-01T00:00:00Z"}
    realised = w1[w1["kind"] == "realised"].set_index("metric")["value"]
    from sklearn.metrics import log_loss, roc_auc_score

    frame = pd.read_parquet(tmp_path / "monitoring" / "predictions" / "b1.parquet").merge(labels["b1"], on="lead_id")
    assert realised["roc_auc"] == pytest.approx(roc_auc_score(frame["converted"], frame["score"]), abs=0.003)
    assert realised["log_loss"] == pytest.approx(log_loss(frame["converted"], frame["score"]), rel=1e-9)
    assert realised["positive_rate"] == pytest.approx(frame["converted"].mean())
    assert set(w1["labelled_rows"]) == {300}


def test_a_batch_without_date_column_is_its_own_window(tmp_path):
    write_predictions(tmp_path, "2024-05-01", pd.DataFrame({"row": [0, 1, 2], "score": [0.1, 0.6, 0.9]}))
    settings = MonitorSettings(root=str(tmp_path))
    result = update(settings, None, as_of=AS_OF)
    assert result.windows == ("2024-05-01",)
    history = read_history(tmp_path / "monitoring" / "history.parquet")
    assert set(history["window_start"]) == {"2024-05-01"}


def test_settings_are_strict(tmp_path):
    with pytest.raises(MonitoringError, match=r"unknown key\(s\) \['kpi'\].*Did you mean 'kpis'"):
        MonitorSettings.from_mapping({"kpi": {}})
    with pytest.raises(MonitoringError, match="No KPI named 'top_share'"):
        MonitorSettings.from_mapping({"kpis": {"top_share": {}}})


def test_bad_scores_are_refused_with_a_clear_message(tmp_path):
    write_predictions(tmp_path, "b", pd.DataFrame({"row": [0, 1], "score": [0.1, 1.5]}))
    with pytest.raises(MonitoringError, match=r"outside \[0, 1\]"):
        update(MonitorSettings(root=str(tmp_path)), None, as_of=AS_OF)


def test_a_rewritten_or_removed_label_file_recomputes_the_windows_it_labelled(tmp_path):
    labels = build_project(tmp_path)
    settings = settings_for(tmp_path)
    (tmp_path / "monitoring" / "labels").mkdir(parents=True)
    path = tmp_path / "monitoring" / "labels" / "batch1.csv"
    labels["b1"].to_csv(path, index=False)
    update(settings, reference_profile(), as_of=AS_OF)
    labelled = lambda: read_history(tmp_path / "monitoring" / "history.parquet").groupby("window")["labelled_rows"].max()  # noqa: E731
    assert labelled()["2024-W01"] == 300
    labels["b1"].head(100).to_csv(path, index=False)  # corrected file: fewer rows
    assert update(settings, reference_profile(), as_of=AS_OF).windows == ("2024-W01",)
    assert labelled()["2024-W01"] == 100
    path.unlink()
    assert update(settings, reference_profile(), as_of=AS_OF).windows == ("2024-W01",)
    assert labelled()["2024-W01"] == 0


def test_labels_that_no_longer_follow_the_scores_raise_the_disagreement_alert(tmp_path):
    labels = build_project(tmp_path)
    settings = settings_for(tmp_path)
    rng = np.random.default_rng(9)
    shifted = labels["b4"].assign(converted=rng.binomial(1, 0.3, size=len(labels["b4"])))  # concept shift in W03
    (tmp_path / "monitoring" / "labels").mkdir(parents=True)
    pd.concat([labels["b1"], shifted]).to_csv(tmp_path / "monitoring" / "labels" / "all.csv", index=False)
    update(settings, reference_profile(), as_of=AS_OF)
    history = read_history(tmp_path / "monitoring" / "history.parquet")
    flag = history[history["metric"] == "estimate_disagreement"].set_index("window")
    assert bool(flag.loc["2024-W03", "alert"]) and not bool(flag.loc["2024-W01", "alert"])
    auc = history[(history["metric"] == "roc_auc") & (history["kind"] == "realised")].set_index("window")
    assert bool(auc.loc["2024-W03", "alert"])  # below reference 0.75 - 0.05


def test_the_policy_reads_the_history_update_wrote(tmp_path):
    from mlprod.monitoring.policy import PolicySettings, decide

    build_project(tmp_path)
    update(settings_for(tmp_path), reference_profile(), as_of=AS_OF)
    decision = decide(read_history(tmp_path / "monitoring" / "history.parquet"),
                      PolicySettings(consecutive_windows=2), as_of=AS_OF)
    assert decision.windows == ("2024-W01", "2024-W02", "2024-W03") and not decision.retrain
    assert decision.model_version == "1.0.0"


def test_a_shifted_feature_raises_drift_in_its_window_only(tmp_path):
    build_project(tmp_path)
    rng = np.random.default_rng(11)
    n, keys = 400, np.arange(9000, 9400)
    dates = pd.Timestamp("2024-01-22") + pd.to_timedelta(rng.integers(0, 100, size=n), unit="h")
    x = rng.normal(2.0, 1.0, size=n)  # the reference is N(0, 1)
    pd.DataFrame({"lead_id": keys, "created_at": dates, "x": x, "region": "north"}).to_csv(
        tmp_path / "inbox" / "b5.csv", index=False)
    write_predictions(tmp_path, "b5", pd.DataFrame({"lead_id": keys, "created_at": dates,
                                                    "score": 1 / (1 + np.exp(-(x - 1)))}), source="inbox/b5.csv")
    update(settings_for(tmp_path), reference_profile(), as_of=AS_OF)
    history = read_history(tmp_path / "monitoring" / "history.parquet")
    drift = history[history["metric"] == "feature_drift:x"].set_index("window")["alert"]
    assert drift.to_dict() == {"2024-W01": False, "2024-W02": False, "2024-W03": False, "2024-W04": True}
    assert bool(history[(history["metric"] == "prediction_drift") & (history["window"] == "2024-W04")]["alert"].iloc[0])


@pytest.mark.parametrize("crash_at", ["write_history", "state"])
def test_an_update_killed_midway_is_completed_by_the_next_one(tmp_path, monkeypatch, crash_at):
    """Killed after the window summaries (or the history) were written but before the state: the next update
    redoes the same batches and labels, and ends exactly where an uninterrupted one does."""
    from mlprod.monitoring import history as history_module

    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    for root in (clean, crashed):
        root.mkdir()
        labels = build_project(root)
        (root / "monitoring" / "labels").mkdir(parents=True)
        pd.concat([labels["b1"], labels["b2"]]).to_csv(root / "monitoring" / "labels" / "week1.csv", index=False)
    update(settings_for(clean), reference_profile(), as_of=AS_OF)

    real_history, real_json = history_module.write_history, history_module.atomic.write_json

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")  # what SIGINT/SIGTERM raise in the middle of the update

    if crash_at == "write_history":
        monkeypatch.setattr(history_module, "write_history", killed)
    else:
        monkeypatch.setattr(history_module.atomic, "write_json",
                            lambda path, data: killed() if str(path).endswith("state.json") else real_json(path, data))
    with pytest.raises(KeyboardInterrupt):
        update(settings_for(crashed), reference_profile(), as_of=AS_OF)
    monkeypatch.setattr(history_module, "write_history", real_history)
    monkeypatch.setattr(history_module.atomic, "write_json", real_json)
    result = update(settings_for(crashed), reference_profile(), as_of=AS_OF)
    assert set(result.added_batches) == {b for b, _, _ in BATCHES}  # the killed run recorded nothing as done
    assert monitoring_bytes(crashed) == monitoring_bytes(clean)
    assert not update(settings_for(crashed), reference_profile(), as_of=AS_OF).added_batches  # then nothing is new


def test_every_row_says_on_which_side_of_its_threshold_it_alerts(tmp_path):
    """p-value drift tests alert below, distances above; the ROC AUC and KPI floors below; the disagreement
    outside +-tolerance (either sign); no threshold, no side."""
    labels = build_project(tmp_path)
    (tmp_path / "monitoring" / "labels").mkdir(parents=True)
    pd.concat(labels.values()).to_csv(tmp_path / "monitoring" / "labels" / "week1.csv", index=False)
    settings = settings_for(tmp_path, drift={"column_tests": {"x": "wasserstein", "region": "chi_square"},
                                             "prediction": "prediction"})
    settings = MonitorSettings(**{**settings.__dict__, "kpis": {**settings.kpis,
                                                                "top_share_conversions": {"share": 0.2, "min": 0.3}}})
    update(settings, reference_profile(), as_of=AS_OF)
    history = read_history(tmp_path / "monitoring" / "history.parquet")
    side = {(k, m): None if pd.isna(a) else a
            for k, m, a in zip(history["kind"], history["metric"], history["alert_when"])}
    assert side[("drift", "feature_drift:x")] == "above"  # wasserstein: a distance
    assert side[("drift", "feature_drift:region")] == "below"  # chi-square: a p-value
    assert side[("drift", "prediction_drift")] == "below"  # the default test for the scores: KS, a p-value
    assert side[("drift", "feature_drift_share")] == "above"
    assert side[("estimated", "roc_auc")] == side[("realised", "roc_auc")] == "below"
    assert side[("realised", "estimate_disagreement")] == "outside"
    assert side[("kpi", "top_share_conversions")] == side[("kpi", "top_share_conversions_estimated")] == "below"
    assert side[("kpi", "net_value")] is None and side[("volume", "rows")] is None  # no threshold
    assert (history["threshold"].isna() == history["alert_when"].isna()).all()
    drifted = history[history["metric"] == "feature_drift:x"]
    assert ((drifted["value"] >= drifted["threshold"]) == drifted["alert"]).all()  # "above" is what alerted


def write_version_1(path, history):
    """A history file as mlprod wrote it before alert_when (schema_version 1)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(history.drop(columns="alert_when"), preserve_index=False)
    pq.write_table(table.replace_schema_metadata({"mlprod.schema": "monitoring_history",
                                                  "mlprod.schema_version": "1"}), path)


def test_a_version_1_history_still_loads_and_an_update_writes_version_2(tmp_path):
    import pyarrow.parquet as pq

    build_project(tmp_path)
    settings = settings_for(tmp_path)
    update(settings, reference_profile(), as_of=AS_OF)
    path = tmp_path / "monitoring" / "history.parquet"
    current = read_history(path)
    write_version_1(path, current)
    old = read_history(path)
    assert list(old.columns) == list(current.columns) and old["alert_when"].isna().all()
    pd.testing.assert_frame_equal(old.drop(columns="alert_when"), current.drop(columns="alert_when"))
    make_batch(tmp_path, "b5", "2024-01-22", 200, seed=9, first_key=9000)  # a new window on top of the old file
    update(settings, reference_profile(), as_of=AS_OF)
    assert pq.read_schema(path).metadata[b"mlprod.schema_version"] == b"2"
    mixed = read_history(path)
    new = mixed[mixed["window"] == "2024-W04"]
    assert set(new.loc[new["metric"] == "roc_auc", "alert_when"]) == {"below"}
    assert mixed[mixed["window"] != "2024-W04"]["alert_when"].isna().all()  # old rows: not guessed
