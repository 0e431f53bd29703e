"""Why a surrogate predicts what it does: per-row attributions that add up to the prediction.

Two explainers, both exact, so `base_value + sum(attributions) == mean` for every row:

- Tree ensembles (composition and structure surrogates): path-dependent TreeSHAP on each
  member's trees (`FlatForest.shap_values`), averaged over the members; the mean of the
  members is the prediction, and Shapley values are linear in the model. One attribution per
  input feature (Magpie statistics, atomic fractions, CHGNet features).
- Any composition model (the attention and blend surrogates, and the per-element view of the
  trees): exact Shapley values over the elements of each composition. A coalition of elements
  is the composition restricted to them (their amounts kept, fractions renormalised); the
  empty coalition is worth the mean prediction over the explained rows, which is the base
  value. A composition of k elements costs 2^k - 1 predictions, batched over all rows.

Grouped attributions sum the Magpie statistics of one elemental property (the six statistics
of "Electronegativity", say), the stoichiometry norms, and the atomic fractions, so a chemist
reads 25 groups instead of 241 columns.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matforge.errors import MatforgeError

MAX_EXACT_ELEMENTS = 10


@dataclass
class Attributions:
    """Per-row attributions: `base_value + values.sum(axis=1) == mean`."""

    names: list[str]
    values: np.ndarray  # (n, len(names))
    base_value: float
    mean: np.ndarray  # (n,) the model's prediction

    def additivity_error(self) -> float:
        return float(np.abs(self.base_value + self.values.sum(axis=1) - self.mean).max())

    def frame(self, prefix: str = "shap_") -> pd.DataFrame:
        cols = {"mean": self.mean, "base_value": np.full(len(self.mean), self.base_value)}
        cols.update({f"{prefix}{n}": self.values[:, j] for j, n in enumerate(self.names)})
        return pd.DataFrame(cols)

    def top(self, row: int, k: int = 3) -> list[tuple[str, float]]:
        """The k attributions of one row with the largest magnitude, signed."""
        order = np.argsort(-np.abs(self.values[row]))[:k]
        return [(self.names[j], float(self.values[row, j])) for j in order]


def tree_attributions(model: Any, X: Sequence[Any]) -> Attributions:
    """Exact TreeSHAP of a tree-ensemble surrogate (EnsembleSurrogate, StructureSurrogate)."""
    if not getattr(model, "members", None) or not hasattr(model.members[0], "shap_values"):
        raise MatforgeError(f"{type(model).__name__} is not a tree ensemble")
    feats = model.features(X)
    values = np.zeros(feats.shape)
    base, mean = 0.0, np.zeros(len(feats))
    for member in model.members:
        v, b = member.shap_values(feats)
        values += v / len(model.members)
        base += b / len(model.members)
        mean += member.predict(feats) / len(model.members)
    return Attributions(model.feature_names(), values, base, mean)


def element_attributions(predict: Callable[[list[str]], np.ndarray],
                         formulas: Sequence[str]) -> Attributions:
    """Exact Shapley values over the elements of each composition (see the module docstring);
    `predict` maps formulas to predictions."""
    from pymatgen.core import Composition

    comps = [Composition(f) for f in formulas]
    for f, c in zip(formulas, comps):
        if len(c) > MAX_EXACT_ELEMENTS:
            raise MatforgeError(f"{f}: {len(c)} elements; exact element attributions stop at "
                                f"{MAX_EXACT_ELEMENTS}")
    subsets = {}
    for c in comps:
        els = sorted(c.elements)
        for k in range(1, len(els) + 1):
            for sub in itertools.combinations(els, k):
                subsets.setdefault(_restricted(c, sub), None)
    keys = list(subsets)
    worth = dict(zip(keys, np.asarray(predict(keys), dtype=float)))
    full = np.array([worth[_restricted(c, sorted(c.elements))] for c in comps])
    base = float(full.mean())
    names = sorted({e.symbol for c in comps for e in c.elements})
    col = {n: j for j, n in enumerate(names)}
    values = np.zeros((len(comps), len(names)))
    for r, c in enumerate(comps):
        for el, phi in _shapley(c, worth, base).items():
            values[r, col[el]] = phi
    return Attributions(names, values, base, full)


def _restricted(comp: Any, elements: Sequence[Any]) -> str:
    return " ".join(f"{el.symbol}{comp[el]:g}" for el in sorted(elements))


def _shapley(comp: Any, worth: dict[str, float], empty: float) -> dict[str, float]:
    els = sorted(comp.elements)
    k = len(els)

    def value(sub: tuple[Any, ...]) -> float:
        return worth[_restricted(comp, sub)] if sub else empty

    out = {}
    for el in els:
        others = [e for e in els if e != el]
        phi = 0.0
        for size in range(len(others) + 1):
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            for sub in itertools.combinations(others, size):
                phi += weight * (value(tuple(sorted((*sub, el)))) - value(sub))
        out[el.symbol] = phi
    return out


def property_groups(names: Sequence[str]) -> dict[str, list[int]]:
    """Column indices per readable group: one elemental property's Magpie statistics, the
    stoichiometry norms, the atomic fractions, CHGNet's learned features; else the column."""
    from matforge.representations.composition import MAGPIE_PROPERTIES, MAGPIE_STATS

    groups: dict[str, list[int]] = defaultdict(list)
    for j, name in enumerate(names):
        stat, _, prop = name.partition(" ")
        if stat in MAGPIE_STATS and prop in MAGPIE_PROPERTIES:
            groups[prop].append(j)
        elif name.endswith("-norm"):
            groups["stoichiometry"].append(j)
        elif name.startswith("frac "):
            groups["element fractions"].append(j)
        elif name.startswith(("crystal_fea_", "atom_fea_")):
            groups["CHGNet learned features"].append(j)
        else:
            groups[name].append(j)
    return dict(groups)


