"""Deterministic splits. Rows are assigned by a hash of their reduced formula, so every
polymorph of a composition lands on the same side and no composition leaks across splits."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from matforge.chem.formula import reduced_formula

SPLITS = ("train", "val", "test")


def formula_split(formulas: pd.Series, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                  salt: str = "matforge") -> np.ndarray:
    """Return an array of 'train' / 'val' / 'test' labels, grouped by reduced formula."""
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError("split fractions must sum to 1")
    edges = np.cumsum(fractions)
    labels = []
    cache: dict[str, str] = {}
    for formula in formulas:
        key = reduced_formula(formula)
        if key not in cache:
            digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
            u = int.from_bytes(digest[:8], "big") / 2**64
            cache[key] = SPLITS[int(np.searchsorted(edges, u, side="right"))]
        labels.append(cache[key])
    return np.array(labels)
