"""No code runs from a model file: every hostile file is refused by every path that loads a model.

The hostile files (tests/hostile_models.py) each write a marker file if their payload ever runs. Each is
refused by the raw loader, by ``mlprod.load_model`` and ``manifest verify`` even after the manifest's hash
was updated to match, by ``mlprod drift --model``, the model card, ``mlprod register``, and - planted in a
registered model's artifact store - by ``mlprod promote`` and by ``mlflow.pyfunc.load_model``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hostile_models import hostile_files
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, KBinsDiscretizer, OneHotEncoder, StandardScaler

import mlprod
from mlprod.errors import ConfigError, ManifestError, ModelFileError
from mlprod.manifest.schema import read_manifest, write_manifest
from mlprod.manifest.verify import verify
from mlprod.modelfile import trust
from mlprod.modelfile.audit import KNOWN_LOADERS
from mlprod.modelfile.skops_io import dumps_model, load_model, loads_model

MARKER_GLOB = "marker*"


def frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(list("xyz"), n)})
    return X, (X["a"] + rng.normal(size=n) > 0).astype(int)


def features() -> ColumnTransformer:
    return ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), ["a", "b"]),
                              ("cat", OneHotEncoder(handle_unknown="ignore", dtype=np.float32), ["c"])])


@pytest.fixture(scope="module")
def fitted() -> Pipeline:
    X, y = frame()
    return Pipeline([("features", features()), ("model", LogisticRegression())]).fit(X, y)


def no_marker(folder: Path) -> None:
    assert sorted(p.name for p in folder.glob(MARKER_GLOB)) == []


@pytest.fixture(scope="module")
def hostile(fitted, tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    folder = tmp_path_factory.mktemp("hostile")
    return folder, hostile_files(fitted, folder / "marker")


CASES = sorted(hostile_files(Pipeline([("m", LogisticRegression())]), Path("m")))


def plant(model_dir: Path, data: bytes) -> None:
    """What an attacker with write access does: replace the artifact and update the manifest to match."""
    manifest = read_manifest(model_dir)
    (model_dir / manifest.artifact.path).write_bytes(data)
    artifact = dataclasses.replace(manifest.artifact, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    write_manifest(dataclasses.replace(manifest, artifact=artifact), model_dir)


@pytest.fixture
def project(tmp_path, monkeypatch, fitted) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("register:\n  target: y\n  gates: {roc_auc: {threshold: 0.5}}\n")
    X, y = frame()
    X.assign(y=y).to_parquet(tmp_path / "rows.parquet", index=False)
    mlprod.save_model(fitted, tmp_path / "models" / "model", name="victim", X=X, version="1.0.0")
    return tmp_path


# -- every hostile file, every loading path ----------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_the_loaders_and_verify_refuse_a_hostile_file_without_running_it(case, hostile, project):
    folder, files = hostile
    model_file = project / "evil.skops"
    model_file.write_bytes(files[case])
    with pytest.raises(ModelFileError, match="refused, nothing was loaded"):
        load_model(model_file)
    model_dir = project / "models" / "model"
    plant(model_dir, files[case])
    with pytest.raises(ManifestError, match="refused, nothing was loaded"):
        mlprod.load_model(model_dir)
    checks = verify(model_dir)
    assert not checks.passed and "refused" in checks.failures[0].message
    with pytest.raises(ManifestError, match="refused"):
        from mlprod.card.assemble import build_card

        build_card(model_dir)
    no_marker(folder)


@pytest.mark.parametrize("case", ["builtins.eval", "numpy.save", "sklearn.datasets.dump_svmlight_file",
                                  "old protocol claim"])
def test_the_cli_refuses_a_hostile_file_with_one_message(case, hostile, project, capsys):
    from mlprod.cli import main

    folder, files = hostile
    model_dir = project / "models" / "model"
    plant(model_dir, files[case])
    assert main(["manifest", "verify", str(model_dir)]) == 1
    assert main(["drift", "rows.parquet", "rows.parquet", "--model", str(model_dir), "--no-progress",
                 "-o", "out"]) == 2
    assert main(["register", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("refused") >= 2
    assert not (project / "mlflow.db").exists() or "victim" not in _registered(project)
    no_marker(folder)


def _registered(project: Path) -> str:
    import sqlite3

    with sqlite3.connect(project / "mlflow.db") as db:
        return " ".join(name for (name,) in db.execute("select name from registered_models"))


def test_a_hostile_file_in_the_registry_is_refused_by_promote_and_by_mlflow(hostile, project, capsys):
    import mlflow.pyfunc

    from mlprod.cli import main
    from mlprod.registry.register import register_model
    from mlprod.registry.store import Registry

    folder, files = hostile
    registry = Registry.open(project)
    registered = register_model(project / "models" / "model", registry=registry, example_data=project / "rows.parquet")
    logged = registry.client.get_model_version("victim", registered.version)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        genuine = mlflow.pyfunc.load_model(logged.source)  # the genuine model loads under MLflow
    assert genuine.predict(frame()[0].head(3)).shape[0] == 3
    stored = Path(registry.client.get_model_version_download_uri("victim", registered.version).removeprefix("file://"))
    assert (stored / "model.skops").is_file()
    run_artifact = Path(registry.client.get_run(registered.run_id).info.artifact_uri.removeprefix("file://"))
    for case in ("builtins.eval", "builtins.exec", "numpy.save", "scipy.io.mmwrite", "eval as a transformer function",
                 "old protocol claim"):
        (stored / "model.skops").write_bytes(files[case])  # the MLflow model's file, swapped in the store
        with pytest.raises(Exception, match="[Uu]ntrusted|protocol|cannot|Can't"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mlflow.pyfunc.load_model(logged.source)
        plant(run_artifact / "mlprod" / "model", files[case])  # mlprod's copy in the run, hash updated
        promote = ["promote", "victim", "--version", registered.version, "--holdout", "rows.parquet"]
        assert main(promote) == 2
        assert "the run's files were changed" in capsys.readouterr().err  # the registry's hash tag disagrees
        registry.client.set_model_version_tag("victim", registered.version, "mlprod.artifact_sha256",
                                              hashlib.sha256(files[case]).hexdigest())  # and with the database too
        assert main(promote) == 2
        assert "refused, nothing was loaded" in capsys.readouterr().err
        no_marker(folder)
    assert registry.alias("victim", "champion") is None


def test_a_schema_that_unpacks_huge_or_nests_deeply_is_refused_without_reading_it(tmp_path, monkeypatch):
    import io
    import zipfile

    monkeypatch.chdir(tmp_path)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", b" " * (300 * 1024 * 1024))  # compresses to a few hundred kB
    with pytest.raises(ModelFileError, match="not a readable skops model file.*unpacks to 314,572,800 bytes"):
        loads_model(bomb.getvalue())
    opening = '{"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": ['
    deep = io.BytesIO()
    with zipfile.ZipFile(deep, "w") as archive:
        archive.writestr("schema.json", opening * 50_000 + "]}" * 50_000)
    with pytest.raises(ModelFileError, match="not a readable skops model file"):
        loads_model(deep.getvalue())


# -- what genuine models need ------------------------------------------------------------------------------

GENUINE = {
    "logistic regression": lambda: LogisticRegression(),
    "hist gradient boosting": lambda: HistGradientBoostingClassifier(max_iter=5, random_state=0),
    "random forest": lambda: RandomForestClassifier(n_estimators=3, random_state=0),
    "gradient boosting": lambda: GradientBoostingClassifier(n_estimators=3, random_state=0),
    "calibrated": lambda: CalibratedClassifierCV(LogisticRegression(), cv=3),
}


@pytest.mark.parametrize("kind", sorted(GENUINE))
def test_common_scikit_learn_models_load_under_the_default_policy(kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = frame()
    model = make_pipeline(features(), GENUINE[kind]()).fit(X, y)
    loaded = loads_model(dumps_model(model), policy=trust.default_policy())
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_ufunc_transformers_load_and_other_functions_need_the_project_to_name_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = frame()
    X = X.assign(a=X["a"].abs())
    log = make_pipeline(ColumnTransformer([("log", FunctionTransformer(np.log1p), ["a"]),
                                           ("bins", KBinsDiscretizer(n_bins=3), ["b"])]), LogisticRegression()).fit(X, y)
    assert loads_model(dumps_model(log)).predict(X).shape == (len(X),)
    clip = make_pipeline(ColumnTransformer([("clip", FunctionTransformer(np.clip, kw_args={"a_min": 0, "a_max": 1}),
                                             ["a"])]), LogisticRegression()).fit(X, y)
    with pytest.raises(ModelFileError, match=r"numpy.clip \(a function that is not allowed\).*model_files.trusted_types"):
        loads_model(dumps_model(clip))
    (tmp_path / "params.yaml").write_text("model_files:\n  trusted_types: [numpy.clip]\n")
    np.testing.assert_array_equal(loads_model(dumps_model(clip)).predict(X), clip.predict(X))


@pytest.mark.parametrize("entry, message", [
    ("sklearn.", "not an exact importable name"),
    ("sklearn.*", "not an exact importable name"),
    ("numpy", "not an exact importable name"),
    ("builtins.eval", "never trusted"),
    ("os.system", "never trusted"),
    ("operator.methodcaller", "never trusted"),
    ("functools.partial", "never trusted"),
    ("numpy.lib.npyio.save", "never trusted"),
])
def test_trusted_types_take_exact_names_and_never_code_running_modules(entry, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(f"model_files:\n  trusted_types: ['{entry}']\n")
    with pytest.raises(ConfigError, match=message):
        trust.project_policy()


def test_the_trust_section_is_parsed_strictly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("model_files:\n  trusted_type: [numpy.clip]\n")
    with pytest.raises(ConfigError, match="unknown setting.*trusted_type.*allowed: trusted_types"):
        trust.project_policy()
    (tmp_path / "params.yaml").write_text("model_files:\n  trusted_types: numpy.clip\n")
    with pytest.raises(ConfigError, match="expected a list"):
        trust.project_policy()


def test_a_name_allowed_as_a_function_is_still_never_called_as_a_constructor(fitted, tmp_path, monkeypatch):
    from hostile_models import call, hostile_bytes, json_node

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("model_files:\n  trusted_types: [numpy.clip]\n")
    data = hostile_bytes(fitted, call("numpy", "clip", json_node([5]), json_node(0), json_node(1)))
    with pytest.raises(ModelFileError, match="numpy.clip \\(named where a class is built, but it is not a class\\)"):
        loads_model(data)


def test_every_loader_of_the_installed_skops_is_known_to_the_audit():
    from skops.io._audit import NODE_TYPE_MAPPING
    from skops.io._persist import load  # noqa: F401 - registers every loader module
    from skops.io._protocol import PROTOCOL

    current = {loader for loader, protocol in NODE_TYPE_MAPPING.items() if protocol == PROTOCOL}
    # QuantileForestNode (the quantile-forest package) is refused as unknown: mlprod does not vet it
    assert current - KNOWN_LOADERS <= {"QuantileForestNode"}


def test_every_default_class_is_a_class_and_every_default_function_is_not():
    policy = trust.default_policy()
    not_classes = sorted(n for n in policy.classes if not isinstance(trust.resolve(n), type))
    assert not_classes == []
    assert not any(isinstance(trust.resolve(n), type) for n in list(policy.functions)[:50])
    assert not any(n.startswith(("builtins.eval", "builtins.exec", "os.", "subprocess.")) for n in policy.classes)


# -- crafted trees ---------------------------------------------------------------------------------------

def test_a_tree_with_out_of_range_children_is_refused_before_it_predicts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = frame()
    forest = make_pipeline(features(), RandomForestClassifier(n_estimators=2, random_state=0)).fit(X, y)
    tree = forest[-1].estimators_[0].tree_
    tree.children_left[0] = 10**6  # a view of the node array: the saved file carries the bad index
    with pytest.raises(ModelFileError, match="trees are malformed.*left child of node 0 is 1000000"):
        loads_model(dumps_model(forest))


def test_a_hist_gradient_boosting_predictor_with_a_bad_feature_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = frame()
    boosted = make_pipeline(features(), HistGradientBoostingClassifier(max_iter=3, random_state=0)).fit(X, y)
    nodes = boosted[-1]._predictors[0][0].nodes
    inner = np.flatnonzero(nodes["is_leaf"] == 0)[0]
    nodes["feature_idx"][inner] = 999
    with pytest.raises(ModelFileError, match=f"node {inner} splits on feature 999 of {boosted[-1].n_features_in_}"):
        loads_model(dumps_model(boosted))
    nodes["feature_idx"][inner] = 0
    nodes["right"][inner] = inner  # a cycle
    with pytest.raises(ModelFileError, match=f"right child of node {inner} is {inner}"):
        loads_model(dumps_model(boosted))


def test_the_trusted_types_logged_for_mlflow_are_only_what_the_file_needs(tmp_path, monkeypatch):
    from mlprod.modelfile.skops_io import audit_model

    monkeypatch.chdir(tmp_path)
    X, y = frame()
    boosted = make_pipeline(features(), HistGradientBoostingClassifier(max_iter=3, random_state=0)).fit(X, y)
    assert audit_model(dumps_model(boosted)).skops_trusted == (
        "numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")
    shutil.rmtree(tmp_path, ignore_errors=True)
