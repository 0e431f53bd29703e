"""A bagging positive-unlabelled classifier of compositions (Mordelet and Vert 2014).

Each bag trains a gradient-boosted tree classifier to tell the positives from an equal-sized
random draw of the unlabelled set, so the unlabelled rows that are in truth positives are
outvoted across bags instead of being learnt as negatives. The score of a composition is the
mean probability over the bags: a ranking of how much it looks like the compounds chemists
have made, not a calibrated probability of success. Features are those of the surrogates:
the Magpie statistics and atomic fractions of a composition ("magpie+fractions"), or for the
structure variant CHGNet's descriptors of the structure followed by those of its composition
("chgnet+magpie"). Trees are stored as flat arrays (`FlatForest`), so loading a model
directory runs no pickle.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from matforge.errors import MatforgeError
from matforge.model_dir import read_model, write_config
from matforge.surrogates.ensemble import featurize
from matforge.surrogates.forest import FlatForest, load_forests, save_forests

KIND = "synthesizability"
FEATURIZERS = ("magpie+fractions", "chgnet+magpie")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class PUBaggingClassifier:
    """`fit(positives, unlabelled)`, `score(X) -> [0, 1]`. X for the composition featurizer:
    formulas, Compositions, Candidates or Structures (scored by their composition); for the
    structure featurizer: Structures, CIF strings or Candidates with a structure."""

    def __init__(self, n_bags: int = 8, unlabelled_ratio: float = 3.0, max_iter: int = 200,
                 learning_rate: float = 0.1, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 20, seed: int = 0,
                 featurizer: str = "magpie+fractions", progress: bool = True):
        if n_bags < 1:
            raise MatforgeError("n_bags must be at least 1")
        if featurizer not in FEATURIZERS:
            raise MatforgeError(f"unknown featurizer {featurizer!r} (use "
                                f"{', '.join(FEATURIZERS)})")
        self.featurizer = featurizer
        self.params = {"n_bags": n_bags, "unlabelled_ratio": unlabelled_ratio,
                       "max_iter": max_iter, "learning_rate": learning_rate,
                       "max_leaf_nodes": max_leaf_nodes, "min_samples_leaf": min_samples_leaf,
                       "seed": seed}
        self.progress = progress
        self.bags: list[FlatForest] = []
        self.threshold: float | None = None
        self.info: dict[str, Any] = {}

    def fit(self, positives: Iterable[Any], unlabelled: Iterable[Any]) -> PUBaggingClassifier:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        pos, unl = self.features(positives), self.features(unlabelled)
        if len(pos) < 10 or len(unl) < 10:
            raise MatforgeError(f"need at least 10 positives and 10 unlabelled rows, got "
                                f"{len(pos)} and {len(unl)}")
        p = self.params
        n_draw = min(len(unl), max(1, round(p["unlabelled_ratio"] * len(pos))))
        rng = np.random.default_rng(p["seed"])
        labels = np.r_[np.ones(len(pos)), np.zeros(n_draw)]
        t0 = time.perf_counter()
        self.bags = []
        for i in tqdm(range(p["n_bags"]), desc="PU bags", disable=not self.progress):
            draw = rng.choice(len(unl), size=n_draw, replace=False)
            model = HistGradientBoostingClassifier(
                max_iter=p["max_iter"], learning_rate=p["learning_rate"],
                max_leaf_nodes=p["max_leaf_nodes"], min_samples_leaf=p["min_samples_leaf"],
                early_stopping=False, random_state=int(p["seed"]) * 1000 + i)
            with threadpool_limits(limits=1, user_api="openmp"):
                model.fit(np.vstack([pos, unl[draw]]), labels)
            self.bags.append(FlatForest.from_sklearn(model))
        self.info = {"n_positive": len(pos), "n_unlabelled": len(unl),
                     "fit_seconds": round(time.perf_counter() - t0, 1)}
        return self

    @property
    def on_structures(self) -> bool:
        return self.featurizer != "magpie+fractions"

    def features(self, X: Iterable[Any]) -> np.ndarray:
        if not self.on_structures:
            return featurize(list(X), self.featurizer)
        from matforge.surrogates.structure import as_structures, structure_features

        return structure_features(as_structures(X), self.featurizer, progress=self.progress)

    def score(self, X: Iterable[Any]) -> np.ndarray:
        """Synthesizability in [0, 1]: the mean over bags of P(positive | composition)."""
        if not self.bags:
            raise MatforgeError("the synthesizability model is not fitted (call fit or load)")
        feats = self.features(X)
        return np.mean([_sigmoid(bag.predict(feats)) for bag in self.bags], axis=0)

    def save(self, path: str | Path, **extra: Any) -> Path:
        if not self.bags:
            raise MatforgeError("nothing to save: the model is not fitted")
        path = write_config(path, KIND, params=self.params, featurizer=self.featurizer,
                            threshold=self.threshold, info=self.info, n_bags=len(self.bags),
                            **extra)
        save_forests(path, self.bags, "b")
        return path

    @classmethod
    def load(cls, name_or_dir: str | Path) -> PUBaggingClassifier:
        path, cfg = read_model(name_or_dir, KIND)
        model = cls(**cfg["params"], featurizer=cfg.get("featurizer", "magpie+fractions"),
                    progress=False)
        model.bags = load_forests(path, cfg["n_bags"], "b")
        model.threshold = cfg.get("threshold")
        model.info = cfg.get("info", {})
        return model
