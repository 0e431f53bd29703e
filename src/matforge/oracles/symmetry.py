"""Relaxing inside a structure's space group: forces and stress averaged over its operations.

An unconstrained relaxation follows any symmetry-breaking noise (numerical or from the
starting point) into a distorted minimum of lower energy, so a perovskite template can come
back as a different, distorted type. Structure prediction often wants the best structure of a
given type instead, which is what ASE's FixSymmetry gives: the optimiser only ever sees the
symmetric part of the forces and of the stress, so every step keeps the operations the
structure started with. The batched relaxation has no ASE Atoms to constrain, so this applies
ASE's own symmetrisation functions to the arrays of each step. The operations are fractional
(spglib), so they stay valid while the cell deforms within the group.
"""

from __future__ import annotations

import os

import numpy as np
from pymatgen.core import Structure

SYMPREC = 0.01  # A: spglib's tolerance for finding the operations (FixSymmetry's default)


class SymmetryConstraint:
    """The space-group operations of one structure, and how they permute its atoms."""

    def __init__(self, structure: Structure, symprec: float = SYMPREC) -> None:
        from ase.spacegroup.symmetrize import prep_symmetry
        from pymatgen.io.ase import AseAtomsAdaptor

        # spglib's C library prints a line whenever a cell that is symmetric only within
        # symprec needs another try inside it; _check_maps verifies what it returns instead
        os.environ.setdefault("SPGLIB_WARNING", "OFF")
        atoms = AseAtomsAdaptor.get_atoms(structure)
        self.rotations, self.translations, self.atom_maps = prep_symmetry(atoms, symprec)
        _check_maps(structure, self.rotations, self.translations, self.atom_maps, symprec)

    @property
    def n_operations(self) -> int:
        return len(self.rotations)

    def forces(self, forces: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Cartesian forces (n,3) averaged over the group; `cell` rows are lattice vectors."""
        from ase.spacegroup.symmetrize import symmetrize_rank1

        return symmetrize_rank1(cell, np.linalg.inv(cell), forces, self.rotations,
                                self.translations, self.atom_maps)

    def stress(self, stress: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """A Cartesian stress tensor (3,3) averaged over the group's rotations."""
        from ase.spacegroup.symmetrize import symmetrize_rank2

        return symmetrize_rank2(cell, np.linalg.inv(cell), stress, self.rotations)


def _check_maps(structure: Structure, rotations: np.ndarray, translations: np.ndarray,
                atom_maps: list, symprec: float) -> None:
    """Raise ValueError unless every operation takes each atom onto its mapped atom, of the
    same element, within a few symprec."""
    frac, numbers = structure.frac_coords, np.array(structure.atomic_numbers)
    for rotation, translation, mapped in zip(rotations, translations, atom_maps):
        mapped = np.asarray(mapped)
        delta = frac @ rotation.T + translation - frac[mapped]
        delta -= np.round(delta)
        off = np.linalg.norm(delta @ structure.lattice.matrix, axis=1).max()
        if off > 3 * symprec or (numbers[mapped] != numbers).any():
            raise ValueError(f"a symmetry operation misplaces an atom by {off:.3f} A")
