"""A team registry on real servers: ``mlflow server`` with its artifacts on an S3-compatible server, two clones racing.

Started once per module on loopback: moto's standalone S3 server (the ``team`` extra) with one bucket, and a real
``mlflow server`` (SQLite backend) whose artifact store is ``s3://<bucket>/mlartifacts``, proxied
(``--serve-artifacts``): only the server process has the S3 endpoint and credentials, the clones talk HTTP to MLflow.
Two clones (project folders with their own params.yaml and prebuilt model folders) register the same three models
and promote / roll back concurrently through mlprod's CLI. Then: the registry history is one consistent chain, every
version loads hash-verified from either clone, the artifacts are in the bucket, and a file changed in the bucket
behind the registry's back is refused with a message naming the model and version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mlflow_server import mlflow_server
from test_registry_toys import MODEL

pytest_plugins = ("test_registry_toys",)  # the toys fixture: prebuilt model folders weak, medium, good

BIN = Path(sys.executable).parent
BUCKET = "mlprod-team"
PREFIX = "mlartifacts"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "team-test-key", "AWS_SECRET_ACCESS_KEY": "team-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}
KINDS = ("weak", "medium", "good")  # registered in this order: versions 1, 2, 3
PARAMS = """\
project:
  target: converted
register:
  holdout_path: data/holdout.parquet
  gates:
    roc_auc: {min_change: 0.0}
"""

# One clone's session: the mlprod CLI (in-process, as `mlprod ...` would run it) registers the three shared folders,
# waits for the other clone, registers its own 1.3.0 (only one of the two can have it), then promotes and rolls back
# in its own order. Every command's exit code and output is kept.
RACER = """
import contextlib, io, json, sys, time
from pathlib import Path
from mlprod.cli import main

barrier, name, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
plan = json.loads(sys.argv[4])
results = []

def run(*argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(argv))
    results.append({"argv": list(argv), "code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(),
                    "seconds": round(time.monotonic() - started, 2)})

for kind in ("weak", "medium", "good"):
    run("register", f"models/{kind}")
(barrier / name).touch()
deadline = time.monotonic() + 120
while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
run("register", "models/next")  # both clones at once: a different artifact each, the same semver 1.3.0
for step in plan:
    run(*step)
out.write_text(json.dumps(results))
"""
PLANS = {
    "a": [["promote", "toy", "--version", "1", "--json"], ["promote", "toy", "--version", "3", "--json"],
          ["rollback", "toy", "--reason", "clone a"], ["promote", "toy", "--version", "2", "--json"],
          ["rollback", "toy", "--reason", "clone a again"]],
    "b": [["promote", "toy", "--version", "2", "--json"], ["promote", "toy", "--version", "3", "--json"],
          ["rollback", "toy", "--reason", "clone b"], ["promote", "toy", "--version", "3", "--json"]],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def client_env() -> dict[str, str]:
    """A clone's environment: no MLflow settings of the caller, no S3 endpoint, no AWS credentials."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MLFLOW_", "AWS_")) and k not in ("MLPROD_USER",)}


@pytest.fixture(scope="module")
def s3():
    """moto's S3-compatible server on a free loopback port with an empty bucket; yields a boto3 client."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.endpoint = endpoint
        yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, s3, request):
    """A real ``mlflow server`` on loopback: SQLite backend, proxied artifacts stored in the S3 bucket."""
    root = tmp_path_factory.mktemp("team-mlflow")
    env = client_env() | CREDENTIALS | {"MLFLOW_S3_ENDPOINT_URL": s3.endpoint}  # the server alone talks to S3
    with mlflow_server(root, "--serve-artifacts", "--artifacts-destination", f"s3://{BUCKET}/{PREFIX}", env=env,
                       meanwhile=lambda: request.getfixturevalue("toys"),  # built while the server creates tables
                       stop_timeout=10) as url:
        yield url


@pytest.fixture(scope="module")
def clones(tmp_path_factory, toys) -> dict[str, Path]:
    """Two project folders, each with its own params.yaml, data and prebuilt model folders (copies of the toys)."""
    found = {}
    for name in ("a", "b"):
        clone = tmp_path_factory.mktemp(f"clone-{name}")
        shutil.copytree(toys.root / "data", clone / "data")
        for kind in KINDS:
            shutil.copytree(toys.model_dir(kind), clone / "models" / kind)
        (clone / "params.yaml").write_text(PARAMS)
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(clone)
            save_next(clone, c=0.5 if name == "a" else 2.0)
        found[name] = clone
    return found


def save_next(clone: Path, *, c: float) -> None:
    """``models/next``: this clone's own 1.3.0 (a logistic regression with its own C: a different artifact)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    import mlprod
    from mlprod.data import read_table

    train = read_table(clone / "data" / "train.parquet")
    X = train[["x1", "x2", "region"]]
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    features = ColumnTransformer([("numeric", "passthrough", ["x1", "x2"]), ("categorical", onehot, ["region"])])
    pipeline = Pipeline([("features", features), ("model", LogisticRegression(C=c))]).fit(X, train["converted"])
    mlprod.save_model(pipeline, clone / "models" / "next", name=MODEL, X=X, version="1.3.0",
                      training_data=Path("data/train.parquet"), description="toy lead scorer")


