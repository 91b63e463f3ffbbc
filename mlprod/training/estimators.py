"""The model the ``train`` section of params.yaml describes, as a scikit-learn pipeline.

One-hot encoded categories (unknown ones ignored at prediction time) and the numeric columns, then either a
histogram gradient-boosting classifier (numeric columns passed through, missing values handled by the model) or
a logistic regression (numeric columns' missing values filled with the training median, then standardised).
Early stopping is off: the number of boosting rounds is the parameter, so the same data and parameters give the
same model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ConfigError

MODELS = ("hist_gradient_boosting", "logistic_regression")


@dataclass(frozen=True)
class ModelSettings:
    """The estimator's parameters (the ``train`` section's model keys)."""

    model: str = "hist_gradient_boosting"
    learning_rate: float = 0.1  # hist_gradient_boosting
    max_iter: int = 200  # boosting rounds, or the logistic regression's solver iterations
    max_leaf_nodes: int = 31  # hist_gradient_boosting
    l2_regularization: float = 0.0  # hist_gradient_boosting
    C: float = 1.0  # logistic_regression: inverse regularisation strength
    seed: int = 42
    section: str = field(default="train", compare=False, repr=False)  # the params.yaml section errors name

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"params.yaml {self.section}.model: unknown model {self.model!r}; use "
                              f"{' or '.join(map(repr, MODELS))}")
        for name, low, kind in (("learning_rate", 0.0, float), ("max_iter", 1, int), ("max_leaf_nodes", 2, int),
                                ("l2_regularization", 0.0, float), ("C", 0.0, float), ("seed", 0, int)):
            value = getattr(self, name)
            ok = not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else int)
            if not ok or value < low or (name in ("learning_rate", "C") and value == 0):
                bound = f"> {low}" if name in ("learning_rate", "C") else f">= {low}"
                raise ConfigError(f"params.yaml {self.section}.{name}: expected {'a number' if kind is float else 'an integer'}"
                                  f" {bound}, got {value!r}")

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any], where: str = "train") -> "ModelSettings":
        """The model keys of a section named ``where`` (its other keys, such as paths, are left out)."""
        names = {f.name for f in fields(cls)} - {"section"}
        return cls(**{k: v for k, v in dict(section or {}).items() if k in names}, section=where)


def build_pipeline(settings: ModelSettings, categorical_features: list[str], numeric_features: list[str]) -> Any:
    """The unfitted pipeline: ``features`` (a ColumnTransformer) then ``model``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if settings.model == "hist_gradient_boosting":
        estimator = HistGradientBoostingClassifier(
            learning_rate=settings.learning_rate, max_iter=settings.max_iter, max_leaf_nodes=settings.max_leaf_nodes,
            l2_regularization=settings.l2_regularization, early_stopping=False, random_state=settings.seed)
        numeric: Any = "passthrough"
    else:
        estimator = LogisticRegression(C=settings.C, max_iter=settings.max_iter, random_state=settings.seed)
        # a missing number becomes the training median (gradient boosting handles missing values itself)
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    return Pipeline([
        ("features", ColumnTransformer([("categorical", encode, list(categorical_features)),
                                        ("numeric", numeric, list(numeric_features))])),
        ("model", estimator),
    ])
