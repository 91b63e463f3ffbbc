"""Bounds checks for the tree structures inside a loaded model, before it predicts anything.

scikit-learn's compiled tree code follows child and feature indices stored in the model without
checking them, so a crafted file with an index out of range crashes the process (or reads other
memory) at the first prediction. skops therefore does not trust ``Tree`` and ``TreePredictor`` by
default. mlprod trusts them and checks every tree here: children come after their parent and inside
the node array (so there are no cycles), features and category bitsets are within range.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

_MAX_DEPTH = 64  # model attribute nesting (pipelines of pipelines ...), far beyond real models


def check_trees(model: Any) -> list[str]:
    """Problems found in the trees of ``model`` (empty: every tree is well formed)."""
    from sklearn.tree._tree import Tree

    problems: list[str] = []
    for path, obj, owner in _walk(model):
        if isinstance(obj, Tree):
            problems += [f"{path}: {p}" for p in _tree_problems(obj)]
        elif type(obj).__name__ == "TreePredictor" and type(obj).__module__.startswith("sklearn.ensemble."):
            n_features = getattr(owner, "n_features_in_", None)
            problems += [f"{path}: {p}" for p in _predictor_problems(obj, n_features)]
    return problems


def _walk(model: Any) -> Iterator[tuple[str, Any, Any]]:
    """``(attribute path, object, nearest estimator holding it)`` for everything reachable from ``model``."""
    seen: set[int] = set()
    stack: list[tuple[str, Any, Any, int]] = [(type(model).__name__, model, model, 0)]
    while stack:
        path, obj, owner, depth = stack.pop()
        if id(obj) in seen or depth > _MAX_DEPTH or isinstance(obj, (str, bytes, int, float, np.ndarray)):
            continue
        seen.add(id(obj))
        yield path, obj, owner
        if isinstance(obj, dict):
            stack += [(f"{path}[{k!r}]", v, owner, depth + 1) for k, v in obj.items()]
        elif isinstance(obj, (list, tuple)):
            stack += [(f"{path}[{i}]", v, owner, depth + 1) for i, v in enumerate(obj)]
        elif hasattr(obj, "__dict__"):
            holder = obj if hasattr(obj, "get_params") else owner
            stack += [(f"{path}.{k}", v, holder, depth + 1) for k, v in vars(obj).items()]


def _tree_problems(tree: Any) -> list[str]:
    n = int(tree.node_count)
    left, right, feature = np.asarray(tree.children_left), np.asarray(tree.children_right), np.asarray(tree.feature)
    if not (len(left) == len(right) == len(feature) == n) or np.asarray(tree.value).shape[0] != n:
        return [f"node arrays have inconsistent lengths for {n} nodes"]
    index = np.arange(n)
    leaf = left == -1
    problems = []
    if np.any(leaf != (right == -1)):
        problems.append("a node has exactly one child")
    inner = ~leaf
    for name, child in (("left", left), ("right", right)):
        bad = inner & ((child <= index) | (child >= n))
        if bad.any():
            problems.append(f"{name} child of node {int(index[bad][0])} is {int(child[bad][0])}, outside "
                            f"({int(index[bad][0])}, {n})")
    bad = inner & ((feature < 0) | (feature >= tree.n_features))
    if bad.any():
        problems.append(f"node {int(index[bad][0])} splits on feature {int(feature[bad][0])} of {tree.n_features}")
    return problems


def _predictor_problems(predictor: Any, n_features: int | None) -> list[str]:
    nodes = np.asarray(predictor.nodes)
    if nodes.dtype.names is None or not {"left", "right", "is_leaf", "feature_idx"} <= set(nodes.dtype.names):
        return ["node records lack their fields"]
    n = len(nodes)
    index = np.arange(n)
    inner = nodes["is_leaf"] == 0
    problems = []
    for name in ("left", "right"):
        child = nodes[name].astype(np.int64)
        bad = inner & ((child <= index) | (child >= n))
        if bad.any():
            problems.append(f"{name} child of node {int(index[bad][0])} is {int(child[bad][0])}, outside "
                            f"({int(index[bad][0])}, {n})")
    feature = nodes["feature_idx"].astype(np.int64)
    limit = n_features if n_features is not None else np.iinfo(np.int32).max
    bad = inner & ((feature < 0) | (feature >= limit))
    if bad.any():
        problems.append(f"node {int(index[bad][0])} splits on feature {int(feature[bad][0])} of {limit}")
    categorical = inner & (nodes["is_categorical"] != 0) if "is_categorical" in nodes.dtype.names else inner & False
    if categorical.any():
        bitsets = min(len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets))
        bad = categorical & (nodes["bitset_idx"].astype(np.int64) >= bitsets)
        if bad.any():
            problems.append(f"node {int(index[bad][0])} uses category bitset {int(nodes['bitset_idx'][bad][0])} "
                            f"of {bitsets}")
    return problems
