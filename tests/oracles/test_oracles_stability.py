"""Formation energy and hull arithmetic against hand-computed values (no potential needed)."""

from __future__ import annotations

import pytest
from pymatgen.core import Element

from matforge.errors import MatforgeError
from matforge.oracles.references import ElementalReferences, ReferenceEntry, reference_candidates
from matforge.oracles.stability import HullReference, formation_energy_per_atom

REFS = {"Li": -1.9, "O": -4.9, "Na": -1.3, "Cl": -1.8}


def test_formation_energy_per_atom() -> None:
    # Li2O at -4.6 eV/atom: -4.6 - (2/3 * -1.9 + 1/3 * -4.9) = -4.6 + 2.9 = -1.7
    assert formation_energy_per_atom("Li2O", -4.6, REFS) == pytest.approx(-1.7)
    with pytest.raises(MatforgeError, match="Fe"):
        formation_energy_per_atom("FeO", -5.0, REFS)


def test_e_above_hull_binary() -> None:
    # Hull Li - Li2O (E_f -1.7) - O; LiO at E_f -1.0 lies above the Li2O-O tie line.
    hull = HullReference([("Li2O", -4.6)], REFS)
    assert hull.e_above_hull("Li2O", -4.6) == pytest.approx(0.0, abs=1e-9)
    # tie line at x_O = 1/2 between Li2O (x=1/3, -1.7) and O (x=1, 0): -1.7 * (1/2)/(2/3)
    e_f_line = -1.7 * 0.75
    e_lio = -1.0 + 0.5 * -1.9 + 0.5 * -4.9
    assert hull.e_above_hull("LiO", e_lio) == pytest.approx(-1.0 - e_f_line, abs=1e-6)
    assert hull.e_above_hull("Li2O", -4.7) == pytest.approx(-0.1, abs=1e-6)  # below the hull


def test_references_roundtrip(tmp_path) -> None:
    refs = ElementalReferences({"Na": ReferenceEntry("Na", -1.3, "A_cI2_229_a", True)},
                               meta={"command": "test"})
    path = refs.save(tmp_path / "refs.json")
    back = ElementalReferences.load(path)
    assert back.get("Na") == -1.3 and back.meta["command"] == "test"
    assert formation_energy_per_atom("Na", -1.3, back) == pytest.approx(0.0)


def test_reference_candidates_cover_families() -> None:
    names = {n for n, _, _ in reference_candidates("C")}
    assert {"A_cF8_227_a", "A_hP4_194_bc", "A_cF4_225_a"} <= names
    assert reference_candidates("H")[0][0] == "dimer"
    oxygen = reference_candidates("O")
    dimer = next(s for n, s, _ in oxygen if n == "dimer")
    assert [n for n, _, cell in oxygen if not cell] == ["dimer"]
    assert dimer.composition.reduced_formula == "O2"
    assert 1.0 < dimer.get_distance(0, 1) < 1.6
    nn = 2 * float(Element("Cu").atomic_radius)  # starting nearest-neighbour distance
    for _, s, _ in reference_candidates("Cu"):
        assert s.composition.elements[0].symbol == "Cu"
        assert min(n.nn_distance for n in s.get_neighbors(s[0], 4.0)) == pytest.approx(nn, 1e-6)
