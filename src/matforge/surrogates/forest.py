"""Boosted trees as flat arrays: a vectorised predict, pickle-free storage and exact TreeSHAP.

The tree models of matforge (the composition and structure surrogates, the synthesizability
classifier) are fitted with scikit-learn's `HistGradientBoosting*` and then exported here, so a
model directory holds plain arrays (`np.load(..., allow_pickle=False)`) and loading it cannot
run code. The node counts are kept too: they are the covers that path-dependent TreeSHAP
(Lundberg et al. 2020, via the `shap` package) needs for exact attributions.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from matforge.errors import MatforgeError


class FlatForest:
    """The trees of one boosted model as flat arrays, with a vectorised predict."""

    FIELDS = ("feature", "threshold", "left", "right", "is_leaf", "value", "missing_left", "roots")

    def __init__(self, baseline: float, count: np.ndarray | None = None, **arrays: np.ndarray):
        self.baseline = float(baseline)
        self.count = count  # training rows per node (None in files written before it was kept)
        for name in self.FIELDS:
            setattr(self, name, arrays[name])

    @classmethod
    def from_sklearn(cls, model: Any) -> FlatForest:
        """From a fitted HistGradientBoostingRegressor or a binary HistGradientBoostingClassifier
        (whose raw output is the log-odds)."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in (*cls.FIELDS, "count")}
        offset = 0
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise MatforgeError("categorical splits are not supported")
            parts["feature"].append(nodes["feature_idx"].astype(np.int32))
            parts["threshold"].append(nodes["num_threshold"].astype(np.float64))
            parts["left"].append(nodes["left"].astype(np.int32) + offset)
            parts["right"].append(nodes["right"].astype(np.int32) + offset)
            parts["is_leaf"].append(nodes["is_leaf"].astype(bool))
            parts["value"].append(nodes["value"].astype(np.float64))
            parts["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
            parts["count"].append(nodes["count"].astype(np.float64))
            parts["roots"].append(np.array([offset], dtype=np.int32))
            offset += len(nodes)
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        return cls(float(np.ravel(model._baseline_prediction)[0]), **arrays)

    def predict(self, X: np.ndarray, chunk: int = 2048) -> np.ndarray:
        out = np.empty(len(X))
        n_trees = len(self.roots)
        for start in range(0, len(X), chunk):
            x = X[start:start + chunk]
            rows = np.arange(len(x))[:, None]
            node = np.broadcast_to(self.roots, (len(x), n_trees)).copy()
            while True:
                active = ~self.is_leaf[node]
                if not active.any():
                    break
                xv = x[rows, self.feature[node]]
                go_left = np.where(np.isnan(xv), self.missing_left[node],
                                   xv <= self.threshold[node])
                nxt = np.where(go_left, self.left[node], self.right[node])
                node = np.where(active, nxt, node)
            out[start:start + chunk] = self.baseline + self.value[node].sum(axis=1)
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        d = {f"{prefix}{k}": getattr(self, k) for k in self.FIELDS}
        d[f"{prefix}baseline"] = np.array([self.baseline])
        if self.count is not None:
            d[f"{prefix}count"] = self.count
        return d

    @classmethod
    def from_arrays(cls, data: Any, prefix: str) -> FlatForest:
        count = data.get(f"{prefix}count", None)
        return cls(float(data[f"{prefix}baseline"][0]),
                   count=None if count is None else np.asarray(count),
                   **{k: np.asarray(data[f"{prefix}{k}"]) for k in cls.FIELDS})

    # -- attributions --------------------------------------------------------------------------
    def shap_model(self) -> dict[str, Any]:
        """The forest in the `shap` package's documented dictionary format for tree models."""
        if self.count is None:
            raise MatforgeError("this model was saved without node counts; refit it to explain it")
        bounds = [*self.roots.tolist(), len(self.feature)]
        trees = []
        for start, end in itertools.pairwise(bounds):
            leaf = self.is_leaf[start:end]
            left = np.where(leaf, -1, self.left[start:end] - start)
            right = np.where(leaf, -1, self.right[start:end] - start)
            trees.append({
                "children_left": left, "children_right": right,
                "children_default": np.where(self.missing_left[start:end], left, right),
                "features": np.where(leaf, -2, self.feature[start:end]),
                "thresholds": self.threshold[start:end],
                "values": self.value[start:end, None],
                "node_sample_weight": self.count[start:end],
            })
        return {"trees": trees, "base_offset": self.baseline, "tree_output": "raw_value",
                "objective": "squared_error", "input_dtype": np.float64,
                "internal_dtype": np.float64}

    def shap_values(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        """Exact path-dependent TreeSHAP: (n, n_features) attributions and the base value, with
        base + row sum equal to `predict` (raw output: log-odds for a classifier)."""
        import shap

        explainer = shap.TreeExplainer(self.shap_model(), feature_perturbation="tree_path_dependent")
        values = np.asarray(explainer.shap_values(np.asarray(X, dtype=np.float64),
                                                  check_additivity=False))
        return values, float(np.ravel(explainer.expected_value)[0])


def save_forests(path: Path, forests: list[FlatForest], prefix: str) -> None:
    """All forests of a model in one `weights.npz`, keyed `{prefix}{i}_{field}`."""
    arrays: dict[str, np.ndarray] = {}
    for i, forest in enumerate(forests):
        arrays.update(forest.arrays(f"{prefix}{i}_"))
    np.savez_compressed(path / "weights.npz", **arrays)


def load_forests(path: Path, n: int, prefix: str) -> list[FlatForest]:
    weights = path / "weights.npz"
    if not weights.exists():
        raise MatforgeError(f"{path}: missing weights.npz")
    with np.load(weights, allow_pickle=False) as data:
        return [FlatForest.from_arrays(data, f"{prefix}{i}_") for i in range(n)]
