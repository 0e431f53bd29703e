"""Recovery: how much of a held-out set of known materials the samples contain.

For each held-out material the index of the first sample that matches it (same reduced
formula for compositions, `StructureMatcher` for structures, see `matching`) gives both the
recovered fraction and the curve of that fraction against the number of samples drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def recovery_curve(first_hit: Sequence[int], n_samples: int,
                   points: int = 20) -> list[tuple[int, float]]:
    """[(m, fraction of held-out materials found among the first m samples)], m log-spaced."""
    hits = np.asarray(first_hit, dtype=float)
    if hits.size == 0 or n_samples == 0:
        return []
    ms = np.unique(np.geomspace(1, n_samples, num=min(points, n_samples)).round().astype(int))
    return [(int(m), float(np.mean((hits >= 0) & (hits < m)))) for m in ms]


def first_hits_by_formula(targets: Sequence[str], samples: Sequence[str]) -> np.ndarray:
    """For each target reduced formula, the index of the first sample with it (-1 if none)."""
    first: dict[str, int] = {}
    for i, f in enumerate(samples):
        first.setdefault(f, i)
    return np.array([first.get(t, -1) for t in targets], dtype=int)
