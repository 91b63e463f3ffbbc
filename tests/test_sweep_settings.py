"""mlprod sweep: grid and settings parsing, key checks against params.yaml and dvc.yaml, failure parsing,
refusals before anything is queued (no DVC queue runs here; tests/test_sweep_e2e.py runs real experiments)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlprod import yamlio
from mlprod.cli import main
from mlprod.errors import SweepError
from mlprod.sweep.apply import apply_experiment
from mlprod.sweep.queue import parse_failure, run_sweep
from mlprod.sweep.settings import (Setting, check_settings, check_syntax, parse_grid, read_settings_file,
                                   split_values, stages_up_to, to_override)

REPO = Path(__file__).resolve().parent.parent
PARAMS = yamlio.load_file(REPO / "params.yaml")
PIPELINE = yamlio.load_file(REPO / "dvc.yaml")
GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@example.com")


def test_grid_is_the_product_in_order_last_key_fastest():
    settings = parse_grid(["train.learning_rate=0.05,0.1", "train.max_iter=100,200"])
    assert [s.overrides() for s in settings] == [
        ["train.learning_rate=0.05", "train.max_iter=100"], ["train.learning_rate=0.05", "train.max_iter=200"],
        ["train.learning_rate=0.1", "train.max_iter=100"], ["train.learning_rate=0.1", "train.max_iter=200"]]


def test_values_split_outside_brackets_and_quotes():
    assert split_values("[1,2],'a,b',3") == ["[1,2]", "'a,b'", "3"]


@pytest.mark.parametrize("item, says", [
    ("train.learning_rate", "expected KEY=V1,V2"), ("=1,2", "expected KEY=V1,V2"),
    ("train.learning_rate=", "expected KEY=V1,V2"), ("train.learning_rate=0.1,,0.2", "empty value"),
    ("train.learning_rate=0.1,0.1", "listed twice"), ("train.learning_rate=[0.1,0.2", "unbalanced brackets"),
    ("train.model='abc", "unbalanced quote"), ("other.yaml:train.x=1", "another params file"),
    ("train..x=1", "not a params.yaml key")])
def test_bad_grid_syntax_is_one_clear_error(item, says):
    with pytest.raises(SweepError, match=says):
        parse_grid([item])


def test_a_key_given_twice_is_refused():
    with pytest.raises(SweepError, match="given twice"):
        parse_grid(["train.max_iter=1,2", "train.max_iter=3"])


def test_settings_file_dotted_or_nested_keys_and_typed_values(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("settings:\n"
                    "  - {train.learning_rate: 0.05, train.model: hist_gradient_boosting}\n"
                    "  - train: {C: 0.5, model: logistic_regression, model_version: null, description: \"it's 0.5\"}\n")
    first, second = read_settings_file(path)
    assert first.overrides() == ["train.learning_rate=0.05", "train.model='hist_gradient_boosting'"]
    assert second.overrides() == ["train.C=0.5", "train.model='logistic_regression'", "train.model_version=null",
                                  "train.description='it\\'s 0.5'"]
    check_syntax([first, second])  # DVC's (Hydra's) parser accepts what mlprod writes


def test_values_written_in_dvcs_syntax_parse_back_to_the_same_values():
    from dvc.utils.hydra import to_hydra_overrides

    for value in (0.05, 3, True, None, "0.5", "a b, c", [1, "x"]):
        override = to_hydra_overrides([f"k={to_override(value, 'test')}"])[0]
        assert override.value() == value


@pytest.mark.parametrize("text, says", [("[]\n", "non-empty list"), ("- 1\n", "non-empty list"),
                                         ("settings: {a: 1}\n", "non-empty list"), ("- {train: {}}\n", "empty mapping"),
                                         ("- {train.max_iter: {}}\n", "empty mapping"), ("- [1\n", "invalid YAML")])
def test_bad_settings_files_are_refused(tmp_path, text, says):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SweepError, match=says):
        read_settings_file(path)


def test_stages_up_to_evaluate_are_the_upstream_chain():
    assert stages_up_to(PIPELINE, "evaluate") == ["ingest", "validate", "train", "evaluate"]
    with pytest.raises(SweepError, match="no stage 'evalute'"):
        stages_up_to(PIPELINE, "evalute")


def test_known_keys_of_running_stages_pass():
    settings = parse_grid(["train.learning_rate=0.05,0.1", "project.numeric_features=[age]"])
    assert check_settings(settings, PARAMS, PIPELINE, "evaluate")[-1] == "evaluate"


@pytest.mark.parametrize("item, says", [
    ("train.learnig_rate=0.1,0.2", "not a key of params.yaml. Did you mean train.learning_rate"),
    ("train=1,2", "is a section of params.yaml"),
    ("register.threshold=0.4,0.6", "no stage the sweep runs .* reads it \\(read by register\\)")])
def test_unknown_section_and_unused_keys_are_refused(item, says):
    with pytest.raises(SweepError, match=says):
        check_settings(parse_grid([item]), PARAMS, PIPELINE, "evaluate")


def test_repeated_settings_are_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("- {train.max_iter: 10}\n- {train: {max_iter: 10}}\n")
    with pytest.raises(SweepError, match="settings 1 and 2 are the same"):
        check_settings(read_settings_file(path), PARAMS, PIPELINE, "evaluate")


def test_a_value_dvc_cannot_parse_is_refused_before_queueing():
    with pytest.raises(SweepError, match="not a value DVC can set"):
        check_syntax([Setting((("train.model", "[1,"),))])
    with pytest.raises(SweepError, match="range or choice sweep"):
        check_syntax([Setting((("train.max_iter", "range(1,3)"),))])


def test_a_failed_experiments_log_names_its_stage_and_cell():
    log = ("Running stage 'ingest':\n> mlprod run notebooks/ingest.ipynb\nmlprod run: ok\n\n"
           "Running stage 'train':\n> mlprod run notebooks/train.ipynb\n"
           "mlprod run: notebooks/train.ipynb (train) failed in cell 6 (id 'fit'): ValueError: unknown model 'x'\n"
           "ERROR: failed to reproduce 'train': failed to run: mlprod run notebooks/train.ipynb, exited with 1\n")
    failure = parse_failure("s-2", log)
    assert failure.stage == "train"
    assert "failed in cell 6" in failure.message and "exited with 1" in failure.message
    assert failure.line().startswith("s-2: failed at stage 'train': ")
    assert parse_failure("s-3", "").line() == "s-3: failed at setup (before any stage ran): no log (dvc queue logs " \
                                               "printed nothing)"


def test_not_a_git_repository_is_refused(tmp_path):
    with pytest.raises(SweepError, match="not a git repository"):
        run_sweep(tmp_path, parse_grid(["train.max_iter=1,2"]), target="evaluate", jobs=1)


def _repo(root: Path) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / "params.yaml").write_text("train: {max_iter: 1}\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "x"], cwd=root, check=True)
    return root


def test_no_commit_and_no_dvc_are_refused(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    with pytest.raises(SweepError, match="no commit yet"):
        run_sweep(tmp_path, parse_grid(["train.max_iter=1,2"]), target="evaluate", jobs=1)
    _repo(tmp_path)
    with pytest.raises(SweepError, match="not a DVC project"):
        run_sweep(tmp_path, parse_grid(["train.max_iter=1,2"]), target="evaluate", jobs=1)


def test_apply_refuses_a_dirty_tree_and_an_unknown_experiment(tmp_path):
    root = _repo(tmp_path)
    (root / ".dvc").mkdir()
    with pytest.raises(SweepError, match="no experiment named 'nope'"):
        apply_experiment(root, "nope")
    (root / "params.yaml").write_text("train: {max_iter: 2}\n")  # the user's uncommitted work
    with pytest.raises(SweepError, match=r"uncommitted changes \(params.yaml\); commit or stash"):
        apply_experiment(root, "nope")
    assert (root / "params.yaml").read_text() == "train: {max_iter: 2}\n"


def test_cli_bad_grid_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    root = _repo(tmp_path)
    monkeypatch.chdir(root)
    assert main(["sweep", "run", "--grid", "train.max_iter"]) == 2
    assert "mlprod sweep: --grid 'train.max_iter': expected KEY=V1,V2" in capsys.readouterr().err
    assert main(["sweep", "run"]) == 2
    assert "give either --grid" in capsys.readouterr().err
    assert main(["sweep", "run", "--grid", "train.max_iter=1,2", "--jobs", "0"]) == 2
    assert "--jobs 0: expected at least 1" in capsys.readouterr().err
