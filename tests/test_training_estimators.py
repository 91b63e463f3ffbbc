"""The estimators the train and fallback stages build (mlprod.training.build_pipeline)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlprod
from mlprod.training import ModelSettings, build_pipeline, fit_and_save


def leads_with_gaps(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    income = rng.normal(50, 10, n)
    frame = pd.DataFrame({"region": rng.choice(["north", "south"], n), "income": income,
                          "age": rng.integers(20, 70, n).astype(float),
                          "converted": (income + rng.normal(0, 5, n) > 52).astype(int)})
    frame.loc[rng.choice(n, 40, replace=False), "income"] = np.nan  # real data has gaps
    frame.loc[rng.choice(n, 5, replace=False), "region"] = None
    return frame


@pytest.mark.parametrize("model", ["logistic_regression", "hist_gradient_boosting"])
def test_both_models_fit_rows_with_missing_values_and_load_back_under_the_allow_list(tmp_path, model):
    """The fallback stage trains a logistic regression on the primary's rows, gaps included."""
    train = leads_with_gaps()
    train.to_parquet(tmp_path / "train.parquet")
    pipeline = build_pipeline(ModelSettings(model=model, max_iter=50), ["region"], ["income", "age"])
    fit_and_save(pipeline, train, target="converted", features=["region", "income", "age"], model_dir=tmp_path / "m",
                 name="gaps", training_data=tmp_path / "train.parquet")
    loaded = mlprod.load_model(tmp_path / "m")  # hash-checked, every type on mlprod's allow-list
    scores = loaded.predict_proba(train.head(50).assign(income=np.nan))[:, 1]
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_a_bad_value_is_named_with_the_section_it_came_from():
    import pytest

    from mlprod.errors import ConfigError
    from mlprod.training import ModelSettings

    with pytest.raises(ConfigError, match=r"params.yaml fallback.C: expected a number > 0.0"):
        ModelSettings(model="logistic_regression", C=0, section="fallback")
    with pytest.raises(ConfigError, match=r"params.yaml train.max_iter"):
        ModelSettings.from_mapping({"max_iter": 0, "train_path": "x"})
    assert ModelSettings.from_mapping({"C": 2.0}, "fallback") == ModelSettings(C=2.0)
