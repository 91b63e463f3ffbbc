"""End to end: the drift_report stage under real `dvc repro`, on a temporary copy of the project."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline import BIN, copy_project, sh

pytestmark = pytest.mark.e2e

SHIFTED = {"channel", "income", "days_since_last_activity"}  # what mlprod.data.demo changes from 2024-07-01
STABLE = {"age", "region", "activity_trend", "n_interactions"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("drift") / "project")
    done = sh([str(BIN / "dvc"), "repro", "drift_report"], root)
    assert "Running stage 'drift_report'" in done.stdout, done.stdout
    return root


def test_the_demo_shift_is_flagged_and_stable_features_are_not(project):
    report = json.loads((project / "metrics" / "drift.json").read_text())
    columns = report["feature_drift"]["columns"]
    assert set(columns) == SHIFTED | STABLE  # lead_id excluded; target, score and date are not features
    assert {name for name, c in columns.items() if c["drifted"]} == SHIFTED
    for name, column in columns.items():  # the test and threshold actually used are in the output
        assert column["test"] in {"wasserstein", "jensen_shannon", "ks", "chi_square"} and "threshold" in column
        assert column["chosen_by"] == "default"
    assert report["concept_drift"]["drifted_features"] == ["activity_trend"]  # its effect flips in the demo
    assert report["retrain"] is True
    triggers = {reason["trigger"] for reason in report["retrain_decision"]["reasons"]}
    assert {"feature_drift", "concept_drift"} <= triggers


def test_outputs_are_usable_by_dvc_and_prometheus(project):
    metrics = json.loads(sh([str(BIN / "dvc"), "metrics", "show", "--json"], project).stdout)
    drift = metrics[""]["data"]["metrics/drift.json"]["data"]
    assert drift["feature_drift"]["share_drifted"] == pytest.approx(3 / 7, abs=1e-6)
    plots = json.loads(sh([str(BIN / "dvc"), "plots", "show", "--json"], project).stdout)
    assert {"Drift score by column (current vs reference)", "ROC AUC by window (current data)"} <= set(plots["data"])
    prom = (project / "reports" / "drift" / "drift.prom").read_text()
    assert "mlprod_drift_retrain_required 1\n" in prom
    assert re.search(r'^mlprod_drift_feature_drifted\{feature="income"\} 1$', prom, re.MULTILINE)
    for line in prom.splitlines():  # every sample line is `name{labels} value`
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+', line), line


def test_html_report_is_self_contained_small_and_holds_no_raw_rows(project):
    html = (project / "reports" / "drift" / "drift.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert len(html.encode()) < 200_000
    assert "Retraining recommended" in html and "<svg" in html
    import pandas as pd

    current = pd.read_parquet(project / "data" / "prepared" / "current.parquet")
    incomes = [str(v) for v in current.income.head(300) if len(str(v)) >= 7]  # e.g. 61234.57
    assert incomes and not any(v in html for v in incomes)  # plots hold aggregated shares, never raw rows


def test_second_run_reruns_nothing(project):
    again = sh([str(BIN / "dvc"), "repro", "drift_report"], project)
    assert "Running stage" not in again.stdout, again.stdout


def test_cli_on_the_saved_profile_exits_nonzero_when_retraining_is_due(project):
    cmd = [str(BIN / "mlprod"), "drift", "models/model/reference_profile.json", "data/prepared/current.parquet",
           "--model", "models/model", "--baseline", "data/prepared/holdout.parquet", "--params-file", "params.yaml",
           "-o", "cli_out", "--fail-on-retrain", "--no-progress"]
    done = sh(cmd, project, check=False)
    assert done.returncode == 1, done.stderr
    assert "retrain: yes" in done.stdout and "Traceback" not in done.stderr
    assert "retraining is due" in done.stderr
    same = json.loads((project / "cli_out" / "drift.json").read_text())
    assert same == json.loads((project / "metrics" / "drift.json").read_text())


def _top_level_plots(project: Path, *, with_data: bool = True) -> list[str]:
    """The titles of the top-level plot definitions of every dvc.yaml (``with_data``: whose data files exist)."""
    import yaml

    titles = []
    for dvcfile in [project / "dvc.yaml", *sorted((project / "pipelines").glob("*/dvc.yaml"))]:
        for entry in yaml.safe_load(dvcfile.read_text()).get("plots") or []:
            (title, spec), = entry.items()
            if not with_data or all((dvcfile.parent / f).resolve().is_file() for f in spec["y"]):
                titles.append(title)
    return titles


def test_dvc_plots_draws_each_definition_once_with_the_project_templates(project):
    plots = json.loads(sh([str(BIN / "dvc"), "plots", "show", "--json"], project).stdout)
    expected = _top_level_plots(project)
    assert len(expected) == 6  # the training pipeline's (monitoring has not run here)
    assert sorted(plots["data"]) == sorted(_top_level_plots(project, with_data=False))  # no stage plots
    drawn = [title for title, charts in plots["data"].items() if charts]
    assert sorted(drawn) == sorted(expected)  # no extra chart of a column against the row number
    assert all(len(plots["data"][title]) == 1 for title in drawn)
    spec = plots["data"]["ROC"][0]["content"]
    layers = spec["layer"]
    assert [v["diagonal"] for v in layers[0]["data"]["values"]] == [0, 1]  # the diagonal of a random ranking
    assert layers[1]["encoding"]["x"]["title"] == "false positive rate"
    calibration = plots["data"]["Calibration"][0]["content"]["layer"]
    assert [v["diagonal"] for v in calibration[0]["data"]["values"]] == [0, 1]
    drift = plots["data"]["Drift score by column (current vs reference)"][0]["content"]
    assert drift["layer"][1]["data"]["values"] == [{"threshold": 1}]  # the threshold, on the score's scale
    rows = drift["data"]["values"]
    over = {row["feature"] for row in rows if float(row["drift_score"]) >= 1}
    assert over == {row["feature"] for row in rows if row["drifted"] == "1"} and over - {"prediction"} == SHIFTED
    window = plots["data"]["ROC AUC by window (current data)"][0]["content"]
    assert window["encoding"]["x"]["type"] == "temporal"
    starts = [row["first_date"] for row in window["data"]["values"]]
    assert starts and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in starts) and starts == sorted(starts)


#: before the page's scripts: record CSP violations, and the vega View of each vegaEmbed call (the first value
#: assigned to window.vegaEmbed is vega-embed's own function; later ones, the page's wrapper, are kept as they are)
RECORD_VIEWS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample || ''}`));
window.__views = {};
let embed;
Object.defineProperty(window, 'vegaEmbed', {configurable: true, get: () => embed, set(value) {
  embed = embed ? value : (el, spec, opts) => value(el, spec, opts).then(r => (window.__views[el] = r.view, r));
}});
"""
#: per chart div (page order): the number of drawn data-mark items in its vega scenegraph (axes, legends excluded)
DATA_MARKS = """() => [...document.querySelectorAll('body > div[id]')].map(div => {
  const view = window.__views['#' + div.id];
  if (!view) return null;
  let n = 0;
  const walk = item => (item.items || []).forEach(child => {
    if (child.marktype && child.marktype !== 'group' && child.role === 'mark') n += (child.items || []).length;
    walk(child);
  });
  walk(view.scenegraph().root);
  return n;
})"""
CHART_ELEMENTS = "document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length"


