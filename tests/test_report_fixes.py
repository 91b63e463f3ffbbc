"""The report fixes of the JupyterLab issue, on the checked-in card fixture and small inline inputs: one ROC AUC value
everywhere (rounded once), no NaN, a consistent and explained header, titled notebook pages, drift histograms that
show their tails and name their axes, and the validation report on the shared style with integer counts."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mlprod.card import build_card, render_html, render_markdown
from test_card_golden import FAST, card_project  # noqa: F401 - the fixture project as a pytest fixture


def _auc_0_81546() -> tuple[np.ndarray, np.ndarray]:
    """1,000 negatives scored 0..999 and 100 positives above 816 or 815 of them: ROC AUC 81,546 / 100,000."""
    negatives = np.arange(1000, dtype=float)
    positives = np.array([815.5] * 46 + [814.5] * 54)
    return np.r_[np.zeros(1000), np.ones(100)], np.r_[negatives, positives] / 1000


def test_holdout_metrics_keep_six_places_so_that_reports_round_once():
    from sklearn.metrics import roc_auc_score

    from mlprod.card.text import num
    from mlprod.training.evaluation import holdout_metrics

    y, scores = _auc_0_81546()
    exact = roc_auc_score(y, scores)
    assert exact == pytest.approx(0.81546)
    stored = holdout_metrics(y, scores, threshold=0.5)["roc_auc"]
    assert stored == round(exact, 6)
    assert num(stored) == f"{exact:.3f}" == "0.815"  # four places (0.8155) showed as 0.816


def _near(text: str, value: float) -> set[str]:
    """Every 3-decimal number in ``text`` within 0.0015 of ``value``."""
    return {m for m in re.findall(r"(?<![\d.])0\.\d{3}(?![\d])", text) if abs(float(m) - value) <= 0.0015}


def test_the_card_shows_one_roc_auc_value_everywhere(card_project):  # noqa: F811
    card = build_card(settings=FAST)
    exact = card.slices.overall  # computed from the evaluation data, unrounded
    evaluation = card_project / "metrics" / "evaluation.json"
    data = json.loads(evaluation.read_text())
    data["holdout"]["roc_auc"] = round(exact, 6)  # what the evaluate stage now records
    evaluation.write_text(json.dumps(data))
    card = build_card(settings=FAST)
    markdown, html = render_markdown(card), render_html(card)
    for text in (markdown, html):
        assert _near(text, exact) == {f"{exact:.3f}"}
    glance = markdown.split("## Model details")[0]
    assert f"| **Holdout ROC AUC** | {exact:.3f} on 754 rows |" in glance
    assert f"ROC (AUC {exact:.3f})" in html


def test_no_nan_in_the_rendered_card(card_project):  # noqa: F811
    card = build_card(settings=FAST)
    for text in (render_markdown(card), render_html(card)):
        assert not re.search(r"\bnan\b", text, re.IGNORECASE)


def test_the_header_explains_promoted_beside_retraining_required_the_same_way_in_both_formats(card_project):  # noqa: F811
    from mlprod.card import header

    card = build_card(settings=FAST)
    assert card.comparison.decision == "promoted" and card.monitoring.latest == "retraining required"
    markdown, html = render_markdown(card), render_html(card)
    glance = markdown.split("## Model details")[0]
    promotion, drift = header.promotion(card), header.drift(card)
    assert (promotion.label, promotion.value) == ("Registry gates", "promoted over 1.0.0 (registry version 1)")
    assert (drift.label, drift.value) == ("Drift since training", "retraining required")
    for status in (promotion, drift):
        assert f"| **{status.label}** | {status.value} (" in glance
        assert f'<div class="label">{status.label}</div><div class="value {status.tone}">{status.value}</div>' in html
    why = header.explanation(card)
    assert why.startswith("Both hold: this model beat champion 1.0.0") and "retrain" in why
    assert f"> {why}" in glance
    assert "Champion</div>" not in html and "Last drift report</div>" not in html  # the old, unexplained tiles
    # nothing to explain once the drift report finds no reason to retrain
    calm = replace(card, monitoring=replace(card.monitoring, latest="no retraining needed", reasons=()))
    assert header.explanation(calm) is None and "Both hold" not in render_markdown(calm)


def test_the_card_names_model_version_and_date_under_its_title(card_project):  # noqa: F811
    html = render_html(build_card(settings=FAST))
    assert '<div class="about">Model <strong>lead-scoring 1.1.0</strong> · created 2026-11-23</div>' in html


def test_executed_notebook_pages_are_titled_by_stage_and_model(tmp_path):
    import nbformat

    from mlprod.manifest.store import save_model
    from mlprod.stages.html import HtmlRenderer, page_title

    assert page_title("ingest", {"output_dir": "data"}, tmp_path) == "ingest"
    (tmp_path / "params.yaml").write_text("project:\n  model_name: leads\n")
    assert page_title("ingest", {}, tmp_path, tmp_path / "params.yaml") == "ingest — leads"
    assert page_title("validate", {"model_name": "lead-scoring"}, tmp_path) == "validate — lead-scoring"
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    save_model(LogisticRegression().fit(X, [0, 0, 1, 1]), tmp_path / "models" / "model", name="lead-scoring",
               version="1.2.0", X=X)
    title = page_title("evaluate", {"model_dir": "models/model", "model_name": "other"}, tmp_path)
    assert title == "evaluate — lead-scoring 1.2.0"
    page = HtmlRenderer().render(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), title)
    assert "<title>evaluate — lead-scoring 1.2.0</title>" in page and "<title>Notebook</title>" not in page


def test_drift_histograms_show_the_tails_and_name_their_axes():
    from mlprod.drift import DriftSettings, detect_drift
    from mlprod.drift.html import render_html as drift_html

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"income": rng.uniform(0, 1000, 20_000)})
    # 15% of the current rows sit far above the reference: 0.15% of both sides together, beyond the drawn range
    current = pd.DataFrame({"income": np.r_[rng.uniform(0, 1000, 170), np.full(30, 5000.0)]})
    settings = DriftSettings.from_mapping({"target": None, "date_column": None}, where="test")
    report = detect_drift(reference, current, settings=settings)
    shown = report.plots["features"]["income"]
    assert shown["above"]["current"] == pytest.approx(0.15) and shown["above"]["reference"] == 0
    assert sum(shown["current"]) + shown["above"]["current"] + shown["below"]["current"] == pytest.approx(1)
    page = drift_html(report)
    chart = page[page.index("income: share per bin"):]
    chart = chart[:chart.index("</svg>")]
    assert f"&gt; {shown['edges'][-1]:,.0f}" in chart and "15.0% above" in chart  # the tail bar, labelled
    assert ">income</text>" in chart and ">share of rows</text>" in chart  # axis titles


def test_the_validation_report_uses_the_shared_style_with_integer_counts_and_names_the_data(tmp_path):
    from mlprod.reporting.about import about_model
    from mlprod.validation import render_html as validation_html
    from mlprod.validation import validate
    from mlprod.validation.spec import parse_schema

    frame = pd.DataFrame({"id": range(6238), "income": np.linspace(-1.0, 100.0, 6238),
                          "created_at": pd.date_range("2024-01-01", periods=6238, freq="h")})
    schema = parse_schema({"schema_version": 1, "columns": {"id": {"type": "int"}, "income": {"type": "float"},
                                                            "created_at": {"type": "datetime"}},
                           "rules": [{"name": "income_positive", "expr": "income > 0"}]})
    result = validate({"current": frame}, schema)
    about = about_model(None, model_name="lead-scoring", data=[frame], date_column="created_at")
    page = validation_html(result, schema="schema.yaml", about=about)
    assert "6,238" in page and "6238.0" not in page and not re.search(r"\bnan\b", page, re.I)
    assert "mv-badge" not in page and "mv-status" not in page and '<span class="badge bad">FAIL</span>' in page
    assert '<table class="stack">' in page and 'data-label="finding"' in page
    assert '<th class="mv-num">rows</th></tr>' not in page and "<th>result</th><th>check</th><th>finding</th></tr>" in page
    assert "Model <strong>lead-scoring</strong> (no version yet) · data up to 2024-09-16" in page
    fragment = validation_html(result, standalone=False, about=about)
    assert ".mv-report .badge.bad" in fragment and "lead-scoring" in fragment
