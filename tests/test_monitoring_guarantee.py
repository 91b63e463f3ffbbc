"""The review guarantee in the monitoring history: the error among automatically decided rows per window, alerting
above the review alpha once enough of them are labelled (docs/serving.md, Routing to people)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlprod.errors import MonitoringError
from mlprod.monitoring.history import MonitorSettings, read_history, update
from mlprod.monitoring.policy import PolicySettings, decide
from tests.test_monitoring_history import AS_OF, write_predictions

BAND, ALPHA = (0.4, 0.6), 0.1


def week(root, batch_id, start, n, seed, *, first_key, drifted, needs_review=None):
    """A week of predictions (scores spread over [0, 1]) and its labels: calibrated before the drift; after it the
    label no longer follows the score, so most automatically decided rows are wrong."""
    rng = np.random.default_rng(seed)
    score = rng.uniform(size=n)
    dates = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 7 * 24, size=n), unit="h")
    keys = np.arange(first_key, first_key + n)
    frame = pd.DataFrame({"lead_id": keys, "created_at": dates, "score": score})
    if needs_review is not None:
        frame["needs_review"] = needs_review(score)
    write_predictions(root, batch_id, frame)
    # calibrated: P(label = decision) high outside the band; drifted: labels flipped against the scores
    truth = rng.binomial(1, 1 - score if drifted else np.clip((score - 0.5) * 4 + 0.5, 0, 1))
    return pd.DataFrame({"lead_id": keys, "converted": truth})


def settings_for(root, **extra):
    return MonitorSettings(root=str(root), key="lead_id", date_column="created_at", target="converted",
                           review_alpha=ALPHA, review_band=BAND, guarantee_min_labelled=100, **extra)


def write_labels(root, name, *frames):
    folder = root / "monitoring" / "labels"
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_csv(folder / name, index=False)


def guarantee_rows(history):
    rows = history[history["metric"].isin(["auto_decided_error", "auto_decided_labelled"])]
    return {(w, m): (v, t, a, s) for w, m, v, t, a, s in zip(rows["window"], rows["metric"], rows["value"],
                                                            rows["threshold"], rows["alert"], rows["alert_when"])}


def expected(labels, root, batch_id):
    """The error among auto-decided labelled rows, computed independently from the predictions file."""
    frame = pd.read_parquet(root / "monitoring" / "predictions" / f"{batch_id}.parquet").merge(labels, on="lead_id")
    auto = frame[~frame["score"].between(*BAND)]
    return len(auto), float((auto["decision"] != auto["converted"]).mean())


def test_drift_that_breaks_the_guarantee_alerts_and_a_week_where_it_holds_does_not(tmp_path):
    holds = week(tmp_path, "w1", "2024-01-01", 600, 1, first_key=0, drifted=False)
    broken = week(tmp_path, "w2", "2024-01-08", 600, 2, first_key=10_000, drifted=True)
    write_labels(tmp_path, "labels.csv", holds, broken)
    update(settings_for(tmp_path), None, as_of=AS_OF)
    rows = guarantee_rows(read_history(tmp_path / "monitoring" / "history.parquet"))
    for window, batch, labels, alert in (("2024-W01", "w1", holds, False), ("2024-W02", "w2", broken, True)):
        n, rate = expected(labels, tmp_path, batch)
        assert rows[(window, "auto_decided_labelled")][0] == n
        value, threshold, alerted, side = rows[(window, "auto_decided_error")]
        assert value == pytest.approx(rate) and threshold == ALPHA and side == "above"
        assert bool(alerted) is alert and (value > threshold) is alert
    history = read_history(tmp_path / "monitoring" / "history.parquet")
    decision = decide(history, PolicySettings(triggers=("review_guarantee",), consecutive_windows=1), as_of=AS_OF)
    assert decision.retrain and decision.checks[0].windows == ("2024-W02",)
    assert "review_guarantee" not in {c.name for c in decide(history, as_of=AS_OF).checks}  # an opt-in trigger


def test_a_window_with_too_few_labelled_auto_decided_rows_is_not_judged(tmp_path):
    broken = week(tmp_path, "w1", "2024-01-01", 600, 3, first_key=0, drifted=True)
    write_labels(tmp_path, "labels.csv", broken.head(40))  # a handful of labels: a high error rate, but noise
    update(settings_for(tmp_path), None, as_of=AS_OF)
    rows = guarantee_rows(read_history(tmp_path / "monitoring" / "history.parquet"))
    labelled = rows[("2024-W01", "auto_decided_labelled")][0]
    value, threshold, alerted, side = rows[("2024-W01", "auto_decided_error")]
    assert 0 < labelled < 100 and value > ALPHA  # it would alert on the rate alone
    assert not alerted and pd.isna(threshold) and pd.isna(side)  # not judged: no threshold, no alert


def test_a_needs_review_column_is_preferred_to_the_band(tmp_path):
    """Predictions that carry needs_review (the resilient predictor's column) say which rows people decided."""
    labels = week(tmp_path, "w1", "2024-01-01", 600, 4, first_key=0, drifted=False,
                  needs_review=lambda score: score > 0.3)  # everything above 0.3 went to people
    write_labels(tmp_path, "labels.csv", labels)
    update(settings_for(tmp_path), None, as_of=AS_OF)
    rows = guarantee_rows(read_history(tmp_path / "monitoring" / "history.parquet"))
    frame = pd.read_parquet(tmp_path / "monitoring" / "predictions" / "w1.parquet").merge(labels, on="lead_id")
    auto = frame[frame["score"] <= 0.3]
    assert rows[("2024-W01", "auto_decided_labelled")][0] == len(auto)
    assert rows[("2024-W01", "auto_decided_error")][0] == pytest.approx((auto["decision"] != auto["converted"]).mean())


def test_a_plain_band_records_the_rate_but_never_alerts_and_no_band_writes_nothing(tmp_path):
    """Alpha is a promise only under risk_control: a plain review band's error rate is recorded without a threshold
    (the demo's band would otherwise alert every week); with nothing routed to people there are no rows at all."""
    labels = week(tmp_path, "w1", "2024-01-01", 600, 5, first_key=0, drifted=True)
    write_labels(tmp_path, "labels.csv", labels)
    update(MonitorSettings(**{**settings_for(tmp_path).__dict__, "review_alpha": None}), None, as_of=AS_OF)
    rows = guarantee_rows(read_history(tmp_path / "monitoring" / "history.parquet"))
    value, threshold, alert, _ = rows[("2024-W01", "auto_decided_error")]
    assert value == pytest.approx(expected(labels, tmp_path, "w1")[1]) and pd.isna(threshold) and not alert
    other = tmp_path / "other"
    other.mkdir()
    write_labels(other, "labels.csv", week(other, "w1", "2024-01-01", 300, 5, first_key=0, drifted=True))
    update(MonitorSettings(**{**settings_for(other).__dict__, "review_alpha": None, "review_band": None}), None,
           as_of=AS_OF)
    assert not guarantee_rows(read_history(other / "monitoring" / "history.parquet"))


def test_a_window_summary_written_before_the_guarantee_still_reads(tmp_path):
    """Window summaries of version 1 (no automatically decided counts) are read; relabelling recomputes them."""
    labels = week(tmp_path, "w1", "2024-01-01", 600, 6, first_key=0, drifted=True)
    settings = settings_for(tmp_path)
    update(settings, None, as_of=AS_OF)
    path = tmp_path / "monitoring" / "windows" / "2024-W01.json"
    data = json.loads(path.read_text())
    data["schema_version"] = 1
    for part in data["parts"].values():
        for name in ("auto_decided", "auto_labelled", "auto_errors"):
            del part["scores"]["counts"][name]
    path.write_text(json.dumps(data))
    write_labels(tmp_path, "labels.csv", labels)  # late labels: the old window is read, then recomputed
    update(settings, None, as_of=AS_OF)
    rows = guarantee_rows(read_history(tmp_path / "monitoring" / "history.parquet"))
    assert rows[("2024-W01", "auto_decided_labelled")][0] == expected(labels, tmp_path, "w1")[0]
    assert bool(rows[("2024-W01", "auto_decided_error")][2])


@pytest.mark.parametrize("bad", [{"review_alpha": 1.5}, {"review_band": [0.7, 0.2]}, {"guarantee_min_labelled": 0}])
def test_bad_guarantee_settings_are_refused(bad):
    with pytest.raises(MonitoringError, match=next(iter(bad))):
        MonitorSettings.from_mapping(bad, "monitor")


def test_a_history_written_before_the_guarantee_still_reads_and_gains_its_rows(tmp_path):
    """The history format is unchanged (schema_version 2): an older file reads, and the next update adds the rows."""
    import pyarrow.parquet as pq

    labels = week(tmp_path, "w1", "2024-01-01", 600, 7, first_key=0, drifted=True)
    update(MonitorSettings(**{**settings_for(tmp_path).__dict__, "review_alpha": None, "review_band": None}), None,
           as_of=AS_OF)
    path = tmp_path / "monitoring" / "history.parquet"
    assert pq.read_schema(path).metadata[b"mlprod.schema_version"] == b"2" and not guarantee_rows(read_history(path))
    write_labels(tmp_path, "labels.csv", labels)
    update(settings_for(tmp_path), None, as_of=AS_OF)
    assert pq.read_schema(path).metadata[b"mlprod.schema_version"] == b"2"
    assert bool(guarantee_rows(read_history(path))[("2024-W01", "auto_decided_error")][2])


def test_the_loop_settings_take_the_band_and_alpha_from_the_serving_section(tmp_path):
    from mlprod.monitoring.loop import read_settings

    params = tmp_path / "params.yaml"
    params.write_text("project: {model_name: leads, target: converted}\n"
                      "serving: {review_band: [0.3, 0.7], review: {method: band, alpha: 0.05}}\n")
    settings = read_settings(params, tmp_path).monitor
    # a plain band promises no error rate: recorded, never alerting (alpha only under risk_control)
    assert (settings.review_band, settings.review_alpha, settings.review_calibrated) == ((0.3, 0.7), None, False)
    params.write_text("project: {model_name: leads, target: converted}\nserving: {review: {method: risk_control}}\n")
    settings = read_settings(params, tmp_path).monitor
    assert settings.review_calibrated and settings.review_band is None  # the champion's calibrated band, at monitor
    params.write_text("project: {model_name: leads, target: converted}\nserving: {review_band: null}\n")
    assert read_settings(params, tmp_path).monitor.review_alpha is None  # nothing routed to people: not watched
