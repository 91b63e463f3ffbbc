"""Shadow analysis: known answers on a hand-made prediction log, segments from logged features or a table, the
command's files and its clear errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest
from scipy import stats

from mlprod.cli import main
from mlprod.errors import ExperimentError
from mlprod.serving.predictionlog import ModelRef, PredictionLogSettings, PredictionLogWriter, read_log
from mlprod.traffic.shadow import analyze_shadow

CHAMPION = [0.1, 0.4, 0.6, 0.9, 0.2, 0.7]
SHADOW = [0.2, 0.6, 0.5, 0.8, 0.1, 0.9]  # decisions at 0.5: champion 0 0 1 1 0 1, shadow 0 1 1 1 0 1
REGIONS = ["north", "north", "south", "south", "south", "north"]


def _outputs(scores):
    return pd.DataFrame({"score": scores, "decision": [int(s >= 0.5) for s in scores], "tier": "primary",
                         "fallback_reason": None, "filled_features": [()] * len(scores), "needs_review": False})


def _log(folder, *, shadow=True, extra_champion=0):
    settings = PredictionLogSettings(dir=str(folder), log_features=("region",))
    inputs = pd.DataFrame({"uid": [f"u{i}" for i in range(6)], "region": REGIONS})
    moment = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with PredictionLogWriter(settings, key="uid") as writer:
        for start in (0, 3):  # two requests of three rows
            part = slice(start, start + 3)
            writer.log_request(f"req-{start}", _outputs(CHAMPION[part]), model=ModelRef("m", "1.0.0", "a" * 64),
                               inputs=inputs.iloc[part], arm="champion", experiment="sh", logged_at=moment)
            if shadow:
                writer.log_request(f"req-{start}", _outputs(SHADOW[part]), model=ModelRef("m", "2.0.0", "b" * 64),
                                   inputs=inputs.iloc[part], arm="shadow", experiment="sh", logged_at=moment)
        if extra_champion:
            writer.log_request("lonely", _outputs([0.3] * extra_champion), model=ModelRef("m", "1.0.0", "a" * 64),
                               arm="champion", logged_at=moment)
    return folder


def test_known_answers_on_a_hand_made_log(tmp_path):
    result = analyze_shadow(read_log(_log(tmp_path / "log", extra_champion=2)), ["region"])
    o = result["overall"]
    assert o["n_paired"] == 6 and o["n_decisions"] == 6
    assert o["agreement"] == pytest.approx(5 / 6) and o["changed"] == 1
    assert o["changed_0_to_1"] == 1 and o["changed_1_to_0"] == 0
    assert o["pearson"] == pytest.approx(stats.pearsonr(CHAMPION, SHADOW)[0])
    assert o["spearman"] == pytest.approx(stats.spearmanr(CHAMPION, SHADOW)[0])
    assert o["mean_score_difference"] == pytest.approx(sum(SHADOW) / 6 - sum(CHAMPION) / 6)
    assert result["rows"] == {"champion": 8, "shadow": 6, "champion_without_shadow": 2, "shadow_without_champion": 0}
    north = result["segments"]["region"]["levels"]["north"]
    assert north["n_paired"] == 3 and north["changed"] == 1 and north["agreement"] == pytest.approx(2 / 3)
    assert result["segments"]["region"]["levels"]["south"]["changed"] == 0
    assert result["champion"] == ["m 1.0.0"] and result["shadow"] == ["m 2.0.0"] and result["schema_version"] == 1


def test_segments_from_a_table_joined_by_unit_id(tmp_path):
    table = pd.DataFrame({"unit_id": [f"u{i}" for i in range(6)], "tier": ["a", "b", "b", "b", "b", "b"]})
    result = analyze_shadow(read_log(_log(tmp_path / "log")), ["tier"], table=table)
    levels = result["segments"]["tier"]["levels"]
    assert levels["a"]["n_paired"] == 1 and levels["b"]["n_paired"] == 5 and levels["b"]["changed"] == 1


def test_no_shadow_rows_and_unknown_segments_are_clear_errors(tmp_path):
    with pytest.raises(ExperimentError, match="no shadow rows"):
        analyze_shadow(read_log(_log(tmp_path / "plain", shadow=False)))
    with pytest.raises(ExperimentError, match="log_features"):
        analyze_shadow(read_log(_log(tmp_path / "log")), ["country"])


def test_the_command_writes_sorted_json_and_html_and_exits_2_without_shadow_rows(tmp_path, capsys):
    log = _log(tmp_path / "log")
    out = tmp_path / "report"
    assert main(["experiment", "shadow", "--log", str(log), "--segment", "region", "-o", str(out)]) == 0
    text = (out / "shadow.json").read_text()
    data = json.loads(text)
    assert list(data) == sorted(data) and data["schema_version"] == 1 and data["overall"]["changed"] == 1
    html = (out / "shadow.html").read_text()
    assert "1 of 6 decisions would change" in html and "By region" in html and "<script" not in html
    assert "1 decision(s) would change" in capsys.readouterr().err
    empty = _log(tmp_path / "plain", shadow=False)
    assert main(["experiment", "shadow", "--log", str(empty), "-o", str(tmp_path / "none")]) == 2
    assert "no shadow rows" in capsys.readouterr().err and not (tmp_path / "none" / "shadow.json").exists()
    assert main(["experiment", "shadow", "--log", str(tmp_path / "missing"), "-o", str(tmp_path / "n2")]) == 2


def test_html_rows_stack_at_phone_width_every_figure_labelled(tmp_path):
    import re

    from mlprod.traffic.shadow import render_html

    html = render_html(analyze_shadow(read_log(_log(tmp_path / "log")), ["region"]))
    assert "@media (max-width: 600px)" in html and "table.stack td::before { content: attr(data-label)" in html
    assert '<div class="about">data up to 2026-11-01</div>' in html  # the newest paired row, not the clock
    tables = re.findall(r'<table class="stack">.*?</table>', html, flags=re.S)
    assert len(tables) == 2  # overall, by region
    rows = [r for t in tables for r in re.findall(r"<tr>(?!<th).*?</tr>", t.split("</thead>")[1], flags=re.S)]
    assert len(rows) == 3  # all rows, north, south
    for row in rows:
        labels = re.findall(r'data-label="([^"]*)"', row)
        assert labels == ["Paired", "Agreement", "Changed", "0 &rarr; 1", "1 &rarr; 0", "Pearson", "Spearman",
                          "Mean diff"]
