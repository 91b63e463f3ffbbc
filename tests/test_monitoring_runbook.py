"""The incident runbook: golden Markdown for a fixture history, escaping, strict settings, rollback target.

Regenerate the golden file after an intended change:
    MLPROD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_monitoring_runbook.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlprod.errors import CardError, MonitoringError
from mlprod.monitoring.runbook import rollback_target, write_runbook
from tests.monitoring_fixture import build_history, decision_for

FIXTURES = Path(__file__).parent / "fixtures" / "monitoring"
GOLDEN = FIXTURES / "runbook.md"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    return build_history(tmp_path_factory.mktemp("project"))


def regenerate(history, out: Path) -> str:
    """The runbook Markdown of the fixture (relative params path so the golden file does not hold tmp paths)."""
    cwd = os.getcwd()
    os.chdir(FIXTURES)
    try:
        md, _ = write_runbook("leads", out, params_file="params.yaml", history=history, decision=decision_for(history))
    finally:
        os.chdir(cwd)
    return md.read_text()


def test_runbook_markdown_matches_the_golden_file(history, tmp_path):
    text = regenerate(history, tmp_path)
    if os.environ.get("MLPROD_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "runbook changed; if intended: MLPROD_UPDATE_GOLDEN=1 pytest " + __file__
    assert regenerate(history, tmp_path / "again") == text  # deterministic


def test_runbook_says_what_each_alert_is_and_how_to_act(history, tmp_path):
    text = regenerate(history, tmp_path)
    for needle in ("`kpi top_share_conversions`", "below 0.3 (min)", "below 0.7 (reference ROC AUC 0.75",
                   "`drift feature_drift:x`", "at least 100 new labelled row(s)", "`mlprod registry history leads`",
                   "`mlprod rollback leads --reason \"TEXT\"`", "`mlprod retrain`", "`dvc plots show`",
                   "Owners: Lead scoring team &lt;ml-team@example.com&gt;", "**retrain**"):
        assert needle in text, needle
    html = (tmp_path / "runbook.html").read_text()
    assert "<script" not in html and "Lead scoring team &lt;ml-team@example.com&gt;" in html


def test_hostile_owner_column_and_model_names_are_escaped(history, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text('card:\n  owners: ["<script>alert(1)</script>", "[x](javascript:alert(1))"]\n'
                      '  contact: "<img src=x onerror=alert(1)>"\n')
    hostile = history.copy()
    hostile.loc[hostile["metric"] == "feature_drift:x", "metric"] = "feature_drift:a|b<i>`c"
    md, html = write_runbook("m<b>`x", tmp_path / "out", params_file=params, history=hostile)
    text, page = md.read_text(), html.read_text()
    for raw in ("<script>", "<img", "<i>", "<b>"):
        assert raw not in page, raw  # a Markdown link in HTML is plain text
    for raw in ("<script>", "<img", "](javascript:"):
        assert raw not in text, raw
    import re

    outside_code = re.sub(r"(`+)(?:(?!\1).)*?\1", "", text)  # Markdown shows code spans literally
    assert "<" not in outside_code, outside_code
    assert text.startswith("# Incident runbook: m&lt;b&gt;\\`x\n")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "`` drift feature_drift:a\\|b<i>`c ``" in text  # a code span shows it literally; | escaped for the table
    assert "a|b&lt;i&gt;`c" in page


def test_settings_are_read_strictly(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("decide:\n  consecutive_window: 2\n")
    with pytest.raises(MonitoringError, match="consecutive_windows"):
        write_runbook("leads", tmp_path / "out", params_file=params)
    params.write_text("monitor:\n  kpis:\n    top_share_conversion: {}\n")
    with pytest.raises(MonitoringError, match="top_share_conversion"):
        write_runbook("leads", tmp_path / "out", params_file=params)
    params.write_text("card:\n  owner: me\n")
    with pytest.raises(CardError, match="owner"):
        write_runbook("leads", tmp_path / "out", params_file=params)
    assert not (tmp_path / "out").exists()


def test_without_params_the_runbook_says_what_is_missing(tmp_path):
    md, _ = write_runbook("leads", tmp_path)
    text = md.read_text()
    assert "Owners: not stated (add `owners` to the `card:` section" in text
    assert "`drift feature_drift:<column>`" in text or "feature_drift:&lt;column&gt;" in text
    assert "see which with `mlprod registry history leads`" in text


def test_rollback_target_follows_the_alias_move_log():
    def move(seq, to, frm=None, action="promote"):
        return {"seq": seq, "alias": "champion", "action": action, "to_version": to, "from_version": frm,
                "state": "done"}
    data = {"aliases": {"champion": "3"}, "moves": [move(1, "1"), move(2, "2", "1"), move(3, "3", "2")]}
    assert rollback_target(data) == ("3", "2")
    data = {"aliases": {"champion": "2"}, "moves": data["moves"] + [move(4, "2", "3", "rollback")]}
    assert rollback_target(data) == ("2", "1")
    assert rollback_target({"aliases": {"champion": "1"}, "moves": [move(1, "1")]}) == ("1", None)
    assert rollback_target({"aliases": {}, "moves": []}) == (None, None)
