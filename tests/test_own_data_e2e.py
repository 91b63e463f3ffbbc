"""End to end: a data scientist's own CSV, `mlprod init`, then `dvc repro` succeeds on the first run.

The CSV looks like real data: spaces, parentheses, a slash and non-ASCII in column names, missing
values, a text label ("yes"/"no"), irregular dates with a gap, an identifier, a free-text column and a
constant column, a few hundred rows. The project shares its MLflow registry with another model (a team
server would), which must stay untouched. Then each wrong configuration of the issue's story is reported
by `mlprod check` in one run, and `dvc repro` stops at its first stage with the same list.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import BIN, GIT

pytestmark = pytest.mark.e2e
pytest_plugins = ("test_registry_toys",)

DEMO_WORDS = ("Lead scoring", "lead_id", "converted", "region", "lead-scoring")
NAME = "churn-risk"


def customers(n: int = 600, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = np.sort(rng.choice(np.r_[0:200, 260:540], n, replace=True))  # a two-month gap, uneven density
    plan = rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2])
    spend = np.round(rng.gamma(2.0, 30.0, n), 2)
    visits = rng.poisson(3, n)
    logit = 1.0 - 0.04 * spend + 1.5 * (plan == "basic") - 0.6 * visits + 0.001 * days
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({
        "Customer ID": [f"C{100000 + i}" for i in range(n)],
        "Signup date": (pd.Timestamp("2023-01-02") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"),
        "Monthly spend (EUR)": spend,
        "Visits/week": visits,
        "Plan type": plan,
        "Região": rng.choice(["Norte", "Centro", "Sul"], n),
        "Notes": [f"call {i}: customer asked about invoice {rng.integers(1e6)}" for i in range(n)],
        "Source": "web",
        "Churned?": np.where(churned, "yes", "no"),
    })
    frame.loc[rng.choice(n, 40, replace=False), "Monthly spend (EUR)"] = np.nan
    frame.loc[rng.choice(n, 25, replace=False), "Plan type"] = None
    frame.loc[rng.choice(n, 5, replace=False), "Churned?"] = None  # unlabelled rows: dropped and counted
    return frame


def run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True):
    import subprocess

    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory, seeded_store) -> tuple[str, dict]:
    """A registry holding another team's model (``toy``, champion version 2), as on a team server."""
    from mlprod.registry.history import model_history
    from mlprod.registry.store import Registry
    from test_registry_toys import copy_store

    folder = tmp_path_factory.mktemp("team-registry")
    copy_store(seeded_store, folder)
    registry = Registry.open(folder)
    registry.client.set_registered_model_alias("toy", "champion", "2")
    return f"sqlite:///{folder / 'mlflow.db'}", json.loads(json.dumps(model_history(registry, "toy")))


@pytest.fixture(scope="module")
def env(shared_registry) -> dict[str, str]:
    uri, _ = shared_registry
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLPROD_", "DVC_"))}
    return {**clean, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            "MLFLOW_TRACKING_URI": uri}


@pytest.fixture(scope="module")
def project(tmp_path_factory, env) -> Path:
    work = tmp_path_factory.mktemp("own-data")
    data = work / "customers.csv"
    customers().to_csv(data, index=False)
    root = work / "churn"
    result = run([str(BIN / "mlprod"), "init", str(root), "--data", str(data), "--target", "Churned?",
                  "--positive", "yes", "--date", "Signup date", "--key", "Customer ID", "--name", NAME], work, env)
    print(result.stdout)
    run([*GIT, "add", "-A"], root, env)
    run([*GIT, "commit", "-qm", "mlprod init"], root, env)
    return root


def test_init_then_dvc_repro_succeeds_on_the_first_run(project, env, shared_registry):
    checked = run([str(BIN / "mlprod"), "check"], project, env, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = run([str(BIN / "dvc"), "repro"], project, env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    card = (project / "reports" / "model_card" / "model_card.md").read_text()
    assert NAME in card
    assert "Monthly spend (EUR)" in card and "Visits/week" in card  # the user's own column names
    data = json.loads((project / "metrics" / "data.json").read_text())
    assert "5" in json.dumps(data)  # the unlabelled rows are counted

    outputs = [p for folder in ("reports", "metrics", "plots", "models") for p in (project / folder).rglob("*")
               if p.is_file() and p.suffix in (".md", ".html", ".json", ".csv", ".yaml", ".prom", ".ipynb")]
    outputs += [*(project / "notebooks").glob("*.ipynb"), *(project / "pipelines").rglob("*.ipynb")]  # the copies
    found = {str(p.relative_to(project)): word for p in outputs for word in DEMO_WORDS
             if word in p.read_text(encoding="utf-8", errors="replace")}
    assert found == {}, found

    _, before = shared_registry
    history = [str(BIN / "mlprod"), "registry", "history"]
    after = json.loads(run([*history, "toy", "--json"], project, env).stdout)
    assert after == before  # the other team's model is untouched
    ours = json.loads(run([*history, NAME, "--json"], project, env).stdout)
    assert ours["aliases"] == {"champion": "1"} and ours["versions"][0]["semver"] == "1.0.0"


def test_each_wrong_configuration_is_reported_at_once_by_check_and_by_the_first_stage(project, env, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(project, broken, ignore=shutil.ignore_patterns(".dvc", "reports", "models", "metrics", "plots",
                                                                    "data"))
    shutil.copytree(project / "data" / "raw", broken / "data" / "raw")
    run([str(BIN / "dvc"), "init", "-q", "-f"], broken, env)
    params = (broken / "params.yaml").read_text(encoding="utf-8")
    params = params.replace("\nregister:", "\nregister:\n  target: churned", 1)  # the target renamed in one place
    params = params.replace("    - Visits/week\n", "    - Visits/week\n    - Total spend\n", 1)  # a missing column
    params = re.sub(r"model_name: .*", "model_name: toy", params, count=1)  # another model's name in the registry
    (broken / "params.yaml").write_text(params, encoding="utf-8")
    shutil.copy(Path(__file__).resolve().parent.parent / "schema.yaml", broken / "schema.yaml")  # the demo's schema

    checked = run([str(BIN / "mlprod"), "check"], broken, env, check=False)
    report = checked.stdout + checked.stderr
    assert checked.returncode == 1, report
    for finding in ("[register] target", "'Total spend'", "describes other data", "could not score"):
        assert finding in report, (finding, report)
    assert "Traceback" not in report

    repro = run([str(BIN / "dvc"), "repro"], broken, env, check=False)
    output = repro.stdout + repro.stderr
    assert repro.returncode != 0
    assert "Running stage 'ingest'" in output and "Running stage 'validate'" not in output, output
    for finding in ("[register] target: 'churned'", "'Total spend'", "describes other data"):
        assert finding in output, (finding, output)
    assert "Traceback" not in output
