"""End to end: the example pipeline under real `dvc repro`, on a temporary copy of the project."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pipeline
import pytest
from nbclient import NotebookClient
from pipeline import BIN, copy_project, set_param, sh

pytestmark = pytest.mark.e2e

STAGES = ("ingest", "validate", "train", "evaluate")
REGIONS = ("central", "east", "north", "south", "west")  # what this module checks; later stages have their own tests


def repro(project: Path, check: bool = True):
    return pipeline.repro(project, "evaluate", check=check)


def ran(output: str) -> set[str]:
    return pipeline.ran(output) & set(STAGES)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git repository holding a copy of the project, with a smaller demo dataset, reproduced up to evaluate."""
    root = copy_project(tmp_path_factory.mktemp("e2e") / "project")
    first = repro(root)
    assert ran(first.stdout) == set(STAGES), first.stdout
    return root


def test_first_run_produces_outputs_metrics_and_plots(project):
    for split in ("train", "holdout", "current"):
        assert (project / "data" / "prepared" / f"{split}.parquet").stat().st_size > 0
    assert (project / "models" / "model" / "model.skops").stat().st_size > 0
    for stage in STAGES:
        folder = project / "reports" / "notebooks" / stage
        record = json.loads((folder / "run.json").read_text())
        assert record["status"] == "succeeded" and record["stage"] == stage
        assert (folder / f"{stage}.ipynb").is_file()
        assert (folder / f"{stage}.html").read_text().lstrip().lower().startswith("<!doctype html>")

    metrics = json.loads(sh([str(BIN / "dvc"), "metrics", "show", "--json"], project).stdout)
    evaluation = metrics[""]["data"]["metrics/evaluation.json"]["data"]
    assert 0.7 < evaluation["holdout"]["roc_auc"] < 1.0
    data = metrics[""]["data"]["metrics/data.json"]["data"]
    assert data["train"]["rows"] + data["holdout"]["rows"] + data["current"]["rows"] == 8000

    plots = json.loads(sh([str(BIN / "dvc"), "plots", "show", "--json"], project).stdout)
    assert {"ROC", "Precision-recall", "Calibration", "ROC AUC by segment"} <= set(plots["data"])
    slices = (project / "plots" / "slices.csv").read_text().splitlines()
    assert slices[0].startswith("segment,column,value,rows,") and len(slices) == 6  # header + five regions
    assert [line.split(",")[0] for line in slices[1:]] == [f"region={r}" for r in REGIONS]
    bars = plots["data"]["ROC AUC by segment"][0]["content"]["data"]["values"]
    assert sorted(bar["segment"] for bar in bars) == [f"region={r}" for r in REGIONS]


def test_second_run_reruns_nothing(project):
    again = repro(project)
    assert ran(again.stdout) == set(), again.stdout
    assert "Data and pipelines are up to date" in again.stdout


def test_notebook_run_as_in_jupyterlab_uses_the_pipeline_parameters(project):
    """Top to bottom from notebooks/, no injection: the same values as `mlprod run` used (outputs in scratch/)."""
    nb = nbformat.read(project / "notebooks" / "evaluate.ipynb", as_version=4)
    record = json.loads((project / "reports" / "notebooks" / "evaluate" / "run.json").read_text())
    names = sorted(record["parameters"])
    show = f"{{'cwd': os.getcwd(), 'values': {{k: globals()[k] for k in {names!r}}}}}"
    nb.cells = nb.cells[:3] + [nbformat.v4.new_code_cell(f"import json, os; print(json.dumps({show}))")]
    jupyterlab_env = {k: v for k, v in os.environ.items() if not k.startswith("MLPROD_")}
    client = NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(project / "notebooks")}})
    client.execute(env=jupyterlab_env)
    printed = json.loads(nb.cells[-1].outputs[0]["text"])
    # the same values, except the stage's declared outputs, which an interactive run writes under scratch/
    moved = {k: v for k, v in printed["values"].items() if v != record["parameters"][k]}
    assert moved == {k: f"scratch/evaluate/{record['parameters'][k]}" for k in moved}
    assert set(moved) == {"model_dir", "metrics_file", "plots_dir"}
    assert Path(printed["cwd"]).resolve() == project.resolve()


def test_changing_a_train_parameter_reruns_only_train_and_evaluate(project):
    set_param(project, "learning_rate: 0.1", "learning_rate: 0.05")
    try:
        result = repro(project)
        assert ran(result.stdout) == {"train", "evaluate"}, result.stdout
        assert "Stage 'ingest' didn't change, skipping" in result.stdout
        record = json.loads((project / "reports" / "notebooks" / "train" / "run.json").read_text())
        assert record["parameters"]["learning_rate"] == 0.05
    finally:
        set_param(project, "learning_rate: 0.05", "learning_rate: 0.1")
        repro(project)


