"""A structure surrogate: the tree ensemble of `ensemble.py` fed CHGNet's learned features.

Why a head on a pretrained potential rather than a graph network trained here: the CDVAE
benchmark sets give a few thousand labelled structures, too few to train a crystal graph
network well, while CHGNet's pooled atom features (and its own energy) already encode the
local chemistry and geometry. Fitting, the ensemble spread, the calibration on held-out data
and the pickle-free model directory are all inherited from `EnsembleSurrogate`; only the
input matrix differs (`matforge.representations.chgnet_features`, cached on disk per
structure, optionally followed by the composition's Magpie features).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from pymatgen.core import Structure

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.surrogates.ensemble import EnsembleSurrogate, feature_names, featurize

STRUCTURE_FEATURIZERS = ("chgnet", "chgnet+magpie")


def as_structures(X: Iterable[Any]) -> list[Structure]:
    """Structures, Candidates with a structure, CIF strings or ase.Atoms -> Structures."""
    from matforge.candidate import to_structure

    out: list[Structure] = []
    for i, item in enumerate(X):
        if isinstance(item, Candidate):
            if item.structure is None:
                raise MatforgeError(f"input {i}: candidate {item.composition.reduced_formula} "
                                    "has no structure (a structure surrogate needs one)")
            item = item.structure
        if isinstance(item, str) and "_cell_length_a" not in item:
            raise MatforgeError(f"input {i}: {item[:40]!r} is not a CIF; a structure surrogate "
                                "needs structures (use a composition model for formulas)")
        try:
            out.append(to_structure(item))
        except Exception as exc:  # noqa: BLE001 - one clear line per bad input
            raise MatforgeError(f"input {i}: not a structure ({type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:120]})") from None
    if not out:
        raise MatforgeError("no inputs given")
    return out


def structure_features(structures: list[Structure], featurizer: str = "chgnet+magpie",
                       device: str | None = None, progress: bool = False) -> np.ndarray:
    """CHGNet's descriptors of each structure, followed for "chgnet+magpie" by the Magpie
    statistics and atomic fractions of its composition."""
    from matforge.representations.chgnet_features import chgnet_features

    feats = chgnet_features(structures, device=device, progress=progress)
    if featurizer == "chgnet+magpie":
        feats = np.hstack([feats, featurize([s.composition for s in structures])])
    return feats


class StructureSurrogate(EnsembleSurrogate):
    """Bootstrap tree ensemble on CHGNet crystal features; `predict` returns (mean, std)."""

    kind = "structure"
    featurizers = STRUCTURE_FEATURIZERS

    def __init__(self, n_members: int = 5, seed: int = 0, max_iter: int = 300,
                 learning_rate: float = 0.05, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 10, l2_regularization: float = 0.0,
                 bootstrap: bool = True, featurizer: str = "chgnet+magpie",
                 target: str = "target", progress: bool = True, n_threads: int | None = 1,
                 device: str | None = None):
        super().__init__(n_members=n_members, seed=seed, max_iter=max_iter,
                         learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
                         min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
                         bootstrap=bootstrap, featurizer=featurizer, target=target,
                         progress=progress, n_threads=n_threads)
        self.device = device

    def features(self, X: Iterable[Any]) -> np.ndarray:
        return structure_features(as_structures(X), self.params["featurizer"], self.device,
                                  self.progress)

    def feature_names(self) -> list[str]:
        from matforge.representations.chgnet_features import feature_names as chgnet_names

        names = chgnet_names()
        if self.params["featurizer"] == "chgnet+magpie":
            names += feature_names("magpie+fractions")
        return names

    def __repr__(self) -> str:
        return (f"StructureSurrogate(target={self.target!r}, members={len(self.members)}, "
                f"featurizer={self.params['featurizer']!r}, calibrated={self.calibrated})")
