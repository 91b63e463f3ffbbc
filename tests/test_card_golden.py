"""Model cards built from a checked-in fixture project (tests/fixtures/card): golden Markdown, HTML, missing
inputs, escaping, CLI. The fixture is what the example pipeline leaves behind, made by the real library
(see tests/fixtures/card/regenerate.py); nothing here runs the pipeline."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from mlprod.card import build_card, make_card, render_html, render_markdown
from mlprod.errors import CardError, ManifestError

FIXTURE = Path(__file__).parent / "fixtures" / "card"
GOLDEN = FIXTURE / "model_card.md"
FAST = {"probe_rows": 200, "batch_rows": 2000}  # small probes: the card of the fixture model in about a second
TIMING = re.compile(r"\d[\d,]*\.\d+ s \([\d,]+ rows/s\)")


@pytest.fixture
def card_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture project as the working directory, with the previous manifest in its DVC cache."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURE / "project", root)
    previous = (FIXTURE / "previous_model_manifest.yaml").read_bytes()
    md5 = hashlib.md5(previous).hexdigest()
    cached = root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(previous)
    monkeypatch.chdir(root)
    return root


def masked(markdown: str) -> str:
    """The card with the one measured figure that varies between runs (large-batch timing) masked."""
    return TIMING.sub("<seconds> s (<rows/s> rows/s)", markdown)


def test_markdown_of_the_example_model_matches_the_golden_file(card_project):
    text = masked(render_markdown(build_card(settings=FAST)))
    if os.environ.get("MLPROD_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "the Markdown card changed; if intended, rerun with MLPROD_UPDATE_GOLDEN=1 and review the diff")


def test_the_golden_card_covers_every_section_with_real_numbers():
    text = GOLDEN.read_text(encoding="utf-8")
    for heading in ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
                    "Quantitative analyses", "Known limitations", "Failure modes (measured)", "Data validation",
                    "Comparison with the current champion", "Ethical considerations", "Caveats and recommendations",
                    "Rollback procedure", "Monitoring plan", "How this card was made"):
        assert f"## {heading}" in text
    assert "1. region = central: ROC AUC 0.502 ± 0.086 vs 0.811 overall (0.309 worse) on 106 rows" in text
    assert "| train.max_iter | 15 | 40 |" in text  # parameter change vs the champion
    assert 'mlprod rollback lead-scoring --reason "roll back lead-scoring 1.1.0: <why>"' in text
    assert "Incomplete card" not in text


def test_markdown_is_deterministic_apart_from_the_timing(card_project):
    first = render_markdown(build_card(settings=FAST))
    second = render_markdown(build_card(settings=FAST))
    assert masked(first) == masked(second)
    assert len(TIMING.findall(first)) == 1


def test_html_is_self_contained_with_inline_svg_plots(card_project):
    html = render_html(build_card(settings=FAST))
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no external resources"
    assert html.count("<svg") == 3 + 7  # ROC, PR, calibration + one segment chart per input
    for title in ("ROC (AUC 0.811)", "Precision-recall (AP 0.434)", "Calibration", "ROC AUC by region"):
        assert title in html
    assert len(html) < 200_000


def test_user_text_is_escaped_in_html_and_markdown(card_project):
    params = card_project / "params.yaml"
    params.write_text(params.read_text().replace(
        "  title: Lead scoring\n", "  title: Lead <script>alert('card')</script> scoring\n").replace(
        "  license: Apache-2.0\n", "  license: '<img src=x onerror=alert(1)> & co | x'\n"))
    card = build_card(settings=FAST)
    html = render_html(card)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "Lead &lt;script&gt;alert(&#39;card&#39;)&lt;/script&gt; scoring" in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; co | x" in html
    markdown = render_markdown(card)
    assert "<script>" not in markdown and "<img" not in markdown
    assert "| **License** | &lt;img src=x onerror=alert(1)&gt; &amp; co \\| x |" in markdown


def test_markdown_links_stay_live_only_for_http_https_mailto_and_relative(card_project):
    from markdown_it import MarkdownIt

    params = card_project / "params.yaml"
    params.write_text(params.read_text().replace(
        "  license: Apache-2.0\n", "  license: '[terms](javascript:alert(1)) [site](https://example.com/terms)'\n"
    ).replace("  contact: ml-team@example.com\n", "  contact: '[mail](mailto:ml@example.com) [x](JaVaScRiPt:alert(2))'\n"
    ).replace("  caveats:\n", "  caveats:\n    - '![pic](data:text/html;base64,PHNjcmlwdD4=) [docs](docs/drift.md)'\n"
              "    - |-\n      see [the notes][n]\n      [n]: vbscript:msgbox(1)\n"))
    markdown = render_markdown(build_card(settings=FAST))
    viewer = MarkdownIt("commonmark")
    viewer.validateLink = lambda url: True  # a viewer that renders every link it is given
    hrefs = [token.attrs.get("href") or token.attrs.get("src") for block in viewer.parse(markdown)
             for token in (block.children or ()) if token.type in ("link_open", "image")]
    assert set(hrefs) == {"docs/drift.md", "https://example.com/terms", "mailto:ml@example.com"}
    assert "[terms]\\(javascript:alert(1))" in markdown  # still readable, as text


def test_a_card_without_the_optional_inputs_says_what_is_missing(card_project):
    for rel in ("metrics/validation.json", "reports/register/decision.json", "metrics/drift.json",
                "plots", "data/prepared/train.parquet", "data/prepared/holdout.parquet"):
        path = card_project / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    params = card_project / "params.yaml"
    params.write_text("other: {}\n")
    card = build_card(settings=FAST)
    missing = {m.input: m for m in card.missing}
    assert set(missing) == {"card: section of params.yaml", "evaluation data", "training data", "evaluation plots",
                            "validation summary", "registry decision record", "drift report",
                            "drift_report section of params.yaml"}
    assert missing["drift report"].path == "metrics/drift.json"
    assert card.slices is None and card.failure_modes is None and card.curves is None
    text = render_markdown(card)
    assert "> **Incomplete card:** 8 input(s) were not available" in text
    assert "_not measured: no evaluation data with labels_" in text
    assert "| registry decision record | `reports/register/decision.json` |" in text
    assert "_not stated_ (add `purpose` to the `card:` section of params.yaml)" in text
    # without the decision record the comparison comes from the previous manifest in the DVC cache
    assert card.comparison.champion == "1.0.0" and card.comparison.decision is None
    assert [c.what for c in card.comparison.parameter_changes] == ["train.max_iter"]
    html = render_html(card)
    assert "Incomplete card" in html and "Not measured: no evaluation data." in html


def test_curves_are_computed_from_the_evaluation_data_when_the_plot_files_are_missing(card_project):
    shutil.rmtree(card_project / "plots")
    card = build_card(settings=FAST)
    assert card.curves.source == "computed from the evaluation data"
    assert card.curves.roc[0] == (0.0, 0.0) and card.curves.roc[-1] == (1.0, 1.0)
    assert any(m.input == "evaluation plots" for m in card.missing)


def test_a_decision_record_about_another_artifact_is_not_used(card_project):
    record = card_project / "reports" / "register" / "decision.json"
    data = json.loads(record.read_text())
    data["challenger"]["artifact_sha256"] = "0" * 64
    record.write_text(json.dumps(data))
    card = build_card(settings=FAST)
    assert card.comparison.gates == () and card.comparison.decision is None
    assert any("another artifact" in m.effect for m in card.missing)


def test_a_rejected_challenger_has_nothing_to_roll_back(card_project):
    record = card_project / "reports" / "register" / "decision.json"
    data = json.loads(record.read_text())
    data["outcome"] = "rejected"
    record.write_text(json.dumps(data))
    card = build_card(settings=FAST)
    assert card.rollback.steps == () and "the champion stays 1.0.0" in card.rollback.notes[0]
    assert (card.rollback.previous, card.rollback.predecessor) == (None, "1.0.0")
    text = render_markdown(card)
    assert "| **Rollback to** | nothing (not promoted; the champion stays 1.0.0) |" in text
    assert "This model: 1.1.0; previous version: 1.0.0." in text
    assert "first version" not in text
    assert "previous version: <strong>1.0.0</strong>" in render_html(card)


def test_a_tampered_model_is_refused(card_project):
    (card_project / "models" / "model" / "model.skops").write_bytes(b"not the model")
    with pytest.raises(ManifestError, match="sha256"):
        build_card(settings=FAST)


def test_unreadable_optional_input_is_an_error_naming_the_file(card_project):
    (card_project / "metrics" / "drift.json").write_text("{not json")
    with pytest.raises(CardError, match=r"metrics/drift.json: cannot read the drift report"):
        build_card(settings=FAST)


def test_make_card_writes_markdown_html_and_json(card_project):
    paths = make_card(output_dir="out", settings=FAST)
    assert sorted(paths) == ["html", "json", "markdown"]
    data = json.loads(paths["json"].read_text())
    assert data["schema_version"] == 1
    assert [(s["feature"], s["segment"]) for s in data["slices"]["limitations"]] == [
        ("region", "central"), ("days_since_last_activity", "[0, 3)")]
    assert paths["json"].read_text() == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_cli_writes_the_card_and_reports_bad_input_without_a_traceback(card_project, capsys):
    from mlprod.cli import main

    code = main(["card", "models/model", "-o", "out", "-f", "markdown", "--drift", "none",
                 "--set", "probe_rows=100", "--set", "batch_rows=500"])
    assert code == 0
    err = capsys.readouterr().err
    assert "2 known limitation(s) (region = central, days_since_last_activity = [0, 3))" in err
    assert sorted(p.name for p in (card_project / "out").iterdir()) == ["model_card.md"]
    assert main(["card", "-o", "out", "--set", "min_slice_row=5"]) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) 'min_slice_row' (did you mean 'min_slice_rows'?)" in err and "Traceback" not in err
    assert main(["card", "no/such/model"]) == 2
    assert "no model manifest" in capsys.readouterr().err


def test_cli_measures_with_the_pipeline_settings_and_set_overrides_them(card_project, capsys):
    from mlprod.cli import main

    params = card_project / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8")
                      + "\nmodel_card:\n  settings: {min_slice_rows: 333, probe_rows: 100, batch_rows: 500}\n",
                      encoding="utf-8")
    assert main(["card", "-o", "out", "-f", "json", "--drift", "none"]) == 0
    settings = json.loads((card_project / "out" / "model_card.json").read_text())["settings"]
    assert (settings["min_slice_rows"], settings["probe_rows"]) == (333, 100)
    assert main(["card", "-o", "out", "-f", "json", "--drift", "none", "--set", "min_slice_rows=200"]) == 0
    assert json.loads((card_project / "out" / "model_card.json").read_text())["settings"]["min_slice_rows"] == 200
    assert main(["card", "-o", "out", "-f", "json", "--params-file", "none", "--set", "probe_rows=100",
                 "--set", "batch_rows=500"]) == 0
    assert json.loads((card_project / "out" / "model_card.json").read_text())["settings"]["min_slice_rows"] == 100
    capsys.readouterr()
    params.write_text("model_card:\n  settings: [min_slice_rows]\n", encoding="utf-8")
    assert main(["card", "-o", "out"]) == 2
    err = capsys.readouterr().err
    assert "params.yaml: model_card.settings must be a mapping" in err and "Traceback" not in err
