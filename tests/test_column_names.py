"""Column names as users write them (spaces, parentheses, slashes, dots, quotes, brackets, pipes, markup,
backslashes, non-ASCII) through every piece that shows or reads them: business rules, schema infer and
validation reports, profiles, drift outputs (JSON, CSV, HTML, Prometheus), the model card, DVC plots and the
MLflow signature. Known answers for each format's quoting function first, then one messy project pushed
through the real libraries."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlprod.reporting.markdown import cell, code, code_cell, esc
from mlprod.cli import main
from mlprod.drift.outputs import _label as prom_label
from mlprod.errors import ConfigError
from mlprod.validation.expressions import compile_expression, quote_column
from mlprod.validation.policy import decide
from mlprod.validation.results import CheckResult
from mlprod.validation.spec import PolicySpec

INCOME, DAYS, REGION, VISITS, ITS = "Annual income (EUR)", "days since/last", "Região", "n.visits", "it's"
QUOTED, BRACKET, PIPE, MARKUP, SLASH = 'say "hi"', "score[0]", "a|b", "<b>x</b>", "back\\slash"
NUMERIC = [INCOME, DAYS, VISITS, QUOTED, BRACKET, PIPE, MARKUP, SLASH]
CATEGORICAL = [REGION, ITS]
TARGET, DATE = "Converted?", "Created at"
ODD = NUMERIC + CATEGORICAL


# -- known answers: one quoting function per format ----------------------------------------------------------

@pytest.mark.parametrize("name, quoted", [
    ("income", "income"), ("n_visits", "n_visits"),
    (INCOME, "`Annual income (EUR)`"), (DAYS, "`days since/last`"), (VISITS, "`n.visits`"), (ITS, "`it's`"),
    (REGION, "`Região`"),  # non-ASCII: Python would read it bare, but in its NFKC form; quoted it is exact
    ("a`b", "`a``b`"), ("and", "`and`"), ("True", "`True`"), ("abs", "`abs`"), ("1st", "`1st`"),
])
def test_rule_quoting_known_answers(name, quoted):
    assert quote_column(name) == quoted


@pytest.mark.parametrize("name", ODD + ["a`b", "``x``", "and", "abs", "x'y\"z", "tab\tname", "日本語"])
def test_a_quoted_name_reads_back_as_that_column(name):
    types = {name: "float", "other": "float"}
    expression = compile_expression(f"{quote_column(name)} > 1 and other < 2", types, where="t")
    assert expression.columns == (name, "other")
    failing, unknown = expression.evaluate(pd.DataFrame({name: [0.0, 2.0, np.nan], "other": [0.0, 0.0, 0.0]}))
    assert failing.tolist() == [True, False, False] and unknown.tolist() == [False, False, True]


def test_backticks_inside_string_literals_are_text_not_names():
    types = {REGION: "str", ITS: "str"}
    expression = compile_expression(f"`{REGION}` == 'a`b`' or `{ITS}` != \"`\"", types, where="t")
    assert expression.columns == (REGION, ITS)
    failing, _ = expression.evaluate(pd.DataFrame({REGION: ["a`b`", "x"], ITS: ["`", "`"]}))
    assert failing.tolist() == [False, True]


def test_a_name_in_another_unicode_form_is_the_same_column():
    decomposed = "Regia\u0303o"  # 'ã' as 'a' + combining tilde, as some files write it
    frame = pd.DataFrame({decomposed: ["Sul", "Norte"]})
    for text in ("Região == 'Sul'", "`Região` == 'Sul'"):
        expression = compile_expression(text, {decomposed: "str"}, where="t")
        assert expression.columns == (decomposed,)
        assert expression.evaluate(frame)[0].tolist() == [False, True]


@pytest.mark.parametrize("expr, hint", [
    ("Annual income (EUR) > 0", "Quote `Annual income (EUR)`."),
    ("days since/last >= 0", "Quote `days since/last`."),
    ("it's == 'yes'", "Quote `it's`."),
    ("n.visits > 0", "n.visits is read as attribute access (x.y); to mean the column, quote it: `n.visits`."),
    ("score[0] > 0", "to mean the column, quote it: `score[0]`."),
    ("Annual > 0", "Did you mean 'Annual income (EUR)'? A rule writes it `Annual income (EUR)`."),
    ("`Annual income (EUR) > 0", "has a ` at column 1 that is never closed"),
    ("`` > 0", "has empty backticks at column 1"),
])
def test_unquoted_or_badly_quoted_names_get_a_hint_naming_the_fix(expr, hint):
    types = {INCOME: "float", DAYS: "int", ITS: "str", VISITS: "int", BRACKET: "float"}
    with pytest.raises(ConfigError) as err:
        compile_expression(expr, types, where="rule 'r'")
    assert hint in str(err.value)


def test_quoting_keeps_the_whitelist():
    types = {INCOME: "float"}
    for text in ("`Annual income (EUR)`.__class__ == 1", "`__import__`('os') == 1", "`Annual income (EUR)`[0] > 1"):
        with pytest.raises(ConfigError, match="not allowed|is a quoted column name, not a function"):
            compile_expression(text, types, where="t")


@pytest.mark.parametrize("value, escaped", [
    ("plain", "plain"), (INCOME, INCOME), (REGION, REGION),
    ('say "hi"', 'say \\"hi\\"'), ("back\\slash", "back\\\\slash"), ("two\nlines", "two\\nlines"),
    ('\\"\n', '\\\\\\"\\n'),
])
def test_prometheus_label_value_known_answers(value, escaped):
    assert prom_label(value) == escaped


@pytest.mark.parametrize("function, value, expected", [
    (esc, "a|b <b>x</b> & c", "a|b &lt;b&gt;x&lt;/b&gt; &amp; c"),
    (esc, "back\\slash `Annual income (EUR)` > 0", "back\\\\slash \\`Annual income (EUR)\\` &gt; 0"),
    (cell, "a|b", "a\\|b"), (cell, "a\\|b", "a\\\\\\|b"), (cell, "two\nlines", "two lines"),
    (code, "n.visits", "`n.visits`"), (code, "a`b", "`` a`b ``"), (code, "a``b", "``` a``b ```"),
    (code, "<b>x</b>", "`<b>x</b>`"),  # a code span shows its text literally: no entities
    (code_cell, "a|b", "`a\\|b`"),
])
def test_markdown_escaping_known_answers(function, value, expected):
    assert function(value) == expected


def test_a_policy_entry_naming_a_check_id_matches_it_despite_glob_characters():
    failed = CheckResult(check="stats.mean_shift:score[0]", layer="statistical", kind="mean_shift", passed=False,
                         severity="error", message="x")
    policy = PolicySpec(checks=(("stats.mean_shift:score[0]", "ignore"),))
    assert decide(failed, policy, "current") == "ignore"
    assert decide(failed, PolicySpec(checks=(("current/stats.mean_shift:score[0]", "warn"),)), "current") == "warn"
    assert decide(failed, PolicySpec(checks=(("stats.*", "warn"),)), "current") == "warn"
    assert decide(failed, PolicySpec(), "current") == "fail"


# -- one messy project through the real libraries ------------------------------------------------------------

def messy_frame(n: int = 900, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(40_000, 9_000, n)
    income[rng.random(n) < 0.1] = np.nan
    days = rng.integers(0, 90, n).astype(float)
    days[rng.random(n) < 0.05] = np.nan
    region = rng.choice(["Norte", "Sul", "Centro é"], n).astype(object)
    region[rng.random(n) < 0.05] = None
    visits = rng.integers(0, 20, n)
    logit = (np.nan_to_num(income, nan=40_000) - 40_000) / 9_000 - np.nan_to_num(days, nan=45) / 45 + 0.1 * visits - 1
    return pd.DataFrame({INCOME: income, DAYS: days, REGION: region, VISITS: visits,
                         ITS: rng.choice(["yes", "no"], n), QUOTED: rng.normal(size=n), BRACKET: rng.normal(size=n),
                         PIPE: rng.normal(size=n), MARKUP: rng.normal(size=n), SLASH: rng.normal(size=n),
                         TARGET: (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64"),
                         DATE: pd.date_range("2024-01-01", periods=n, freq="6h")})


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    """A project folder: data/{train.csv,train,holdout,current}.parquet and a saved model in models/model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import mlprod

    root = tmp_path_factory.mktemp("messy")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    frame = messy_frame()
    train, holdout, current = frame.iloc[:450], frame.iloc[450:650], frame.iloc[650:].copy()
    current[INCOME] += 8_000
    (root / "data").mkdir()
    train.to_csv(root / "data" / "train.csv", index=False)
    for name, part in (("train", train), ("holdout", holdout), ("current", current)):
        part.reset_index(drop=True).to_parquet(root / "data" / f"{name}.parquet", index=False)
    categorical = Pipeline([("fill", SimpleImputer(strategy="constant", fill_value="?")),
                            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))])
    numeric = Pipeline([("fill", SimpleImputer()), ("scale", StandardScaler())])
    pipeline = Pipeline([("features", ColumnTransformer([("c", categorical, CATEGORICAL), ("n", numeric, NUMERIC)])),
                         ("model", LogisticRegression())])
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        pipeline.fit(train[ODD], train[TARGET])
        mlprod.save_model(pipeline, "models/trained", name="messy", X=train[ODD], training_data="data/train.parquet",
                          description="a | model <b>with</b> odd names", output=f"probability that {TARGET} is 1")
        from sklearn.metrics import roc_auc_score

        scores = pipeline.predict_proba(holdout)[:, 1]
        metrics = {"rows": len(holdout), "roc_auc": round(float(roc_auc_score(holdout[TARGET], scores)), 4)}
        mlprod.add_evaluation("models/trained", "models/model", metrics={"holdout": metrics},
                              evaluation_data="data/holdout.parquet")
    return root


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


