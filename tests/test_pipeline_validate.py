"""End to end: the example pipeline's `validate` gate under real `dvc repro`, on a temporary copy of the project.

The demo data passes with warnings (the behaviour shift in `current`); the same pipeline fed bad rows stops
at the gate with a readable message (one line per check over all splits), writes none of the stage's outputs,
keeps the full report with the failed run where the message says it is, and `train` does not run.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline import BIN, copy_project, repro, set_param, sh

pytestmark = pytest.mark.e2e

def repro_train(project: Path, check: bool = True) -> subprocess.CompletedProcess:
    """`dvc repro train`: ingest, validate and train only (the stages after train are not needed here)."""
    return repro(project, "train", check=check)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("e2e-validate") / "project")
    first = repro_train(root)
    for stage in ("ingest", "validate", "train"):
        assert f"Running stage '{stage}'" in first.stdout, first.stdout
    return root


def test_demo_data_passes_the_gate_with_warnings_for_the_behaviour_shift(project):
    summary = json.loads((project / "metrics" / "validation.json").read_text())
    assert summary["status"] == "warned" and summary["passed"] is True and summary["failed"] == 0
    assert summary["datasets"]["train"]["warnings"] == 0 and summary["datasets"]["holdout"]["warnings"] == 0
    assert summary["datasets"]["current"]["layers"]["statistical"]["warnings"] >= 2
    details = json.loads((project / "reports" / "validation" / "results.json").read_text())
    warned = {c["check"] for d in details["datasets"] for c in d["checks"] if c["action"] == "warn"}
    assert {"stats.category_shares:channel", "stats.mean_shift:income"} <= warned
    page = (project / "reports" / "validation" / "report.html").read_text()
    assert page.lower().startswith("<!doctype html>") and "Passed with warnings" in page and "<script" not in page
    metrics = json.loads(sh([str(BIN / "dvc"), "metrics", "show", "--json"], project).stdout)
    assert metrics[""]["data"]["metrics/validation.json"]["data"]["status"] == "warned"
    assert json.loads((project / "reports" / "notebooks" / "train" / "run.json").read_text())["status"] == "succeeded"


def test_bad_rows_stop_the_pipeline_at_the_gate_with_a_readable_message(project):
    from mlprod.data import make_leads, write_table

    leads = make_leads(n_rows=8000, seed=42)
    current = np.flatnonzero((leads["created_at"] >= "2024-07-01").to_numpy())
    leads.loc[current[10], "age"] = 200
    leads.loc[5, "age"] = 200  # in train as well: one line for the check, with a count per split
    leads.loc[current[[20, 30]], "income"] = -50.0
    leads.loc[current[40], "region"] = "Mars"
    write_table(leads, project / "bad_leads.parquet")
    lock_before = (project / "dvc.lock").read_text()
    train_record = (project / "reports" / "notebooks" / "train" / "run.json").read_bytes()
    set_param(project, "source: demo", "source: bad_leads.parquet")
    try:
        result = repro_train(project, check=False)
        output = result.stderr + result.stdout
        assert result.returncode != 0, output
        assert "notebooks/validate.ipynb failed in cell" in output and "(id 'gate-code'): DataValidationError: " \
               "data validation failed: 5 check(s) failed (train, current):" in output, output
        assert re.search(r"- schema\.range:age - 2 datasets: train 1 of [\d,]+ rows, current 1 of [\d,]+ are outside "
                         r"the allowed range \(values between 18 and 100\); e\.g\. train row 5 \(age=200\), "
                         r"current row \d+ \(age=200\)", output), output
        assert output.count("schema.range:age") == 1, output
        assert re.search(r"- current: schema\.range:income - 2 of [\d,]+ rows .*row \d+ \(income=-50\.0\)", output)
        assert re.search(r"- current: schema\.categories:region - 1 of .*unknown values include \['Mars'\]", output)
        assert re.search(r"- current: rule:income_positive - 2 of [\d,]+ rows .* break the rule income > 0", output)
        assert "Traceback" not in result.stderr
        assert "Running stage 'train'" not in result.stdout
        # nothing downstream: no summary, no report, train's outputs and lock entry untouched
        assert not (project / "metrics" / "validation.json").exists()
        assert not (project / "reports" / "validation").exists()
        assert (project / "reports" / "notebooks" / "train" / "run.json").read_bytes() == train_record
        assert "train_path" in _stage_lock(lock_before, "train")
        assert _stage_lock(project / "dvc.lock", "train") == _stage_lock(lock_before, "train")
        failed_page = (project / "reports" / "failed" / "validate" / "validate.html").read_text()
        assert "region=&#39;Mars&#39;" in failed_page or "region='Mars'" in failed_page
        # the message names the full report, and the failed run kept it there (not among the stage's outputs)
        assert "full report: reports/failed/validate/validation-report.html" in output, output
        report = (project / "reports" / "failed" / "validate" / "validation-report.html").read_text()
        assert report.lower().startswith("<!doctype html>") and "Failed: 5 failed" in report
        assert "Mars" in report and "rule:<wbr>income_positive" in report
    finally:
        set_param(project, "source: bad_leads.parquet", "source: demo")
    restored = repro_train(project)  # DVC's run cache brings the last good outputs back
    assert "Running stage 'train'" not in restored.stdout
    assert json.loads((project / "metrics" / "validation.json").read_text())["status"] == "warned"


def _stage_lock(lock, stage: str) -> str:
    text = lock.read_text() if isinstance(lock, Path) else lock
    match = re.search(rf"^  {stage}:\n(?:    .*\n|      .*\n)*", text, flags=re.M)
    return match.group(0) if match else ""
