"""Stable, unique and novel rate (S.U.N.; MatterGen, Zeni et al., Nature 2025).

A sample is stable when its energy above the convex hull is at most `threshold` (default
0.1 eV/atom, MatterGen's "metastable" bound); the S.U.N. rate is the fraction of ALL samples
that are stable, unique (the first of their class among the samples) and novel (absent from
the reference set).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 0.1  # eV/atom: MatterGen's "stable" bound of S.U.N. (metastable)
ON_HULL = 0.0  # eV/atom: on or below the hull of the known phases
E_HULL_COLUMNS = ("e_above_hull", "energy_above_hull", "e_hull", "ehull")


def find_e_hull_column(frame: pd.DataFrame) -> str | None:
    for col in E_HULL_COLUMNS:
        if col in frame.columns:
            return col
    return None


def sun_flags(e_above_hull: Sequence[float], unique: Sequence[bool], novel: Sequence[bool],
              threshold: float = DEFAULT_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """(stable, sun) boolean arrays; a missing energy counts as not stable."""
    e = np.asarray(e_above_hull, dtype=float)
    stable = np.where(np.isfinite(e), e <= threshold, False)
    return stable, stable & np.asarray(unique, bool) & np.asarray(novel, bool)