def test_risk_control_reruns_only_evaluate_which_calibrates_the_review_band(project):
    """serving.review.method is a parameter of evaluate: switching it to risk_control re-runs evaluate, which writes
    review_calibration.json into models/model, recorded in the manifest; back to band, neither is there."""
    from mlprod.manifest.schema import read_manifest
    from mlprod.serving import ResilientPredictor, ServingSettings

    model = project / "models" / "model"
    assert not (model / "review_calibration.json").exists() and read_manifest(model).files == {}
    set_param(project, "    method: band ", "    method: risk_control ")
    try:
        result = repro(project)
        assert ran(result.stdout) == {"evaluate"}, result.stdout
        record = json.loads((model / "review_calibration.json").read_text())
        assert record["alpha"] == 0.1 and record["holdout_rows"] > 0
        assert list(read_manifest(model).files) == ["review_calibration.json"]
        settings = ServingSettings.from_mapping({"review": {"method": "risk_control"}})
        predictor = ResilientPredictor.from_folders(model, settings=settings)
        predictor.close()
        assert predictor.settings.review_band == tuple(record["band"])
    finally:
        set_param(project, "    method: risk_control ", "    method: band ")
        repro(project)
    assert not (model / "review_calibration.json").exists() and read_manifest(model).files == {}


def test_a_failing_stage_stops_the_pipeline_and_leaves_no_valid_looking_output(project):
    lock_before = (project / "dvc.lock").read_text()
    set_param(project, "model: hist_gradient_boosting", "model: random_forest")
    try:
        result = repro(project, check=False)
        assert result.returncode != 0
        err = result.stderr + result.stdout
        assert "notebooks/train.ipynb failed in cell 6 (id 'model-code'): ConfigError" in err, err
        assert "unknown model 'random_forest'" in err
        assert not (project / "models" / "trained").exists()
        assert not (project / "reports" / "notebooks" / "train").exists()
        failed = json.loads((project / "reports" / "failed" / "train" / "run.json").read_text())
        assert failed["status"] == "failed" and failed["failure"]["cell_id"] == "model-code"
        assert "Running stage 'evaluate'" not in result.stdout
        assert (project / "dvc.lock").read_text() == lock_before
    finally:
        set_param(project, "model: random_forest", "model: hist_gradient_boosting")
    restored = repro(project)  # DVC's run cache restores the last good train outputs
    assert ran(restored.stdout) == set(), restored.stdout
    assert (project / "models" / "trained" / "model.skops").is_file()


def test_an_ill_typed_parameter_fails_before_any_kernel_starts(project):
    set_param(project, "max_iter: 200", 'max_iter: "many"')
    try:
        result = repro(project, check=False)
        assert result.returncode != 0
        err = result.stderr
        assert "params.yaml [train] 'max_iter': expected int" in err, err
        assert "got str 'many'" in err
        assert "Traceback" not in err
        assert not (project / "models" / "trained").exists()
    finally:
        set_param(project, 'max_iter: "many"', "max_iter: 200")
    restored = repro(project)
    assert ran(restored.stdout) == set(), restored.stdout
    assert (project / "models" / "trained" / "model.skops").is_file()


def test_run_records_and_the_manifest_hold_the_shared_facts(project):
    record = json.loads((project / "reports" / "notebooks" / "train" / "run.json").read_text())
    assert sorted(record["shared"]) == ["categorical_features", "model_name", "numeric_features", "positive_label",
                                        "target"]
    import yaml

    manifest = yaml.safe_load((project / "models" / "model" / "model_manifest.yaml").read_text())
    assert manifest["parameters"]["train"]["target"] == "converted"  # resolved values, wherever they came from
    assert manifest["parameters"]["evaluate"]["slice_columns"] == ["region"]
    assert manifest["name"] == "lead-scoring"


def test_slice_columns_give_metrics_per_value_of_each(project):
    set_param(project, "  slice_columns: [region]", "  slice_columns: [region, channel]")
    try:
        result = repro(project)
        assert ran(result.stdout) == {"evaluate"}, result.stdout
        lines = (project / "plots" / "slices.csv").read_text().splitlines()
        segments = [line.split(",")[0] for line in lines[1:]]
        channels = ("email", "event", "paid_search", "referral", "web")
        assert segments == [f"region={r}" for r in REGIONS] + [f"channel={c}" for c in channels]
        plots = json.loads(sh([str(BIN / "dvc"), "plots", "show", "--json"], project).stdout)
        assert len(plots["data"]["ROC AUC by segment"][0]["content"]["data"]["values"]) == 10
    finally:
        set_param(project, "  slice_columns: [region, channel]", "  slice_columns: [region]")
    restored = repro(project)
    assert ran(restored.stdout) <= {"evaluate"}, restored.stdout


