"""mlprod sweep on real DVC experiments: the queue's temporary workspaces never see the registry files, a failed
experiment is named with its stage, a grid of the example pipeline runs train + evaluate per experiment (never
register), the table shows metrics and manifest lineage, and applying one makes a branch registered there."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.pipeline import BIN, GIT, copy_project, dvc, sh

REGISTRY = ("mlflow.db", "mlruns", "mlartifacts")


def mlprod(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh([str(BIN / "mlprod"), *args], project, check=check)


def commit(project: Path, message: str) -> None:
    sh(["git", "add", "-A"], project)
    sh([*GIT, "commit", "-qm", message], project)


def exp_files(project: Path, name: str) -> list[str]:
    ref = next(r for r in sh(["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], project).stdout.split()
               if r.endswith(f"/{name}"))
    return sh(["git", "ls-tree", "-r", "--name-only", ref], project).stdout.split()


def test_temporary_workspaces_hold_no_registry_files_and_a_failure_names_its_stage(tmp_path):
    """A probe stage lists the registry files it can see from inside DVC's temporary workspace."""
    project = tmp_path / "probe"
    project.mkdir()
    sh(["git", "init", "-q"], project)
    dvc(project, "init", "-q")
    (project / "params.yaml").write_text("probe:\n  n: 1\n")
    (project / "probe.py").write_text(textwrap.dedent(f"""\
        import json, os, sys, yaml
        n = yaml.safe_load(open("params.yaml"))["probe"]["n"]
        seen = sorted(p for p in {REGISTRY!r} if os.path.exists(p))
        json.dump({{"n": n, "registry_files": len(seen)}}, open("probe.json", "w"))
        sys.exit("probe: n=3 is refused" if n == 3 else 0)
        """))
    (project / "dvc.yaml").write_text(textwrap.dedent("""\
        stages:
          probe:
            cmd: python probe.py
            deps: [probe.py]
            params: [probe.n]
            metrics:
              - probe.json:
                  cache: false
        """))
    (project / ".gitignore").write_text("/mlflow.db\n/mlruns/\n/mlartifacts/\n")
    commit(project, "probe project")
    (project / "mlflow.db").write_bytes(b"the team's registry")
    (project / "mlruns").mkdir()
    (project / "mlruns" / "run.txt").write_text("a run")

    done = mlprod(project, "sweep", "run", "--grid", "probe.n=1,2,3", "--target", "probe", "--name", "p",
                  "--json", "table.json", check=False)
    assert done.returncode == 1, done.stderr
    assert "1 of 3 experiment(s) failed" in done.stderr
    assert "p-3: failed at stage 'probe'" in done.stderr and "n=3 is refused" in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["experiment", "status", "probe.n"]
    assert [line.split()[:3] for line in lines[1:]] == [["p-1", "success", "1"], ["p-2", "success", "2"],
                                                       ["p-3", "failed", "3"]]
    shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
    probes = {rev["name"]: rev["data"]["metrics"]["probe.json"]["data"] for group in shown[-1]["experiments"]
              for rev in group["revs"] if rev["name"] in ("p-1", "p-2")}
    assert probes == {"p-1": {"n": 1, "registry_files": 0}, "p-2": {"n": 2, "registry_files": 0}}
    dvc(project, "repro", "--force", "probe")  # the control: in the main workspace the probe sees both
    assert json.loads((project / "probe.json").read_text()) == {"n": 1, "registry_files": 2}
    table = json.loads((project / "table.json").read_text())
    assert [e["status"] for e in table["experiments"]] == ["Success", "Success", "Failed"]
    assert (project / "mlflow.db").read_bytes() == b"the team's registry"
    assert not any(f.startswith(REGISTRY) for f in exp_files(project, "p-1"))

    again = mlprod(project, "sweep", "run", "--grid", "probe.n=1,2", "--target", "probe", "--name", "p", check=False)
    assert again.returncode == 2 and "p-1, p-2 exist already" in again.stderr
    # a failed experiment leaves no experiment, only its queue entry: its name can be used again, and the new
    # run is followed by its own queue entry, not the failed one of the same name
    assert mlprod(project, "sweep", "run", "--grid", "probe.n=3", "--target", "probe", "--name", "f",
                  check=False).returncode == 1
    reused = mlprod(project, "sweep", "run", "--grid", "probe.n=4", "--target", "probe", "--name", "f")
    assert reused.stdout.splitlines()[1].split()[:3] == ["f-1", "success", "4"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The example project with its data stages run and committed: experiments run train and evaluate only."""
    root = copy_project(tmp_path_factory.mktemp("sweep"), n_rows=2000)
    dvc(root, "repro", "validate")
    commit(root, "data stages")
    (root / "mlruns").mkdir()
    (root / "mlruns" / "keep.txt").write_text("registry files of the main workspace")
    return root


def test_grid_runs_train_and_evaluate_per_experiment_and_applies_one(project):
    done = mlprod(project, "sweep", "run", "--grid", "train.max_iter=20,40", "-j", "1", "--name", "g")
    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows[0][:8] == ["experiment", "status", "train.max_iter", "roc_auc", "average_precision", "log_loss",
                           "brier", "version"]
    assert [r[:3] for r in rows[1:]] == [["g-1", "success", "20"], ["g-2", "success", "40"]]
    for row in rows[1:]:
        assert 0.5 < float(row[3]) <= 1 and row[7] == "1.0.0" and row[-1] == "ok"  # lineage: manifest == params
    head = sh(["git", "rev-parse", "HEAD"], project).stdout.strip()
    assert {r[9] for r in rows[1:]} == {head[:10]}  # the manifests name the baseline commit
    for name in ("g-1", "g-2"):
        log = dvc(project, "queue", "logs", name).stdout
        assert "Running stage 'train'" in log and "Running stage 'evaluate'" in log
        assert "Running stage 'ingest'" not in log and "Running stage 'register'" not in log
        files = exp_files(project, name)
        assert "dvc.lock" in files and not any(f.startswith((*REGISTRY, "reports/register")) for f in files)
    assert not (project / "mlflow.db").exists() and not (project / "mlartifacts").exists()
    assert sorted(p.name for p in (project / "mlruns").iterdir()) == ["keep.txt"]
    shown = mlprod(project, "sweep", "show", "--name", "g")
    assert [line.split()[:3] for line in shown.stdout.splitlines()[1:]] == [r[:3] for r in rows[1:]]

    (project / "params.yaml").write_text((project / "params.yaml").read_text() + "\n# not committed\n")
    dirty = mlprod(project, "sweep", "apply", "g-2", check=False)
    assert dirty.returncode == 2 and "uncommitted changes (params.yaml)" in dirty.stderr
    sh(["git", "checkout", "-q", "params.yaml"], project)

    applied = mlprod(project, "sweep", "apply", "g-2")
    assert "is branch sweep/g-2" in applied.stderr and "back on the original branch" in applied.stderr
    assert sh(["git", "symbolic-ref", "--short", "HEAD"], project).stdout.strip() == "master"
    subject = sh(["git", "log", "-1", "--format=%s", "sweep/g-2"], project).stdout
    assert subject.startswith("Sweep experiment g-2: rebuilt and registered (promoted, registry version 1)")
    assert "max_iter: 40" in sh(["git", "show", "sweep/g-2:params.yaml"], project).stdout
    decision = json.loads(sh(["git", "show", "sweep/g-2:reports/register/decision.json"], project).stdout)
    assert decision["outcome"] == "promoted"
    assert (project / "mlflow.db").exists()  # registered from the main workspace, through the register stage
