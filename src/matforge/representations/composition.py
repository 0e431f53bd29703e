"""Composition encodings: element fractions, and Magpie-style descriptors computed in numpy.

`magpie_features` gives the 132 Magpie statistics of matminer's
`ElementProperty.from_preset("magpie")` (22 elemental properties x min, max, range, mean,
mean absolute deviation, mode), read from matminer's own Magpie tables, plus the six
stoichiometry p-norms of matminer's `Stoichiometry`. It runs on padded arrays instead of a
Python loop per composition, so tens of thousands of compositions take about a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
from pymatgen.core import Composition, Element

# Elements H..Lr (Z = 1..103): the span of the Magpie tables.
ELEMENTS: tuple[str, ...] = tuple(Element.from_Z(z).symbol for z in range(1, 104))
ELEMENT_INDEX = {s: i for i, s in enumerate(ELEMENTS)}

MAGPIE_PROPERTIES = (
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
    "Electronegativity", "NsValence", "NpValence", "NdValence", "NfValence", "NValence",
    "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled", "NUnfilled", "GSvolume_pa",
    "GSbandgap", "GSmagmom", "SpaceGroupNumber",
)
MAGPIE_STATS = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")
STOICHIOMETRY_NORMS = (0, 2, 3, 5, 7, 10)


def magpie_feature_names() -> list[str]:
    names = [f"{stat} {prop}" for prop in MAGPIE_PROPERTIES for stat in MAGPIE_STATS]
    return names + [f"{p}-norm" for p in STOICHIOMETRY_NORMS]


@lru_cache(maxsize=1)
def element_property_table() -> np.ndarray:
    """(103, 22) Magpie elemental properties; missing values filled with the column mean."""
    from matminer.utils.data import MagpieData

    data = MagpieData()
    table = np.full((len(ELEMENTS), len(MAGPIE_PROPERTIES)), np.nan)
    for j, prop in enumerate(MAGPIE_PROPERTIES):
        values = data.all_elemental_props[prop]
        for i, sym in enumerate(ELEMENTS):
            v = values.get(sym)
            if v is not None:
                table[i, j] = float(v)
    col_mean = np.nanmean(table, axis=0)
    missing = np.isnan(table)
    table[missing] = np.take(col_mean, np.nonzero(missing)[1])
    return table


@lru_cache(maxsize=500_000)
def _parse(formula: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    comp = Composition(formula)
    total = comp.num_atoms
    idx, frac = [], []
    for el, amt in comp.items():
        sym = el.symbol if hasattr(el, "symbol") else str(el)
        if sym not in ELEMENT_INDEX:
            raise ValueError(f"element {sym} in {formula} is outside H..Lr")
        idx.append(ELEMENT_INDEX[sym])
        frac.append(amt / total)
    return tuple(idx), tuple(frac)


def _key(comp: Composition | str) -> str:
    return comp if isinstance(comp, str) else comp.formula


def padded_elements(compositions: Sequence[Composition | str]) -> tuple[np.ndarray, np.ndarray]:
    """Element indices (n, k) and atomic fractions (n, k), padded with index 0 and fraction 0."""
    parsed = [_parse(_key(c)) for c in compositions]
    k = max((len(p[0]) for p in parsed), default=1)
    idx = np.zeros((len(parsed), k), dtype=np.int64)
    frac = np.zeros((len(parsed), k))
    for r, (i, f) in enumerate(parsed):
        idx[r, : len(i)] = i
        frac[r, : len(f)] = f
    return idx, frac


def element_fractions(compositions: Sequence[Composition | str]) -> np.ndarray:
    """(n, 103) matrix of atomic fractions over ELEMENTS."""
    idx, frac = padded_elements(compositions)
    out = np.zeros((len(idx), len(ELEMENTS)))
    np.add.at(out, (np.arange(len(idx))[:, None], idx), frac)
    return out


def magpie_features(compositions: Iterable[Composition | str]) -> np.ndarray:
    """(n, 138) Magpie statistics plus stoichiometry norms; see the module docstring."""
    compositions = list(compositions)
    idx, frac = padded_elements(compositions)
    present = frac > 0
    vals = element_property_table()[idx]  # (n, k, 22)
    w = frac[:, :, None]
    mean = (w * vals).sum(axis=1)
    big = np.where(present[:, :, None], vals, np.inf)
    small = np.where(present[:, :, None], vals, -np.inf)
    vmin = big.min(axis=1)
    vmax = small.max(axis=1)
    avg_dev = (w * np.abs(vals - mean[:, None, :])).sum(axis=1)
    # mode: the value of the most abundant element; ties go to the smallest value (as matminer)
    top = frac.max(axis=1, keepdims=True)
    is_top = present & np.isclose(frac, top)
    mode = np.where(is_top[:, :, None], vals, np.inf).min(axis=1)
    stats = np.stack([vmin, vmax, vmax - vmin, mean, avg_dev, mode], axis=2)  # (n, 22, 6)
    magpie = stats.reshape(len(compositions), -1)
    norms = []
    for p in STOICHIOMETRY_NORMS:
        if p == 0:
            norms.append(present.sum(axis=1).astype(float))
        else:
            norms.append((frac ** p).sum(axis=1) ** (1.0 / p))
    return np.hstack([magpie, np.stack(norms, axis=1)])
