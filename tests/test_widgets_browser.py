"""Acceptance in a real browser: the threshold explorer in JupyterLab set to 0.7 through its slider shows mlprod's
own confusion matrix; the explorers' static renderings fit a phone and a desktop screen without network."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix

from browser import check_page, chromium, jupyterlab
from pipeline import copy_project, repro

NOTEBOOK = "explore_threshold.ipynb"
SOURCE = """import mlprod
from mlprod.data import read_table
from mlprod.widgets.threshold import business_case, threshold_explorer

holdout = read_table("data/prepared/holdout.parquet")
scores = mlprod.load_model("models/model").predict_proba(holdout)[:, 1]
threshold_explorer(holdout["converted"].to_numpy(), scores, threshold=0.5, case=business_case(holdout))"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("widgets") / "project", n_rows=3000)
    repro(root, "evaluate")
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "explore", "metadata": {}, "outputs": [],
                     "source": SOURCE}],
          "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                       "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    (root / NOTEBOOK).write_text(json.dumps(nb))
    return root


def expected_at(project: Path, threshold: float) -> dict[str, int]:
    """mlprod's computation at ``threshold``, checked against scikit-learn's confusion matrix here."""
    import mlprod
    from mlprod.widgets.threshold import threshold_point

    holdout = pd.read_parquet(project / "data/prepared/holdout.parquet")
    scores = mlprod.load_model(project / "models/model").predict_proba(holdout)[:, 1]
    y = holdout["converted"].to_numpy()
    ours = threshold_point(y, scores, threshold).matrix()
    tn, fp, fn, tp = confusion_matrix(y, (scores >= threshold).astype(int), labels=[0, 1]).ravel()
    assert ours == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    return ours


def test_the_evaluate_stage_saves_the_static_threshold_rendering(project):
    executed = next((project / "reports/notebooks/evaluate").glob("*.ipynb"))
    outputs = [o for c in json.loads(executed.read_text())["cells"] if c.get("id") == "threshold-explorer"
               for o in c.get("outputs", [])]
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert 'class="mlprod-threshold" data-threshold="0.5000"' in html
    shown = dict(re.findall(r'data-cell="(\w+)">([\d,]+)<', html))
    assert {k: int(v.replace(",", "")) for k, v in shown.items()} == expected_at(project, 0.5)
    # no widget state saved, so the executed page shows the static rendering, not an empty widget
    assert "widgets" not in json.loads(executed.read_text())["metadata"]
    page = (project / "reports/notebooks/evaluate/evaluate.html").read_text()
    assert 'class="mlprod-threshold" data-threshold="0.5000"' in page and "html-manager" not in page


def test_threshold_slider_set_to_0_7_shows_mlprods_confusion_matrix(project, tmp_path, monkeypatch):
    expected = expected_at(project, 0.7)
    # JupyterLab's own state in this test's folders: another session's open tabs are not restored here
    monkeypatch.setenv("JUPYTERLAB_WORKSPACES_DIR", str(tmp_path / "workspaces"))
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(tmp_path / "settings"))
    with jupyterlab(project) as lab, chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(lab.lab_url(NOTEBOOK))
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=30_000)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=30_000)  # the kernel is ready
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        readout = page.locator(".widget-slider .widget-readout").first
        readout.wait_for(timeout=40_000)
        page.locator('.mlprod-threshold[data-threshold="0.5000"]').wait_for(timeout=10_000)
        readout.click()  # the slider's readout is the text box users type a value into
        page.keyboard.press("Control+A")
        page.keyboard.type("0.7")
        page.keyboard.press("Enter")
        shown = page.locator('.mlprod-threshold[data-threshold="0.7000"]')
        shown.wait_for(timeout=15_000)
        cells = {name: int(shown.locator(f'td[data-cell="{name}"]').inner_text().replace(",", ""))
                 for name in ("tp", "fp", "fn", "tn")}
    assert cells == expected


def _page(tmp_path: Path, name: str, fragment: str) -> str:
    path = tmp_path / f"{name}.html"
    path.write_text('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
                    f'content="width=device-width, initial-scale=1"><title>{name}</title></head><body>{fragment}'
                    "</body></html>", encoding="utf-8")
    return path.as_uri()


def test_static_renderings_fit_360_and_1400_px_without_network(tmp_path):
    from mlprod.drift import DriftSettings, detect_drift
    from mlprod.widgets import drift as wd
    from mlprod.widgets import pipeline as wp
    from mlprod.widgets import threshold as wt

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 5000)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    case = wt.BusinessCase({"value_per_conversion": 120.0, "cost_per_wasted_call": 8.0}, 1234.5,
                           "costs: params.yaml monitor.kpis.net_value; cases per day: the holdout rows per day")
    n = 3000
    ref = pd.DataFrame({"days_since_last_activity_in_the_crm": rng.exponential(20, n),
                        "acquisition_channel_name": rng.choice(["organic_search", "paid_search_campaign_2024"], n)})
    cur = pd.DataFrame({"days_since_last_activity_in_the_crm": rng.exponential(35, n),
                        "acquisition_channel_name": rng.choice(["organic_search", "a_very_long_new_channel"], n)})
    report = detect_drift(ref, cur, settings=DriftSettings(target=None, prediction=None, date_column=None))
    weeks = [f"2024-W{i:02d}" for i in range(1, 13)]
    history = pd.DataFrame([{"window": w, "window_start": str(pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=i))[:10],
                             "window_end": str(pd.Timestamp("2024-01-07") + pd.Timedelta(weeks=i))[:10],
                             "metric": "feature_drift:days_since_last_activity_in_the_crm", "kind": "drift",
                             "value": 0.05 * i, "threshold": 0.1, "alert": 0.05 * i >= 0.1, "alert_when": "above",
                             "model_version": "1.0.0" if i < 6 else "1.1.0", "rows": 500, "labelled_rows": 0,
                             "as_of": "x"} for i, w in enumerate(weeks)])
    pipeline = wp.pipeline_graph(Path(__file__).resolve().parent.parent / "dvc.yaml")
    status = wp.PipelineStatus(pipeline, {"model_card": ("dep reports/register/a_rather_long_file_name_decision.json: "
                                                         "modified",), "train": ("changed command",)})
    pages = {"threshold": wt.render_threshold(wt.threshold_point(y, s, 0.42, case=case), case),
             "drift_numeric": wd.drift_explorer(report, history).html,
             "drift_categorical": wd.render_column(wd.column_view(report, "acquisition_channel_name")),
             "pipeline": wp.render_pipeline(status)}
    problems = []
    with chromium() as browser:
        for name, fragment in pages.items():
            url = _page(tmp_path, name, fragment)
            for width in (360, 1400):
                problems += check_page(browser, url, width).problems()
    assert problems == []