RULES = f"""rules:
  - {{name: income_floor, expr: "`{INCOME}` > 30000", severity: error}}
  - {{name: recent, expr: "`{DAYS}` < 80 and `{VISITS}` >= 0", severity: warning}}
  - {{name: region_answer, expr: "`{REGION}` != 'Sul' or `{ITS}` == 'yes'", severity: warning}}
  - {{name: odd, severity: warning,
     expr: "`say \\"hi\\"` < 2 and `{BRACKET}` < 2 and `{PIPE}` < 2 and `{MARKUP}` < 2 and `back\\\\slash` < 2"}}
"""


def test_schema_infer_validate_and_reports_keep_the_names(messy, capsys, monkeypatch):
    monkeypatch.chdir(messy)
    code, out = run_cli(capsys, "schema", "infer", "data/train.csv", "-o", "schema.yaml")
    assert code == 0, out
    text = (messy / "schema.yaml").read_text(encoding="utf-8")
    example = "#  - {name: annual_income_eur_not_negative, expr: '`Annual income (EUR)` >= 0', severity: error}"
    assert example in text  # the draft's example rule quotes the user's own column
    from mlprod.validation import load_schema

    assert [c.name for c in load_schema(messy / "schema.yaml").columns] == list(messy_frame().columns)
    uncommented = text.replace("rules: []  # business rules, e.g.:\n#  - ", "rules:\n  - ")
    (messy / "schema.yaml").write_text(uncommented, encoding="utf-8")
    assert [r.name for r in load_schema(messy / "schema.yaml").rules] == ["annual_income_eur_not_negative"]
    start = uncommented.index("rules:")
    end = uncommented.index("statistics:")
    (messy / "schema.yaml").write_text(uncommented[:start] + RULES + uncommented[end:], encoding="utf-8")
    code, out = run_cli(capsys, "schema", "check", "schema.yaml")
    assert code == 0 and "12 columns, 4 rules" in out, out

    code, out = run_cli(capsys, "validate", "train=data/train.csv", "current=data/current.parquet",
                        "--schema", "schema.yaml", "--reference", "data/train.parquet", "--summary", "out/summary.json",
                        "--details", "out/details.json", "--report", "out/report.html")
    assert code == 1, out  # incomes below 30,000 break an error rule
    assert f"break the rule `{INCOME}` > 30000; e.g. " in out and f"({INCOME}=" in out
    details = json.loads((messy / "out" / "details.json").read_text(encoding="utf-8"))
    checks = {c["check"]: c for d in details["datasets"] for c in d["checks"]}
    assert {c.get("column") for c in checks.values()} >= set(ODD)
    odd = checks["rule:odd"]
    assert set(odd["examples"][0]) == {"row", QUOTED, BRACKET, PIPE, MARKUP, SLASH}
    income_rule = next(c for d in details["datasets"] if d["name"] == "train" for c in d["checks"]
                       if c["check"] == "rule:income_floor")
    assert INCOME in income_rule["examples"][0]
    page = (messy / "out" / "report.html").read_text(encoding="utf-8")
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page and REGION in page


