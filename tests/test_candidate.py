from pymatgen.core import Lattice, Structure

from matforge.candidate import Candidate, read_candidates, write_candidates


def test_candidate_round_trips_through_csv(tmp_path):
    s = Structure(Lattice.cubic(4.0), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cands = [Candidate.from_structure(s, provenance={"generator": "test", "seed": 1},
                                      scores={"energy": -3.5}),
             Candidate("Fe2O3", scores={"energy": float("nan")})]
    path = write_candidates(cands, tmp_path / "c.csv")
    back = read_candidates(path)
    assert back[0].formula == "CsCl" and back[0].structure is not None
    assert back[0].provenance == {"generator": "test", "seed": 1}
    assert back[0].scores["energy"] == -3.5
    assert back[1].formula == "Fe2O3" and back[1].structure is None and "energy" not in back[1].scores


def test_ase_atoms_are_converted_at_the_edge():
    from ase.build import bulk

    cand = Candidate.from_structure(bulk("Cu", "fcc", a=3.6))
    assert cand.formula == "Cu" and len(cand.structure) == 1
