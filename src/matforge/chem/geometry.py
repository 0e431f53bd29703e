"""Is this a structure at all? The gate every structure passes where it enters matforge.

A potential will happily relax two atoms 0.004 Å apart or a 4000 Å^3 cell per atom and return
a number; that number means nothing. `structure_problem` names what is wrong (NaN
coordinates, atoms on top of each other, a cell far too dense or too empty, more atoms than
the limit) so relaxation, stability, evaluation and campaign pools can report it per row
instead of scoring nonsense.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure


class StructureLimits(BaseModel):
    """What a structure must satisfy to be relaxed or scored (all configurable)."""

    model_config = ConfigDict(extra="forbid")

    min_distance: float = Field(0.5, gt=0, description="closest allowed pair of atoms, Å")
    min_volume_per_atom: float = Field(1.0, gt=0, description="Å^3 per atom")
    max_volume_per_atom: float = Field(200.0, gt=0, description="Å^3 per atom")
    max_atoms: int = Field(500, ge=1, description="atoms in the cell")


DEFAULT_LIMITS = StructureLimits()


def structure_problem(structure: Structure, limits: StructureLimits = DEFAULT_LIMITS) -> str:
    """'' when the structure makes physical sense under `limits`, else a one-line reason."""
    n = len(structure)
    if n == 0:
        return "empty structure"
    if n > limits.max_atoms:
        return f"{n} atoms > the limit of {limits.max_atoms}"
    matrix = structure.lattice.matrix
    if not (np.all(np.isfinite(matrix)) and np.all(np.isfinite(structure.frac_coords))):
        return "non-finite lattice or coordinates (NaN or inf)"
    volume = abs(float(np.linalg.det(matrix)))
    per_atom = volume / n
    if per_atom < limits.min_volume_per_atom:
        return (f"{per_atom:.3g} Å^3 per atom < {limits.min_volume_per_atom} "
                "(cell collapsed or degenerate)")
    if per_atom > limits.max_volume_per_atom:
        return f"{per_atom:.4g} Å^3 per atom > {limits.max_volume_per_atom} (cell mostly empty)"
    closest, pair = closest_pair(structure)
    if closest < limits.min_distance:
        i, j = pair
        return (f"sites {i} ({structure[i].species_string}) and {j} "
                f"({structure[j].species_string}) are {closest:.3g} Å apart "
                f"(< {limits.min_distance} Å)")
    return ""


def closest_pair(structure: Structure) -> tuple[float, tuple[int, int]]:
    """The shortest interatomic distance under periodic boundaries (an atom and its own
    image count) and the pair of sites it joins."""
    shortest_vector = float(min(structure.lattice.get_lll_reduced_lattice().abc))
    if len(structure) == 1:
        return shortest_vector, (0, 0)
    dist = np.array(structure.distance_matrix, dtype=float)
    np.fill_diagonal(dist, np.inf)
    i, j = np.unravel_index(int(np.argmin(dist)), dist.shape)
    if shortest_vector < dist[i, j]:
        return shortest_vector, (0, 0)
    return float(dist[i, j]), (int(i), int(j))
