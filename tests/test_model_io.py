"""skops model files: deterministic bytes, hash check before loading, only trusted types."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlprod.modelfile.skops_io import ModelFileError, dumps_model, load_model, save_model


def small_pipeline(seed: int = 0) -> tuple[Pipeline, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=300), "c": rng.choice(["x", "y", "z"], 300)})
    y = (X["a"] + (X["c"] == "x") > 0.3).astype(int)
    model = Pipeline([
        ("features", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["c"])],
                                       remainder="passthrough")),
        ("model", HistGradientBoostingClassifier(max_iter=15, random_state=seed)),
    ]).fit(X, y)
    return model, X


def test_same_model_gives_the_same_bytes_and_round_trips(tmp_path):
    model, X = small_pipeline()
    assert dumps_model(model) == dumps_model(model)
    refit, _ = small_pipeline()
    assert dumps_model(refit) == dumps_model(model)  # a separately fitted identical model, other object ids
    sha = save_model(model, tmp_path / "m.skops")
    assert sha == hashlib.sha256((tmp_path / "m.skops").read_bytes()).hexdigest()
    loaded = load_model(tmp_path / "m.skops", expected_sha256=sha)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_different_model_gives_different_bytes():
    assert dumps_model(small_pipeline(0)[0]) != dumps_model(small_pipeline(1)[0])


def test_a_changed_file_is_refused_before_loading(tmp_path):
    model, _ = small_pipeline()
    sha = save_model(model, tmp_path / "m.skops")
    data = bytearray((tmp_path / "m.skops").read_bytes())
    data[-30] ^= 0xFF
    (tmp_path / "m.skops").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256 is .* expected"):
        load_model(tmp_path / "m.skops", expected_sha256=sha)


def test_missing_and_corrupt_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found"):
        load_model(tmp_path / "nope.skops")
    (tmp_path / "bad.skops").write_text("not a zip")
    with pytest.raises(ModelFileError, match="not a readable skops model file"):
        load_model(tmp_path / "bad.skops")


def test_untrusted_types_are_refused(tmp_path):
    model, _ = small_pipeline()
    with zipfile.ZipFile(io.BytesIO(dumps_model(model))) as src:
        members = {name: src.read(name) for name in src.namelist()}
    members["schema.json"] = members["schema.json"].replace(b'"__module__": "sklearn.pipeline"',
                                                            b'"__module__": "os.path"', 1)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name, content in members.items():
            dst.writestr(name, content)
    (tmp_path / "evil.skops").write_bytes(out.getvalue())
    with pytest.raises(ModelFileError, match=r"refused, nothing was loaded: the file uses os.path.Pipeline \(a class or callable that is not allowed\)"):
        load_model(tmp_path / "evil.skops")
