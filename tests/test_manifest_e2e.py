"""Manifests in the real pipeline: byte-identical models from clean clones, reproduce, lineage, versions."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from mlprod.manifest.reproduce import Reproduction, compare, render_text
from mlprod.manifest.schema import read_manifest

from pipeline import BIN, GIT, copy_project, dvc, ran, repro, set_param, sh

pytestmark = pytest.mark.e2e


def mlprod(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh([str(BIN / "mlprod"), *args], project, check=check)


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("origin") / "project", n_rows=6000)


@pytest.fixture(scope="module")
def clones(origin, tmp_path_factory) -> tuple[Path, Path]:
    built = []
    for name in ("first", "second"):
        clone = tmp_path_factory.mktemp(name) / "project"
        sh(["git", "clone", "-q", str(origin), str(clone)], origin.parent)
        repro(clone, "evaluate")
        built.append(clone)
    return built[0], built[1]


def test_clean_clones_of_one_commit_build_byte_identical_models(clones):
    first, second = clones
    for folder in ("models/trained", "models/model"):
        assert (first / folder / "model.skops").read_bytes() == (second / folder / "model.skops").read_bytes()
    a, b = read_manifest(first / "models/model"), read_manifest(second / "models/model")
    assert a.version == b.version == "1.0.0"
    assert a.artifact == b.artifact and a.metrics == b.metrics and a.data == b.data
    assert a.lineage.git.commit == b.lineage.git.commit and not a.lineage.git.dirty


def test_the_pipeline_manifest_has_full_lineage_from_dvc(clones):
    project = clones[0]
    manifest = read_manifest(project / "models/model")
    assert [run.stage for run in manifest.lineage.runs] == ["train", "evaluate"]
    for run in manifest.lineage.runs:
        record = json.loads((project / run.run_record).read_text())
        assert record["run_id"] == run.run_id and record["notebook_sha256"] == run.notebook_sha256
    assert manifest.parameters["train"]["learning_rate"] == 0.1
    assert set(manifest.metrics) == {"training", "holdout"} and 0.5 < manifest.metrics["holdout"]["roc_auc"] < 1
    for ref in manifest.data:
        assert ref.hash_source == "dvc.lock", ref  # DVC had hashed it: not re-read
        assert ref.md5 == hashlib.md5((project / ref.path).read_bytes()).hexdigest()
        assert ref.rows and "converted" in ref.columns
    assert {r.role for r in manifest.data} == {"training", "evaluation"}
    assert manifest.environment.packages["scikit-learn"] and "ipykernel" in manifest.environment.packages
    assert "mlflow" not in manifest.environment.packages  # only what the stage imported
    assert [c.name for c in manifest.inputs][:2] == ["region", "channel"]

    verified = mlprod(project, "manifest", "verify", "models/model", "--release")
    assert "verified (release checks)" in verified.stdout
    lineage = mlprod(project, "lineage", "models/model").stdout
    assert "train: run " in lineage and "(same as at the commit)" in lineage
    assert "data/prepared/train.parquet@md5:" in lineage and "hash from dvc.lock" in lineage


def test_reproduce_rebuilds_the_model_identically(clones):
    project = clones[0]
    sh(["git", "add", "-A"], project)
    sh([*GIT, "commit", "-qm", "first build"], project)
    result = mlprod(project, "reproduce", "models/model")
    assert ": identical" in result.stdout, result.stdout + result.stderr
    assert "metrics, data hashes, parameters and package versions are the same" in result.stdout
    worktrees = sh(["git", "worktree", "list"], project).stdout.strip().splitlines()
    assert len(worktrees) == 1  # the temporary worktree is gone


def test_retraining_bumps_the_version_and_links_the_previous_one_from_the_dvc_cache(clones):
    project = clones[0]
    before = read_manifest(project / "models/model")
    set_param(project, "learning_rate: 0.1", "learning_rate: 0.05")
    repro(project, "evaluate")
    after = read_manifest(project / "models/model")
    assert after.version == "1.1.0"
    assert after.previous.version == "1.0.0" and after.previous.sha256 == before.artifact.sha256
    assert after.lineage.git.dirty  # params.yaml differs from the commit
    assert "1.1.0 <- 1.0.0" in mlprod(project, "lineage", "models/model").stdout
    refused = mlprod(project, "manifest", "verify", "models/model", "--release", check=False)
    assert refused.returncode == 1 and "FAIL git: built from a dirty tree" in refused.stdout
    tampered = project / "models/model/model.skops"
    tampered.write_bytes(tampered.read_bytes()[:-10])
    broken = mlprod(project, "manifest", "verify", "models/model", check=False)
    assert broken.returncode == 1 and "does not match the manifest" in broken.stdout
    missing = mlprod(project, "manifest", "show", "data", check=False)
    assert missing.returncode == 2 and "no model manifest" in missing.stderr and "Traceback" not in missing.stderr


def test_compare_says_what_differs(clones):
    recorded = read_manifest(clones[0] / "models/trained")
    rebuilt = dataclasses.replace(recorded, artifact=dataclasses.replace(recorded.artifact, sha256="f" * 64),
                                  metrics={"training": {**recorded.metrics["training"], "roc_auc": 0.5}})
    diffs = compare(recorded, rebuilt)
    assert [(d.what, d.name) for d in diffs] == [("artifact", "model.skops"), ("metric", "training.roc_auc")]
    text = render_text(Reproduction(folder="m", commit="c" * 40, recorded=recorded, rebuilt=rebuilt, differences=diffs))
    assert ": DIFFERENT" in text and "metric training.roc_auc: recorded" in text and "rebuilt 0.5" in text


def test_the_rebuild_verify_release_names_makes_the_model_releasable_where_plain_dvc_repro_does_nothing(clones):
    project = clones[1]
    set_param(project, "learning_rate: 0.1", "learning_rate: 0.05")
    repro(project, "evaluate")  # built from uncommitted params.yaml
    refused = mlprod(project, "manifest", "verify", "models/model", "--release", check=False)
    assert refused.returncode == 1, refused.stdout
    assert ("commit the changes, then rebuild the model from the commit with `dvc repro --force train evaluate` "
            "(plain `dvc repro` reruns nothing when only git state changed)") in refused.stdout
    sh(["git", "add", "-A"], project)
    sh([*GIT, "commit", "-qm", "learning rate 0.05"], project)
    assert ran(repro(project, "evaluate").stdout) == set()  # nothing changed for DVC: the model stays dirty
    assert mlprod(project, "manifest", "verify", "models/model", "--release", check=False).returncode == 1
    rebuilt = dvc(project, "repro", "--force", "train", "evaluate")
    assert {"train", "evaluate"} <= ran(rebuilt.stdout)
    verified = mlprod(project, "manifest", "verify", "models/model", "--release")
    assert "verified (release checks)" in verified.stdout
    assert not read_manifest(project / "models/model").lineage.git.dirty
