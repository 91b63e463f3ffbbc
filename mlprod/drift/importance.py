"""Feature-importance shift: do the features matter to the model in the same order as before?

Importance is scikit-learn's permutation importance (drop in ROC AUC when one feature's values are
shuffled, mean of ``N_REPEATS`` shuffles, fixed seed), measured on labelled reference rows and on
labelled current rows (each subsampled to ``importance_rows``). The shift is Spearman's rank
correlation between the two importance vectors; below the threshold (0.9 by default) it is flagged.
Importances computed elsewhere (e.g. SHAP) can be passed in directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DriftError
from .results import ImportanceShift

N_REPEATS = 5
SEED = 0
METHOD = f"permutation importance (ROC AUC drop, {N_REPEATS} repeats, seed {SEED})"


def permutation_importance(model: Any, frame: pd.DataFrame, target: str, features: list[str],
                           max_rows: int) -> dict[str, float]:
    from sklearn.inspection import (
        permutation_importance as sklearn_permutation_importance,
    )

    rows = frame.dropna(subset=[target])
    if len(rows) > max_rows:
        rows = rows.sample(n=max_rows, random_state=SEED)
    y = rows[target].to_numpy()
    if len(np.unique(y)) < 2:
        raise DriftError(f"permutation importance needs both label values in {target!r}; got only {np.unique(y)}")
    inputs = _model_inputs(model, rows)
    missing = [f for f in features if f not in inputs.columns]
    if missing:
        raise DriftError(f"feature(s) {missing} are not model inputs; the model uses {list(inputs.columns)}")
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    with threadpool_limits(limits=1):  # many small predictions: OpenMP threads cost more than they give
        result = sklearn_permutation_importance(model, inputs, y, scoring="roc_auc", n_repeats=N_REPEATS,
                                                random_state=SEED)
    means = dict(zip(inputs.columns, result.importances_mean))
    return {name: float(means[name]) for name in features}


def importance_shift(reference: Mapping[str, float], current: Mapping[str, float], threshold: float,
                     method: str = METHOD) -> ImportanceShift:
    """Spearman correlation of two importance vectors over their common features."""
    from scipy.stats import spearmanr

    names = [name for name in reference if name in current]
    note = None
    correlation = None
    if len(names) < 3:
        note = f"only {len(names)} common feature(s): too few to correlate ranks"
    else:
        a = np.array([reference[n] for n in names])
        b = np.array([current[n] for n in names])
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            note = "all importances are equal on one side: ranks are undefined"
        else:
            correlation = float(spearmanr(a, b).statistic)
    return ImportanceShift(method, {n: float(reference[n]) for n in names}, {n: float(current[n]) for n in names},
                           correlation, threshold, note)


def _model_inputs(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return frame
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DriftError(f"the model needs column(s) {missing}, which the data lacks; columns: {list(frame.columns)}")
    return frame[list(names)]


def model_features(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def score(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """Positive-class probabilities of ``model`` for the rows of ``frame``."""
    if not hasattr(model, "predict_proba"):
        raise DriftError(f"the model ({type(model).__name__}) has no predict_proba; drift needs a probabilistic "
                         f"classifier, or pass data that already holds a score column")
    scores = np.asarray(model.predict_proba(_model_inputs(model, frame)))
    return scores[:, 1] if scores.ndim == 2 else scores
