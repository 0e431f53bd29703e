"""Energies on the MP2020 scale: CHGNet's as predicted, a raw potential's through pymatgen."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from matforge.oracles.compatibility import (
    corrected_energy_per_atom,
    correction_id,
    mp_run_parameters,
)
from matforge.oracles.potentials import PotentialInfo, potential_info

RAW = PotentialInfo("rawpot", "1", "1.0", "raw")


def _fe2o3() -> Structure:
    return Structure.from_spacegroup("R-3c", Lattice.hexagonal(5.04, 13.75), ["Fe", "O"],
                                     [[0, 0, 0.355], [0.306, 0, 0.25]])


def _nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_chgnet_energies_are_already_on_the_scale() -> None:
    info = potential_info("chgnet")
    assert info.energy_scale == "mp2020" and info.model == "0.3.0"
    assert corrected_energy_per_atom(_fe2o3(), -6.8, info) == -6.8
    assert "training labels" in correction_id(info)


def test_run_type_follows_materials_project() -> None:
    assert mp_run_parameters(_fe2o3()) == {"run_type": "GGA+U", "hubbards": {"Fe": 5.3}}
    assert mp_run_parameters(_nacl()) == {"run_type": "GGA", "hubbards": {}}
    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert mp_run_parameters(iron)["run_type"] == "GGA"  # U only with O or F


def test_raw_potential_gets_anion_and_u_corrections() -> None:
    fe2o3 = corrected_energy_per_atom(_fe2o3(), -6.8, RAW) + 6.8
    nacl = corrected_energy_per_atom(_nacl(), -3.4, RAW) + 3.4
    # Fe2O3: 2 Fe U corrections (-2.256 eV) and 3 oxide ions (-0.687 eV) over 5 atoms
    assert fe2o3 == pytest.approx((2 * -2.256 + 3 * -0.687) / 5, abs=0.02)
    assert nacl == pytest.approx(-0.614 / 2, abs=0.02)  # one chloride over 2 atoms
    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert corrected_energy_per_atom(iron, -8.3, RAW) == pytest.approx(-8.3)
