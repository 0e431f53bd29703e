"""Validity as CDVAE (Xie et al., ICLR 2022, `cdvae/common/eval_utils.py`) defines it.

- Structural validity: the shortest distance between two different sites (minimum image,
  pymatgen `Structure.distance_matrix`) is at least 0.5 Å and the cell volume at least 0.1 Å^3
  (`structure_validity`; CDVAE rejects `dist < 0.5 or volume < 0.1`).
- Compositional validity: SMACT `smact_validity` with the `smact14` oxidation states, all-metal
  compositions and single elements counted valid (`matforge.chem.check_composition(...).valid`);
  `valid_strict` counts all-metal compositions invalid.
- Validity of a structure: both.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Composition, Structure

from matforge.chem import check_composition

MIN_DISTANCE = 0.5  # Å
MIN_VOLUME = 0.1  # Å^3


def structural_validity(structure: Structure, cutoff: float = MIN_DISTANCE,
                        min_volume: float = MIN_VOLUME) -> tuple[bool, str]:
    """(valid, reason) by CDVAE's rule; the reason names the offending pair or the volume."""
    volume = float(structure.volume)
    if not np.isfinite(volume) or volume < min_volume:
        return False, f"cell volume {volume:.3g} Å^3 < {min_volume}"
    if len(structure) > 1:
        dist = np.array(structure.distance_matrix, dtype=float)
        np.fill_diagonal(dist, np.inf)
        i, j = np.unravel_index(int(np.argmin(dist)), dist.shape)
        if dist[i, j] < cutoff:
            return False, (f"sites {i} ({structure[i].species_string}) and {j} "
                           f"({structure[j].species_string}) are {dist[i, j]:.3f} Å apart "
                           f"(< {cutoff} Å)")
    return True, ""


def compositional_validity(composition: Composition | str) -> tuple[bool, bool, str]:
    """(valid as CDVAE/SMACT, valid_strict, reason); the reason is empty when valid_strict."""
    verdict = check_composition(composition)
    reason = "" if verdict.valid_strict else verdict.reason
    return verdict.valid, verdict.valid_strict, reason
