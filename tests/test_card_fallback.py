"""The model card's fallback section: built from the fallback stage's outputs (a real logistic regression saved and
evaluated by mlprod.training) and its decision record; absent outputs leave the card as it was (the golden file)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from mlprod.card import build_card, render_html, render_markdown

pytest_plugins = ("test_card_golden",)  # the card_project fixture: a copy of tests/fixtures/card as the cwd
FAST = {"probe_rows": 200, "batch_rows": 2000}
FEATURES = ["region", "channel", "age", "income", "days_since_last_activity", "activity_trend", "n_interactions"]


def make_fallback(root: Path, *, decision: str | None = "promoted", other_artifact: bool = False) -> dict:
    """What the fallback and register stages leave: models/fallback, metrics/fallback.json, fallback_decision.json."""
    from mlprod.data import read_table
    from mlprod.training import ModelSettings, build_pipeline, evaluate_and_save, fit_and_save

    train = read_table(root / "data/prepared/train.parquet")
    holdout = read_table(root / "data/prepared/holdout.parquet")
    pipeline = build_pipeline(ModelSettings(model="logistic_regression", max_iter=50), FEATURES[:2], FEATURES[2:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trained = fit_and_save(pipeline, train, target="converted", features=FEATURES,
                               model_dir=root / "models/fallback_trained", name="lead-scoring-fallback",
                               training_data="data/prepared/train.parquet", version="1.0.0")
    evaluated, scores = evaluate_and_save(root / "models/fallback_trained", holdout, root / "models/fallback",
                                          target="converted", threshold=0.5,
                                          evaluation_data="data/prepared/holdout.parquet")
    (root / "metrics/fallback.json").write_text(json.dumps({"version": evaluated.version, "name": evaluated.name,
                                                            "threshold": 0.5, "holdout": scores}))
    if decision is not None:
        sha = "0" * 64 if other_artifact else evaluated.artifact.sha256
        record = {"model": "lead-scoring-fallback", "outcome": decision,
                  "challenger": {"artifact_sha256": sha, "semver": "1.0.0", "version": 2},
                  "champion": {"artifact_sha256": "f" * 64, "semver": "0.9.0", "version": 1},
                  "gates": [{"name": "roc_auc", "passed": True, "message": "passed"},
                            {"name": "log_loss", "passed": decision != "rejected", "message": "checked"}]}
        (root / "reports/register/fallback_decision.json").write_text(json.dumps(record))
    return {"manifest": evaluated, "holdout": scores, "trained": trained}


def test_without_the_fallback_outputs_the_card_has_no_fallback_section_and_no_json_key(card_project):
    card = build_card(settings=FAST)
    assert card.fallback is None
    assert "fallback" not in card.to_dict()
    assert "Fallback" not in render_markdown(card) and 'id="fallback"' not in render_html(card)
    assert not any("fallback" in m.input for m in card.missing)


def test_the_fallback_section_shows_the_model_its_metrics_next_to_the_primarys_and_its_gates(card_project):
    made = make_fallback(card_project)
    card = build_card(settings=FAST)
    f = card.fallback
    assert (f.name, f.version, f.estimator, f.decision, f.champion) == (
        "lead-scoring-fallback", "1.0.0", "LogisticRegression", "promoted", "0.9.0")
    assert f.sha256 == made["manifest"].artifact.sha256 and f.metrics_source == "metrics/fallback.json"
    assert f.same_holdout is True and [g.status for g in f.gates] == ["passed", "passed"]
    assert ("fallback model manifest", "models/fallback/model_manifest.yaml") in card.sources
    assert card.missing == build_card(settings=FAST, fallback_dir=None).missing  # nothing new listed as missing

    text = render_markdown(card)
    section = text[text.index("## Fallback model"):text.index("## Ethical considerations")]
    primary_auc, fallback_auc = card.performance.holdout["roc_auc"], made["holdout"]["roc_auc"]
    assert f"| ROC AUC | {primary_auc:.3f} | {fallback_auc:.3f} | {fallback_auc - primary_auc:+.3f} |" in section
    assert f"sha256 `{f.sha256[:12]}`" in section
    assert "**promoted** (champion before: 0.9.0; roc_auc passed, log_loss passed" in section
    assert "primary → fallback → rules → default" in section and "docs/serving.md" in section
    assert f"| **Fallback** | lead-scoring-fallback 1.0.0 (LogisticRegression), holdout ROC AUC {fallback_auc:.3f}" \
           "; decision: promoted |" in text
    assert section.index("## Fallback model") == 0 and text.index("## Comparison with") < text.index("## Fallback")

    html = render_html(card)
    assert '<h2 id="fallback">Fallback model</h2>' in html and '<a href="#fallback">Fallback</a>' in html
    assert f"{fallback_auc:.3f}" in html[html.index('id="fallback"'):] and "LogisticRegression" in html
    assert card.to_dict()["fallback"]["version"] == "1.0.0"


def test_a_decision_record_about_another_artifact_is_not_shown_and_a_missing_one_is_said(card_project):
    make_fallback(card_project, other_artifact=True)
    card = build_card(settings=FAST)
    assert card.fallback.decision is None and "about another artifact" in card.fallback.notes[0]
    (card_project / "reports/register/fallback_decision.json").unlink()
    card = build_card(settings=FAST)
    assert card.fallback.decision is None and "no registry decision record" in render_markdown(card)


def test_cli_card_takes_the_fallback_inputs_and_none_leaves_them_out(card_project, capsys):
    from mlprod.cli import main

    make_fallback(card_project)
    assert main(["card", "-o", "out", "-f", "markdown", "-s", "probe_rows=200", "-s", "batch_rows=2000"]) == 0
    assert "## Fallback model" in (card_project / "out/model_card.md").read_text()
    assert main(["card", "-o", "out2", "-f", "markdown", "--fallback", "none", "-s", "probe_rows=200",
                 "-s", "batch_rows=2000"]) == 0
    assert "Fallback" not in (card_project / "out2/model_card.md").read_text()
