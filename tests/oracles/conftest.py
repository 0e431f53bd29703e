"""Small cells shared by the CHGNet graph and energy tests: a one-atom cell, a dense covalent
network, a perturbed perovskite and a triclinic cell, so that edges to a site's own images,
many angles per atom and low symmetry are all covered."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure


def _perturbed(structure: Structure, seed: int) -> Structure:
    rng = np.random.default_rng(seed)
    out = structure.copy()
    out.apply_strain(rng.normal(0, 0.03, 3))
    return Structure(out.lattice, out.species,
                     out.cart_coords + rng.normal(0, 0.05, (len(out), 3)),
                     coords_are_cartesian=True)


STRUCTURES = {
    # one atom per cell: every bond joins an atom to its own periodic image
    "bcc Fe, primitive": Structure(Lattice([[-1.43, 1.43, 1.43], [1.43, -1.43, 1.43],
                                            [1.43, 1.43, -1.43]]), ["Fe"], [[0, 0, 0]]),
    # dense covalent network: many angles per atom
    "diamond": _perturbed(Structure(Lattice.cubic(3.57), ["C"] * 8,
                                    [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
                                     [0.25, 0.25, 0.25], [0.75, 0.75, 0.25],
                                     [0.75, 0.25, 0.75], [0.25, 0.75, 0.75]]), 0),
    "cubic perovskite": _perturbed(Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"],
                                             [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0],
                                              [0.5, 0, 0.5], [0, 0.5, 0.5]]), 1),
    "triclinic": Structure(Lattice.from_parameters(4.1, 5.3, 6.2, 71, 98, 113),
                           ["Li", "Mn", "O", "O"],
                           [[0.1, 0.2, 0.3], [0.6, 0.4, 0.8], [0.35, 0.7, 0.1],
                            [0.8, 0.9, 0.55]]),
}


@pytest.fixture(scope="session")
def small_cells() -> dict[str, Structure]:
    return STRUCTURES


@pytest.fixture(params=sorted(STRUCTURES))
def small_cell(request: pytest.FixtureRequest) -> Structure:
    return STRUCTURES[request.param]