def _load_plots_page(browser, url: str, width: int, charts: int) -> tuple[list, list[str], list[str]]:
    """Data marks per chart, CSP violations and console errors of the page at ``width`` px."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.add_init_script(RECORD_VIEWS)
    errors: list[str] = []
    try:
        view = context.new_page()
        view.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        view.on("pageerror", lambda e: errors.append(str(e)))
        view.goto(url, wait_until="load")
        view.wait_for_function(f"Object.keys(window.__views).length >= {charts} || "
                               f"window.__cspViolations.length > 0", timeout=15_000)
        view.wait_for_function(f"{CHART_ELEMENTS} >= {charts} || window.__cspViolations.length > 0",
                               timeout=15_000)
        return view.evaluate(DATA_MARKS), view.evaluate("window.__cspViolations"), errors
    finally:
        context.close()


def _data_sources(spec: object) -> list[dict]:
    """Every ``data`` entry of a vega(-lite) spec, at any depth."""
    if isinstance(spec, list):
        return [d for item in spec for d in _data_sources(item)]
    if not isinstance(spec, dict):
        return []
    found = [spec["data"]] if isinstance(spec.get("data"), dict) else []
    return found + [d for key, value in spec.items() for d in _data_sources(value)]


def test_dvc_plots_inline_their_data_as_values_so_no_csv_is_parsed_in_the_page(project):
    """d3-dsv's CSV parser (which builds its row objects with `new Function`) only runs on a `url` or a
    `format` of type csv/tsv/dsv: DVC embeds every row as a JSON value instead."""
    plots = json.loads(sh([str(BIN / "dvc"), "plots", "show", "--json"], project).stdout)
    sources = [d for charts in plots["data"].values() for chart in charts for d in _data_sources(chart["content"])]
    assert sources
    for data in sources:
        assert "url" not in data and "format" not in data, data
        assert isinstance(data["values"], list) and all(isinstance(row, dict) for row in data["values"]), data


def test_dvc_plots_page_renders_offline_at_phone_and_desktop_width_under_a_csp_without_eval(project):
    from browser import check_page, chromium

    done = sh([str(BIN / "dvc"), "plots", "show"], project)
    page = project / "dvc_plots" / "index.html"
    assert page.is_file(), done.stdout + done.stderr
    html = page.read_text()
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", html, re.IGNORECASE)  # DVC's CDN tags are gone
    assert "vega-embed 6." in html and "BSD-3-Clause" in html  # inlined with its name, version and licence
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert csp and "script-src 'unsafe-inline';" in csp.group(1) and "eval" not in csp.group(1), csp
    assert html.index(csp.group(0)) < html.index("<script")  # in force before the first script runs
    titles = _top_level_plots(project, with_data=False)  # DVC draws a (blank) chart for missing data too
    with_data = set(_top_level_plots(project))
    with chromium() as browser:
        for width in (360, 1400):
            check = check_page(browser, page.as_uri(), width)
            assert check.problems() == [], check.problems()
            marks, violations, errors = _load_plots_page(browser, page.as_uri(), width, len(titles))
            assert violations == [] and errors == [], (violations, errors)
            drawn = {title: n for title, n in zip(titles, marks)}
            assert all((drawn[t] or 0) > 0 for t in with_data), drawn  # every chart with data draws its marks
            assert all(drawn[t] == 0 for t in set(titles) - with_data), drawn
        # the same page with vega compiling expressions (no `ast: true`): the CSP blocks it and the test sees it
        compiled = page.with_name("compiled.html")
        compiled.write_text(html.replace("{ast: true, expr: vega.expressionInterpreter}", "{}"))
        assert compiled.read_text() != html
        marks, violations, errors = _load_plots_page(browser, compiled.as_uri(), 1400, len(titles))
        assert violations and all(v.startswith("script-src eval") for v in violations), violations
        assert any("unsafe-eval" in e for e in errors), errors