def grouped(attr: Attributions) -> Attributions:
    groups = property_groups(attr.names)
    values = np.stack([attr.values[:, idx].sum(axis=1) for idx in groups.values()], axis=1)
    return Attributions(list(groups), values, attr.base_value, attr.mean)


def explain(model_dir: str | Path, frame: pd.DataFrame) -> tuple[Attributions, Attributions]:
    """(feature-level, readable-group-level) attributions of a saved surrogate over a frame
    with `formula` (composition models) or `cif` (structure models)."""
    from matforge.model_dir import read_config, resolve_model_dir
    from matforge.surrogates.base import load_surrogate
    from matforge.surrogates.train import inputs

    path = resolve_model_dir(model_dir)
    kind = read_config(path)["kind"]
    model = load_surrogate(path)
    if kind in ("ensemble", "structure"):
        attr = tree_attributions(model, inputs(frame, "structure" if kind == "structure"
                                               else "composition"))
        return attr, grouped(attr)
    if "formula" not in frame.columns:
        raise MatforgeError("input has no 'formula' column")
    attr = element_attributions(lambda fs: model.predict(fs)[0], list(frame["formula"]))
    return attr, attr


def explain_file(model_dir: str | Path, input_path: str | Path, out: str | Path) -> list[Path]:
    """Write OUT (mean, base_value, shap_<feature>) and OUT's `_groups` twin (group sums)."""
    from matforge.data import load_dataset

    frame = load_dataset(str(input_path))
    attr, groups = explain(model_dir, frame)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    keys = frame[[c for c in ("formula", "material_id") if c in frame.columns]].reset_index(
        drop=True)
    pd.concat([keys, attr.frame()], axis=1).to_csv(out, index=False)
    paths = [out]
    if groups is not attr:
        group_path = out.with_name(f"{out.stem}_groups{out.suffix or '.csv'}")
        pd.concat([keys, groups.frame("group_")], axis=1).to_csv(group_path, index=False)
        paths.append(group_path)
    return paths
