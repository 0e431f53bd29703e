"""Generalised coordinates for relaxing atoms and cell together (ASE's FrechetCellFilter).

The optimiser sees one array per structure: atom positions expressed in the reference cell
and exp_cell_factor * logm(F), with F the cell's deformation gradient. Forces on that array
are the atomic forces mapped by F and the virial's derivative with respect to logm(F), so
the `fmax` criterion means the same as for CHGNet's StructOptimizer.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

from matforge.oracles.symmetry import SymmetryConstraint


class CellState:
    """One structure's generalised coordinates (ASE FrechetCellFilter convention).

    x = [positions expressed in the reference cell (n,3); exp_cell_factor * logm(F) (3,3)],
    with F the deformation gradient from the reference cell. Generalised forces are the atomic
    forces mapped by F and the virial's derivative w.r.t. logm(F) divided by exp_cell_factor.
    """

    def __init__(self, structure: Structure, relax_cell: bool, pressure: float = 0.0,
                 symmetry: SymmetryConstraint | None = None) -> None:
        self.species = structure.species
        self.site_properties = structure.site_properties
        self.orig_cell = structure.lattice.matrix.copy()
        self.n = len(structure)
        self.relax_cell = relax_cell
        self.pressure = pressure  # eV/A^3: the cell relaxes to this hydrostatic pressure
        self.symmetry = symmetry  # forces and stress averaged over its operations if given
        self.factor = float(self.n)
        self.x = np.zeros((self.n + 3, 3))
        self.x[: self.n] = structure.cart_coords  # F = I initially
        self._deform: tuple[bytes, np.ndarray] | None = None

    def deform(self) -> np.ndarray:
        if not self.relax_cell:
            return np.eye(3)
        key = self.x[self.n:].tobytes()  # structure() and forces() ask at the same x
        if self._deform is None or self._deform[0] != key:
            self._deform = (key, small_expm(self.x[self.n:] / self.factor))
        return self._deform[1]

    def structure(self) -> Structure:
        f = self.deform()
        cell = self.orig_cell @ f.T
        pos = self.x[: self.n] @ f.T
        return Structure(Lattice(cell), self.species, pos, coords_are_cartesian=True,
                         site_properties=self.site_properties)

    def forces(self, forces: np.ndarray, stress: np.ndarray) -> np.ndarray:
        f = self.deform()
        if self.symmetry is not None:
            cell = self.orig_cell @ f.T
            forces = self.symmetry.forces(forces, cell)
            stress = self.symmetry.stress(stress, cell)
        g = np.zeros_like(self.x)
        g[: self.n] = forces @ f
        if self.relax_cell:
            volume = abs(np.linalg.det(self.orig_cell @ f.T))
            virial = -volume * (stress + self.pressure * np.eye(3))
            ucf = virial @ np.linalg.inv(f.T)
            log_f = self.x[self.n:] / self.factor
            # d<expm(L), U>/dL is the adjoint Frechet derivative, which is the Frechet
            # derivative at L^T applied to U: one call instead of ASE's nine.
            dlog = small_expm_frechet(log_f.T, ucf)
            g[self.n:] = dlog / self.factor
        return g


def small_expm(a: np.ndarray) -> np.ndarray:
    """exp(a) for a small square matrix: scaling and squaring around a degree-12 Taylor series.

    For the 3x3 and 6x6 matrices of the cell filter this is ~50x cheaper than scipy's expm,
    whose per-call overhead with expm_frechet's took ~20% of a perov-5 relaxation step; once
    scaled to norm <= 1/4 the series' truncation error is below 1e-18, and the result agrees
    with scipy to rounding (tests/oracles/test_oracles_relax.py).
    """
    norm = float(np.abs(a).sum(axis=0).max())
    squarings = max(0, int(np.ceil(np.log2(norm / 0.25)))) if norm > 0.25 else 0
    m = a / 2.0**squarings
    result = np.eye(len(a))
    term = np.eye(len(a))
    for k in range(1, 13):
        term = term @ m / k
        result = result + term
    for _ in range(squarings):
        result = result @ result
    return result


def small_expm_frechet(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The Frechet derivative of exp at `a` in direction `e`: the upper right block of
    exp([[a, e], [0, a]]), with `e` normalised first (the derivative is linear in it) so its
    size adds no squarings."""
    size = float(np.abs(e).max())
    if size == 0.0:
        return np.zeros_like(e)
    n = len(a)
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n] = block[n:, n:] = a
    block[:n, n:] = e / size
    return small_expm(block)[:n, n:] * size
