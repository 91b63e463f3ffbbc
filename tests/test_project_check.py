"""`mlprod check`: every wrong configuration of the story reported in one run (real files, a real SQLite
registry), the exit codes, and the check `mlprod run` makes before it starts a kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from messy_data import TARGET, write_messy_csv

pytest_plugins = ("test_registry_toys",)

import mlprod
from mlprod.cli import main
from mlprod.errors import ConfigError, FactsError
from mlprod.project.check import check_project
from mlprod.project.init import init_project

REPO = Path(__file__).resolve().parent.parent
NAME = "churn"


@pytest.fixture
def made(tmp_path, monkeypatch) -> Path:
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLPROD_STAGE"):
        monkeypatch.delenv(var, raising=False)
    data = write_messy_csv(tmp_path / "incoming" / "customers.csv")
    root = tmp_path / "churn"
    init_project(root, data=data, target=TARGET, positive="yes", name=NAME, fresh=True)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def register_other_champion(root: Path, store: Path) -> None:
    """A model of other data (one column 'visits'), registered and promoted as the champion of NAME."""
    from sklearn.linear_model import LogisticRegression

    from mlprod.registry.champion import EvaluationInputs, evaluate, promote
    from mlprod.registry.gates import GatePolicy, MetricGate
    from mlprod.registry.register import register_model
    from mlprod.registry.store import Registry

    shutil.copy(store / "mlflow.db", root / "mlflow.db")
    other = root.parent / "other"
    other.mkdir()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"visits": rng.poisson(3, 300).astype("int64")})
    frame["converted"] = (frame["visits"] + rng.normal(size=300) > 3).astype("int64")
    frame.to_parquet(other / "visits.parquet", index=False)
    model = LogisticRegression().fit(frame[["visits"]], frame["converted"])
    mlprod.save_model(model, other / "model", name=NAME, X=frame[["visits"]], version="1.0.0")
    registry = Registry.open(root)
    version = register_model(other / "model", registry=registry)
    policy = GatePolicy(metrics=(MetricGate("roc_auc", True, threshold=0.5),))
    promote(evaluate(NAME, version.version, EvaluationInputs(policy, str(other / "visits.parquet"), "converted"),
                     registry=registry), registry=registry)


def test_every_wrong_configuration_of_the_story_is_reported_in_one_run(made, empty_store, monkeypatch, capsys):
    params = made / "params.yaml"
    # the target renamed in one place only: a stage keeps its own (old) name for it
    edit(params, "\n  learning_rate: 0.1\n", "\n  learning_rate: 0.1\n  target: converted\n")
    # a feature list naming a column the data lacks
    edit(params, "    - support calls\n", "    - support calls\n    - total spend\n")
    # a schema for another dataset (the demo's)
    shutil.copy(REPO / "schema.yaml", made / "schema.yaml")
    # an existing model name whose champion cannot score the new features
    monkeypatch.chdir(made)
    register_other_champion(made, empty_store)

    result = check_project(made)
    errors = {(f.file, f.key): f for f in result.errors}
    assert "'converted' is not a column of data/raw/customers.csv" in errors[("params.yaml", "[train] target")].message
    assert any(f.key == "[train] target" and "overrides ('converted' instead of 'Churned?')" in f.message
               for f in result.warnings)
    assert "'total spend' is not a column" in errors[("params.yaml", "[project] numeric_features")].message
    schema = errors[("schema.yaml", "columns")]
    assert "describes other data: 10 of its 10 columns" in schema.message and "mlprod init --force" in schema.fix
    registry = errors[("params.yaml", "[project] model_name")]
    assert "champion version 1 (1.0.0), which could not score the configured features" in registry.message
    assert "'visits' missing" in registry.message and "'churn-2'" in registry.fix
    assert result.exit_code == 1
    capsys.readouterr()
    assert main(["check"]) == 1
    out = capsys.readouterr()
    for text in ("[train] target", "'total spend'", "describes other data", "could not score the configured features"):
        assert text in out.out
    assert "Traceback" not in out.err
    # without the registry, the same project gives the other findings, fast
    quick = check_project(made, registry=False)
    assert {(f.file, f.key) for f in quick.errors} == set(errors) - {("params.yaml", "[project] model_name")}
    assert quick.seconds < 2


def test_stage_sections_notebooks_and_deps_are_checked(made):
    params, pipeline = made / "params.yaml", made / "dvc.yaml"
    edit(params, "max_iter: 200", "max_iter: many")
    edit(params, "learning_rate: 0.1", "learning_rate: 0.1\n  learning_rat: 0.2")
    edit(pipeline, "      - notebooks/evaluate.ipynb\n", "")
    edit(pipeline, "      - data/raw/customers.csv\n", "")
    (made / "notebooks" / "model_card.ipynb").unlink()
    found = {(f.file, f.key): f for f in check_project(made, registry=False).errors}
    train = found[("params.yaml", "[train]")].message
    assert "max_iter" in train and "expected int" in train and "'learning_rat': not a parameter" in train
    assert "did you mean 'learning_rate'?" in train
    assert "does not list the stage's notebook notebooks/evaluate.ipynb" in found[("dvc.yaml", "stages.evaluate.deps")].message
    assert "reads data/raw/customers.csv" in found[("dvc.yaml", "stages.ingest.deps")].message
    assert "notebook notebooks/model_card.ipynb not found" in found[("dvc.yaml", "stages.model_card.cmd")].message


def test_label_and_date_facts_are_checked_on_a_sample(made):
    params = made / "params.yaml"
    edit(params, 'positive_label: "yes"', 'positive_label: "Yes"')
    edit(params, "date_column: signup date", "date_column: notes")
    edit(params, "  numeric_features:\n", "  numeric_features:\n    - country\n")
    found = {f.key: f for f in check_project(made, registry=False).errors}
    assert "'Yes' is not a value of 'Churned?' (values: 'no', 'yes')" in found["[project] positive_label"].message
    assert "'notes' holds values that are not dates" in found["[project] date_column"].message
    assert "'country' holds text, e.g. 'DE'" in found["[project] numeric_features"].message


def test_a_folder_without_a_project_cannot_be_checked(tmp_path, capsys):
    with pytest.raises(ConfigError, match="dvc.yaml: not found.*mlprod init"):
        check_project(tmp_path)
    assert main(["check", str(tmp_path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_mlprod_run_checks_the_stage_facts_before_starting_a_kernel(made, monkeypatch, capsys):
    params = made / "params.yaml"
    edit(params, "target: Churned?", "target: churned")
    edit(params, "date_column: signup date", "date_column: signup")
    monkeypatch.chdir(made)
    with pytest.raises(FactsError) as caught:
        mlprod.run_notebook("notebooks/ingest.ipynb")
    message = str(caught.value)
    assert "params.yaml [project] target: 'churned' is not a column of data/raw/customers.csv " \
           "(did you mean 'Churned?'?)" in message
    assert "params.yaml [project] date_column: 'signup' is not a column" in message
    assert "mlprod check" in message
    assert not (made / "reports").exists()  # no kernel, nothing written
    assert main(["run", "notebooks/ingest.ipynb"]) == 2
    assert "Traceback" not in capsys.readouterr().err
