"""Pretrained composition features: what the large computed data sets say about a composition.

The property a user measures is rarely one matforge was trained on, and their data is small.
What the large computed sets know still helps: a measured band gap follows the DFT gap, a
hardness follows the elastic moduli. `CompositionPretrained` holds one boosted-tree model per
large composition task (band gaps of OQMD and AFLOW, MP's energy above the hull, magnetic
moment and elastic moduli, AFLOW's moduli and thermal conductivity), each fitted on its
data set's train split only. `transform(X)` gives its predictions for each composition: a
short vector a surrogate appends to its Magpie features (`EnsembleSurrogate(pretrained=...)`,
`matforge train surrogate --pretrained`). A tree ensemble fitted on a few hundred measured
rows then starts from what ~400k computed rows say. When the small set measures what one of
the computed sets approximates (experimental against DFT band gaps), this is multi-fidelity
learning by the low-fidelity prediction as an input.

No Matbench set is used: they are the transfer benchmarks (`benchmarks/transfer.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from matforge.errors import MatforgeError
from matforge.model_dir import read_model, write_config
from matforge.surrogates.forest import FlatForest, load_forests, save_forests

KIND = "composition-pretrained"
DEFAULT_PRETRAINED = "composition-pretrained"
FEATURIZER = "magpie+fractions"
# (data set, target column): every large computed composition set matforge registers
PRETRAIN_TASKS: tuple[tuple[str, str], ...] = (
    ("oqmd-bandgap", "band_gap"), ("aflow-egap", "band_gap"), ("mp-e-hull", "e_above_hull"),
    ("mp-mu-b", "magnetic_moment"), ("mp-bulk-modulus", "bulk_modulus"),
    ("mp-shear-modulus", "shear_modulus"), ("aflow-bulk-modulus", "bulk_modulus"),
    ("aflow-thermal-conductivity", "thermal_conductivity"))


class CompositionPretrained:
    """One boosted-tree regressor per task; `transform(X)` -> (n, n_tasks) predictions."""

    def __init__(self, tasks: Sequence[tuple[str, str]] = PRETRAIN_TASKS, max_iter: int = 200,
                 learning_rate: float = 0.1, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 20, seed: int = 0, progress: bool = True):
        self.tasks = [tuple(t) for t in tasks]
        self.params = {"max_iter": max_iter, "learning_rate": learning_rate,
                       "max_leaf_nodes": max_leaf_nodes, "min_samples_leaf": min_samples_leaf,
                       "seed": seed}
        self.progress = progress
        self.models: list[FlatForest] = []
        self.info: dict[str, Any] = {}

    def feature_names(self) -> list[str]:
        return [f"pretrained {name} {column}" for name, column in self.tasks]

    def fit(self) -> CompositionPretrained:
        """Fit each task on its train split; the val split's MAE goes into `info`."""
        from matforge.data import load_dataset

        t0 = time.perf_counter()
        self.models, per_task = [], {}
        for name, column in tqdm(self.tasks, desc="pretraining tasks", disable=not self.progress):
            train = load_dataset(name, split="train").dropna(subset=[column])
            val = load_dataset(name, split="val").dropna(subset=[column])
            model = self._fit_one(list(train["formula"]), train[column].to_numpy(float))
            pred = model.predict(self._features(list(val["formula"])))
            per_task[f"{name} {column}"] = {
                "n_train": len(train), "n_val": len(val),
                "val_mae": float(np.mean(np.abs(pred - val[column].to_numpy(float))))}
            self.models.append(model)
        self.info = {"tasks": per_task, "fit_seconds": round(time.perf_counter() - t0, 1)}
        return self

    def _fit_one(self, formulas: list[str], y: np.ndarray) -> FlatForest:
        from sklearn.ensemble import HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        p = self.params
        model = HistGradientBoostingRegressor(
            max_iter=p["max_iter"], learning_rate=p["learning_rate"],
            max_leaf_nodes=p["max_leaf_nodes"], min_samples_leaf=p["min_samples_leaf"],
            early_stopping=False, random_state=int(p["seed"]))
        with threadpool_limits(limits=1, user_api="openmp"):
            model.fit(self._features(formulas), y)
        return FlatForest.from_sklearn(model)

    @staticmethod
    def _features(X: Iterable[Any]) -> np.ndarray:
        from matforge.surrogates.ensemble import featurize

        return featurize(list(X), FEATURIZER)

    def transform(self, X: Iterable[Any] | None = None,
                  base: np.ndarray | None = None) -> np.ndarray:
        """(n, n_tasks) predictions; `base`: the inputs' Magpie+fraction features, if the
        caller has them already."""
        if not self.models:
            raise MatforgeError("the pretrained model is not fitted (call fit or load)")
        feats = base if base is not None else self._features(X or [])
        return np.column_stack([m.predict(feats) for m in self.models])

    def save(self, path: str | Path, **extra: Any) -> Path:
        if not self.models:
            raise MatforgeError("nothing to save: the pretrained model is not fitted")
        path = write_config(path, KIND, tasks=self.tasks, params=self.params,
                            featurizer=FEATURIZER, info=self.info, **extra)
        save_forests(path, self.models, "t")
        return path

    @classmethod
    def load(cls, name_or_dir: str | Path) -> CompositionPretrained:
        path, cfg = read_model(name_or_dir, KIND)
        model = cls([tuple(t) for t in cfg["tasks"]], **cfg["params"], progress=False)
        model.models = load_forests(path, len(model.tasks), "t")
        model.info = cfg.get("info", {})
        return model


@lru_cache(maxsize=4)
def load_pretrained(name_or_dir: str = DEFAULT_PRETRAINED) -> CompositionPretrained:
    """A pretrained model by shipped name or directory ('auto': the shipped one), once."""
    return CompositionPretrained.load(DEFAULT_PRETRAINED if name_or_dir == "auto"
                                      else name_or_dir)


def train_pretrained(out: str | Path, seed: int = 0, command: str | None = None,
                     **params: Any) -> CompositionPretrained:
    """Fit every pretraining task that loads here, save the model with its card."""
    from matforge.data import load_dataset

    tasks = []
    for name, column in PRETRAIN_TASKS:
        try:
            load_dataset(name, split="train")
        except MatforgeError:
            continue  # a set whose files are not here
        tasks.append((name, column))
    if not tasks:
        raise MatforgeError("no pretraining data set loads here (set MATFORGE_DATA_DIR)")
    model = CompositionPretrained(tasks, seed=seed, **params).fit()
    path = model.save(out, command=command)
    write_model_card(path, model, command)
    return model


def write_model_card(path: Path, model: CompositionPretrained, command: str | None) -> None:
    rows = [f"| `{task}` | {m['n_train']:,} | {m['n_val']:,} | {m['val_mae']:.4g} |"
            for task, m in model.info["tasks"].items()]
    lines = ["# composition-pretrained: computed-property features of a composition", "",
             ("One gradient-boosted tree model per large computed composition task, each fitted "
              "on its data set's train split (CrabNet's published splits) on Magpie statistics "
              "and atomic fractions. A surrogate with `--pretrained auto` appends their "
              "predictions to its own features. No Matbench set and no val or test split is "
              "trained on."), "",
             "| task | train rows | val rows | val MAE (task units) |", "|---|---|---|---|",
             *rows, "",
             f"- parameters: {model.params}",
             f"- command: `{command or 'library call'}`",
             f"- wall time: {model.info['fit_seconds']} s (shared CPU; indicative only)", "",
             "Transfer figures: `benchmarks/results/transfer.md`."]
    (path / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")
