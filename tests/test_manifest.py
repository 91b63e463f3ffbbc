"""Model manifests: file format, semver rules, save/load with the hash check, lineage capture, verify."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

import mlprod
from mlprod.errors import ManifestError
from mlprod.manifest import schema, semver
from mlprod.manifest.gitstate import git_state
from mlprod.manifest.schema import (Artifact, DataRef, Environment, GitState, InputColumn, Lineage, Manifest, Output,
                                    Previous, StageRun)
from mlprod.manifest.verify import verify


# --- the file format -------------------------------------------------------------------------------------------

def make_manifest(**changes) -> Manifest:
    base = Manifest(
        name="leads", version="1.2.3", created_at="2026-01-02T03:04:05+00:00",
        artifact=Artifact(path="model.skops", sha256="a" * 64, size=10, format="skops", class_name="x.Y",
                          hyperparameters={"C": 1.0, "max_iter": 100}, features=["age", "income"]),
        inputs=[InputColumn("age", "int64"), InputColumn("income", "float64")],
        output=Output(kind="probability", classes=[0, 1]),
        lineage=Lineage(git=GitState(dirty=False, commit="c" * 40), runs=[StageRun("train", "train.ipynb", "b" * 64)]),
        environment=Environment(python="3.11.7", platform="linux", packages={"numpy": "2.0"}),
        data=[DataRef(role="training", path="train.parquet", md5="d" * 32, hash_source="dvc.lock",
                      dataset_id="train.parquet@md5:dddddddddddd", rows=100, columns=["age", "income", "y"])])
    return dataclasses.replace(base, **changes)


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9), text,
                   st.floats(allow_nan=False, allow_infinity=False))
manifests = st.builds(
    Manifest,
    name=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    version=st.builds(lambda a, b, c: f"{a}.{b}.{c}", *(st.integers(0, 99),) * 3),
    created_at=text,
    artifact=st.builds(Artifact, path=st.just("model.skops"), sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
                       size=st.integers(0, 10**9), format=st.just("skops"), class_name=text,
                       hyperparameters=st.dictionaries(text, scalar.filter(lambda v: v is not None), max_size=5),
                       features=st.lists(text, max_size=5)),
    inputs=st.lists(st.builds(InputColumn, name=text, dtype=text), max_size=5),
    output=st.builds(Output, kind=st.sampled_from(["probability", "value"]), description=text,
                     classes=st.lists(st.integers(0, 5), max_size=3)),
    lineage=st.builds(Lineage, git=st.builds(GitState, dirty=st.booleans(),
                                             commit=st.one_of(st.none(), st.text("0123456789abcdef", min_size=40, max_size=40))),
                      runs=st.lists(st.builds(StageRun, stage=text, notebook=text, notebook_sha256=text,
                                              run_id=st.one_of(st.none(), text)), max_size=3)),
    environment=st.builds(Environment, python=text, platform=text, packages=st.dictionaries(text, text, max_size=5)),
    metrics=st.dictionaries(text, st.dictionaries(text, scalar.filter(lambda v: v is not None), min_size=1, max_size=3),
                            max_size=3),
    description=text,
    previous=st.one_of(st.none(), st.builds(Previous, version=st.just("1.0.0"), sha256=text)),
)


@settings(max_examples=60, deadline=None)
@given(manifests)
def test_manifest_round_trips_through_its_file_format(manifest):
    written = schema.dumps(manifest)
    assert schema.loads(written) == manifest
    assert schema.dumps(schema.loads(written)) == written  # deterministic


def test_manifest_is_written_with_sorted_keys_and_atomically(tmp_path):
    path = schema.write_manifest(make_manifest(), tmp_path)
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith((" ", "-", "#"))]
    assert lines == sorted(lines)
    assert [p.name for p in tmp_path.iterdir()] == ["model_manifest.yaml"]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(owner="me"), "unknown field(s) owner; allowed:"),
    (lambda d: d["artifact"].update(colour="red"), "unknown field(s) colour"),
    (lambda d: d.pop("version"), "version: required field is missing"),
    (lambda d: d["artifact"].pop("sha256"), "artifact.sha256: required field is missing"),
    (lambda d: d["artifact"].update(size="big"), "artifact.size: expected int, got str 'big'"),
    (lambda d: d["inputs"][1].update(name=3), "inputs[1].name: expected str, got int 3"),
    (lambda d: d.update(schema_version=99), "schema_version 99 is not supported"),
])
def test_reading_is_strict_and_names_the_field(edit, message):
    data = make_manifest().to_dict()
    edit(data)
    import yaml

    with pytest.raises(ManifestError, match=None) as err:
        schema.loads(yaml.safe_dump(data), source="m.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("m.yaml")


def test_a_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="no model manifest.*mlprod.save_model"):
        mlprod.load_model(tmp_path)


# --- semantic versions -------------------------------------------------------------------------------------------

def test_version_parsing_and_ordering():
    assert semver.Version.parse("1.10.0") > semver.Version.parse("1.9.9")
    with pytest.raises(ManifestError, match="not a semantic version"):
        semver.Version.parse("1.0")
    with pytest.raises(ManifestError):
        semver.Version.parse("01.0.0")


@pytest.mark.parametrize("change, level", [
    (dict(inputs=[InputColumn("age", "float64"), InputColumn("income", "float64")]), "major"),
    (dict(inputs=[InputColumn("age", "int64")]), "major"),
    (dict(artifact=Artifact(path="model.skops", sha256="e" * 64, size=10, format="skops", class_name="x.Y",
                            hyperparameters={"C": 1.0, "max_iter": 100}, features=["age", "income", "age^2"])), "minor"),
    (dict(artifact=Artifact(path="model.skops", sha256="e" * 64, size=10, format="skops", class_name="x.Y",
                            hyperparameters={"C": 0.5, "max_iter": 100}, features=["age", "income"])), "minor"),
    (dict(data=[DataRef(role="training", path="train.parquet", md5="f" * 32, hash_source="computed",
                        dataset_id="x")]), "minor"),
    (dict(artifact=Artifact(path="model.skops", sha256="e" * 64, size=11, format="skops", class_name="x.Y",
                            hyperparameters={"C": 1.0, "max_iter": 100}, features=["age", "income"])), "patch"),
    (dict(created_at="later", environment=Environment(python="3.12", platform="mac")), "none"),
])
def test_required_bump_for_each_kind_of_change(change, level):
    previous = make_manifest()
    assert semver.required_change(previous, dataclasses.replace(previous, **change)).level == level


def test_propose_and_check_versions():
    previous = make_manifest()
    hyper = dataclasses.replace(previous, artifact=dataclasses.replace(previous.artifact, sha256="e" * 64,
                                                                       hyperparameters={"C": 2.0, "max_iter": 100}))
    assert semver.propose_version(previous, hyper)[0] == "1.3.0"
    assert semver.propose_version(None, previous)[0] == "1.0.0"
    assert semver.check_version(previous, dataclasses.replace(hyper, version="2.0.0")).level == "minor"  # bigger ok
    for version, message in [("1.2.4", "is a patch bump, but hyperparameters changed: C needs a minor bump. Use 1.3.0"),
                             ("1.2.3", "already used by a different artifact"),
                             ("1.1.0", "versions never go backwards")]:
        with pytest.raises(ManifestError, match=message):
            semver.check_version(previous, dataclasses.replace(hyper, version=version))
    same = dataclasses.replace(previous, created_at="later")
    assert semver.check_version(previous, same).level == "none"
    with pytest.raises(ManifestError, match="identical to version 1.2.3; keep version"):
        semver.check_version(previous, dataclasses.replace(same, version="1.2.4"))


# --- saving and loading ------------------------------------------------------------------------------------------

@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("MLPROD_RUN", "MLPROD_STAGE", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    frame = pd.DataFrame({"age": np.arange(60) % 50 + 20, "income": np.linspace(1.0, 9.0, 60)})
    target = (frame.income > 5).astype(int)
    frame.assign(y=target).to_parquet("train.parquet")
    return frame, target


def test_save_and_load_with_the_manifest(data, tmp_path):
    X, y = data
    manifest = mlprod.save_model(LogisticRegression().fit(X, y), "model", name="leads", X=X,
                                 training_data="train.parquet", metrics={"training": {"acc": np.float64(0.75)}})
    assert manifest == mlprod.read_manifest("model")
    assert manifest.version == "1.0.0" and manifest.previous is None
    assert [(c.name, c.dtype) for c in manifest.inputs] == [("age", "int64"), ("income", "float64")]
    assert manifest.output.kind == "probability" and manifest.output.classes == [0, 1]
    assert manifest.artifact.hyperparameters["C"] == 1.0
    (ref,) = manifest.data
    assert (ref.rows, ref.columns, ref.hash_source) == (60, ["age", "income", "y"], "computed")
    import hashlib

    assert ref.md5 == hashlib.md5(Path("train.parquet").read_bytes()).hexdigest()
    assert manifest.metrics == {"training": {"acc": 0.75}}
    assert manifest.lineage.git.commit is None  # not a git repository
    assert manifest.environment.packages["scikit-learn"] and "pytest" in manifest.environment.packages
    model = mlprod.load_model("model")
    assert model.predict_proba(X).shape == (60, 2)


def test_retraining_proposes_the_next_version_and_links_the_previous(data):
    X, y = data
    first = mlprod.save_model(LogisticRegression().fit(X, y), "model", name="leads", X=X, training_data="train.parquet")
    again = mlprod.save_model(LogisticRegression().fit(X, y), "model", name="leads", X=X, training_data="train.parquet")
    assert again.version == "1.0.0"  # same artifact, same version
    tuned = mlprod.save_model(LogisticRegression(C=0.1).fit(X, y), "model", name="leads", X=X,
                              training_data="train.parquet")
    assert tuned.version == "1.1.0"
    assert tuned.previous == schema.Previous(version="1.0.0", sha256=first.artifact.sha256,
                                             manifest_md5=tuned.previous.manifest_md5)
    wider = X.assign(extra=1.0)
    bigger = mlprod.save_model(LogisticRegression(C=0.1).fit(wider, y), "model", name="leads", X=wider,
                               training_data="train.parquet")
    assert bigger.version == "2.0.0"
    with pytest.raises(ManifestError, match="already used by a different artifact"):
        mlprod.save_model(LogisticRegression(C=0.2).fit(wider, y), "model", name="leads", X=wider,
                          training_data="train.parquet", version="2.0.0")
    assert mlprod.read_manifest("model").version == "2.0.0"  # the refused save left the saved model alone
    mlprod.load_model("model")


def test_a_tampered_artifact_is_refused_before_deserializing(data, monkeypatch):
    X, y = data
    mlprod.save_model(LogisticRegression().fit(X, y), "model", name="leads", X=X, training_data="train.parquet")
    from mlprod.modelfile.skops_io import dumps_model

    Path("model/model.skops").write_bytes(dumps_model(LogisticRegression(C=9.0).fit(X, y)))  # a valid, other model
    import skops.io

    def forbidden(*args, **kwargs):
        raise AssertionError("the artifact was deserialized")

    monkeypatch.setattr(skops.io, "loads", forbidden)
    monkeypatch.setattr(skops.io, "get_untrusted_types", forbidden)
    with pytest.raises(ManifestError, match=r"model/model.skops: sha256 \w+ does not match the manifest"):
        mlprod.load_model("model")
    assert not verify("model").passed
    assert "does not match the manifest" in verify("model").failures[0].message


def test_a_manifest_edited_to_a_wrong_hash_is_refused(data):
    X, y = data
    mlprod.save_model(LogisticRegression().fit(X, y), "model", name="leads", X=X, training_data="train.parquet")
    path = Path("model/model_manifest.yaml")
    text = path.read_text()
    sha = mlprod.read_manifest("model").artifact.sha256
    path.write_text(text.replace(sha, "0123abcd" * 8))
    with pytest.raises(ManifestError, match="does not match the manifest"):
        mlprod.load_model("model")


def test_lineage_of_a_run_under_mlprod_run(data, monkeypatch):
    X, y = data
    context = {"run_id": "r1", "stage": "train", "notebook": "notebooks/train.ipynb", "notebook_sha256": "f" * 64,
               "parameters": {"C": 1.0}, "started_at": "t0", "run_record": "reports/notebooks/train/run.json"}
    monkeypatch.setenv("MLPROD_RUN", json.dumps(context))
    manifest = mlprod.save_model(LogisticRegression().fit(X, y), "model", name="leads", X=X,
                                 training_data="train.parquet")
    (run,) = manifest.lineage.runs
    assert (run.stage, run.run_id, run.notebook_sha256, run.run_record) == (
        "train", "r1", "f" * 64, "reports/notebooks/train/run.json")
    assert manifest.parameters == {"train": {"C": 1.0}}


def test_only_distributions_of_imported_modules_are_recorded():
    import sys

    from mlprod.manifest.environment import imported_distributions

    modules = {"sklearn": sys.modules["sklearn"], "yaml": sys.modules["yaml"], "json": sys.modules["json"],
               "sklearn.linear_model": sys.modules["sklearn.linear_model"]}
    found = imported_distributions(modules)
    assert set(found) == {"scikit-learn", "PyYAML"}  # names as the distributions spell them; stdlib left out
    import sklearn
    import yaml

    assert found["scikit-learn"] == sklearn.__version__ and found["PyYAML"] == yaml.__version__


# --- git state -----------------------------------------------------------------------------------------------------

def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout


def test_dirty_tree_detection_ignores_pipeline_outputs(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages:\n  train:\n    cmd: x\n    outs: [models/model]\n"
                                       "    metrics: [{metrics/train.json: {cache: false}}]\n")
    (tmp_path / "train.py").write_text("print(1)\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    clean = git_state(tmp_path)
    assert clean.commit == git(tmp_path, "rev-parse", "HEAD").strip() and not clean.dirty
    for generated in ("models/model/model.skops", "metrics/train.json", "dvc.lock", "models/.gitignore"):
        (tmp_path / generated).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / generated).write_text("x")
    assert not git_state(tmp_path).dirty
    (tmp_path / "train.py").write_text("print(2)\n")
    first = git_state(tmp_path)
    assert first.dirty and len(first.diff_sha256) == 64
    (tmp_path / "train.py").write_text("print(3)\n")
    assert git_state(tmp_path).diff_sha256 != first.diff_sha256
    (tmp_path / "train.py").write_text("print(1)\n")
    (tmp_path / "notes.py").write_text("untracked\n")
    assert git_state(tmp_path).dirty


def test_release_verification_refuses_a_dirty_tree_and_incomplete_lineage(data, tmp_path):
    X, y = data
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "train.parquet")
    git(tmp_path, "commit", "-qm", "data")
    (tmp_path / "scratch.py").write_text("x = 1\n")
    mlprod.save_model(LogisticRegression().fit(X, y), "model", name="leads", X=X, training_data="train.parquet")
    assert verify("model").passed
    result = verify("model", release=True)
    failed = {c.name: c.message for c in result.failures}
    assert "dirty tree" in failed["git"]
    assert "run_id (the notebook ran interactively" in failed["lineage"]
    assert "no current entry in" in failed["data train.parquet"]


@pytest.mark.parametrize("stage, notebook", [("train", "notebooks/train.ipynb"),
                                             ("fit", "notebooks/train.ipynb")])  # found by the notebook it runs
def test_release_verification_names_the_command_that_rebuilds_the_model(data, tmp_path, monkeypatch, stage, notebook):
    X, y = data
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  ingest:\n    cmd: mlprod run notebooks/ingest.ipynb\n"
        "  train:\n    cmd: mlprod run notebooks/train.ipynb\n    outs: [model]\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "project")
    (tmp_path / "scratch.py").write_text("x = 1\n")
    monkeypatch.setenv("MLPROD_RUN", json.dumps({"run_id": "r1", "stage": stage, "notebook": notebook,
                                                 "notebook_sha256": "f" * 64}))
    mlprod.save_model(LogisticRegression().fit(X, y), "model", name="leads", X=X, training_data="train.parquet")
    failed = {c.name: c.message for c in verify("model", release=True).failures}
    assert failed["git"].endswith("commit the changes, then rebuild the model from the commit with "
                                  "`dvc repro --force train` (plain `dvc repro` reruns nothing when only git state "
                                  "changed)")


def test_release_verification_without_a_matching_stage_says_which_stages_to_name(data, tmp_path):
    X, y = data
    mlprod.save_model(LogisticRegression().fit(X, y), "model", name="leads", X=X, training_data="train.parquet")
    failed = {c.name: c.message for c in verify("model", release=True).failures}
    assert "rebuild the model from the commit with `dvc repro --force STAGE ...` (naming the dvc.yaml stages that " \
           "build this model)" in failed["git"]
    assert failed["lineage"].endswith("Rebuild the model through the pipeline, whose stages record it, with "
                                      "`dvc repro --force STAGE ...` (naming the dvc.yaml stages that build this model)")


# --- fields that become paths: only their expected form -------------------------------------------------------

@pytest.mark.parametrize("edit, field", [
    (lambda d: d["artifact"].update(path="../../outside.skops"), "artifact.path"),
    (lambda d: d["artifact"].update(path="/etc/passwd"), "artifact.path"),
    (lambda d: d["artifact"].update(path="sub/../../x"), "artifact.path"),
    (lambda d: d["artifact"].update(path=""), "artifact.path"),
    (lambda d: d.update(previous={"version": "1.0.0", "sha256": "a" * 64, "manifest_md5": "../../../../etc/pw"}),
     "previous.manifest_md5"),
    (lambda d: d.update(previous={"version": "1.0.0", "sha256": "a" * 64, "manifest_md5": "A" * 32}),
     "previous.manifest_md5"),
    (lambda d: d["data"][0].update(path=""), "data[0].path"),
    (lambda d: d["data"][0].update(md5="d" * 31), "data[0].md5"),
    (lambda d: d["lineage"]["git"].update(commit="--output=/tmp/owned"), "lineage.git.commit"),
])
def test_fields_that_become_paths_accept_only_their_expected_form(edit, field):
    import yaml

    data = make_manifest().to_dict()
    edit(data)
    with pytest.raises(ManifestError) as err:
        schema.loads(yaml.safe_dump(data), source="m.yaml")
    assert str(err.value).startswith(f"m.yaml: {field}: expected ")
    assert "edited or damaged" in str(err.value)


def test_manifests_of_earlier_versions_with_data_outside_the_project_stay_readable():
    import yaml

    data = make_manifest().to_dict()
    data["data"][0]["path"] = "../shared/train.parquet"  # what earlier versions wrote for data outside the project
    assert schema.loads(yaml.safe_dump(data), source="m.yaml").data[0].path == "../shared/train.parquet"


def test_data_outside_the_project_is_recorded_by_absolute_path_never_with_dotdot(tmp_path, monkeypatch):
    from mlprod.manifest.datarefs import data_ref

    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "outside.csv").write_text("a\n1\n")
    ref = data_ref(tmp_path / "outside.csv", "training", root=project)
    assert ref.path == (tmp_path / "outside.csv").resolve().as_posix()
    assert schema.loads(schema.dumps(make_manifest(data=[ref]))).data == [ref]


def _cache(root: Path, md5: str, manifest: Manifest) -> None:
    from mlprod.manifest.datarefs import cache_path

    path = cache_path(root, md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema.dumps(manifest))


def test_a_previous_chain_that_loops_is_an_error_naming_the_versions(tmp_path, monkeypatch, capsys):
    from mlprod.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")
    x, y = "1" * 32, "2" * 32  # cache objects whose content was replaced: they point back at each other
    _cache(tmp_path, x, make_manifest(version="1.1.0", previous=Previous("1.0.0", "b" * 64, manifest_md5=y)))
    _cache(tmp_path, y, make_manifest(version="1.0.0", previous=Previous("1.1.0", "b" * 64, manifest_md5=x)))
    schema.write_manifest(make_manifest(previous=Previous("1.1.0", "b" * 64, manifest_md5=x)), tmp_path / "model")

    assert main(["lineage", "model"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"mlprod lineage: leads 1.2.3: the chain of previous versions loops: 1.1.0 <- 1.0.0 <- "
                            f"1.1.0 (manifest md5 {x} comes back after 2 step(s)). A previous.manifest_md5 was "
                            "edited; the version history cannot be trusted\n")
    assert main(["manifest", "verify", "model", "--release"]) == 1
    out = capsys.readouterr().out
    assert "  FAIL history: leads 1.2.3: the chain of previous versions loops: 1.1.0 <- 1.0.0 <- 1.1.0" in out
    assert out.count("1.0.0") == 1  # not one line per step around the loop


def test_a_manifest_that_is_its_own_previous_loops_at_once(tmp_path):
    from mlprod.manifest.history import version_chain

    x = "3" * 32
    _cache(tmp_path, x, make_manifest(version="1.0.0", previous=Previous("1.0.0", "b" * 64, manifest_md5=x)))
    with pytest.raises(ManifestError, match=r"loops: 1\.0\.0 <- 1\.0\.0 \(manifest md5 3{32} comes back after 1"):
        version_chain(make_manifest(previous=Previous("1.0.0", "b" * 64, manifest_md5=x)), tmp_path)


def test_an_unbroken_chain_is_reported_by_release_verification(tmp_path):
    from mlprod.manifest.verify import _history

    x = "4" * 32
    _cache(tmp_path, x, make_manifest(version="1.0.0"))
    check = _history(make_manifest(previous=Previous("1.0.0", "b" * 64, manifest_md5=x)), tmp_path)
    assert check.passed and check.message == "1 previous version(s) found in the DVC cache (1.2.3 <- 1.0.0)"


def test_reproduce_keep_leaves_the_rebuild_not_an_empty_folder(tmp_path, monkeypatch):
    import sys

    from mlprod.manifest.reproduce import render_text, reproduce

    monkeypatch.chdir(tmp_path)
    for var in ("MLPROD_STAGE", "MLPROD_RUN", "MLPROD_PARAMS_FILE", "DVC_STAGE", "DVC_ROOT"):
        monkeypatch.delenv(var, raising=False)
    git(tmp_path, "init", "-q")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True, capture_output=True)
    built = make_manifest(lineage=Lineage(git=GitState(dirty=False, commit="c" * 40),
                                          runs=[StageRun("train", "train.ipynb", "b" * 64, run_id="r1")]), data=[])
    schema.write_manifest(built, tmp_path / "saved")
    (tmp_path / "saved" / "model.skops").write_bytes(b"0123456789")
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "dvc.yaml").write_text("stages:\n  train:\n    cmd: mkdir -p models && cp -r saved models/model\n    deps: [saved]\n"
                                       "    outs: [models/model]\n")
    (tmp_path / ".gitignore").write_text("/models\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "stage")
    head = git(tmp_path, "rev-parse", "HEAD").strip()
    recorded = dataclasses.replace(built, lineage=Lineage(git=GitState(dirty=False, commit=head),
                                                          runs=built.lineage.runs))
    schema.write_manifest(recorded, tmp_path / "models" / "model")

    result = reproduce("models/model", keep=True)
    assert result.identical and result.kept
    kept = Path(result.kept)
    assert (kept / "dvc.yaml").is_file() and (kept / "models" / "model" / "model_manifest.yaml").is_file()
    assert f"rebuild kept for inspection in {kept} (remove it with: git worktree remove --force {kept})" \
        in render_text(result)
    git(tmp_path, "worktree", "remove", "--force", str(kept))
    result = reproduce("models/model")
    assert result.kept is None and "kept" not in render_text(result)
    assert len(git(tmp_path, "worktree", "list").splitlines()) == 1


def test_a_data_file_written_after_dvc_lock_is_hashed_not_called_untracked(tmp_path):
    import os

    from mlprod.manifest.datarefs import file_md5, locked_md5

    data = tmp_path / "data" / "train.parquet"
    data.parent.mkdir()
    data.write_bytes(b"rows")
    md5 = file_md5(data)
    (tmp_path / "dvc.lock").write_text(f"schema: '2.0'\nstages:\n  ingest:\n    cmd: x\n    outs:\n"
                                        f"    - path: data/train.parquet\n      md5: {md5}\n      size: 4\n")
    later = (tmp_path / "dvc.lock").stat().st_mtime + 10
    os.utime(data, (later, later))  # what `dvc checkout` after `git checkout` does
    assert locked_md5("data/train.parquet", tmp_path) is None  # not trusted on its size alone
    assert locked_md5("data/train.parquet", tmp_path, verify_newer=True) == md5
    data.write_bytes(b"edit")
    os.utime(data, (later, later))
    assert locked_md5("data/train.parquet", tmp_path, verify_newer=True) is None  # edited: the hashes differ
