"""Every HTML report the example pipeline writes, in a real browser at phone (360 px) and desktop (1400 px) width:
no sideways scrolling, no network request, no console error; plus what the reports say (titles, model, version and
date, one ROC AUC value, no NaN, integer counts). One small pipeline run (and one monitoring history from the
dashboard tests' fixture) is shared by the module."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from browser import check_page, chromium
from pipeline import copy_project, repro

pytestmark = pytest.mark.e2e
WIDTHS = (360, 1400)
STAGES = ("ingest", "validate", "train", "evaluate", "fallback", "drift_report", "register", "model_card")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("reports") / "project", n_rows=6000)
    repro(root)
    return root


@pytest.fixture(scope="module")
def monitoring_pages(tmp_path_factory) -> list[Path]:
    """The monitoring dashboard and runbook of the dashboard tests' small history."""
    from mlprod.monitoring.dashboard import write_dashboard
    from mlprod.monitoring.runbook import write_runbook
    from tests.monitoring_fixture import build_history, decision_for

    root = tmp_path_factory.mktemp("monitoring")
    history = build_history(root)
    pages = write_dashboard(history, root / "out", decision=decision_for(history), title="Monitoring: leads",
                            model_name="leads")[:1]
    cwd = os.getcwd()
    os.chdir(Path(__file__).parent / "fixtures" / "monitoring")
    try:
        pages += write_runbook("leads", root / "out", params_file="params.yaml", history=history,
                               decision=decision_for(history))[1:]
    finally:
        os.chdir(cwd)
    return pages


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def reports(project: Path) -> list[Path]:
    return sorted(project.glob("reports/**/*.html"))


def test_the_pipeline_writes_every_expected_report(project):
    names = {p.relative_to(project).as_posix() for p in reports(project)}
    expected = {"reports/model_card/model_card.html", "reports/validation/report.html", "reports/drift/drift.html",
                *(f"reports/notebooks/{s}/{s}.html" for s in STAGES)}
    assert expected <= names, sorted(expected - names)


def test_every_report_reads_at_phone_and_desktop_width_offline(project, monitoring_pages, browser):
    problems = []
    for page in reports(project) + monitoring_pages:
        for width in WIDTHS:
            problems += check_page(browser, page.resolve().as_uri(), width).problems()
    assert problems == []


def test_executed_notebook_pages_are_titled_by_stage_model_and_version(project):
    version = json.loads((project / "reports" / "model_card" / "model_card.json").read_text())["details"]["version"]
    for stage in STAGES:
        html = (project / "reports" / "notebooks" / stage / f"{stage}.html").read_text()
        title = re.search(r"<title>(.*?)</title>", html).group(1)
        model = "lead-scoring-fallback" if stage == "fallback" else "lead-scoring"
        if stage in ("ingest", "validate"):  # before training: no version yet
            assert title == f"{stage} — {model}"
        else:
            assert title == f"{stage} — {model} {version}"


def test_no_nan_in_any_report_or_executed_notebook_page(project):
    for page in reports(project):
        text = re.sub(r"<(style|svg)\b.*?</\1>", "", page.read_text(), flags=re.S)
        assert not re.search(r">\s*NaN\s*<|\bNaN\b", text), page
    notebook = (project / "reports" / "notebooks" / "model_card" / "model_card.html").read_text()
    card = json.loads((project / "reports" / "model_card" / "model_card.json").read_text())
    limits = notebook.split("Known limitations", 1)[1].split("Failure modes", 1)[0]
    n = len(card["slices"]["limitations"])
    assert f"{n} known limitation(s)" in limits or (n == 0 and "no segment falls well below" in limits)


def test_every_report_names_the_model_version_and_date(project, monitoring_pages):
    card = json.loads((project / "reports" / "model_card" / "model_card.json").read_text())
    version = card["details"]["version"]
    about = {p: re.search(r'<div class="about">(.*?)</div>', p.read_text()).group(1)
             for p in [project / "reports" / f for f in ("model_card/model_card.html", "drift/drift.html",
                                                            "validation/report.html")] + monitoring_pages}
    for page, line in about.items():
        assert re.search(r"\b\d{4}-\d{2}-\d{2}$", line), (page, line)
    lines = list(about.values())
    assert lines[0] == f"Model <strong>lead-scoring {version}</strong> · created {card['details']['created_at'][:10]}"
    assert lines[1].startswith(f"Model <strong>lead-scoring {version}</strong> · data up to ")
    assert lines[2].startswith("Model <strong>lead-scoring</strong> (no version yet) · data up to ")
    assert lines[3].startswith("Model <strong>leads 1.1.0</strong> · computed up to 2024-02-20")
    assert lines[4].startswith("Model <strong>leads 1.1.0</strong> · monitoring up to 2024-02-20")


def test_the_pipeline_card_shows_one_roc_auc_value(project):
    stored = json.loads((project / "metrics" / "evaluation.json").read_text())["holdout"]["roc_auc"]
    card = json.loads((project / "reports" / "model_card" / "model_card.json").read_text())
    assert stored == round(card["slices"]["overall"], 6)  # six places: rounded once, on display
    markdown = (project / "reports" / "model_card" / "model_card.md").read_text()
    shown = f"{stored:.3f}"
    assert f"| **Holdout ROC AUC** | {shown} on" in markdown and f"overall {shown} on" in markdown
    assert f"| ROC AUC | {shown} |" in markdown


def test_row_counts_are_integers_in_the_validation_pages(project):
    for page in ("reports/validation/report.html", "reports/notebooks/validate/validate.html"):
        text = (project / page).read_text()
        assert not re.search(r">\s*\d[\d,]*\.0\s*<", text), page