@pytest.mark.parametrize(("old", "new", "stage", "message"), [
    ("  target: converted ", "  target: convertd  ", "ingest",
     "the demo dataset: no column 'convertd' (project.target in params.yaml); did you mean 'converted'?; columns: lead_id, "),
    # caught before the kernel starts (mlprod run checks the column facts against the data file's header)
    ("  categorical_features: [region, channel]", "  categorical_features: [regoin, channel]", "train",
     "params.yaml [project] categorical_features: 'regoin' is not a column of data/prepared/train.parquet (did you "
     "mean 'region'?)"),
    ("  categorical_features: [region, channel]\n  numeric_features: [age,",
     "  categorical_features: [channel]\n  numeric_features: [region, age,", "train",
     "data/prepared/train.parquet: column 'region' in project.numeric_features holds values that are not numbers"),
])
def test_a_misconfigured_fact_stops_the_first_stage_using_it_with_the_key_to_change(project, old, new, stage, message):
    lock_before = (project / "dvc.lock").read_text()
    set_param(project, old, new)
    try:
        result = repro(project, check=False)
        assert result.returncode != 0
        assert (f"notebooks/{stage}.ipynb failed" in result.stderr
                or f"stage {stage!r}: the project's facts do not match its data (nothing was run)" in result.stderr), \
            result.stderr
        assert message in result.stderr, result.stderr
        assert "KeyError" not in result.stderr and "Traceback" not in result.stderr
        assert (project / "dvc.lock").read_text() == lock_before
    finally:
        set_param(project, new, old)
    restored = repro(project)
    assert ran(restored.stdout) == set(), restored.stdout


def test_a_text_label_is_mapped_to_0_1_and_rows_without_a_label_are_counted(tmp_path):
    import pandas as pd

    from mlprod.data import make_leads

    root = copy_project(tmp_path / "project", n_rows=3000)
    leads = make_leads(n_rows=3000, seed=7)
    leads["converted"] = leads["converted"].map({1: "yes", 0: "no"}).astype(object)
    leads.loc[leads.index % 100 == 5, "converted"] = None  # 30 rows without a label
    leads.to_csv(root / "leads.csv", index=False)
    set_param(root, "source: demo", "source: leads.csv")

    failed = pipeline.repro(root, "ingest", check=False)  # positive_label: null and a text label
    assert failed.returncode != 0
    assert ("leads.csv: target column 'converted' holds 'no', 'yes', not 0/1 labels; set project.positive_label in "
            "params.yaml to the value that means positive") in failed.stderr, failed.stderr

    set_param(root, "  positive_label: null ", "  positive_label: yes  ")  # YAML reads an unquoted yes as true
    pipeline.repro(root, "ingest")
    data = json.loads((root / "metrics" / "data.json").read_text())
    assert data["labels"] == {"rows_read": 3000, "unlabelled_dropped": 30, "positive_label": "yes",
                              "negative_label": "no"}
    assert sum(data[part]["rows"] for part in ("train", "holdout", "current")) == 2970
    train = pd.read_parquet(root / "data" / "prepared" / "train.parquet")
    assert set(train["converted"].unique()) == {0, 1} and str(train["converted"].dtype) == "int64"

    set_param(root, "drop_unlabelled: true", "drop_unlabelled: false")
    strict = pipeline.repro(root, "ingest", check=False)
    assert strict.returncode != 0
    assert ("leads.csv: 30 of 3,000 rows have no label in target column 'converted' (rows 6, 106, 206, 306, 406, "
            "...); fill them in, or set ingest.drop_unlabelled: true to leave them out") in strict.stderr, strict.stderr


def test_the_fallback_stage_trains_and_evaluates_a_logistic_regression_on_the_same_splits(project):
    """`dvc repro fallback`: NAME-fallback, with its own manifest and holdout metrics; the primary is untouched."""
    primary = (project / "models" / "model" / "model_manifest.yaml").read_bytes()
    result = pipeline.repro(project, "fallback")
    assert pipeline.ran(result.stdout) == {"fallback"}, result.stdout
    metrics = json.loads((project / "metrics" / "fallback.json").read_text())
    assert metrics["name"] == "lead-scoring-fallback"
    assert 0.7 < metrics["holdout"]["roc_auc"] < 1.0 and metrics["holdout"]["rows"] > 0
    import mlprod
    from mlprod.manifest.schema import read_manifest

    manifest = read_manifest(project / "models" / "fallback")
    assert manifest.name == "lead-scoring-fallback" and manifest.metrics["holdout"] == metrics["holdout"]
    assert type(mlprod.load_model(project / "models" / "fallback")[-1]).__name__ == "LogisticRegression"
    assert (project / "models" / "model" / "model_manifest.yaml").read_bytes() == primary
    set_param(project, "  C: 1.0\n  max_iter: 200\n  seed: 42\n  threshold: 0.5",
              "  C: 0.5\n  max_iter: 200\n  seed: 42\n  threshold: 0.5")
    try:  # its own section reruns only the fallback
        again = pipeline.repro(project, "fallback", "evaluate")
        assert pipeline.ran(again.stdout) == {"fallback"}, again.stdout
    finally:
        set_param(project, "  C: 0.5\n  max_iter: 200", "  C: 1.0\n  max_iter: 200")
        pipeline.repro(project, "fallback")
