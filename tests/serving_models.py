"""Tiny real models for the serving tests, and models that misbehave on purpose around a real one."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORICAL = ["region", "channel"]
NUMERIC = ["age", "income", "days_since_last_activity", "activity_trend", "n_interactions"]
FEATURES = CATEGORICAL + NUMERIC


def train_models(root: Path) -> tuple[Path, Path, pd.DataFrame]:
    """(primary folder, fallback folder, the training rows): a 10-round gradient boosting and a logistic
    regression, each saved with its manifest and reference profile by mlprod.training.fit_and_save."""
    from mlprod.data import make_leads
    from mlprod.training import ModelSettings, build_pipeline, fit_and_save

    train = make_leads(n_rows=400, seed=5)
    data = root / "train.csv"
    train.to_csv(data, index=False)
    folders = []
    for name, settings in (("primary", ModelSettings(max_iter=10)),
                           ("fallback", ModelSettings(model="logistic_regression", max_iter=10))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 10 solver iterations do not converge: fine for a fixture
            fit_and_save(build_pipeline(settings, CATEGORICAL, NUMERIC), train, target="converted",
                         features=FEATURES, model_dir=root / name, name=f"leads-{name}", training_data=data,
                         version="1.2.3" if name == "primary" else "0.1.0")
        folders.append(root / name)
    return folders[0], folders[1], train


class Raises:
    def __init__(self, exc: Exception | None = None) -> None:
        self.exc = exc or ValueError("boom")
        self.calls = 0

    def predict_proba(self, frame):
        self.calls += 1
        raise self.exc


class Hangs:
    """predict_proba blocks until ``release`` is set (the test sets it at teardown)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.calls = 0

    def predict_proba(self, frame):
        self.calls += 1
        self.release.wait()
        return np.tile([0.5, 0.5], (len(frame), 1))


class Returns:
    """A real model's output, then ``change(proba)`` applied to it."""

    def __init__(self, model, change) -> None:
        self.model = model
        self.change = change

    def predict_proba(self, frame):
        return self.change(np.array(self.model.predict_proba(frame)))


class Fixed:
    """Always the same score for every row (counts its calls)."""

    def __init__(self, score: float = 0.7) -> None:
        self.score = score
        self.calls = 0

    def predict_proba(self, frame):
        self.calls += 1
        return np.tile([1 - self.score, self.score], (len(frame), 1))


def train_version(root: Path, version: str, max_iter: int, *, name: str) -> Path:
    """Another version of the model ``name`` on ``root/train.csv`` (written by :func:`train_models`), in ``root/v<version>``."""
    from mlprod.data import read_table
    from mlprod.training import ModelSettings, build_pipeline, fit_and_save

    train = read_table(root / "train.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_and_save(build_pipeline(ModelSettings(max_iter=max_iter), CATEGORICAL, NUMERIC), train,
                     target="converted", features=FEATURES, model_dir=root / f"v{version}", name=name,
                     training_data=root / "train.csv", version=version)
    return root / f"v{version}"


def open_registry(folder: Path, monkeypatch, empty_store: Path, params: str | None = None):
    """A fresh SQLite MLflow registry in ``folder`` (a copy of the initialised ``empty_store``), the environment
    pointing at it and the working folder there; ``params``: the text of a params.yaml to write beside it."""
    import shutil

    from mlprod.registry.store import Registry

    shutil.copy(empty_store / "mlflow.db", folder / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(folder)
    if params is not None:
        (folder / "params.yaml").write_text(params)
    return Registry.open(folder)
