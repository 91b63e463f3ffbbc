"""Toy models and registries shared by the registry tests (and a check that the toys rank as intended).

Three scikit-learn pipelines on the same small synthetic data, saved with ``mlprod.save_model``:
``weak`` sees only ``x2``, ``medium`` only ``x1``, ``good`` both, so on the holdout file their ROC AUC is
ordered weak < medium < good. Registries are copied from templates built once per session (creating
MLflow's SQLite tables takes seconds; copying the file takes none).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

FEATURES = {"weak": ["x2"], "medium": ["x1"], "good": ["x1", "x2", "region"]}
SEMVER = {"weak": "1.0.0", "medium": "1.1.0", "good": "1.2.0"}
MODEL = "toy"


@dataclass
class Toys:
    root: Path  # holds data/ and models/<kind>/
    holdout: Path

    def model_dir(self, kind: str) -> Path:
        return self.root / "models" / kind


def make_toys(root: Path) -> Toys:
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    import mlprod

    rng = np.random.default_rng(7)
    n = 800
    x1, x2 = rng.normal(size=(2, n))
    region = rng.choice(["north", "south"], n)
    logit = 2.0 * x1 + 1.0 * x2 + 0.5 * (region == "north") - 1.5
    frame = pd.DataFrame({"x1": x1, "x2": x2, "region": region,
                          "converted": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")})
    data = root / "data"
    data.mkdir(parents=True)
    train, holdout = frame.iloc[:500], frame.iloc[500:]
    train.to_parquet(data / "train.parquet", index=False)
    holdout.to_parquet(data / "holdout.parquet", index=False)
    X = train[["x1", "x2", "region"]]
    for kind, columns in FEATURES.items():
        numeric = [c for c in columns if c != "region"]
        parts = [("numeric", "passthrough", numeric)] + (
            [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["region"])]
            if "region" in columns else [])
        pipeline = Pipeline([("features", ColumnTransformer(parts)), ("model", LogisticRegression())])
        pipeline.fit(X, train["converted"])
        mlprod.save_model(pipeline, root / "models" / kind, name=MODEL, X=X, version=SEMVER[kind],
                          training_data=data / "train.parquet", description="toy lead scorer")
    return Toys(root=root, holdout=data / "holdout.parquet")


@pytest.fixture(scope="session")
def toys(tmp_path_factory) -> Toys:
    root = tmp_path_factory.mktemp("toys")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # save_model records paths relative to the working directory's project
        return make_toys(root)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """A folder with an initialised, empty ``mlflow.db`` (copied by :func:`fresh_registry`)."""
    from mlprod.registry.store import Registry

    root = tmp_path_factory.mktemp("empty-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        Registry.open(root)
    return root


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory, toys, empty_store) -> Path:
    """weak, medium and good registered as versions 1, 2, 3 of ``toy``; no champion yet."""
    from mlprod.registry.register import register_model
    from mlprod.registry.store import Registry

    root = tmp_path_factory.mktemp("seeded-store")
    shutil.copy(empty_store / "mlflow.db", root / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        mp.chdir(toys.root)
        registry = Registry.open(root)
        for kind in ("weak", "medium", "good"):
            register_model(toys.model_dir(kind), registry=registry)
    return root


def copy_store(template: Path, target: Path) -> None:
    """Copy a template's database; its artifacts stay where they are (the database names them by path)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(template / "mlflow.db", target / "mlflow.db")


def test_the_toys_rank_weak_medium_good_on_the_holdout(toys):
    from sklearn.metrics import roc_auc_score

    import mlprod
    from mlprod.data import read_table

    holdout = read_table(toys.holdout)
    auc = {kind: roc_auc_score(holdout["converted"], mlprod.load_model(toys.model_dir(kind)).predict_proba(holdout)[:, 1])
           for kind in FEATURES}
    assert auc["weak"] + 0.05 < auc["medium"] < auc["good"] - 0.005, auc
