"""Property-distribution distances (CDVAE `GenEval.get_density_wdist`, `get_num_elem_wdist`).

The 1-D Wasserstein (earth mover's) distance, `scipy.stats.wasserstein_distance`, between the
samples and a test set, of the density (g/cm^3) and of the number of distinct elements.
CDVAE uses the valid samples only (and draws 1,000 of them); here all valid samples are used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Composition, Structure
from scipy.stats import wasserstein_distance


def densities(structures: Sequence[Structure]) -> np.ndarray:
    return np.array([float(s.density) for s in structures])


def num_elements(compositions: Sequence[Composition | str]) -> np.ndarray:
    return np.array([len(Composition(c).elements) for c in compositions])


def wdist(samples: Sequence[float], test: Sequence[float]) -> float | None:
    """Wasserstein distance of two 1-D samples; None when either is empty."""
    a, b = np.asarray(samples, dtype=float), np.asarray(test, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return None
    return float(wasserstein_distance(a, b))
