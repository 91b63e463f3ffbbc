"""``mlprod experiment analyze`` on real files: a table or the prediction log with label files; first exposures,
units in two arms, a planted sample-ratio mismatch, strata, the HTML + JSON report and the CLI's errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from mlprod.cli import main
from mlprod.traffic.analysis import analyze, from_log, from_table, plan, report

TAU2 = plan(0.12, 0.02).tau2


def exposures_table(n=20_000, *, control_share=0.5, lift=0.02, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < control_share, "control", "treatment")
    rate = np.where(arm == "control", 0.12, 0.12 + lift)
    outcome = (rng.random(n) < rate).astype(int)
    return pd.DataFrame({"unit_id": [f"u{i}" for i in range(n)], "arm": arm, "outcome": outcome,
                         "revenue": outcome * rng.gamma(2.0, 50.0, n), "region": rng.choice(["north", "south"], n),
                         "score": np.clip(rate + 0.2 * outcome + rng.normal(0, 0.1, n), 0, 1)})


def test_planted_sample_ratio_mismatch_is_reported(tmp_path):
    table = exposures_table(100_000, control_share=0.506, lift=0.0)  # ~50,600 vs 49,400
    table.to_parquet(tmp_path / "exp.parquet")
    result = analyze(from_table(tmp_path / "exp.parquet"), tau2=TAU2)
    assert result["sample_ratio"]["mismatch"] and result["sample_ratio"]["p_value"] < 0.001
    assert not result["verdict"]["trustworthy"]
    html = report.render_html(result)
    assert "Sample-ratio mismatch: results are not trustworthy" in html
    balanced = analyze(from_table(tmp_path / "exp.parquet"), tau2=TAU2, shares={"control": 0.506, "treatment": 0.494})
    assert not balanced["sample_ratio"]["mismatch"]


def test_units_counted_once_at_first_exposure_and_units_in_two_arms_left_out(tmp_path):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = [("a", "control", 1, t0 + timedelta(hours=2)),   # a's first exposure is the later row in the file ...
            ("a", "control", 0, t0),                         # ... this one, by time
            ("b", "treatment", 1, t0), ("b", "treatment", 1, t0 + timedelta(hours=1)),
            ("c", "control", 0, t0), ("c", "treatment", 1, t0 + timedelta(hours=1)),  # two arms: left out
            ("d", "treatment", 0, t0), ("e", "control", 1, t0)]
    pd.DataFrame(rows, columns=["unit_id", "arm", "outcome", "logged_at"]).to_csv(tmp_path / "exp.csv", index=False)
    exposures = from_table(tmp_path / "exp.csv")
    assert exposures.units_in_two_arms == 1 and exposures.examples_in_two_arms == ["c"]
    assert exposures.repeat_exposures == 2
    by_unit = exposures.frame.set_index("unit")["outcome"].to_dict()
    assert by_unit == {"a": 0.0, "b": 1.0, "d": 0.0, "e": 1.0}
    result = analyze(exposures, tau2=TAU2)
    assert result["per_arm"]["control"]["units"] == 2 and result["per_arm"]["treatment"]["units"] == 2
    assert result["input"]["units_in_two_arms_excluded"] == 1


def test_per_arm_strata_kpi_and_metrics_with_known_answers(tmp_path):
    table = exposures_table()
    table.to_csv(tmp_path / "exp.csv", index=False)
    result = analyze(from_table(tmp_path / "exp.csv", kpi="revenue", strata=["region"]), tau2=TAU2)
    control = table[table["arm"] == "control"]
    arm = result["per_arm"]["control"]
    assert arm["units"] == len(control) and arm["rate"] == pytest.approx(control["outcome"].mean())
    from scipy.stats import binomtest
    ci = binomtest(int(control["outcome"].sum()), len(control)).proportion_ci(method="wilson")
    assert arm["rate_ci"] == pytest.approx([ci.low, ci.high])
    assert arm["kpi"]["mean"] == pytest.approx(control["revenue"].mean())
    from sklearn.metrics import roc_auc_score
    assert arm["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(control["outcome"], control["score"]))
    comparison = result["comparisons"]["treatment"]
    assert comparison["significant"] and comparison["ci"][0] > 0  # a planted +0.02 on 20,000 units
    assert comparison["ci"][0] < comparison["ci_fixed_horizon"][0]  # the always-valid interval is wider
    levels = {lv["level"]: lv for lv in result["strata"]["region"]["levels"]}
    assert set(levels) == {"north", "south"}
    north = table[(table["region"] == "north") & (table["arm"] == "treatment")]
    assert levels["north"]["per_arm"]["treatment"]["units"] == len(north)
    assert result["settings"]["strata"] == ["region"]


def test_report_json_sorted_schema_versioned_and_html_escaped(tmp_path):
    table = exposures_table(2_000)
    table["arm"] = table["arm"].replace({"treatment": "<b>new</b>"})
    table.to_csv(tmp_path / "exp.csv", index=False)
    result = analyze(from_table(tmp_path / "exp.csv"), tau2=TAU2)
    json_path, html_path = report.write(result, tmp_path / "out")
    text = json_path.read_text()
    data = json.loads(text)
    assert data["schema_version"] == 1 and data["schema"] == "experiment_analysis"
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    html = html_path.read_text()
    assert "&lt;b&gt;new&lt;/b&gt;" in html and "<b>new</b>" not in html
    assert "<script" not in html
    again = analyze(from_table(tmp_path / "exp.csv"), tau2=TAU2)
    report.write(again, tmp_path / "out2")
    assert (tmp_path / "out2" / "experiment.json").read_bytes() == json_path.read_bytes()  # deterministic


def write_log(folder, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlprod.serving.predictionlog.schema import COLUMNS, arrow_schema

    base = {"request_id": "r", "row": 0, "model_name": "m", "model_sha256": "0" * 64, "tier": "primary",
            "fallback_reason": None, "filled_features": [], "needs_review": False, "features": None, "decision": 1}
    records = [{**base, "row": i, **r} for i, r in enumerate(rows)]
    table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in records], schema=arrow_schema())
    day = folder / "2026-01-01"
    day.mkdir(parents=True)
    pq.write_table(table, day / "host-1-20260101T000000000000Z-000001.parquet")


def test_prediction_log_joined_with_label_files(tmp_path):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(400):
        arm = "control" if i % 2 else "challenger"
        rows.append({"logged_at": t0 + timedelta(seconds=i), "unit_id": f"L{i}", "experiment": "exp1", "arm": arm,
                     "model_version": "1" if arm == "control" else "2", "score": (i % 10) / 10})
    rows.append({"logged_at": t0 + timedelta(seconds=500), "unit_id": "L1", "experiment": "exp1", "arm": "challenger",
                 "model_version": "2", "score": 0.5})  # L1 was in control: now in two arms
    rows.append({"logged_at": t0, "unit_id": None, "experiment": "exp1", "arm": "control", "model_version": "1",
                 "score": 0.5})
    write_log(tmp_path / "log", rows)
    labels = tmp_path / "labels"
    labels.mkdir()
    pd.DataFrame({"lead_id": [f"L{i}" for i in range(300)], "converted": [int(i % 10 >= 7) for i in range(300)],
                  "revenue": [float(i % 7) for i in range(300)],
                  "segment": ["smb" if i % 3 else "ent" for i in range(300)]}).to_csv(labels / "a.csv", index=False)
    exposures = from_log(tmp_path / "log", labels, key="lead_id", target="converted", kpi="revenue",
                         strata=["segment"])
    assert exposures.experiment == "exp1" and exposures.units_in_two_arms == 1 and exposures.rows_without_unit == 1
    result = analyze(exposures, tau2=TAU2, control="control")
    assert result["input"]["data_until"] == "2026-01-01"  # the newest logged exposure: the report's date
    assert "data up to 2026-01-01" in report.render_html(result)
    assert result["per_arm"]["control"]["units"] == 199 and result["per_arm"]["challenger"]["units"] == 200
    assert result["per_arm"]["challenger"]["labelled"] == 150
    assert result["per_arm"]["challenger"]["model_versions"] == ["2"]
    assert result["per_arm"]["control"]["metrics"]["roc_auc"] == pytest.approx(1.0)  # score i%10/10, label i%10>=7
    assert {lv["level"] for lv in result["strata"]["segment"]["levels"]} == {"smb", "ent", "(missing)"}


def test_cli_plan_prints_table_and_writes_json(tmp_path, capsys):
    assert main(["experiment", "plan", "--baseline", "0.12", "--mde", "0.02", "--json", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "units per arm" in out and "8,492" in out and "mSPRT" in out
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["n_per_arm"] == 8492 and data["schema_version"] == 1
    table = exposures_table(4_000)
    table.to_csv(tmp_path / "exp.csv", index=False)
    assert main(["experiment", "analyze", "--plan", str(tmp_path / "p.json"), "--table", str(tmp_path / "exp.csv"),
                 "--strata", "region", "-o", str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / "experiment.json").read_text())["settings"]["tau2"] == data["tau2"]


@pytest.mark.parametrize("argv, words", [
    (["plan", "--baseline", "0.12", "--mde", "0"], "--mde must be a positive"),
    (["analyze", "--table", "{exp}"], "give --plan FILE"),
    (["analyze", "--tau2", "1e-4", "--table", "{exp}", "--kpi", "nope"], "no column(s) 'nope'"),
    (["analyze", "--tau2", "1e-4", "--table", "{exp}", "--shares", "control=0.5"], "not among the planned arms"),
    (["analyze", "--tau2", "1e-4", "--table", "{exp}", "--shares", "control=x"], "--shares: expected ARM=SHARE"),
    (["analyze", "--tau2", "1e-4", "--table", "{exp}", "--control", "nobody"], "control arm 'nobody'"),
    (["analyze", "--tau2", "1e-4", "--table", "{exp}", "--metrics", "auc"], "no metric named 'auc'"),
    (["analyze", "--plan", "{exp}", "--table", "{exp}"], "--plan"),
    (["analyze", "--tau2", "1e-4", "--table", "{tmp}/missing.csv"], "missing.csv"),
    (["analyze", "--tau2", "1e-4", "--table", "{exp}", "-o", "{exp}"], "--out folder"),
])
def test_cli_errors_are_one_message_and_exit_2(tmp_path, capsys, argv, words):
    exposures_table(500).to_csv(tmp_path / "exp.csv", index=False)
    before = (tmp_path / "exp.csv").read_bytes()
    argv = [a.format(exp=tmp_path / "exp.csv", tmp=tmp_path) for a in argv]
    assert main(["experiment", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "exp.csv").read_bytes() == before  # nothing overwritten


def _stack_tables(html: str) -> list[str]:
    import re

    return re.findall(r'<table class="stack">.*?</table>', html, flags=re.S)


def test_html_key_figures_stack_at_phone_width_without_sideways_scrolling(tmp_path):
    """At 390 px the difference, its always-valid CI and p are in the top card and every table row is a card."""
    import re

    exposures_table().to_csv(tmp_path / "exp.csv", index=False)
    result = analyze(from_table(tmp_path / "exp.csv", kpi="revenue", strata=["region"]), tau2=TAU2)
    html = report.render_html(result)
    assert "@media (max-width: 600px)" in html and "table.stack td::before { content: attr(data-label)" in html
    comparison = result["comparisons"]["treatment"]
    from mlprod.reporting.page import format_number as fmt
    card = re.search(r'<div class="card"><div class="label">treatment against control</div>.*?</div></div>', html, re.S)
    assert card and f"always-valid CI {fmt(comparison['ci'][0], 4)} to {fmt(comparison['ci'][1], 4)}" in card.group(0)
    assert f"p = {fmt(comparison['p_value'], 4)}" in card.group(0)
    tables = _stack_tables(html)
    assert len(tables) == 3 * 4  # rate, comparison, KPI, metrics: overall and per region level
    for table in tables:  # every figure carries its column's name; the header row is a thead (hidden on phones)
        assert "<thead>" in table and "<caption>" in table
        for row in re.findall(r"<tr>(?!<th).*?</tr>", table.split("</thead>")[1], flags=re.S):
            cells = re.findall(r"<td([^>]*)>", row)
            assert cells[0] == "" and all("data-label=" in c for c in cells[1:]), row
    assert 'data-label="Always-valid CI">' in html and 'data-label="p">' in html
