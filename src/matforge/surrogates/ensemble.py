"""A composition surrogate: a bootstrap ensemble of gradient-boosted trees on Magpie features.

Each member is a scikit-learn `HistGradientBoostingRegressor` fitted on a bootstrap resample
with its own seed; the mean of the members is the prediction and their spread, calibrated on
held-out data (`calibrate`), is the standard deviation. Fast enough to refit inside a design
loop (about 40k compositions in well under a minute on two cores).

Saving never pickles: the fitted trees are exported to plain arrays (`weights.npz`, loaded
with `allow_pickle=False`) and predicted by the vectorised tree walker of
`matforge.surrogates.forest`, so loading a model directory cannot run code from it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from matforge.errors import MatforgeError
from matforge.model_dir import write_config
from matforge.representations.composition import (
    ELEMENTS,
    element_fractions,
    magpie_feature_names,
    magpie_features,
)
from matforge.surrogates.base import (
    CalibratedPredictions,
    as_targets,
    composition_keys,
    encode_safely,
)
from matforge.surrogates.calibration import StdCalibrator
from matforge.surrogates.forest import FlatForest, load_forests, save_forests

FEATURIZERS = ("magpie", "magpie+fractions")


def featurize(X: Iterable[Any], featurizer: str = "magpie+fractions") -> np.ndarray:
    """Magpie statistics (138), optionally followed by the 103 atomic fractions."""
    if featurizer not in FEATURIZERS:
        raise MatforgeError(f"unknown featurizer {featurizer!r} (use {', '.join(FEATURIZERS)})")
    keys = composition_keys(X)
    feats = encode_safely(keys, magpie_features)
    if featurizer == "magpie+fractions":
        feats = np.hstack([feats, element_fractions(keys)])
    return feats


def feature_names(featurizer: str) -> list[str]:
    names = magpie_feature_names()
    return names + [f"frac {el}" for el in ELEMENTS] if featurizer == "magpie+fractions" else names


class EnsembleSurrogate(CalibratedPredictions):
    """Bootstrap ensemble of gradient-boosted trees; `predict` returns (mean, std)."""

    kind = "ensemble"
    featurizers = FEATURIZERS

    def __init__(self, n_members: int = 5, seed: int = 0, max_iter: int = 300,
                 learning_rate: float = 0.1, max_leaf_nodes: int = 31, min_samples_leaf: int = 10,
                 l2_regularization: float = 0.0, bootstrap: bool = True,
                 featurizer: str = "magpie+fractions", target: str = "target",
                 progress: bool = True, n_threads: int | None = 1,
                 pretrained: str | None = None):
        if n_members < 2:
            raise MatforgeError("an ensemble needs n_members >= 2 for an uncertainty")
        if featurizer not in self.featurizers:
            raise MatforgeError(f"unknown featurizer {featurizer!r} "
                                f"(use {', '.join(self.featurizers)})")
        self.params = {"n_members": n_members, "seed": seed, "max_iter": max_iter,
                           "learning_rate": learning_rate, "max_leaf_nodes": max_leaf_nodes,
                           "min_samples_leaf": min_samples_leaf, "l2_regularization": l2_regularization,
                           "bootstrap": bootstrap, "featurizer": featurizer}
        if pretrained is not None:
            # the pretrained tasks' predictions become extra inputs (surrogates.pretrained)
            from matforge.surrogates.pretrained import DEFAULT_PRETRAINED

            self.params["pretrained"] = DEFAULT_PRETRAINED if pretrained == "auto" \
                else str(pretrained)
        self.target = target
        self.progress = progress
        # OpenMP threads for fitting (None: all). 1 by default: on a shared, oversubscribed CPU
        # OpenMP busy-waiting made 2 threads many times slower than 1 (measured)
        self.n_threads = n_threads
        self.members: list[FlatForest] = []
        self.calibrator = StdCalibrator()
        self.calibrated = False
        self.info: dict[str, Any] = {}

    def features(self, X: Iterable[Any]) -> np.ndarray:
        """The model's input matrix (subclasses with other inputs override this)."""
        X = list(X)
        feats = featurize(X, self.params["featurizer"])
        if self.params.get("pretrained"):
            from matforge.surrogates.pretrained import load_pretrained

            base = feats if self.params["featurizer"] == "magpie+fractions" else None
            extra = load_pretrained(self.params["pretrained"]).transform(X, base=base)
            feats = np.hstack([feats, extra])
        return feats

    def feature_names(self) -> list[str]:
        """One name per column of `features`."""
        names = feature_names(self.params["featurizer"])
        if self.params.get("pretrained"):
            from matforge.surrogates.pretrained import load_pretrained

            names += load_pretrained(self.params["pretrained"]).feature_names()
        return names

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: Iterable[Any], y: Iterable[float], X_val: Iterable[Any] | None = None,
            y_val: Iterable[float] | None = None) -> EnsembleSurrogate:
        """Fit the members; with X_val/y_val also calibrate the std on them."""
        from sklearn.ensemble import HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        feats = self.features(X)
        target = as_targets(y, len(feats))
        if len(feats) < 10:
            raise MatforgeError(f"need at least 10 training rows, got {len(feats)}")
        p = self.params
        rng = np.random.default_rng(p["seed"])
        t0 = time.perf_counter()
        self.members = []
        for i in tqdm(range(p["n_members"]), desc="ensemble members", disable=not self.progress):
            idx = rng.integers(0, len(feats), len(feats)) if p["bootstrap"] else \
                np.arange(len(feats))
            model = HistGradientBoostingRegressor(
                max_iter=p["max_iter"], learning_rate=p["learning_rate"],
                max_leaf_nodes=p["max_leaf_nodes"], min_samples_leaf=p["min_samples_leaf"],
                l2_regularization=p["l2_regularization"], early_stopping=False,
                random_state=int(p["seed"]) * 1000 + i)
            with threadpool_limits(limits=self.n_threads, user_api="openmp"):
                model.fit(feats[idx], target[idx])
            self.members.append(FlatForest.from_sklearn(model))
        self.info = {"n_train": len(feats), "fit_seconds": round(time.perf_counter() - t0, 2)}
        self.calibrator, self.calibrated = StdCalibrator(), False
        if X_val is not None and y_val is not None:
            self.calibrate(X_val, y_val)
        return self

    # -- prediction --------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not self.members:
            raise MatforgeError("the surrogate is not fitted (call fit or load)")

    def predict_members(self, X: Iterable[Any]) -> np.ndarray:
        """(n_members, n) predictions of every member."""
        self._check_fitted()
        feats = self.features(X)
        return np.stack([m.predict(feats) for m in self.members])

    def predict_raw(self, X: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
        preds = self.predict_members(X)
        return preds.mean(axis=0), preds.std(axis=0, ddof=1)

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path, **extra: Any) -> Path:
        """config.json (parameters, calibration, metrics) + weights.npz (tree arrays)."""
        self._check_fitted()
        path = write_config(path, self.kind, target=self.target, params=self.params,
                                  calibrator=self.calibrator.to_dict(), calibrated=self.calibrated,
                                  info=self.info, n_members=len(self.members), **extra)
        save_forests(path, self.members, "m")
        return path

    @classmethod
    def load(cls, path: str | Path) -> EnsembleSurrogate:
        path = Path(path)
        cfg = cls.read_saved_config(path)
        model = cls(**cfg["params"], target=cfg.get("target", "target"), progress=False)
        model.members = load_forests(path, cfg["n_members"], "m")
        model.restore_calibration(cfg)
        return model

    def __repr__(self) -> str:
        return (f"EnsembleSurrogate(target={self.target!r}, members={len(self.members)}, "
                f"calibrated={self.calibrated})")


def _describe(model: EnsembleSurrogate) -> str:  # pragma: no cover - debugging aid
    return json.dumps(model.info, indent=2)