def test_profile_and_drift_outputs_keep_the_names(messy, capsys, monkeypatch):
    from prometheus_client.parser import text_string_to_metric_families

    from mlprod.profile import build_profile, read_profile

    monkeypatch.chdir(messy)
    train = pd.read_parquet("data/train.parquet")
    profile = build_profile(train.drop(columns=[TARGET]))
    saved = profile.save("out/reference_profile.json")
    again = read_profile(saved)
    assert list(again.columns) == [c for c in train.columns if c != TARGET]
    assert again[REGION].frequencies == profile[REGION].frequencies and again[MARKUP].mean == profile[MARKUP].mean

    code, out = run_cli(capsys, "drift", "data/train.parquet", "data/current.parquet", "--model", "models/model",
                        "--baseline", "data/holdout.parquet", "--target", TARGET, "--date-column", DATE,
                        "-o", "out/drift", "--no-progress")
    assert code == 0, out
    assert f"({INCOME})" in out  # the drifted feature, named as written
    report = json.loads((messy / "out" / "drift" / "drift.json").read_text(encoding="utf-8"))
    columns = report["feature_drift"]["columns"]
    assert set(ODD) <= set(columns) and all(columns[c]["column"] == c for c in ODD)
    with open(messy / "out" / "drift" / "drift_features.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == {"feature", "kind", "test", "statistic", "p_value", "threshold", "drifted",
                            "drift_score"}  # fixed fields
    assert set(ODD) <= {r["feature"] for r in rows}  # the user's names are values
    prom = (messy / "out" / "drift" / "drift.prom").read_text(encoding="utf-8")
    families = {f.name: f for f in text_string_to_metric_families(prom)}
    drifted = {s.labels["feature"]: s.value for s in families["mlprod_drift_feature_drifted"].samples}
    assert set(drifted) == {r["feature"] for r in rows if r["feature"] != "prediction"} and drifted[INCOME] == 1
    assert all(re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name) for name in families)  # metric names stay valid
    page = (messy / "out" / "drift" / "drift.html").read_text(encoding="utf-8")
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page and INCOME in page


