"""`mlprod retrain`: the window and the label join on tiny frames, and the whole loop on a project copy."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlprod.errors import ConfigError, DataError
from mlprod.manifest.schema import read_manifest
from mlprod.monitoring.retrain import edit_params
from mlprod.monitoring.retrain_data import RetrainSettings, combine, join_labels, select_window

from pipeline import BIN, GIT, copy_project, repro, sh

MONITORING = "pipelines/monitoring/dvc.yaml"


def leads(ids, days, **extra):
    return pd.DataFrame({"lead_id": ids, "created_at": pd.to_datetime(days), "income": [1.0] * len(ids), **extra})


def test_join_labels_keeps_only_labelled_rows_and_the_last_label():
    batch = leads([1, 2, 3], ["2025-01-06", "2025-01-07", "2025-01-08"])
    labels = pd.DataFrame({"lead_id": [3, 1, 3], "converted": [0, 1, 1]})
    joined = join_labels(batch, labels, key="lead_id", target="converted")
    assert joined["lead_id"].tolist() == [1, 3]
    assert joined["converted"].tolist() == [1, 1]  # lead 3's later label wins
    assert list(joined.columns) == ["lead_id", "created_at", "income", "converted"]


def test_join_labels_names_a_missing_key():
    with pytest.raises(DataError, match="no key column 'lead_id'"):
        join_labels(pd.DataFrame({"x": [1]}), pd.DataFrame({"lead_id": [1], "converted": [1]}),
                    key="lead_id", target="converted")


def test_combine_prefers_stream_rows_and_orders_by_time():
    source = leads([1, 2], ["2025-01-01", "2024-12-30"], converted=[0, 0])
    stream = leads([2, 5], ["2025-01-07", "2025-01-06"], converted=[1, 1]).assign(extra="x")
    frame = combine(source, stream, key="lead_id", date_column="created_at")
    assert frame["lead_id"].tolist() == [1, 5, 2]
    assert list(frame.columns) == list(source.columns)
    with pytest.raises(DataError, match="'income'"):
        combine(source, stream.drop(columns="income"), key="lead_id", date_column="created_at")


def weekly(n_weeks):  # one row per day, Mondays 2025-01-06 on
    days = pd.date_range("2025-01-06", periods=7 * n_weeks, freq="D")
    return leads(list(range(len(days))), days, converted=[0] * len(days))


def test_window_all_sets_holdout_and_current_to_the_latest_weeks():
    window = select_window(weekly(6), "created_at", RetrainSettings(holdout_weeks=2, current_weeks=1))
    assert (window.start, window.end) == ("2025-01-06", "2025-02-16")
    assert (window.holdout_start, window.current_start) == ("2025-01-27", "2025-02-10")
    assert window.counts("created_at") == {"train": 21, "holdout": 14, "current": 7}


def test_window_last_weeks_keeps_only_those_weeks():
    settings = RetrainSettings.from_mapping({"window": "last_weeks", "last_weeks": 4})
    window = select_window(weekly(6), "created_at", settings)
    assert window.start == "2025-01-20" and len(window.frame) == 28
    assert window.counts("created_at") == {"train": 7, "holdout": 14, "current": 7}


def test_window_without_rows_before_the_holdout_is_refused():
    with pytest.raises(DataError, match="no rows before the holdout"):
        select_window(weekly(2), "created_at", RetrainSettings(holdout_weeks=2, current_weeks=1))


@pytest.mark.parametrize("values, match", [({"windw": "all"}, "unknown key"), ({"window": "recent"}, "one of"),
                                           ({"window": "last_weeks"}, "needs last_weeks"),
                                           ({"window": "last_weeks", "last_weeks": 3}, "must exceed"),
                                           ({"holdout_weeks": 0}, "integer >= 1")])
def test_settings_are_strict(values, match):
    with pytest.raises(ConfigError, match=match):
        RetrainSettings.from_mapping(values)


def test_edit_params_keeps_comments():
    text = "ingest:  # the data\n  source: demo   # or a path\n  holdout_start: \"2024-04-01\"\n  current_start: null\n" \
           "train:\n  description: old  # shown on the card\n"
    out = edit_params(text, source="data/retrain/x.parquet", holdout_start="2025-02-03",
                      current_start="2025-02-17", description="Retrained: drift: yes")
    assert "# the data" in out and "# or a path" in out and "# shown on the card" in out
    import yaml
    data = yaml.safe_load(out)
    assert data["ingest"] == {"source": "data/retrain/x.parquet", "holdout_start": "2025-02-03",
                              "current_start": "2025-02-17"}
    assert data["train"]["description"] == "Retrained: drift: yes"


def mlprod(project, *args, check=True):
    return sh([str(BIN / "mlprod"), *args], project, check=check)


def git(project, *args):
    return sh([*GIT, *args], project).stdout.strip()


@pytest.mark.e2e
def test_retrain_acts_on_the_decision_on_a_branch(tmp_path):
    project = copy_project(tmp_path / "project", n_rows=8000)
    repro(project)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "trained")
    original = git(project, "rev-parse", "HEAD")
    refused = mlprod(project, "retrain", check=False)  # no decision yet
    assert refused.returncode == 2 and "no decision record" in refused.stderr
    mlprod(project, "demo-stream", "--weeks", "14", "--as-of", "2025-W15")
    repro(project, MONITORING)
    decision = json.loads((project / "reports/monitoring/decision.json").read_text())
    assert decision["retrain"] is True, decision["reasons"]

    (project / "notebooks/scratch.py").write_text("x = 1\n")  # an uncommitted change: refused
    refused = mlprod(project, "retrain", check=False)
    assert refused.returncode == 2 and "uncommitted changes (notebooks/scratch.py)" in refused.stderr
    (project / "notebooks/scratch.py").unlink()

    done = mlprod(project, "retrain", check=False)
    assert done.returncode == 0, done.stderr
    print(done.stderr)
    assert git(project, "symbolic-ref", "--short", "HEAD") == "master" or git(
        project, "symbolic-ref", "--short", "HEAD") == "main"
    assert git(project, "rev-parse", "HEAD") == original
    assert git(project, "status", "--porcelain", "--", "params.yaml", "dvc.lock") == ""
    branch = git(project, "branch", "--list", "retrain/*").strip(" *")
    assert branch.endswith(json_id(project)[:8])
    log = git(project, "log", "--format=%s", f"{original}..{branch}").splitlines()
    assert len(log) == 2 and "training data" in log[1] and "registry version 2" in log[0]
    outcome = "promoted" if "promoted" in log[0] else "rejected"
    assert outcome in log[0]

    register = json.loads(git(project, "show", f"{branch}:reports/register/decision.json"))
    assert register["outcome"] == outcome and int(register["challenger"]["version"]) == 2
    params = git(project, "show", f"{branch}:params.yaml")
    assert "source: data/retrain/" in params and "# The single source of parameter values" in params

    # on the branch: the manifest records a clean commit, the description says why, the data has the stream rows
    git(project, "checkout", "-q", branch)
    sh([str(BIN / "dvc"), "checkout"], project)
    manifest = read_manifest(project / "models/model")
    assert manifest.lineage.git.dirty is False and manifest.lineage.git.commit == git(project, "rev-parse", "HEAD~1")
    assert manifest.description.startswith("Retrained for monitoring decision")
    card = (project / "reports/model_card/model_card.md").read_text()
    assert "Retrained for monitoring decision" in card
    # `dvc checkout` wrote the data after git wrote dvc.lock: verify hashes such files instead of trusting the lock
    mlprod(project, "manifest", "verify", "models/model", "--release")
    data_file = next((project / "data/retrain").glob("*.parquet"))
    data = pd.read_parquet(data_file)
    stream_rows = data[data["lead_id"] >= 10_000_001]
    assert len(stream_rows) == 10 * 500  # weeks 1..10 are labelled as of week 14 (label delay 4)
    git(project, "checkout", "-q", "-")

    again = mlprod(project, "retrain", check=False)  # a decision is acted on once
    assert again.returncode == 0 and "already acted on" in again.stderr
    assert len(git(project, "branch", "--list", "retrain/*").splitlines()) == 1


def json_id(project):
    import hashlib
    return hashlib.sha256((project / "reports/monitoring/decision.json").read_bytes()).hexdigest()


def test_outputs_of_a_pipeline_run_from_the_project_root_do_not_make_the_tree_dirty(tmp_path):
    """pipelines/monitoring's stages have wdir ../..: their outputs are the root's paths (they counted as dirty)."""
    from mlprod.manifest.gitstate import dirty_paths

    (tmp_path / "pipelines/monitoring").mkdir(parents=True)
    (tmp_path / "pipelines/monitoring/dvc.yaml").write_text(
        "stages:\n  decide:\n    wdir: ../..\n    cmd: x\n    outs:\n      - reports/monitoring/decision.json:\n"
        "          cache: false\n    metrics:\n      - metrics/decision.json\n")
    sh(["git", "init", "-q"], tmp_path)
    sh(["git", "add", "-A"], tmp_path)
    sh([*GIT, "commit", "-qm", "x"], tmp_path)
    (tmp_path / "reports/monitoring").mkdir(parents=True)
    (tmp_path / "reports/monitoring/decision.json").write_text("{}")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/decision.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    assert dirty_paths(tmp_path) == ["notes.txt"]


KNOWN_LEADS_RULE = ("  - {name: known_leads, expr: \"lead_id < 10000000\", severity: error,\n"
                    "     description: the contract now refuses stream leads (ids from 10000001 on)}\n")


def md5(path):
    import hashlib
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.e2e
def test_retrain_whose_training_pipeline_fails_keeps_the_branch_and_leaves_the_original_clean(tmp_path):
    """A stage really fails on the retrain branch: the team tightened the data contract (a rule the stream rows
    break) after the decision; validate stops the training pipeline. Exit 1 naming the branch and the stage; the
    branch keeps its data commit; the original branch is exactly as it was; a second run says what happened."""
    project = copy_project(tmp_path / "project", n_rows=8000)
    repro(project)
    mlprod(project, "demo-stream", "--weeks", "14", "--as-of", "2025-W15")
    repro(project, MONITORING)
    assert json.loads((project / "reports/monitoring/decision.json").read_text())["retrain"] is True
    schema = project / "schema.yaml"
    schema.write_text(schema.read_text().replace("rules:\n", "rules:\n" + KNOWN_LEADS_RULE, 1))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "trained, monitored; the contract refuses stream leads")
    original, head = git(project, "symbolic-ref", "--short", "HEAD"), git(project, "rev-parse", "HEAD")
    params_before = (project / "params.yaml").read_text()
    prepared = {p.name: md5(p) for p in sorted((project / "data/prepared").glob("*.parquet"))}

    failed = mlprod(project, "retrain", check=False)
    print(failed.stderr)
    branch = git(project, "branch", "--list", "retrain/*").strip(" *")
    assert failed.returncode == 1, failed.stderr
    assert branch and f"on branch {branch}" in failed.stderr and "failed at stage 'validate'" in failed.stderr
    assert "Traceback" not in failed.stderr and f"git branch -D {branch}" in failed.stderr

    # the original branch: HEAD, tracked files, params and training outputs as they were; no retrain data left
    assert git(project, "symbolic-ref", "--short", "HEAD") == original
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "status", "--porcelain", "--untracked-files=no") == ""
    assert (project / "params.yaml").read_text() == params_before
    assert not list((project / "data").glob("retrain/*"))
    assert {p.name: md5(p) for p in sorted((project / "data/prepared").glob("*.parquet"))} == prepared

    # the branch keeps its data commit: params pointing at the data, the data's .dvc file
    log = git(project, "log", "--format=%s", f"{head}..{branch}").splitlines()
    assert len(log) == 1 and "training data data/retrain/" in log[0]
    assert "source: data/retrain/" in git(project, "show", f"{branch}:params.yaml")
    assert git(project, "ls-tree", "-r", "--name-only", branch, "data/retrain").endswith(".parquet.dvc")

    again = mlprod(project, "retrain", check=False)  # not silently "done": it says the branch failed
    assert again.returncode == 2, again.stderr
    assert f"retrain on branch {branch} did not finish" in again.stderr
    assert f"git branch -D {branch}" in again.stderr and "--force --reason" in again.stderr
    assert git(project, "branch", "--list", "retrain/*").strip(" *") == branch
    assert git(project, "status", "--porcelain", "--untracked-files=no") == ""


def test_attempts_tell_a_finished_retrain_branch_from_a_failed_one(tmp_path):
    """Git is the record: a branch ending with its data commit failed; one ending with the outcome commit finished."""
    from mlprod.monitoring.retrain import attempts

    did = "75a87338" + "0" * 56
    sh(["git", "init", "-q"], tmp_path)
    (tmp_path / "params.yaml").write_text("a: 1\n")
    sh(["git", "add", "-A"], tmp_path)
    sh([*GIT, "commit", "-qm", "start"], tmp_path)
    for branch, subjects in (("retrain/20250101-0900-75a87338", ["training data data/retrain/x.parquet (all)",
                                                                 "promoted (registry version 2)"]),
                             ("retrain/20250102-0900-75a87338", ["training data data/retrain/y.parquet (all)"]),
                             ("retrain/20250103-0900-deadbeef", ["training data data/retrain/z.parquet (all)"])):
        sh(["git", "checkout", "-q", "-b", branch], tmp_path)
        for subject in subjects:
            message = f"Retrain for decision {branch[-8:]}: {subject}"
            sh([*GIT, "commit", "-q", "--allow-empty", "-m", message], tmp_path)
        sh(["git", "checkout", "-q", "-"], tmp_path)
    assert attempts(tmp_path, did) == (["retrain/20250101-0900-75a87338"], ["retrain/20250102-0900-75a87338"])
    assert attempts(tmp_path, "ab" * 32) == ([], [])
