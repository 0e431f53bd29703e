"""Formation energy, hull arithmetic and the MP hull on recorded entries (no potential)."""

from __future__ import annotations

import pandas as pd
import pytest
from pymatgen.core import Composition, Element, Lattice, Structure

from matforge.errors import MatforgeError
from matforge.oracles.hull import Hull
from matforge.oracles.hull_sources import StructureSetPhases
from matforge.oracles.references import (
    ElementalReferences,
    ReferenceEntry,
    formation_energy_per_atom,
    reference_candidates,
)

REFS = {"Li": -1.9, "O": -4.9, "Na": -1.3, "Cl": -1.8}


def test_formation_energy_per_atom() -> None:
    # Li2O at -4.6 eV/atom: -4.6 - (2/3 * -1.9 + 1/3 * -4.9) = -4.6 + 2.9 = -1.7
    assert formation_energy_per_atom("Li2O", -4.6, REFS) == pytest.approx(-1.7)
    with pytest.raises(MatforgeError, match="Fe"):
        formation_energy_per_atom("FeO", -5.0, REFS)


def _phase_csv(tmp_path, energies: dict[str, float]):
    """A user phase file: one simple cell per formula with its corrected energy per atom."""
    rows = []
    for formula, e in energies.items():
        comp = Composition(formula)
        species = [str(el) for el, n in comp.items() for _ in range(int(n))]
        coords = [[i / len(species), 0.5 * (i % 2), 0.0] for i in range(len(species))]
        s = Structure(Lattice.cubic(2.5 * len(species)), species, coords)
        rows.append({"cif": s.to(fmt="cif"), "corrected_energy_per_atom": e})
    path = tmp_path / "phases.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_e_above_hull_binary(tmp_path) -> None:
    # Hull Li - Li2O (E_f -1.7) - O; LiO at E_f -1.0 lies above the Li2O-O tie line.
    path = _phase_csv(tmp_path, {"Li": -1.9, "O2": -4.9, "Li2O": -4.6})
    hull = Hull(StructureSetPhases(str(path)))
    li2o = hull.assess("Li2O", -4.6)
    assert li2o.e_above_hull == pytest.approx(0.0, abs=1e-9)
    assert li2o.formation_energy_per_atom == pytest.approx(-1.7)
    assert li2o.n_competing_phases == 3 and li2o.hull_source.endswith("(user phases)")
    # tie line at x_O = 1/2 between Li2O (x=1/3, -1.7) and O (x=1, 0): -1.7 * (1/2)/(2/3)
    e_f_line = -1.7 * 0.75
    e_lio = -1.0 + 0.5 * -1.9 + 0.5 * -4.9
    lio = hull.assess("LiO", e_lio)
    assert lio.e_above_hull == pytest.approx(-1.0 - e_f_line, abs=1e-6)
    assert lio.decomposition == "0.750 Li2O + 0.250 O2"
    assert hull.assess("Li2O", -4.7).e_above_hull == pytest.approx(-0.1, abs=1e-6)  # below
    assert hull.assess("Li2O", -4.6, leave_out="Li2O").e_above_hull < -1.0  # Li2O left out


def test_hull_names_a_missing_element(tmp_path) -> None:
    hull = Hull(StructureSetPhases(str(_phase_csv(tmp_path, {"Li": -1.9, "Li2O": -4.6}))))
    with pytest.raises(MatforgeError, match="element.*O"):
        hull.assess("Li2O", -4.6)


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


def _mp_recorded_response() -> list[dict]:
    """Entries in the shape mp-api's get_entries_in_chemsys returns: ComputedStructureEntry
    dicts with MP2020 energy adjustments applied (made here by pymatgen's own scheme)."""
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    li = Structure(Lattice.cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    o2 = Structure(Lattice.cubic(8.0), ["O", "O"], [[0, 0, 0], [0.15, 0, 0]])
    li2o = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.6), ["O", "Li"],
                                     [[0, 0, 0], [0.25, 0.25, 0.25]])
    raw = [(li, -1.909, "mp-135"), (o2, -4.948, "mp-12957"), (li2o, -4.762, "mp-1960"),
           (li2o, -4.700, "mp-high")]  # a higher polymorph: not the phase
    compat = MaterialsProject2020Compatibility(check_potcar=False)
    out = []
    for s, e, mpid in raw:
        entry = ComputedStructureEntry(s, e * len(s), parameters={"run_type": "GGA"},
                                       entry_id=mpid)
        out.append(compat.process_entry(entry).as_dict())
    return out


def test_materials_project_hull_on_a_recorded_response() -> None:
    from matforge.oracles.hull_sources import MaterialsProjectPhases, entries_to_phases

    recorded = _mp_recorded_response()
    phases = {p.formula: p for p in entries_to_phases(recorded)}
    assert set(phases) == {"Li", "O2", "Li2O"}
    assert phases["Li2O"].source == "mp mp-1960"  # the lowest polymorph
    # MP's oxide correction lowers Li2O: corrected below the uncorrected energy
    assert phases["Li2O"].corrected_energy_per_atom < phases["Li2O"].energy_per_atom - 0.1
    asked = []
    hull = Hull(MaterialsProjectPhases(fetch=lambda els: asked.append(els) or recorded))
    on_hull = hull.assess("Li2O", phases["Li2O"].corrected_energy_per_atom)
    assert on_hull.e_above_hull == pytest.approx(0.0, abs=1e-9)
    above = hull.assess("Li2O", phases["Li2O"].corrected_energy_per_atom + 0.05)
    assert above.e_above_hull == pytest.approx(0.05, abs=1e-9)
    assert above.decomposition == "1.000 Li2O" and above.hull_source.startswith("mp ")
    assert asked == [["Li", "O"]]  # one query per chemical system


def test_mp_hull_without_a_key_is_one_clear_error(monkeypatch) -> None:
    from matforge.oracles.hull_sources import fetch_mp_entries

    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(MatforgeError, match="MP_API_KEY"):
        fetch_mp_entries(["Li", "O"])
