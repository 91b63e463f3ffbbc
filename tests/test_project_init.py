"""`mlprod init`: a project drafted from a messy CSV, refusals, label rules, quoting, the packaged template."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from messy_data import TARGET, messy_frame, write_messy_csv

from mlprod import yamlio
from mlprod.cli import main
from mlprod.errors import ConfigError
from mlprod.project import template
from mlprod.project.check import check_project
from mlprod.project.headers import column_names
from mlprod.project.init import init_project
from mlprod.validation.spec import load_schema

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> tuple[Path, Path]:
    """A fresh project made by `mlprod init DIR` from the messy CSV (outside the project)."""
    base = tmp_path_factory.mktemp("init")
    data = write_messy_csv(base / "incoming" / "customers.csv")
    root = base / "churn"
    assert main(["init", str(root), "--data", str(data), "--target", TARGET, "--positive", "yes",
                 "--name", "churn"]) == 0
    return root, data


def test_init_dir_drafts_a_project_from_messy_data(fresh, capsys):
    root, data = fresh
    for path in (".git", ".dvc", ".gitignore", "dvc.yaml", "params.yaml", "schema.yaml", "data/raw/customers.csv",
                 "pipelines/monitoring/dvc.yaml", *template.notebooks()):
        assert (root / path).exists(), path
    params = yamlio.load_file(root / "params.yaml")
    project = params["project"]
    assert project["model_name"] == "churn"
    assert project["target"] == TARGET and project["positive_label"] == "yes"  # quoted: PyYAML would read True
    assert project["date_column"] == "signup date" and project["key"] == "customer id"
    assert project["categorical_features"] == ["plan (tier)", "région/zone"]
    assert project["numeric_features"] == ["monthly charges ($)", "tenure months", "support calls"]
    assert project["slice_columns"] == ["plan (tier)"]
    text = (root / "params.yaml").read_text(encoding="utf-8")
    assert "#   notes: free text" in text and "#   country: constant: 'DE' in every row" in text
    # no shared fact is written in a stage section; the data file is the ingest source and a DVC dependency
    for name, section in params.items():
        if name not in ("project", "card") and isinstance(section, dict):
            assert not set(section) & set(project), name
    ingest = params["ingest"]
    assert ingest["source"] == "data/raw/customers.csv"
    assert isinstance(ingest["holdout_start"], str) and ingest["holdout_start"] < ingest["current_start"]
    assert all("TODO(mlprod init)" in params["card"][k] for k in ("purpose", "contact"))
    assert params["card"]["title"] == "churn"
    pipeline = yamlio.load_file(root / "dvc.yaml")
    assert "data/raw/customers.csv" in pipeline["stages"]["ingest"]["deps"]
    fields = [v for plot in pipeline["plots"] for spec in plot.values() for v in (spec.get("y") or {}).values()]
    assert "segment" in fields and "region" not in fields  # segments by name: the same plot for any slice column
    schema = load_schema(root / "schema.yaml")
    assert not schema.rules
    assert schema.column(TARGET).type == "int" and schema.column(TARGET).categories == (0, 1)
    assert schema.column("signup date").type == "datetime" and schema.column("signup date").statistics is False
    assert [c.name for c in schema.columns] == list(messy_frame().columns)
    # the split: every part has enough rows of both classes
    frame = messy_frame().dropna(subset=[TARGET])
    dates = pd.to_datetime(frame["signup date"])
    for part in (dates < ingest["holdout_start"], (dates >= ingest["holdout_start"]) & (dates < ingest["current_start"]),
                 dates >= ingest["current_start"]):
        labels = frame.loc[part.to_numpy(), TARGET]
        assert len(labels) >= 30 and (labels == "yes").sum() >= 5 and (labels == "no").sum() >= 5
    for word in ("Lead scoring", "lead_id", "converted"):
        assert word not in text and word not in (root / "schema.yaml").read_text()


def test_a_fresh_project_draws_its_plots_offline_with_the_project_templates(fresh):
    """The offline page, chart templates and vendored licences are copied and named in .dvc/config."""
    import subprocess
    import sys

    root, _ = fresh
    for name in template.PLOTS:
        assert (root / name).read_bytes() == (REPO / name).read_bytes(), name
    done = subprocess.run([sys.executable, "-m", "dvc", "config", "plots.html_template"], cwd=root,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == template.HTML_TEMPLATE
    pipeline = yamlio.load_file(root / "dvc.yaml")
    used = {spec.get("template") for plot in pipeline["plots"] for spec in plot.values()}
    assert {"roc", "calibration", "drift_score", "dated_line"} <= used
    assert all("plots" not in stage for stage in pipeline["stages"].values())  # each chart declared once


def test_a_fresh_project_has_a_default_dvc_remote_in_a_folder_beside_it(fresh):
    """`dvc push` works in the new project with no server: the remote is ../churn-dvc-remote (docs/team.md)."""
    from mlprod.manifest.remote import default_remote
    from mlprod.manifest.schema import Remote

    root, _ = fresh
    assert default_remote(root) == Remote(template.REMOTE_NAME, "../churn-dvc-remote")
    assert 'remote "shared"' in (root / ".dvc" / "config").read_text()


def test_a_fresh_project_passes_mlprod_check(fresh, capsys):
    root, _ = fresh
    result = check_project(root, registry=False)
    assert not result.errors, "\n".join(map(str, result.errors))
    assert any("TODO(mlprod init)" in f.message for f in result.warnings)
    assert result.seconds < 2
    capsys.readouterr()
    assert main(["check", str(root), "--no-registry"]) == 0
    assert "0 error(s)" in capsys.readouterr().err


def test_init_refuses_to_replace_reviewed_files_without_force(fresh, tmp_path):
    root, data = fresh
    before = {name: (root / name).read_bytes() for name in ("params.yaml", "dvc.yaml", "schema.yaml")}
    with pytest.raises(ConfigError, match=r"params.yaml, dvc.yaml, schema.yaml already exist.*--force"):
        init_project(root, data=data, target=TARGET, positive="yes")
    assert {name: (root / name).read_bytes() for name in before} == before
    # inside a project with --force: the existing stage settings are kept, the facts drafted anew
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(root, copy)
    (copy / "params.yaml").write_text((copy / "params.yaml").read_text().replace("max_iter: 200", "max_iter: 77"))
    result = init_project(copy, data=copy / "data/raw/customers.csv", target=TARGET, positive="yes", key="customer id",
                          name="churn-2", force=True)
    params = yamlio.load_file(copy / "params.yaml")
    assert params["train"]["max_iter"] == 77 and params["project"]["model_name"] == "churn-2"
    assert "data/raw/customers.csv" not in result.written  # already inside the project: not copied
    assert params["ingest"]["source"] == "data/raw/customers.csv"


def test_label_rules(tmp_path, capsys):
    frame = messy_frame(120)
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ConfigError, match=r"not 0/1 or true/false: pass --positive VALUE.*'no', 'yes'"):
        init_project(tmp_path / "p", data=path, target=TARGET)
    with pytest.raises(ConfigError, match=r"--positive 'Yes' is not a value"):
        init_project(tmp_path / "p", data=path, target=TARGET, positive="Yes")
    with pytest.raises(ConfigError, match=r"3 distinct values.*binary"):
        init_project(tmp_path / "p", data=path, target="plan (tier)")
    with pytest.raises(Exception, match=r"no column --target 'churned' \(did you mean 'Churned\?'\?\)"):
        init_project(tmp_path / "p", data=path, target="churned")
    assert not (tmp_path / "p").exists()  # nothing was written
    assert main(["init", str(tmp_path / "p"), "--data", str(path), "--target", TARGET]) == 2
    assert "Traceback" not in capsys.readouterr().err
    frame[TARGET] = (frame[TARGET] == "yes").astype(int)
    frame.to_csv(path, index=False)
    init_project(tmp_path / "p", data=path, target=TARGET, fresh=True)
    assert yamlio.load_file(tmp_path / "p" / "params.yaml")["project"]["positive_label"] is None


def test_awkward_names_survive_yaml(tmp_path):
    """Names PyYAML would read as booleans, nulls, dates or numbers, and YAML syntax, arrive as written."""
    frame = messy_frame(200)
    awkward = {"plan (tier)": "yes", "région/zone": "null", "support calls": "2024-01-01",
               "tenure months": "a: b #c", "monthly charges ($)": "1e3"}
    frame = frame.rename(columns=awkward)
    path = tmp_path / "awkward.csv"
    frame.to_csv(path, index=False)
    init_project(tmp_path / "p", data=path, target=TARGET, positive="yes", fresh=True)
    project = yamlio.load_file(tmp_path / "p" / "params.yaml")["project"]
    assert project["categorical_features"] == ["yes", "null"]
    assert project["numeric_features"] == ["1e3", "a: b #c", "2024-01-01"]
    assert column_names(path) == list(frame.columns)
    assert [c.name for c in load_schema(tmp_path / "p" / "schema.yaml").columns] == list(frame.columns)


def test_few_rows_split_by_fractions(tmp_path):
    path = tmp_path / "small.csv"
    messy_frame(70).to_csv(path, index=False)
    result = init_project(tmp_path / "p", data=path, target=TARGET, positive="yes", fresh=True)
    ingest = yamlio.load_file(tmp_path / "p" / "params.yaml")["ingest"]
    assert ingest["holdout_start"] is None and ingest["current_start"] is None
    assert any("fractions" in line for line in result.review)


def test_packaged_template_equals_the_repository_files():
    assert template.differences(REPO) == [], ("the packaged template is out of date: run "
                                              "`python -m mlprod.project.template --sync`")
    assert template.notebooks() == sorted(f"{folder}/{p.name}" for folder in ("notebooks", "pipelines/monitoring/notebooks")
                                          for p in (REPO / folder).glob("*.ipynb"))
    assert "pipelines/monitoring/notebooks/score.ipynb" in template.notebooks()


def test_parquet_and_csv_headers_are_read_without_pandas(tmp_path):
    from mlprod.data.io import write_table

    frame = pd.DataFrame({f"col {i} (x)": range(3) for i in range(40)} | {"nested": [[1], [2], []],
                                                                         "map": [{"a": 1}, {"a": 2}, {"a": 3}]})
    write_table(frame, tmp_path / "wide.parquet")
    assert column_names(tmp_path / "wide.parquet") == list(frame.columns)
    frame.to_parquet(tmp_path / "indexed.parquet", index=True)
    assert column_names(tmp_path / "indexed.parquet") == list(frame.columns)
    (tmp_path / "bom.csv").write_bytes("\ufeffa b,\"c, d\",é\n1,2,3\n".encode())
    assert column_names(tmp_path / "bom.csv") == ["a b", "c, d", "é"]
