"""The monitoring dashboard (HTML) and Prometheus textfile from a history built by the real update."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from mlprod.errors import MonitoringError, OutputPathError
from mlprod.monitoring.dashboard import write_dashboard
from tests.monitoring_fixture import build_history, decision_for


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    return build_history(tmp_path_factory.mktemp("project"))


def test_dashboard_shows_the_decision_first_timelines_versions_and_alerts(history, tmp_path):
    page, prom = write_dashboard(history, tmp_path / "out", decision=decision_for(history), title="Leads")
    assert (page.name, prom.name) == ("dashboard.html", "monitoring.prom")
    html = page.read_text()
    assert html.index("Retraining recommended") < html.index("Estimated vs realised ROC AUC")
    assert "feature_drift: drift feature_drift_share alert in the last 3 window(s)" in html
    for metric in ("roc_auc", "estimate_disagreement", "top_share_conversions", "feature_drift:x", "rows"):
        assert f"<figcaption>{metric}" in html
    # every timeline and the estimated-vs-realised chart mark the retrain
    assert html.count(">v1.1.0</text>") == len(set(history["kind"] + history["metric"])) + 1
    assert "alert below</text>" in html and "alert above</text>" in html and "(alert)</title>" in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "2024-W06" in html and "computed up to 2024-02-20T00:00:00Z" in html


def test_same_history_same_bytes_and_no_decision_is_said(history, tmp_path):
    a = [p.read_bytes() for p in write_dashboard(history, tmp_path / "a")]
    b = [p.read_bytes() for p in write_dashboard(history.sample(frac=1, random_state=3), tmp_path / "b")]
    assert a == b
    assert b"No decision record" in a[0]


def test_prometheus_file_has_the_latest_window_with_bounded_labels(history, tmp_path):
    _, prom = write_dashboard(history, tmp_path, decision=decision_for(history))
    text = prom.read_text()
    assert 'mlprod_monitoring_alert{kind="drift",metric="feature_drift_share"} 1.0' in text
    assert 'mlprod_monitoring_value{kind="volume",metric="rows"} 300.0' in text
    assert 'mlprod_monitoring_model_info{model_version="1.1.0"} 1.0' in text
    assert "mlprod_monitoring_retrain_recommended 1.0" in text
    labels = set(re.findall(r"(\w+)=\"", text))
    assert labels == {"kind", "metric", "model_version", "alert_when"}
    assert set(re.findall(r'alert_when="(\w*)"', text)) == {"above", "below"}  # bounded: above, below, outside
    assert 'kind="realised"' not in text  # W06 has no labels yet: only its own rows are exported


def test_hostile_column_and_version_text_is_escaped(history, tmp_path):
    hostile = history.copy()
    evil = '<script>alert("x")</script>"\n'
    hostile.loc[hostile["metric"] == "feature_drift:x", "metric"] = f"feature_drift:{evil}"
    hostile.loc[hostile["window"] == "2024-W06", "model_version"] = "<img src=x onerror=1>"
    page, prom = write_dashboard(hostile, tmp_path, title="<b>T</b>")
    html = page.read_text()
    assert "<script>" not in html and "<img" not in html and "<b>T</b>" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=1&gt;" in html
    text = prom.read_text()
    assert 'metric="feature_drift:<script>alert(\\"x\\")</script>\\"\\n"' in text
    assert len([line for line in text.splitlines() if line.startswith("mlprod_monitoring_alert{")]) == \
        len(hostile[hostile["window"] == "2024-W06"])


def test_empty_history_renders_and_bad_inputs_say_what_to_do(tmp_path):
    from mlprod.monitoring.history import COLUMNS

    page, prom = write_dashboard(pd.DataFrame({c: [] for c in COLUMNS}), tmp_path / "empty")
    assert "The monitoring history is empty" in page.read_text()
    assert "mlprod_monitoring_windows 0.0" in prom.read_text()
    with pytest.raises(MonitoringError, match="missing column"):
        write_dashboard(pd.DataFrame({"window": ["a"]}), tmp_path / "x")
    with pytest.raises(MonitoringError, match="decision record"):
        write_dashboard(pd.DataFrame({c: [] for c in COLUMNS}), tmp_path / "x", decision=tmp_path / "nope.json")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputPathError):
        write_dashboard(pd.DataFrame({c: [] for c in COLUMNS}), tmp_path / "file")


def test_history_file_path_and_decision_file_are_accepted(history, tmp_path):
    from mlprod.monitoring.history import write_history

    path = write_history(tmp_path / "history.parquet", history)
    record = decision_for(history).write(tmp_path / "decision.json")
    page, _ = write_dashboard(path, tmp_path / "out", decision=record)
    assert page.read_bytes() == write_dashboard(history, tmp_path / "o2", decision=decision_for(history))[0].read_bytes()


def test_alerts_and_threshold_lines_say_on_which_side_they_fire(history, tmp_path):
    html = write_dashboard(history, tmp_path)[0].read_text()
    table = html[html.index("<h2>Alerts in 2024-W06</h2>"):html.index("Estimated vs realised ROC AUC")]
    cell = r"</b></td><td class=\"num\">[^<]+</td>\s*<td class=\"num\">"
    assert re.search(r"<b>feature_drift:x" + cell + r"below 0\.05</td>", table)
    assert re.search(r"<b>feature_drift_share" + cell + r"above 0\.\d+</td>", table)
    figure = html[html.index("<figcaption>estimate_disagreement"):]
    figure = figure[:figure.index("</figure>")]
    assert figure.count("alert outside</text>") == 1
    assert figure.count('stroke="#b42318" stroke-width="1.2"') == 2  # the band: +tolerance and -tolerance
    figure = html[html.index("<figcaption>roc_auc"):]
    assert figure[:figure.index("</figure>")].count("alert below</text>") == 1
    assert "alert at</text>" not in html  # every threshold here has its side


def test_a_version_1_history_file_renders_bare_thresholds(history, tmp_path):
    from tests.test_monitoring_history import write_version_1

    write_version_1(tmp_path / "history.parquet", history)
    page, prom = write_dashboard(tmp_path / "history.parquet", tmp_path / "out", decision=decision_for(history))
    html = page.read_text()
    table = html[html.index("<h2>Alerts in 2024-W06</h2>"):html.index("Estimated vs realised ROC AUC")]
    assert re.search(r"<b>feature_drift:x</b></td><td class=\"num\">[^<]+</td>\s*<td class=\"num\">0\.05</td>",
                     table)
    assert "below" not in table and "alert at</text>" in html and "alert below</text>" not in html
    assert 'mlprod_monitoring_threshold{alert_when="",kind="drift",metric="feature_drift:x"} 0.05' in prom.read_text()
    without = history.drop(columns="alert_when")  # a version-1 frame passed directly
    assert write_dashboard(without, tmp_path / "frame")[0].read_text().count("alert at</text>") > 0
