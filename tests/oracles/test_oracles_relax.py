"""Batched CHGNet relaxation: real model, tiny cells, failures isolated."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matforge.errors import MatforgeError
from matforge.oracles.cellfilter import CellState, small_expm, small_expm_frechet
from matforge.oracles.optimizers import Bfgs, Fire, FireThenBfgs
from matforge.oracles.potentials import get_potential
from matforge.oracles.relax import EV_PER_A3_PER_GPA, enthalpy_per_atom, relax_structures
from matforge.oracles.symmetry import SymmetryConstraint


def _cu(a: float = 3.61) -> Structure:
    return Structure(Lattice.cubic(a), ["Cu"] * 4,
                     [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def _nacl(a: float = 5.6) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()


def test_small_matrix_exponential_matches_scipy() -> None:
    from scipy.linalg import expm, expm_frechet

    rng = np.random.default_rng(0)
    for scale in (0.0, 1e-4, 0.03, 0.3, 2.0):  # cell log-strains are ~0.01-0.1
        a = rng.normal(size=(3, 3)) * scale
        e = rng.normal(size=(3, 3)) * 40.0  # a virial, eV
        assert np.allclose(small_expm(a), expm(a), rtol=1e-12, atol=1e-14)
        assert np.allclose(small_expm_frechet(a, e), expm_frechet(a, e, compute_expm=False),
                           rtol=1e-11, atol=1e-11)
    assert not small_expm_frechet(np.eye(3), np.zeros((3, 3))).any()


@pytest.mark.parametrize("gpa", [0.0, 10.0])
def test_generalised_forces_match_ase_frechet_filter(gpa: float) -> None:
    from ase.filters import FrechetCellFilter
    from chgnet.model.dynamics import CHGNetCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    s = _nacl(5.4)
    s = Structure(s.lattice, s.species, s.cart_coords + [[0.05, -0.03, 0.02], [0, 0, 0]],
                  coords_are_cartesian=True)
    pot = get_potential("chgnet")
    energy, forces, stress = pot.efs([s])[0]
    pressure = gpa * EV_PER_A3_PER_GPA
    ours = CellState(s, relax_cell=True, pressure=pressure).forces(forces, stress)
    atoms = AseAtomsAdaptor.get_atoms(s)
    atoms.calc = CHGNetCalculator(model=pot.model)
    theirs = FrechetCellFilter(atoms, scalar_pressure=pressure).get_forces()
    assert energy == pytest.approx(atoms.get_potential_energy() / len(atoms), abs=1e-4)
    assert np.allclose(ours, theirs, atol=2e-3)


def test_pressure_shrinks_the_cell_and_adds_pv() -> None:
    free, pressed = (relax_structures([_nacl()], fmax=0.05, steps=300, progress=False,
                                      pressure=p)[0] for p in (0.0, 10.0))
    assert free.converged and pressed.converged
    assert pressed.structure.volume < 0.95 * free.structure.volume
    assert pressed.energy_per_atom > free.energy_per_atom  # compressed: higher energy...
    s = pressed.structure  # ...but lower enthalpy at 10 GPa
    assert enthalpy_per_atom(pressed.energy_per_atom, s, 10.0) < \
        enthalpy_per_atom(free.energy_per_atom, free.structure, 10.0)
    assert enthalpy_per_atom(-3.0, s, 10.0) == pytest.approx(
        -3.0 + 10.0 / 160.21766208 * s.volume / len(s))


def _kcdn3() -> Structure:
    """A Perov-5 cell (P4mm) whose unconstrained CHGNet relaxation leaves its space group."""
    return Structure(Lattice.cubic(4.5924), ["K", "Cd", "N", "N", "N"],
                     [[0.5048, 0.5, 0.5], [0.0002, 0, 0], [0.4999, 0, 0.5],
                      [0.4999, 0.5, 0], [0.0047, 0.5, 0.5]])


def _space_group(structure: Structure) -> int:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    return SpacegroupAnalyzer(structure, symprec=0.01).get_space_group_number()


def test_symmetrised_forces_and_stress_obey_the_group() -> None:
    rng = np.random.default_rng(0)
    cubic = Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"],
                      [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    wurtzite = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.25, 5.2), ["Zn", "O"],
                                         [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.38]])
    for structure, n_ops in ((cubic, 48), (wurtzite, 12)):
        constraint = SymmetryConstraint(structure)
        cell = structure.lattice.matrix
        forces = constraint.forces(rng.normal(size=(len(structure), 3)), cell)
        stress = constraint.stress(rng.normal(size=(3, 3)), cell)
        assert constraint.n_operations == n_ops
        assert np.allclose(constraint.forces(forces, cell), forces)  # a projection
        assert np.allclose(constraint.stress(stress, cell), stress)
        assert np.allclose(forces.sum(axis=0)[:2], 0.0)  # no net force in the polar plane
        assert stress[0, 0] == pytest.approx(stress[1, 1])
        assert np.allclose([stress[0, 1], stress[0, 2], stress[1, 2]], 0.0, atol=1e-12)
    constraint = SymmetryConstraint(cubic)  # every site centrosymmetric, the stress isotropic
    assert np.allclose(constraint.forces(rng.normal(size=(5, 3)), cubic.lattice.matrix), 0.0)
    stress = constraint.stress(rng.normal(size=(3, 3)), cubic.lattice.matrix)
    assert np.allclose(stress, np.eye(3) * np.trace(stress) / 3)


def test_keep_symmetry_relaxes_within_the_starting_space_group() -> None:
    start = _kcdn3()
    free, kept = (relax_structures([start], steps=300, progress=False, keep_symmetry=k)[0]
                  for k in (False, True))
    assert _space_group(start) == 99
    assert free.converged and kept.converged
    assert _space_group(free.structure) != 99  # CHGNet's noise finds a distortion
    assert _space_group(kept.structure) == 99
    assert kept.energy_per_atom > free.energy_per_atom  # the distortion is lower


def test_relax_lowers_energy_and_isolates_failures() -> None:
    cu = _cu(3.8)  # 5% expanded fcc Cu
    nacl = _nacl(5.4)
    lonely = Structure(Lattice.cubic(15.0), ["H"], [[0, 0, 0]])  # isolated atom: no graph
    heavy = Structure(Lattice.cubic(3.5), ["Am"], [[0, 0, 0]])  # Z = 95: outside CHGNet
    results = relax_structures([cu, lonely, nacl, heavy, "not a cif"], fmax=0.05, steps=200,
                               progress=False)
    assert len(results) == 5
    r_cu, r_h, r_nacl, r_am, r_bad = results
    for res, start in ((r_cu, cu), (r_nacl, nacl)):
        assert res.ok and res.converged, res.error
        assert res.energy_per_atom < res.initial_energy_per_atom
        assert res.fmax < 0.05 and res.steps > 0
    assert r_cu.structure.volume < cu.volume  # the expanded cell shrinks back
    assert 3.5 < r_cu.structure.lattice.a < 3.75
    for res in (r_h, r_am, r_bad):
        assert not res.ok and res.structure is None and res.error


def test_fix_cell_and_bfgs() -> None:
    cu = _cu(3.8)
    res = relax_structures([cu], relax_cell=False, optimizer="bfgs", progress=False)[0]
    assert res.ok and res.converged  # fcc: zero forces by symmetry, cell kept
    assert res.steps == 0 and res.structure.volume == pytest.approx(cu.volume)


def test_fire_then_bfgs_switches_below_threshold_and_needs_fewer_steps() -> None:
    """On an anisotropic quadratic well, FIRE runs until the largest force row is below the
    switch, then BFGS takes over and finishes in fewer steps than FIRE alone."""
    stiffness = np.array([[1.0, 4.0, 9.0], [2.0, 6.0, 12.0]])
    start = np.array([[0.3, -0.2, 0.1], [-0.1, 0.25, 0.05]])

    def run(opt_cls: type) -> tuple[int, object]:
        x = start.copy()
        opt = opt_cls(x)
        for step in range(1000):
            f = -stiffness * x
            if np.sqrt((f**2).sum(axis=1)).max() < 1e-3:
                return step, opt
            x = opt.step(x, f)
        raise AssertionError("did not converge")

    fire_steps, _ = run(Fire)
    mixed_steps, mixed = run(FireThenBfgs)
    assert isinstance(mixed.active, Bfgs)  # type: ignore[attr-defined]
    assert mixed_steps < fire_steps
    early = FireThenBfgs(start)
    early.step(start, -stiffness * start)  # forces ~1.3 eV/A: still FIRE
    assert isinstance(early.active, Fire)


def test_fire_then_bfgs_relaxes_to_fires_energy() -> None:
    nacl = _nacl(5.45)
    nacl = Structure(nacl.lattice, nacl.species, nacl.cart_coords + [[0.08, -0.05, 0.03], [0, 0, 0]],
                     coords_are_cartesian=True)
    fire, mixed = (relax_structures([nacl], fmax=0.02, optimizer=opt, progress=False)[0]
                   for opt in ("fire", "fire+bfgs"))
    assert fire.converged and mixed.converged
    assert mixed.energy_per_atom == pytest.approx(fire.energy_per_atom, abs=2e-3)
    assert mixed.steps <= fire.steps


def test_worker_processes_match_one_process_in_input_order() -> None:
    """Two forked workers relax chunks of the list; results come back in input order, equal
    to the single-process run, with failures still reported in place."""
    items = []
    for k in range(5):  # 10 cells: two chunks
        items.append(_cu(3.55 + 0.03 * k))
        items.append(_nacl(5.3 + 0.05 * k))
    items[7] = "not a cif"
    one = relax_structures(items, steps=60, progress=False, workers=1)
    two = relax_structures(items, steps=60, progress=False, workers=2)
    assert len(two) == len(items) and not two[7].ok and two[7].error
    for a, b, start in zip(one, two, items):
        if isinstance(start, str):
            continue
        assert b.ok and b.structure.composition == start.composition
        assert b.energy_per_atom == pytest.approx(a.energy_per_atom, abs=1e-5)
        assert b.steps == a.steps
    with pytest.raises(MatforgeError):
        relax_structures(items[:2], workers=0, progress=False)
