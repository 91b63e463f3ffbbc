"""A team's DVC remote on a real S3-compatible server (moto's, on loopback): push from one clone, pull into a
second, and ``mlprod reproduce`` there rebuilds the model identically; manifests name the remote, never secrets."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from mlprod.manifest.schema import Remote, read_manifest

from pipeline import BIN, GIT, copy_project, dvc, repro, sh

pytestmark = pytest.mark.e2e
BUCKET = "mlprod-team"
KEY_ID, SECRET = "AKIAMLPRODTEST", "mlprod-test-secret-never-in-git"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server on a free loopback port with one bucket; stopped after the module."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID,
                     aws_secret_access_key=SECRET).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="module")
def clones(s3, tmp_path_factory):
    """Clone A trains and pushes to the S3 remote; clone B is a git clone of A that pulled from it."""
    a = copy_project(tmp_path_factory.mktemp("a") / "project", n_rows=2000)
    dvc(a, "remote", "add", "-d", "team", f"s3://{BUCKET}/store")
    dvc(a, "remote", "modify", "team", "endpointurl", s3)
    dvc(a, "remote", "modify", "--local", "team", "access_key_id", KEY_ID)  # .dvc/config.local: never in git
    dvc(a, "remote", "modify", "--local", "team", "secret_access_key", SECRET)
    sh(["git", "add", "-A"], a)
    sh([*GIT, "commit", "-qm", "team remote"], a)
    repro(a, "train")
    sh(["git", "add", "dvc.lock"], a)
    sh([*GIT, "commit", "-qm", "trained"], a)
    pushed = dvc(a, "push")
    b = tmp_path_factory.mktemp("b") / "project"
    sh(["git", "clone", "-q", str(a), str(b)], a.parent)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)  # clone B: credentials from env
    pulled = run(b, env, str(BIN / "dvc"), "pull", "--with-deps", "train")  # what dvc.lock has: up to train
    return a, b, env, pushed.stdout + pulled.stdout


def run(cwd: Path, env: dict, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in env.items() if not k.startswith(("MLFLOW_", "MLPROD_", "DVC_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert not check or done.returncode == 0, f"{cmd} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def test_clone_b_pulls_what_clone_a_pushed_and_reproduce_says_identical(clones):
    a, b, env, _ = clones
    assert not (b / ".dvc" / "config.local").exists()  # no credentials in the clone: they come from the environment
    for name in ("model.skops", "model_manifest.yaml"):
        assert (b / "models/trained" / name).read_bytes() == (a / "models/trained" / name).read_bytes()
    assert (b / "data/prepared/train.parquet").read_bytes() == (a / "data/prepared/train.parquet").read_bytes()
    result = run(b, env, str(BIN / "mlprod"), "reproduce", "models/trained", check=False)
    assert result.returncode == 0 and ": identical" in result.stdout, result.stdout + result.stderr


def test_the_manifest_names_the_s3_remote_without_credentials(clones, s3):
    a, b, env, _ = clones
    manifest = read_manifest(b / "models/trained")
    assert manifest.schema_version == 2
    assert {ref.remote for ref in manifest.data} == {Remote("team", f"s3://{BUCKET}/store")}
    text = (b / "models/trained/model_manifest.yaml").read_text()
    assert SECRET not in text and KEY_ID not in text
    assert SECRET not in sh(["git", "log", "-p", "--all"], a).stdout  # credentials stayed in .dvc/config.local
    lineage = run(b, env, str(BIN / "mlprod"), "lineage", "models/trained").stdout
    assert f"DVC remote team: s3://{BUCKET}/store (dvc pull -r team)" in lineage


def test_a_fresh_clone_pushes_to_the_default_folder_remote_with_no_server(tmp_path):
    project = copy_project(tmp_path / "project", n_rows=500)
    (project / "data").mkdir()
    (project / "data" / "raw.csv").write_text("a,b\n1,2\n")
    dvc(project, "add", "data/raw.csv")
    dvc(project, "push")  # the folder ../mlprod-dvc-remote beside the project is created on the first push
    store = tmp_path / "mlprod-dvc-remote"
    assert [p for p in store.rglob("*") if p.is_file()], "nothing pushed to the folder remote"


def test_a_model_folder_fetches_its_data_by_md5_into_a_fresh_clone(clones, tmp_path):
    a, b, env, _ = clones
    c = tmp_path / "c"
    sh(["git", "clone", "-q", str(a), str(c)], tmp_path)  # nothing pulled: only the model folder is brought along
    shutil.copytree(b / "models/trained", c / "incoming")
    done = run(c, env, str(BIN / "mlprod"), "manifest", "fetch", "incoming", "--to", "fetched")
    assert "training data/prepared/train.parquet" in done.stdout and "[remote team]" in done.stdout, done.stdout
    assert (c / "fetched/training/train.parquet").read_bytes() == (a / "data/prepared/train.parquet").read_bytes()
    missing = run(c, env, str(BIN / "mlprod"), "manifest", "fetch", "incoming", "--to", "again", "-r", "nowhere",
                  check=False)
    assert missing.returncode == 2 and "mlprod manifest: dvc pull -r nowhere" in missing.stderr, missing.stderr
    outside = run(c, env, str(BIN / "mlprod"), "manifest", "fetch", "incoming", "--to", str(tmp_path / "x"),
                  check=False)
    assert outside.returncode == 2 and "expected a folder inside the project" in outside.stderr
