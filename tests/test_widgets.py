"""The explorers' computations (library values, no widgets) and their static renderings."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix

from mlprod.errors import DataError, DriftError, MlprodError
from mlprod.widgets import drift as wd
from mlprod.widgets import pipeline as wp
from mlprod.widgets import threshold as wt
from pipeline import GIT, REPO, sh

COSTS = {"value_per_conversion": 120.0, "cost_per_wasted_call": 8.0, "min": None}


def _scores(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).round(2)  # rounded: many scores tie with a threshold
    return y, s


# --- threshold ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_threshold_point_matches_sklearn_confusion_matrix(threshold):
    y, s = _scores()
    point = wt.threshold_point(y, s, threshold)
    tn, fp, fn, tp = confusion_matrix(y, (s >= threshold).astype(int), labels=[0, 1]).ravel()
    assert point.matrix() == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert all(type(v) is int for v in point.matrix().values())
    assert point.precision == (pytest.approx(tp / (tp + fp)) if tp + fp else None)
    assert point.recall == pytest.approx(tp / (tp + fn))


def test_a_score_equal_to_the_threshold_is_flagged():
    point = wt.threshold_point([1, 0], [0.7, 0.69999], 0.7)
    assert (point.tp, point.fp, point.fn, point.tn) == (1, 0, 0, 1)


def test_value_is_the_net_value_kpi_and_scales_to_a_day():
    y, s = _scores()
    case = wt.BusinessCase(COSTS, cases_per_day=40.0)
    point = wt.threshold_point(y, s, 0.6, case=case)
    by_hand = (point.tp * 120.0 - point.fp * 8.0)
    assert point.value_per_flagged == pytest.approx(by_hand / point.flagged)
    assert point.value_per_case == pytest.approx(by_hand / len(y))
    assert point.flagged_per_day == pytest.approx(point.flagged / len(y) * 40.0)
    assert point.value_per_day == pytest.approx(by_hand / len(y) * 40.0)


def test_nothing_flagged_renders_without_nan_and_counts_as_integers():
    case = wt.BusinessCase(COSTS, cases_per_day=None, source="costs <b>x</b>")
    point = wt.threshold_point([0, 1, 1], [0.1, 0.2, 0.3], 1.0, case=case)
    assert point.precision is None and point.value_per_flagged is None and point.value_per_case == 0.0
    html = wt.render_threshold(point, case, title="<script>alert(1)</script>")
    assert "nan" not in html.lower() and "<script>alert" not in html and "&lt;b&gt;x" in html
    cells = dict(re.findall(r'data-cell="(\w+)">([^<]*)<', html))
    assert cells == {"tp": "0", "fn": "2", "fp": "0", "tn": "1"}
    big = wt.threshold_point(np.ones(12345, dtype=int), np.full(12345, 0.9), 0.5)
    assert 'data-cell="tp">12,345<' in wt.render_threshold(big)


@pytest.mark.parametrize("labels, scores, threshold, words", [
    ([0, 1], [0.2], 0.5, "same length"),
    ([0, 1], [0.2, 1.4], 0.5, "probabilities"),
    ([0, 1], [0.2, float("nan")], 0.5, "probabilities"),
    ([0, 2], [0.2, 0.3], 0.5, "0/1"),
    ([0, 1], [0.2, 0.3], 1.5, "in [0, 1]"),
])
def test_bad_inputs_say_what_is_expected(labels, scores, threshold, words):
    with pytest.raises(DataError, match=re.escape(words)):
        wt.threshold_point(labels, scores, threshold)


def test_cases_per_day_from_dates_and_from_the_monitoring_history():
    dates = pd.Series(pd.to_datetime(["2024-04-01 09:00", "2024-04-01 17:00", "2024-04-10 08:00"]))
    assert wt.cases_per_day_of_dates(dates) == pytest.approx(3 / 10)
    history = pd.DataFrame({"window": ["2024-W01", "2024-W02"], "window_start": ["2024-01-01", "2024-01-08"],
                            "window_end": ["2024-01-07", "2024-01-14"], "metric": "rows", "kind": "volume",
                            "value": [700.0, 1400.0], "threshold": None, "alert": False, "alert_when": None,
                            "model_version": "1.0.0", "rows": [700, 1400], "labelled_rows": 0, "as_of": "x"})
    assert wt.cases_per_day_of_history(history) == pytest.approx(2100 / 14)


def test_business_case_reads_costs_and_date_column_from_params(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("project: {date_column: day}\nmonitor:\n  kpis:\n    net_value: {value_per_conversion: 50, "
                      "cost_per_wasted_call: 5}\n")
    data = pd.DataFrame({"day": ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-04"]})
    case = wt.business_case(data, params_file=params)
    assert case.costs["value_per_conversion"] == 50.0 and case.cases_per_day == pytest.approx(1.0)
    params.write_text("monitor:\n  kpis:\n    net_value: {value_per_conversion: 50, cost_per_call: 5}\n")
    with pytest.raises(MlprodError, match="unknown key"):
        wt.business_case(params_file=params)
    params.write_text("project: {}\n")
    none = wt.business_case(params_file=params)
    assert none.costs is None and "no monitor.kpis.net_value" in none.source
    assert "n/a" in wt.render_threshold(wt.threshold_point([1], [0.9], 0.5, case=none), none)


def test_the_explorer_redraws_on_the_slider_and_its_fallback_follows():
    y, s = _scores(300)
    explorer = wt.threshold_explorer(y, s, threshold=0.5, case=wt.BusinessCase(COSTS, 10.0))
    slider, html = explorer.widget.children
    slider.value = 0.7
    expected = wt.render_threshold(wt.threshold_point(y, s, 0.7, case=wt.BusinessCase(COSTS, 10.0)),
                                   wt.BusinessCase(COSTS, 10.0))
    assert html.value == expected and explorer.html == expected
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/html"] == expected and "application/vnd.jupyter.widget-view+json" in bundle


def test_inside_a_pipeline_stage_the_explorer_is_its_static_rendering_alone(monkeypatch):
    """Under mlprod run (MLPROD_STAGE) no widget is built: the executed notebook holds text/html only."""
    monkeypatch.setenv("MLPROD_STAGE", "evaluate")
    y, s = _scores(300)
    explorer = wt.threshold_explorer(y, s, threshold=0.5, case=wt.BusinessCase(COSTS, 10.0))
    assert not hasattr(explorer, "widget") and not hasattr(explorer, "_repr_mimebundle_")
    assert explorer._repr_html_() == wt.render_threshold(wt.threshold_point(y, s, 0.5, case=wt.BusinessCase(
        COSTS, 10.0)), wt.BusinessCase(COSTS, 10.0))


# --- drift --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report():
    from mlprod.drift import DriftSettings, detect_drift

    rng = np.random.default_rng(1)
    n = 1500
    ref = pd.DataFrame({"income": rng.normal(50, 10, n), "region <b>": rng.choice(["north", "south"], n),
                        "age": rng.normal(40, 8, n)})
    cur = pd.DataFrame({"income": rng.normal(70, 10, n), "region <b>": rng.choice(["north", "south", "east"], n),
                        "age": rng.normal(40, 8, n)})
    return detect_drift(ref, cur, settings=DriftSettings(target=None, prediction=None, date_column=None))


def test_columns_drifted_first_and_each_view_has_test_threshold_and_reasons(report):
    names = wd.columns_of(report)
    assert names[0] == "income" and names[-1] == "age" and set(names) == {"income", "region <b>", "age"}
    view = wd.column_view(report, "income")
    assert view.result.drifted and view.result.threshold is not None and view.plot["kind"] == "numeric"
    assert view.required and view.reasons
    html = wd.render_column(view)
    assert "Drift when" in html and "share of rows" in html and ">income</text>" in html  # axis titles
    assert "nan" not in html.lower() and "No monitoring history" in html


def test_categorical_column_is_escaped_and_names_its_axes(report):
    html = wd.render_column(wd.column_view(report, "region <b>"))
    assert "region <b>" not in html and "region &lt;b&gt;" in html
    assert "share per category" in html and "new category" in html


def test_unknown_column_says_which_exist(report):
    with pytest.raises(DriftError, match="its columns"):
        wd.column_view(report, "incom")


def test_timeline_from_the_monitoring_history(report):
    weeks = ["2024-W01", "2024-W02", "2024-W03"]
    rows = [{"window": w, "window_start": f"2024-01-0{1 + 7 * i}" if i < 2 else "2024-01-15",
             "window_end": "2024-01-21", "metric": m, "kind": k, "value": v, "threshold": t, "alert": a,
             "alert_when": "above" if t is not None else None, "model_version": "1.0.0", "rows": 100,
             "labelled_rows": 0, "as_of": "x"}
            for i, w in enumerate(weeks)
            for m, k, v, t, a in (("feature_drift:income", "drift", [0.05, 0.2, 0.4][i], 0.1, i > 0),
                                  ("rows", "volume", 100.0, None, False))]
    view = wd.column_view(report, "income", pd.DataFrame(rows))
    assert view.windows == tuple(weeks) and view.timeline.values == [0.05, 0.2, 0.4]
    assert view.timeline.alerts == [False, True, True]
    html = wd.render_column(view)
    assert "drift statistic per monitoring window" in html and "2024-W03" in html
    assert wd.column_view(report, "age", pd.DataFrame(rows)).timeline is None  # no rows for that column


def test_drift_explorer_chooser_and_static_summary(report):
    explorer = wd.drift_explorer(report)
    chooser, html = explorer.widget.children
    assert chooser.value == "income" and 'data-column="income"' in explorer.html
    chooser.value = "age"
    assert 'data-column="age"' in html.value and 'data-column="age"' in explorer.html
    assert explorer.html.count("<li>") >= 3  # every column in the static summary


# --- pipeline -----------------------------------------------------------------------------------------------------

def test_graph_of_the_example_pipeline_orders_every_stage_after_its_inputs():
    pipeline = wp.pipeline_graph(REPO / "dvc.yaml")
    order = pipeline.names
    assert order[0] == "ingest" and order[-1] == "model_card"
    for stage in pipeline.stages:
        assert all(order.index(up) < order.index(stage.name) for up in stage.upstream)
    upstream = {s.name: s.upstream for s in pipeline.stages}
    assert "evaluate" in upstream["drift_report"] and "train" in upstream["evaluate"]
    assert "register" in upstream["model_card"]


def test_parse_status_names_changed_deps_params_outs_and_command():
    parsed = wp.parse_status({"train": [{"changed deps": {"notebooks/train.ipynb": "modified",
                                                          "params.yaml": {"train.learning_rate": "modified"}}},
                                        {"changed outs": {"models/trained": "not in cache"}}, "changed command"],
                              "pipelines/monitoring/dvc.yaml:score": ["always changed"]})
    assert parsed["train"] == ("dep notebooks/train.ipynb: modified", "param train.learning_rate (params.yaml): modified",
                               "out models/trained: not in cache", "changed command")
    assert parsed["score"] == ("always changed",)


def test_not_a_pipeline_file_is_one_clear_error(tmp_path):
    (tmp_path / "dvc.yaml").write_text("plots: []\n")
    with pytest.raises(MlprodError, match="no 'stages:'"):
        wp.pipeline_graph(tmp_path / "dvc.yaml")
    with pytest.raises(MlprodError, match="cannot read"):
        wp.pipeline_graph(tmp_path / "missing.yaml")


@pytest.fixture
def tiny_dvc(tmp_path):
    """A real DVC project: `make` writes a.txt, `count` reads it and writes b.txt (printing progress)."""
    root = tmp_path / "p"
    root.mkdir()
    py = sys.executable
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  count:\n"
        f"    cmd: {py} -c \"import time; [print('step', i, flush=True) or time.sleep(0.2) for i in range(3)]; "
        "open('b.txt', 'w').write(open('a.txt').read())\"\n"
        "    deps: [a.txt]\n    outs: [b.txt]\n"
        "  make:\n"
        f"    cmd: {py} -c \"open('a.txt', 'w').write('x')\"\n"
        "    outs: [a.txt]\n")
    sh(["git", "init", "-q"], root)
    sh([str(Path(py).parent / "dvc"), "init", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh([*GIT, "commit", "-qm", "init"], root)
    return root


def test_stage_runs_in_a_subprocess_streaming_lines_and_status_follows(tiny_dvc, monkeypatch):
    monkeypatch.delenv("MLPROD_STAGE", raising=False)
    dvc_file = tiny_dvc / "dvc.yaml"
    assert wp.pipeline_graph(dvc_file).names == ["make", "count"]
    before = wp.pipeline_status(dvc_file)
    assert set(before.stale) == {"make", "count"}
    assert wp.start_stage("make", dvc_file).wait(60) == 0
    lines, codes = [], []
    started = time.monotonic()
    run = wp.start_stage("count", dvc_file, on_line=lines.append, on_exit=codes.append)
    assert time.monotonic() - started < 0.5 and run.running  # returned at once: the caller is not blocked
    assert run.wait(60) == 0 and codes == [0]
    assert [line for line in lines if line.startswith("step")] == ["step 0\n", "step 1\n", "step 2\n"]
    assert (tiny_dvc / "b.txt").read_text() == "x"
    after = wp.pipeline_status(dvc_file)
    assert after.stale == {}
    html = wp.render_pipeline(after)
    assert "0 of 2 stage(s) stale" in html and "up to date" in html
    with pytest.raises(MlprodError, match="its stages: make, count"):
        wp.start_stage("cuont", dvc_file)


def test_inside_a_pipeline_stage_dvc_is_never_asked(tiny_dvc, monkeypatch):
    monkeypatch.setenv("MLPROD_STAGE", "evaluate")
    monkeypatch.setattr(wp, "_dvc", lambda: pytest.fail("dvc must not run inside a stage"))
    status = wp.pipeline_status(tiny_dvc / "dvc.yaml")
    assert status.stale is None and "inside a pipeline stage" in wp.render_pipeline(status)


def test_render_marks_stale_stages_with_escaped_reasons():
    pipeline = wp.pipeline_graph(REPO / "dvc.yaml")
    html = wp.render_pipeline(wp.PipelineStatus(pipeline, {"train": ("dep <x>: modified",)}))
    assert "1 of 8 stage(s) stale" in html and "dep &lt;x&gt;: modified" in html
    assert html.index('data-stage="ingest"') < html.index('data-stage="train"')
