"""End to end: the example pipeline with its model_card stage under real `dvc repro`, on a small copy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline import BIN, copy_project, ran, set_param, sh

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("card-e2e") / "project")
    first = sh([str(BIN / "dvc"), "repro"], root)
    assert "model_card" in ran(first.stdout), first.stdout
    return root


def test_the_card_stage_writes_a_complete_card_naming_the_weak_region(project):
    folder = project / "reports" / "model_card"
    assert sorted(p.name for p in folder.iterdir()) == ["model_card.html", "model_card.json", "model_card.md"]
    markdown = (folder / "model_card.md").read_text()
    assert "Incomplete card" not in markdown, markdown[:2000]  # every other stage's output was found
    limitations = markdown.split("## Known limitations")[1].split("\n## ")[0]
    assert re.search(r"^\d+\. region = central: ROC AUC 0\.\d+ ± 0\.\d+ vs 0\.\d+ overall", limitations, re.M), \
        limitations
    card = json.loads((folder / "model_card.json").read_text())
    assert ("region", "central") in [(s["feature"], s["segment"]) for s in card["slices"]["limitations"]]
    assert card["failure_modes"]["batch"]["valid"] is True and card["failure_modes"]["batch"]["rows"] == 100_000
    assert card["comparison"]["decision"] == "promoted"  # the first model becomes the champion
    assert card["monitoring"]["latest"] in ("retraining required", "no retraining needed")
    assert card["info"]["owners"] == ["Lead scoring team <ml-team@example.com>"]
    # the fallback stage's model: its own section, its gates passed as the first NAME-fallback champion
    assert (card["fallback"]["name"], card["fallback"]["decision"]) == ("lead-scoring-fallback", "promoted")
    assert card["fallback"]["same_holdout"] is True and "roc_auc" in card["fallback"]["holdout"]
    assert "## Fallback model" in markdown and "| ROC AUC |" in markdown.split("## Fallback model")[1]
    html = (folder / "model_card.html").read_text()
    assert '<h2 id="fallback">Fallback model</h2>' in html
    assert "<script" not in html and html.count("<svg") >= 4
    assert "Lead scoring team &lt;ml-team@example.com&gt;" in html
    record = json.loads((project / "reports" / "notebooks" / "model_card" / "run.json").read_text())
    assert record["status"] == "succeeded"


def test_editing_the_card_section_reruns_only_the_card(project):
    params = project / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("  license: Apache-2.0\n", "  license: MIT\n", 1))
    try:
        result = sh([str(BIN / "dvc"), "repro"], project)
        assert ran(result.stdout) == {"model_card"}, result.stdout
        assert "| **License** | MIT |" in (project / "reports" / "model_card" / "model_card.md").read_text()
    finally:
        params.write_text(text)
    restored = sh([str(BIN / "dvc"), "repro"], project)  # DVC's run cache brings the earlier card back
    assert ran(restored.stdout) <= {"model_card"}, restored.stdout
    assert "| **License** | Apache-2.0 |" in (project / "reports" / "model_card" / "model_card.md").read_text()
    assert ran(sh([str(BIN / "dvc"), "repro"], project).stdout) == set()


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("  key: lead_id ", "  key: null    ", {"drift_report"}),
    ("  slice_columns: [region]", "  slice_columns: [region, channel]", {"evaluate"}),
    ("  target: converted ", "  target: label     ", {"ingest", "train", "fallback", "evaluate", "drift_report", "register"}),
    # validate: its report names the model the data is for
    ("  model_name: lead-scoring", "  model_name: churn", {"validate", "train", "fallback"}),
])
def test_changing_one_fact_changes_only_the_stages_that_use_it(project, old, new, expected):
    """dvc.yaml lists the facts each stage uses (project.target, ...), never the whole project: section."""
    set_param(project, old, new)
    try:
        # the training pipeline's stages (dvc status without a target also lists pipelines/monitoring's)
        status = json.loads(sh([str(BIN / "dvc"), "status", "--json", "dvc.yaml"], project).stdout)
    finally:
        set_param(project, new, old)
    fact = new.split(":")[0].strip()
    changed = {stage for stage, entries in status.items() for entry in entries
               if entry["changed deps"]["params.yaml"] == {f"project.{fact}": "modified"}}
    assert set(status) == changed == expected, status  # nothing else is out of date