@pytest.fixture(scope="module")
def raced(server, clones, tmp_path_factory) -> dict[str, list[dict]]:
    """Both clones' sessions, run at the same time against the server; each command's code and output."""
    work = tmp_path_factory.mktemp("race")
    barrier = work / "barrier"
    barrier.mkdir()
    env = client_env() | {"MLFLOW_TRACKING_URI": server}
    procs = {}
    for name, clone in clones.items():
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(RACER), str(barrier), name, str(work / f"{name}.json"),
             json.dumps(PLANS[name])],
            cwd=clone, env=env | {"MLPROD_USER": f"clone-{name}"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"clone {name} failed:\n{err[-3000:]}"
    return {name: json.loads((work / f"{name}.json").read_text()) for name in procs}


def history(clone: Path, server: str) -> dict:
    """``mlprod registry history toy --json``, run as a user runs it, from ``clone``."""
    done = subprocess.run([str(BIN / "mlprod"), "registry", "history", MODEL, "--json"], cwd=clone,
                          env=client_env() | {"MLFLOW_TRACKING_URI": server}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_racing_clones_leave_one_consistent_registry_history(raced, clones, server):
    for name, results in raced.items():
        for r in results:
            allowed = {"register": {0, 2}, "promote": {0, 1}, "rollback": {0, 2}}[r["argv"][0]]
            assert r["code"] in allowed, f"clone {name}: {r}"
            if r["code"]:  # a refusal is a line from mlprod (after its log lines), never a traceback
                lines = r["stderr"].splitlines()
                assert "Traceback" not in r["stderr"] and all(line.startswith("mlprod") for line in lines), r
                assert any(line.startswith(f"mlprod {r['argv'][0]}: ") for line in lines), r
    # the same artifact is registered once, whichever clone got there first: versions 1, 2, 3 in both clones
    for name, results in raced.items():
        registered = [int(re.search(r"as version (\d+)", r["stdout"]).group(1)) for r in results[:3]]
        assert registered == [1, 2, 3], (name, [r["stdout"] for r in results[:3]])
        assert all(r["code"] == 0 for r in results[:3])
    # both clones registered their own 1.3.0 at once: exactly one became version 4, the other was refused
    nexts = {name: results[3] for name, results in raced.items()}
    winner = next(name for name, r in nexts.items() if r["code"] == 0)
    loser = nexts["b" if winner == "a" else "a"]
    assert "toy 1.3.0: registered as version 4" in nexts[winner]["stdout"], nexts
    assert loser["code"] == 2 and "1.3.0 is already registered as version 4 with a different artifact" in \
        loser["stderr"], loser

    data = history(clones["b"], server)
    assert history(clones["a"], server) == data  # both clones read the same registry
    versions = data["versions"]
    assert [v["version"] for v in versions] == ["1", "2", "3", "4"]  # no version created twice, none reused
    assert [v["semver"] for v in versions] == ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]
    assert len({v["artifact_sha256"] for v in versions}) == 4
    assert versions[3]["artifact_sha256"] == hashlib.sha256(
        (clones[winner] / "models" / "next" / "model.skops").read_bytes()).hexdigest()

    moves = data["moves"]
    assert [m["seq"] for m in moves] == list(range(1, len(moves) + 1))  # no lost or overwritten log entry
    assert all(m["state"] == "done" for m in moves)
    previous = None
    for move in moves:  # one chain: every move starts where the one before it ended
        assert move.get("from_version") == previous, moves
        assert move["to_version"] != previous
        previous = move["to_version"]
    assert data["aliases"] == {"champion": moves[-1]["to_version"]}

    reported = {}  # seq -> (clone, action, decision) for every move a clone says it made
    for name, results in raced.items():
        for r in results[4:]:
            if r["code"] != 0:
                continue
            if r["argv"][0] == "rollback":
                seq = int(re.search(r"rollback #(\d+)", r["stdout"]).group(1))
                entry = (name, "rollback", None)
            else:
                decision = json.loads(r["stdout"])
                if decision["outcome"] == "unchanged":
                    continue
                assert decision["outcome"] == "promoted", decision
                seq, entry = decision["alias_move"]["seq"], (name, "promote", decision)
            assert seq not in reported, f"move {seq} reported twice"
            reported[seq] = entry
    assert sorted(reported) == [m["seq"] for m in moves]  # every move made is logged once, nothing else is
    for move in moves:
        name, action, decision = reported[move["seq"]]
        assert move["action"] == action and move["user"] == f"clone-{name}"
        if decision is not None:  # a promotion passed its gates against the champion it replaced
            assert decision["passed"] and (decision["champion"] or {}).get("version") == move.get("from_version")
            assert decision["challenger"]["version"] == move["to_version"]

    from mlflow import MlflowClient

    names = [m.name for m in MlflowClient(tracking_uri=server).search_registered_models()]
    assert names == [MODEL]  # every lease was released


def test_every_version_loads_hash_verified_from_either_clone_and_lives_in_the_bucket(raced, clones, server, s3,
                                                                                     toys, tmp_path, monkeypatch):
    import mlprod
    from mlprod.data import read_table
    from mlprod.registry.download import MODEL_ARTIFACTS, download_verified
    from mlprod.registry.store import Registry

    for var in [k for k in os.environ if k.startswith(("MLFLOW_", "AWS_"))]:
        monkeypatch.delenv(var)  # the clones have no S3 endpoint or credentials: artifacts come through MLflow
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    holdout = read_table(toys.holdout)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    keys = {o["Key"] for page in pages for o in page.get("Contents", [])}
    shas = {}
    registered = {hashlib.sha256(f.read_bytes()).hexdigest(): f.read_bytes()  # what the clones registered
                  for clone in clones.values() for f in clone.glob("models/*/model.skops")}
    for name, clone in clones.items():
        monkeypatch.chdir(clone)
        registry = Registry.open()
        for version in registry.versions(MODEL):
            folder, manifest = download_verified(registry, version, tmp_path / name / str(version.version))
            artifact = folder / manifest.artifact.path
            shas.setdefault(version.version, hashlib.sha256(artifact.read_bytes()).hexdigest())
            assert shas[version.version] == version.tags["mlprod.artifact_sha256"]
            assert artifact.read_bytes() == registered[shas[version.version]]  # the bytes one of the clones had
            model = mlprod.load_model(folder)  # checks sha256 against the manifest before deserializing
            assert model.predict_proba(holdout).shape == (len(holdout), 2)
            stored = [k for k in keys if k.endswith(f"/{version.run_id}/artifacts/{MODEL_ARTIFACTS}/{artifact.name}")]
            assert len(stored) == 1 and stored[0].startswith(f"{PREFIX}/"), (version.run_id, sorted(keys)[:20])
        assert not any((clone / local).exists() for local in ("mlflow.db", "mlartifacts", "mlruns"))  # nothing local
    assert len(shas) == 4
    assert any("/mlprod/decisions/" in k for k in keys)  # decision records went to the bucket too


def test_an_artifact_changed_in_the_bucket_is_refused_naming_the_model_and_version(raced, clones, server, s3,
                                                                                   tmp_path, monkeypatch):
    from mlprod.errors import RegistryError
    from mlprod.registry.download import MODEL_ARTIFACTS, download_verified
    from mlprod.registry.store import Registry

    for var in [k for k in os.environ if k.startswith(("MLFLOW_", "AWS_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.chdir(clones["a"])
    registry = Registry.open()
    version = registry.version(MODEL, 2)
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"]
    key = next(o["Key"] for o in objects
               if o["Key"].endswith(f"/{version.run_id}/artifacts/{MODEL_ARTIFACTS}/model.skops"))
    original = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    tampered = original[:-1] + bytes([original[-1] ^ 1])
    s3.put_object(Bucket=BUCKET, Key=key, Body=tampered)
    try:
        with pytest.raises(RegistryError) as caught:
            download_verified(registry, version, tmp_path / "tampered")
        message = str(caught.value)
        assert f"'{MODEL}' version 2" in message and "changed after registration" in message
        assert hashlib.sha256(tampered).hexdigest() in message and version.tags["mlprod.artifact_sha256"] in message

        done = subprocess.run([str(BIN / "mlprod"), "promote", MODEL, "--version", "2"], cwd=clones["b"],
                              env=client_env() | {"MLFLOW_TRACKING_URI": server}, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and f"'{MODEL}' version 2" in done.stderr
        assert hashlib.sha256(tampered).hexdigest() in done.stderr and "changed after registration" in done.stderr
    finally:
        s3.put_object(Bucket=BUCKET, Key=key, Body=original)