def _tables(markdown: str) -> list[tuple[list[str], list[list[str]]]]:
    """Each GitHub-flavoured table as (header cells, rows of cell texts), parsed by markdown-it."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    tables, current, row = [], None, None
    for token in tokens:
        if token.type == "table_open":
            current = []
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None and current is not None:
            row.append("".join(child.content for child in token.children or []
                                if child.type in ("text", "code_inline")))
        elif token.type == "tr_close":
            current.append(row)
            row = None
        elif token.type == "table_close":
            tables.append((current[0], current[1:]))
            current = None
    return tables


def test_the_model_card_shows_the_names_as_written(messy, monkeypatch):
    from markdown_it import MarkdownIt

    from mlprod.card import build_card, render_html, render_markdown

    monkeypatch.chdir(messy)
    (messy / "params.yaml").write_text("card:\n  title: Odd | names <i>card</i>\n  purpose: Test.\n", encoding="utf-8")
    card = build_card(settings={"probe_rows": 50, "batch_rows": 500, "target": TARGET, "min_slice_rows": 20,
                                "min_gap": 0.0, "z": 0.0, "slice_columns": [REGION, PIPE]})
    assert any(s.feature in (REGION, PIPE) for s in card.slices.limitations), "a flagged segment to show"
    markdown = render_markdown(card)
    tables = _tables(markdown)
    for header, rows in tables:
        assert all(len(r) == len(header) for r in rows), (header, [r for r in rows if len(r) != len(header)])
    inputs = next(rows for header, rows in tables if header[:2] == ["input", "dtype"])
    assert [r[0] for r in inputs] == ODD  # every name intact in its own cell
    glance = dict(r for header, r in ((h, r) for h, rows in tables if h == ["", ""] for r in rows))
    assert any(f"{s.feature} = " in glance["Known limitations"] for s in card.slices.limitations)
    segments = next(rows for header, rows in tables if header[:2] == ["input", "segment"])
    assert {r[0] for r in segments} == {REGION, PIPE}
    html_of_markdown = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<b>x</b>" not in html_of_markdown and "<i>card</i>" not in html_of_markdown
    assert SLASH in html_of_markdown  # the backslash survives Markdown's escapes
    html = render_html(card)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and REGION in html


def test_dvc_plots_read_fields_with_spaces_dots_brackets_and_accents(tmp_path):
    """DVC escapes '.', '[' and ']' in Vega-Lite field names itself, so a plot CSV may carry the user's names."""
    dvc = Path(sys.executable).parent / "dvc"
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([str(dvc), "init", "-q"], cwd=tmp_path, check=True)
    fields = {"dot": VISITS, "bracket": BRACKET, "space": INCOME, "accent": REGION, "quote": QUOTED}
    (tmp_path / "plots").mkdir()
    lines = ["plots:"]
    for key, field in fields.items():
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([[field, "roc_auc"], ["north", 0.7], ["south", 0.6]])
        (tmp_path / "plots" / f"{key}.csv").write_text(buffer.getvalue(), encoding="utf-8")
        lines += [f"  - {key}:", "      template: bar_horizontal", "      x: roc_auc", "      y:",
                  f"        plots/{key}.csv: {json.dumps(field)}"]
    (tmp_path / "dvc.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shown = subprocess.run([str(dvc), "plots", "show", "--json"], cwd=tmp_path, capture_output=True, text=True,
                           check=True)
    data = json.loads(shown.stdout)["data"]
    escaped = {"dot": "n\\.visits", "bracket": "score\\[0\\]", "space": INCOME, "accent": REGION, "quote": QUOTED}
    for key, field in fields.items():
        content = data[key][0]["content"]
        assert content["encoding"]["y"]["field"] == escaped[key]  # Vega-Lite's escaped form of the field
        assert content["encoding"]["y"]["title"] == field
        assert [row[field] for row in content["data"]["values"]] == ["north", "south"]


def test_mlflow_signature_and_pyfunc_scoring_use_the_names(messy, monkeypatch):
    import mlflow

    from mlprod.registry.register import register_model
    from mlprod.registry.store import Registry

    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLPROD_STAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(messy)
    shutil.rmtree(messy / "store", ignore_errors=True)
    (messy / "store").mkdir()
    registry = Registry.open(messy / "store")
    version = register_model("models/model", registry=registry, example_data="data/holdout.parquet")
    inputs = registry.version("messy", version.version).tags["mlprod.inputs"]
    assert [c for c, _ in json.loads(inputs)] == ODD
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.location.tracking_uri)  # models:/ resolve there
    model = mlflow.pyfunc.load_model(version.uri)
    assert model.metadata.get_input_schema().input_names() == ODD
    current = pd.read_parquet("data/current.parquet")
    expected = __import__("mlprod").load_model("models/model").predict_proba(current[ODD])
    np.testing.assert_allclose(np.asarray(model.predict(current[ODD])), expected)
    np.testing.assert_allclose(np.asarray(model.predict(current)), expected)  # extra columns ignored
