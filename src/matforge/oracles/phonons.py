"""Dynamic stability by phonons: finite displacements with phonopy, forces from CHGNet.

Why: a structure at a minimum of the energy along its own symmetry (forces and stress zero,
so a relaxation stops) can still be a saddle point: cubic perovskites that want to tilt their
octahedra, bcc metals that want to shear. Only the second derivatives show it, as imaginary
phonon frequencies (phonopy reports them as negative numbers). A hull distance says nothing
about this, so a design loop that wants makeable crystals needs this check as well.

How: phonopy builds a supercell (diagonal multiples of the input cell, each perpendicular
width at least `min_length` A), the symmetry-distinct displaced copies are evaluated in one
batched CHGNet call (`oracles.potentials.ChgnetPotential`), the forces of the undisplaced supercell
are subtracted (a not perfectly relaxed input then costs little accuracy), the force
constants are symmetrised, and frequencies are taken on a Gamma-centred q-mesh (even meshes
include the zone-boundary points where octahedral tilts and shears live). The structure is
dynamically stable when the lowest frequency is above `-tolerance` THz.

Cost is bounded up front: inputs above `max_atoms` atoms or supercells above
`max_supercell_atoms` raise a MatforgeError instead of running for hours.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pymatgen.core import Lattice, Structure

from matforge.candidate import Candidate, to_structure
from matforge.errors import MatforgeError
from matforge.oracles.base import PerCandidateOracle


@dataclass
class PhononResult:
    """Outcome of one phonon calculation (frequencies in THz; negative = imaginary)."""

    min_phonon_freq_thz: float
    dynamically_stable: bool
    q_min: tuple[float, float, float]
    max_phonon_freq_thz: float
    supercell: tuple[int, int, int]
    n_supercell_atoms: int
    n_displacements: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def auto_supercell(structure: Structure, min_length: float) -> tuple[int, int, int]:
    """Smallest diagonal multiples giving each perpendicular cell width >= min_length A."""
    m = structure.lattice.matrix
    vol = abs(np.linalg.det(m))
    widths = [vol / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3)]
    return tuple(max(1, math.ceil(min_length / w - 1e-9)) for w in widths)  # type: ignore[return-value]


def _to_phonopy(structure: Structure) -> Any:
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=[site.specie.symbol for site in structure],
                        cell=structure.lattice.matrix, scaled_positions=structure.frac_coords)


def _to_pymatgen(atoms: Any) -> Structure:
    return Structure(Lattice(atoms.cell), list(atoms.symbols), atoms.scaled_positions)


def phonon_check(structure: Any, model: str = "chgnet", supercell: tuple[int, int, int] | None = None,
                 min_length: float = 7.0, displacement: float = 0.03, mesh: int = 8,
                 tolerance: float = 0.1, max_atoms: int = 20, max_supercell_atoms: int = 256,
                 symprec: float = 1e-3, device: str | None = None) -> PhononResult:
    """Phonons of a (relaxed) structure by finite displacements; see the module docstring.

    `tolerance` (THz): modes above -tolerance count as real (finite-difference and float32
    noise leaves small negative values near Gamma). `displacement` (A): 0.03 by default, since
    CHGNet's float32 forces made 0.01 A too noisy (relaxed rocksalt NaCl showed a spurious
    -0.85 THz mode at 0.01 A; 0.02, 0.03 and 0.05 A all gave a stable spectrum).
    `mesh`: n x n x n Gamma-centred q-mesh on the primitive cell.
    """
    from phonopy import Phonopy

    from matforge.oracles.potentials import get_potential

    start = time.perf_counter()
    structure = to_structure(structure)
    if len(structure) > max_atoms:
        raise MatforgeError(f"{structure.composition.reduced_formula}: {len(structure)} atoms "
                            f"in the cell, more than max_atoms={max_atoms} for a phonon check")
    if displacement <= 0 or tolerance < 0 or mesh < 1 or min_length <= 0:
        raise MatforgeError("displacement, min_length and mesh must be positive, tolerance >= 0")
    dims = tuple(int(d) for d in supercell) if supercell else auto_supercell(structure, min_length)
    if len(dims) != 3 or min(dims) < 1:
        raise MatforgeError(f"supercell must be three positive integers, got {supercell}")
    n_super = len(structure) * int(np.prod(dims))
    if n_super > max_supercell_atoms:
        raise MatforgeError(f"{structure.composition.reduced_formula}: a {'x'.join(map(str, dims))}"
                            f" supercell has {n_super} atoms, more than max_supercell_atoms="
                            f"{max_supercell_atoms} (raise it, or lower min_length)")
    potential = get_potential(model, device=device)
    potential.check(structure)
    with warnings.catch_warnings():  # phonopy 4 warns that "auto" may find a smaller cell
        warnings.simplefilter("ignore")
        ph = Phonopy(_to_phonopy(structure), supercell_matrix=np.diag(dims),
                     primitive_matrix="auto", symprec=symprec, log_level=0)
    ph.generate_displacements(distance=displacement)
    displaced = [_to_pymatgen(sc) for sc in ph.supercells_with_displacements]
    outputs = potential.efs([_to_pymatgen(ph.supercell), *displaced])
    reference = outputs[0][1]
    forces = np.array([out[1] - reference for out in outputs[1:]])
    forces -= forces.mean(axis=1, keepdims=True)  # no net force from a single displacement
    ph.forces = forces
    ph.produce_force_constants(show_drift=False)
    ph.symmetrize_force_constants()
    ph.run_mesh([mesh] * 3, is_gamma_center=True)
    result = ph.get_mesh_dict()
    freqs, qpts = np.asarray(result["frequencies"]), np.asarray(result["qpoints"])
    iq, _ = np.unravel_index(np.argmin(freqs), freqs.shape)
    fmin = float(freqs.min())
    return PhononResult(
        min_phonon_freq_thz=fmin, dynamically_stable=bool(fmin >= -tolerance),
        q_min=tuple(float(x) for x in qpts[iq]), max_phonon_freq_thz=float(freqs.max()),
        supercell=dims, n_supercell_atoms=n_super, n_displacements=len(displaced),
        seconds=round(time.perf_counter() - start, 2))


class PhononOracle(PerCandidateOracle):
    """Scores `min_phonon_freq_thz` and `dynamically_stable` (1.0 / 0.0) per candidate.

    The candidate's structure should already be relaxed with the same potential (for example
    by `ChgnetStabilityOracle` earlier in the chain); too-large cells fail with the reason.
    """

    name = "phonons"

    def __init__(self, **options: Any) -> None:
        self.options = options

    def evaluate_one(self, candidate: Candidate) -> dict[str, float]:
        if candidate.structure is None:
            raise MatforgeError("no structure: phonons need one")
        res = phonon_check(candidate.structure, **self.options)
        return {"min_phonon_freq_thz": res.min_phonon_freq_thz,
                "dynamically_stable": float(res.dynamically_stable)}
