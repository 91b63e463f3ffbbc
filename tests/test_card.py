"""Model card parts on tiny inline inputs: strict card params and settings, slice analysis, failure probes,
comparison, monitoring plan, renderers."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from mlprod.card.info import CardInfo, CardSettings, load_card_info, parse_card_info, parse_settings
from mlprod.reporting.markdown import cell, esc, table
from mlprod.card.metrics import get_metric, hanley_mcneil_se
from mlprod.card.probes import measure_failure_modes, validity_problems
from mlprod.card.render import get_renderer
from mlprod.card.slices import analyse_slices, segment_masks
from mlprod.errors import CardError

# -- card: section and settings ------------------------------------------------------------------

def test_card_section_is_parsed_with_lists_from_single_texts():
    info = parse_card_info({"purpose": "Rank leads", "owners": "Jane <jane@example.com>", "license": "MIT",
                            "intended_use": ["call order", "capacity planning"], "caveats": None})
    assert info.owners == ("Jane <jane@example.com>",)
    assert info.intended_use == ("call order", "capacity planning")
    assert info.caveats == () and "caveats" in info.unstated() and "purpose" not in info.unstated()


def test_unknown_card_keys_are_rejected_with_the_allowed_list_and_a_hint():
    with pytest.raises(CardError) as err:
        parse_card_info({"purpose": "x", "licence": "MIT", "colour": "red"})
    message = str(err.value)
    assert "unknown key(s) 'colour', 'licence' (did you mean 'license'?)" in message
    assert "allowed: caveats, citation, contact, ethical_considerations" in message


@pytest.mark.parametrize("data, expected", [
    ({"purpose": ["a", "b"]}, "purpose: expected text, got list"),
    ({"owners": {"name": "x"}}, r"owners: expected a list of texts \(or one text\), got dict"),
    ({"owners": ["ok", True]}, "owners: expected a list of texts"),
    (["purpose"], "expected a mapping of card fields"),
])
def test_wrongly_typed_card_values_name_the_key(data, expected):
    with pytest.raises(CardError, match=expected):
        parse_card_info(data, source="params.yaml [card]")


def test_card_section_is_read_from_the_params_file(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train: {}\ncard:\n  purpose: Rank leads\n  owners: [a, b]\n")
    info, found = load_card_info(params)
    assert found and info == CardInfo(purpose="Rank leads", owners=("a", "b"))
    params.write_text("train: {}\n")
    assert load_card_info(params) == (CardInfo(), False)
    params.write_text("card:\n  purpose: x\n  sponsor: y\n")
    with pytest.raises(CardError, match=r"params.yaml \[card\]: unknown key\(s\) 'sponsor'"):
        load_card_info(params)


def test_settings_are_strict():
    settings = parse_settings({"min_slice_rows": 50, "min_gap": 0, "slice_columns": "region", "threshold": 1})
    assert settings.min_slice_rows == 50 and settings.min_gap == 0.0 and settings.threshold == 1.0
    assert settings.slice_columns == ("region",)
    for bad, message in (({"numeric_bins": 0}, "numeric_bins: expected a positive integer, got int 0"),
                         ({"min_gap": "big"}, "min_gap: expected a number >= 0, got str 'big'"),
                         ({"threshold": 1.5}, "threshold: expected a number between 0 and 1"),
                         ({"slice_metric": "auc"}, "no metric named 'auc'; available: accuracy, average_precision"),
                         ({"min_rows": 5}, "unknown key(s) 'min_rows' (did you mean 'min_slice_rows'?)")):
        with pytest.raises(CardError, match=re.escape(message)):
            parse_settings(bad)


# -- metrics and slices ------------------------------------------------------------------------

def test_hanley_mcneil_standard_error_known_answer():
    # AUC 0.8, 50 positives, 50 negatives: Q1 = 0.8/1.2, Q2 = 1.28/1.8 (worked by hand)
    q1, q2 = 0.8 / 1.2, 2 * 0.64 / 1.8
    expected = math.sqrt((0.8 * 0.2 + 49 * (q1 - 0.64) + 49 * (q2 - 0.64)) / 2500)
    assert hanley_mcneil_se(0.8, 50, 50) == pytest.approx(expected)
    assert expected == pytest.approx(0.0445, abs=1e-4)


def test_metrics_have_directions_and_undefined_values():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    assert get_metric("roc_auc").score(y, p, 0.5)[0] == pytest.approx(0.75)
    assert get_metric("roc_auc").score(np.array([1, 1]), np.array([0.2, 0.3]), 0.5) == (None, None)
    brier, se = get_metric("brier").score(y, p, 0.5)
    assert brier == pytest.approx(np.mean((p - y) ** 2)) and se > 0
    assert get_metric("accuracy").score(y, p, 0.5)[0] == pytest.approx(0.75)
    assert not get_metric("brier").higher_is_better and get_metric("roc_auc").needs_both_classes


def _leads(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Scores carry signal everywhere except region 'weak'; region 'tiny' has too few rows to judge."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "weak", "tiny"], size=n, p=[0.45, 0.4, 0.13, 0.02])
    y = (rng.random(n) < 0.3).astype(int)
    signal = np.where(region == "weak", 0.0, 1.5)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + signal * (y - 0.5) * 2)))
    frame = pd.DataFrame({"region": region, "age": rng.integers(18, 80, n).astype(float)})
    frame.loc[:9, "age"] = np.nan
    return frame, y, scores


def test_slice_analysis_flags_the_weak_segment_only():
    frame, y, scores = _leads()
    result = analyse_slices(frame, y, scores, [("region", "categorical"), ("age", "numeric")], 0.5, CardSettings())
    by_name = {(s.feature, s.segment): s for s in result.segments}
    weak = by_name[("region", "weak")]
    assert weak.flagged and weak.value < 0.6 and result.overall > 0.8
    assert weak.rows == int((frame.region == "weak").sum()) and weak.positives == int(y[frame.region == "weak"].sum())
    assert [(s.feature, s.segment) for s in result.limitations] == [("region", "weak")]
    assert by_name[("region", "tiny")].note == "too few rows to judge (< 100)"
    assert by_name[("age", "(missing)")].rows == 10
    assert sum(s.rows for s in result.for_feature("age")) == len(frame)


def test_a_gap_within_noise_is_not_flagged():
    frame, y, scores = _leads()
    strict = CardSettings(min_gap=0.01, z=50.0)  # demand a gap of 50 standard errors
    result = analyse_slices(frame, y, scores, [("region", "categorical")], 0.5, strict)
    assert result.limitations == []
    assert any(s.note.startswith("gap within noise") for s in result.segments)


def test_lower_is_better_metrics_flag_higher_values():
    frame, y, scores = _leads()
    result = analyse_slices(frame, y, scores, [("region", "categorical")], 0.5, CardSettings(slice_metric="brier"))
    weak = next(s for s in result.segments if s.segment == "weak")
    assert weak.value > result.overall and weak.gap == pytest.approx(weak.value - result.overall) and weak.flagged


def test_numeric_bins_are_quantiles_and_few_values_are_their_own_segments():
    column = pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, None])
    labels = [label for label, _ in segment_masks(column, "numeric", 4)]
    assert labels == ["[1, 2.75)", "[2.75, 4.5)", "[4.5, 6.25)", "[6.25, 8]", "(missing)"]
    assert [m.sum() for _, m in segment_masks(column, "numeric", 4)] == [2, 2, 2, 2, 1]
    assert [label for label, _ in segment_masks(pd.Series([0, 1, 1, 0]), "numeric", 4)] == ["0", "1"]
    assert [label for label, _ in segment_masks(pd.Series(["b", "a", None]), "categorical", 4)] == ["a", "b",
                                                                                                    "(missing)"]


# -- failure probes ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def logistic_pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"region": rng.choice(["a", "b"], 300), "income": rng.normal(50, 10, 300)})
    y = (frame.income + rng.normal(0, 5, 300) > 50).astype(int)
    model = Pipeline([("features", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
                                                      ("num", StandardScaler(), ["income"])])),
                      ("model", LogisticRegression())]).fit(frame, y)
    return model, frame


def test_probes_measure_what_the_model_does_with_broken_input(logistic_pipeline):
    model, frame = logistic_pipeline
    features = [("region", "categorical"), ("income", "numeric")]
    result = measure_failure_modes(model, frame, features, CardSettings(probe_rows=50, batch_rows=1000))
    found = {(p.feature, p.probe): p for p in result.probes}
    assert found[("income", "missing")].status == "error"  # LogisticRegression does not accept NaN
    assert "NaN" in found[("income", "missing")].error
    high = found[("income", "above_range")]
    assert high.status == "ok" and high.max_abs_change > 0.1
    assert high.value.startswith(f"{frame.income.max() + 10 * (frame.income.max() - frame.income.min()):,.0f}")
    unseen = found[("region", "unseen_category")]
    assert unseen.status == "ok" and unseen.value == "'__unseen__'"
    assert found[("(all inputs)", "empty_batch")].status == "error"
    assert ("region", "above_range") not in found
    assert result.sample_rows == 50
    assert result.batch.valid and result.batch.rows == 1000 and result.batch.max_diff_vs_small_batch == 0.0


def test_outputs_that_are_not_probabilities_are_invalid():
    class Broken:
        def predict_proba(self, X):
            p = np.full(len(X), 1.5)
            return np.column_stack([1 - p, p])

    frame = pd.DataFrame({"x": np.arange(20.0)})
    result = measure_failure_modes(Broken(), frame, [("x", "numeric")], CardSettings(probe_rows=10, batch_rows=30))
    assert {p.status for p in result.probes if p.probe != "empty_batch"} == {"invalid"}
    assert not result.batch.valid and "30 of 30 scores are outside [0, 1]" in result.batch.problems
    assert validity_problems(np.array([0.2, np.nan]), 2) == ["1 of 2 scores are NaN or infinite"]
    assert validity_problems(np.array([0.2]), 2) == ["expected 2 scores, got shape (1,)"]


# -- comparison, monitoring, rendering ----------------------------------------------------------

def test_parameter_and_metric_changes_between_versions():
    from mlprod.card.compare import metric_deltas, parameter_changes

    changes = parameter_changes({"train": {"lr": 0.1, "cols": ["a"], "seed": 1}},
                                {"train": {"lr": 0.05, "cols": ["a", "b"], "seed": 1}, "evaluate": {"t": 0.5}})
    assert [(c.what, c.before, c.after) for c in changes] == [
        ("evaluate.t", "(not set)", "0.5"), ("train.cols", '["a"]', '["a", "b"]'), ("train.lr", "0.1", "0.05")]
    deltas = metric_deltas({"holdout": {"roc_auc": 0.8, "brier": 0.1}, "training": {"roc_auc": 0.9}},
                           {"holdout": {"roc_auc": 0.78, "brier": 0.12}})
    assert [(d.dataset, d.metric, round(d.delta, 4)) for d in deltas] == [("holdout", "roc_auc", -0.02),
                                                                         ("holdout", "brier", 0.02)]


def test_monitoring_plan_shows_params_values_and_the_drift_defaults():
    from mlprod.card.monitoring import monitoring_plan
    from mlprod.drift.settings import DriftSettings

    plan = monitoring_plan({"drift_report": {"max_auc_drop": 0.03, "retrain_on": ["performance"],
                                             "reference": "models/model/reference_profile.json"}},
                           "params.yaml", {"retrain": True, "retrain_decision": {"required": True, "reasons": [
                               {"trigger": "performance", "message": "roc_auc fell by 0.08"}]}}, "drift.json")
    settings = {k: (v, o) for k, v, o in plan.settings}
    assert settings["max_auc_drop"] == ("0.03", "params.yaml")
    assert settings["max_drifted_share"] == (f"{DriftSettings().max_drifted_share:g}", "default")
    assert [t for t, _ in plan.triggers] == ["performance"]
    assert "fell more than 0.03 below the baseline" in plan.triggers[0][1]
    assert plan.latest == "retraining required" and plan.reasons == ("performance: roc_auc fell by 0.08",)
    assert monitoring_plan({"train": {}}, "params.yaml", None, None) is None


def test_markdown_cells_escape_markup_and_pipes():
    assert cell("a | b\n<c> & d") == "a \\| b &lt;c&gt; &amp; d"
    assert table(["x", "n"], [("a", 1)], "lr") == ["| x | n |", "| --- | ---: |", "| a | 1 |"]


@pytest.mark.parametrize("text, expected", [
    ("[a](javascript:alert(1))", "[a]\\(javascript:alert(1))"),
    ("[a](  java\tscript:x)", "[a]\\(  java\tscript:x)"),  # browsers drop tabs and spaces around a scheme
    ("![i](data:image/svg+xml,x)", "![i]\\(data:image/svg+xml,x)"),
    ("[a](vbscript:x) [b](http://ok)", "[a]\\(vbscript:x) [b](http://ok)"),
    ("[r]: javascript:x", "\\[r]: javascript:x"),
    ("[a](https://ok) [m](mailto:a@b.c) [rel](docs/x.md#y) [q](?a=b:c)",
     "[a](https://ok) [m](mailto:a@b.c) [rel](docs/x.md#y) [q](?a=b:c)"),
    ("no link ] (here)", "no link ] (here)"),
])
def test_markdown_keeps_only_safe_links_live(text, expected):
    assert esc(text) == expected


def test_unknown_renderer_names_the_formats():
    with pytest.raises(CardError, match="no model card format named 'pdf'; available: markdown, html, json"):
        get_renderer("pdf")


def test_importing_the_card_package_is_cheap():
    import subprocess
    import sys

    code = "import sys, mlprod.card; print(sorted(m for m in ('pandas', 'sklearn', 'jinja2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_model_without_probabilities_gets_a_card_that_says_so(tmp_path, monkeypatch):
    from sklearn.linear_model import LinearRegression

    import mlprod
    from mlprod.card import build_card, render_markdown

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("card:\n  purpose: predict a number\n")
    frame = pd.DataFrame({"x": np.arange(50.0), "converted": np.arange(50) % 2})
    frame.to_csv(tmp_path / "eval.csv", index=False)
    mlprod.save_model(LinearRegression().fit(frame[["x"]], frame.converted), "model", name="regressor",
                      X=frame[["x"]])
    card = build_card("model", evaluation_data="eval.csv", training_data=None, settings={"target": "converted"})
    assert card.slices is None and card.failure_modes is None
    assert any(m.input == "binary probability output" and "LinearRegression has no predict_proba" in m.effect
               for m in card.missing)
    assert "## Known limitations" in render_markdown(card)


def test_labels_must_be_zero_or_one(tmp_path, monkeypatch, logistic_pipeline):
    import mlprod
    from mlprod.card import build_card

    model, frame = logistic_pipeline
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("other: {}\n")
    frame.assign(converted=np.where(frame.income > 50, "yes", "no")).to_csv(tmp_path / "eval.csv", index=False)
    mlprod.save_model(model, "model", name="m", X=frame)
    with pytest.raises(CardError, match="target column 'converted' must hold 0/1 labels, found 'no', 'yes'"):
        build_card("model", evaluation_data="eval.csv", settings={"target": "converted"})
