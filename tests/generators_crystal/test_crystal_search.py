"""The structure search (`csp --model auto`): candidates, search, store, CLI, GA operators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition, Lattice, Structure
from typer.testing import CliRunner

from matforge.cli import app
from matforge.errors import MatforgeError
from matforge.generators.crystal.library import StructureLibrary, build_library
from matforge.generators.crystal.search import (
    DIFFUSION_VOTE,
    TEMPLATE_VOTE,
    Found,
    SearchOptions,
    StructureSearch,
    diffusion_candidates,
    distinct,
    modal_index,
    perovskite_family,
    vote_first,
    with_samples,
)
from matforge.metrics.csp import rms_dist
from matforge.model_dir import resolve_model_dir

SMALL = {"n_templates": 4, "assignments": 1, "n_random": 1, "n_diffusion": 0,
         "budget_relaxations": 3, "steps": 150}


def rocksalt(a: str = "Na", b: str = "Cl", lattice: float = 5.6) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(lattice), [a, b],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()


@pytest.fixture(scope="module")
def aflow_library() -> StructureLibrary:
    """AFLOW prototypes only (the shared sets stay out, so the test is the same anywhere),
    plus one known structure to test the known-structure source."""
    lib = build_library(())
    lib.known["KBr"] = [rocksalt("K", "Br", 6.6)]
    return lib


def test_library_entry_that_does_not_load_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MatforgeError, match="'/no/such/cifs' does not load"):
        build_library(("/no/such/cifs",))
    table = tmp_path / "formulas.csv"
    table.write_text("formula\nNaCl\n")
    with pytest.raises(MatforgeError, match="has no structures"):
        build_library((str(table),))


def test_candidates_come_from_each_source(aflow_library: StructureLibrary) -> None:
    search = StructureSearch(structure_library=aflow_library, **{**SMALL, "n_random": 2})
    cands = search.candidates("KBr")
    kinds = {src.split(" ")[0] for _, src in cands}
    assert {"known", "template", "random"} <= kinds
    for s, _ in cands:
        assert s.composition.reduced_formula == "KBr"
    assert not any(src == "known structure" for _, src in
                   search.candidates("KBr", leave_out_own=True))


def test_given_cell_keeps_the_atom_count(aflow_library: StructureLibrary) -> None:
    search = StructureSearch(structure_library=aflow_library, cell="given",
                             **{**SMALL, "n_random": 2})
    cands = search.candidates("K2Br2")
    assert cands and {len(s) for s, _ in cands} == {4}
    assert {src.split(" ")[0] for _, src in cands} >= {"known", "template", "random"}
    assert search.key("K2Br2") == "K2Br2" and StructureSearch().key("K2Br2") == "KBr"


def test_random_structures_only_where_no_template_fits(aflow_library: StructureLibrary
                                                       ) -> None:
    search = StructureSearch(structure_library=aflow_library, random_only_without_templates=True,
                             **{**SMALL, "n_random": 2})
    assert not any(src.startswith("random") for _, src in search.candidates("KBr"))
    odd = search.candidates("Au3F8")  # no AFLOW prototype has this anonymized formula
    assert odd and all(src.startswith("random") for _, src in odd)


def test_fractional_composition_is_a_reason_not_an_error(aflow_library: StructureLibrary
                                                         ) -> None:
    search = StructureSearch(structure_library=aflow_library, **SMALL)
    res = search.search_chunk(["La1Se1.9"])[0]
    assert not res.found and "fractional amounts" in res.reason


def test_template_types_are_distinct(aflow_library: StructureLibrary) -> None:
    subs = aflow_library.templates.substitutions("NaCl", n=6, assignments=1)
    assert len(subs) == 6
    keys = set()
    for s in subs:
        sga_key = (s.get_space_group_info(symprec=0.1)[1], len(s))
        keys.add(sga_key)
    assert len(keys) >= 4  # six structure types, at most a couple sharing a group and size
    assert aflow_library.templates.substitutions("NaCl", n=0) == []  # templates switched off


def test_search_finds_rocksalt_for_nacl_lowest_first(aflow_library: StructureLibrary) -> None:
    search = StructureSearch(structure_library=aflow_library, progress=False, **SMALL)
    result = search.search(["NaCl"])["NaCl"]
    assert result.found, result.reason
    energies = [f.energy_per_atom for f in result.found]
    assert energies == sorted(energies)
    assert result.relaxations <= SMALL["budget_relaxations"]
    assert rms_dist(result.found[0].structure, rocksalt()) is not None
    top = search.propose("Na2Cl2", k=2)
    assert top[0].properties["source"].startswith(("template", "random"))
    assert np.isfinite(top[0].properties["energy_per_atom"])
    assert top[0].properties["potential"].startswith("chgnet-0.3.0")


def cesium_chloride(a: str = "Na", b: str = "Cl") -> Structure:
    return Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.4), [a, b],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def zinc_blende() -> Structure:
    return Structure.from_spacegroup("F-43m", Lattice.cubic(6.0), ["Na", "Cl"],
                                     [[0, 0, 0], [0.25, 0.25, 0.25]])


def test_vote_goes_first_only_within_its_window() -> None:
    low = Found(rocksalt(), -3.40, "template NaCl (aflow)", True)
    vote = Found(cesium_chloride(), -3.37, f"{TEMPLATE_VOTE} CsCl (aflow)", True)
    twin = Found(cesium_chloride(), -3.36, "random (pyxtal)", True)  # the vote's structure
    found = distinct([low, vote, twin])
    assert [f.source for f in found] == [low.source, vote.source]
    assert vote_first(found, [low, vote, twin], 0.0) == found  # off: lowest energy first
    assert vote_first(found, [low, vote, twin], 0.02) == found  # 0.03 eV/atom above: outside
    ahead = vote_first(found, [low, vote, twin], 0.05)
    assert [f.source for f in ahead] == [vote.source, low.source]  # no second CsCl


def test_a_vote_as_proposed_goes_first_unrelaxed_and_is_stored_with_its_start() -> None:
    low = Found(rocksalt(), -3.40, "template NaCl (aflow)", True)
    proposed = Found(cesium_chloride(), -3.10, f"{TEMPLATE_VOTE} CsCl (aflow), as proposed",
                     False)
    vote = Found(rocksalt(lattice=5.5), -3.39, f"{TEMPLATE_VOTE} CsCl (aflow)", True,
                 start=proposed)  # a CsCl start that relaxed into rock salt
    relaxed = [low, vote]
    assert vote_first(distinct(relaxed), relaxed, 0.05)[0] is vote
    first = vote_first(distinct(relaxed), relaxed, 0.05, as_proposed=True)
    assert [f.source for f in first] == [proposed.source, low.source]
    # the window still reads the relaxed vote: 0.01 eV/atom above the lowest, not 0.30
    assert vote_first(distinct(relaxed), relaxed, 0.005, as_proposed=True)[0] is low
    again = Found.from_dict(vote.to_dict())
    assert again.start.source == proposed.source and again.start.energy_per_atom == -3.10
    assert Found.from_dict(low.to_dict()).start is None


def test_a_search_keeps_each_vote_start_with_its_single_point_energy(
        aflow_library: StructureLibrary) -> None:
    search = StructureSearch(structure_library=aflow_library, progress=False, vote_window=0.5,
                             vote_as_proposed=True, **SMALL)
    relaxed = search.relax_candidates({"NaCl": search.candidates("NaCl")})["NaCl"]
    votes = [f for f in relaxed if f.source.startswith(TEMPLATE_VOTE)]
    assert len(votes) == 1 and all(f.start is None for f in relaxed if f not in votes)
    start = votes[0].start
    assert start.source.endswith(", as proposed") and start.steps == 0
    assert np.isfinite(start.energy_per_atom)
    assert start.energy_per_atom >= votes[0].energy_per_atom - 1e-6  # relaxing lowers it


def three_votes() -> list[Found]:
    """The lowest structure, a template vote and a diffusion vote between them."""
    return [Found(rocksalt(), -3.40, "template NaCl (aflow)", True),
            Found(cesium_chloride(), -3.37, f"{TEMPLATE_VOTE} CsCl (aflow)", True),
            Found(zinc_blende(), -3.39, f"{DIFFUSION_VOTE} (perov-5)", True)]


def test_the_diffusion_vote_goes_before_the_template_vote() -> None:
    relaxed = three_votes()
    low, template, diffusion = relaxed
    first = vote_first(distinct(relaxed), relaxed, 0.05)
    assert [f.source for f in first] == [diffusion.source, low.source, template.source]
    # outside the window the diffusion vote does not hand over to the template vote
    assert vote_first(distinct(relaxed), relaxed, 0.005)[0] is low


def test_the_votes_option_chooses_which_vote_may_go_first() -> None:
    relaxed = three_votes()
    first = vote_first(distinct(relaxed), relaxed, 10.0, kinds=(TEMPLATE_VOTE,))
    assert first[0] is relaxed[1]  # the template vote, though the diffusion vote is lower
    assert SearchOptions(votes=(TEMPLATE_VOTE,)).votes == (TEMPLATE_VOTE,)
    with pytest.raises(ValueError):
        SearchOptions(votes=("lowest",))


def test_diffusion_samples_as_proposed_follow_the_vote() -> None:
    low = Found(rocksalt(), -3.40, "template NaCl (aflow)", True)
    vote = Found(cesium_chloride(), -3.37, f"{TEMPLATE_VOTE} CsCl (aflow)", True)
    sampled = [Found(zinc_blende(), -3.0, "diffusion (carbon-24), as proposed", False),
               Found(rocksalt(lattice=5.0), -2.9, "diffusion (carbon-24), as proposed", False),
               Found(cesium_chloride(), -2.8, "diffusion vote (carbon-24), as proposed", False)]
    # relaxed, the first two fall into rock salt and the third into CsCl; the second lowest
    samples = [Found(rocksalt(), -3.41 + 0.01 * i, s.source.removesuffix(", as proposed"),
                     True, start=s) for i, s in enumerate(sampled)]
    relaxed = [low, vote, *samples]
    ranked = vote_first(distinct(relaxed), relaxed, 10.0, kinds=(TEMPLATE_VOTE,))
    assert ranked[0] is vote
    out = with_samples(ranked, relaxed)
    # the vote, then the unrelaxed samples in order of their relaxed enthalpy (the third is
    # the vote's structure, so it is left out), then the relaxed structures that match
    # none of them (rock salt matches the second sample: none)
    assert out == [vote, sampled[0], sampled[1]]
    # where no vote leads, the samples come first
    assert with_samples(distinct(relaxed), relaxed)[0] is sampled[0]
    assert with_samples([low], [low]) == [low]  # no samples: unchanged


def test_votes_and_samples_as_proposed_keep_their_start_and_skip_the_screen() -> None:
    sample, vote = "diffusion (carbon-24)", f"{DIFFUSION_VOTE} (carbon-24)"
    template = f"{TEMPLATE_VOTE} C (aflow)"
    plain = StructureSearch(progress=False)
    assert [plain._start_kept(s) for s in (sample, vote, template)] == [False, True, True]
    assert not any(plain._always_relaxed(s) for s in (sample, vote, template))
    both = StructureSearch(progress=False, vote_window=0.5, samples_as_proposed=True)
    assert all(both._start_kept(s) and both._always_relaxed(s) for s in (sample, vote, template))
    assert not both._start_kept("template C (aflow)")


def test_modal_index_is_the_structure_most_samples_share() -> None:
    salt, salt_again, cscl = rocksalt(), rocksalt(lattice=5.7), cesium_chloride()
    assert modal_index([cscl, salt, salt_again]) == 1
    assert modal_index([cscl, rocksalt("K", "Br")]) == 0  # no agreement: the first sample


def test_the_perovskite_family_is_every_kind_of_perov5_cell() -> None:
    for formula in ("SrTiO3", "Sr2Ti2O6", "LaTiO2N", "LaSnNOF", "Zn2O3", "Ba2SO2"):
        assert perovskite_family(Composition(formula)), formula
    for formula in ("KCaBr3", "PdF4", "Li2PdO2", "NaCl", "SrTiO2"):
        assert not perovskite_family(Composition(formula)), formula


def test_a_diffusion_model_is_given_per_family_from_the_command_line() -> None:
    from matforge.commands.crystal import search_settings

    settings = search_settings(["diffusion_models={perov-5: models/half}"])
    assert SearchOptions(**settings).diffusion_models == {"perov-5": "models/half"}
    with pytest.raises(ValueError, match="unknown family perov5; use perov-5, carbon-24"):
        SearchOptions(diffusion_models={"perov5": "models/half"})


def test_diffusion_candidates_mark_one_vote_and_take_a_given_model() -> None:
    shipped = str(resolve_model_dir("perov-5"))
    for models in (None, {"perov-5": shipped}):
        cands = diffusion_candidates("Sr1Ti1O3", 4, seed=0, models=models)
        sources = [src for _, src in cands]
        assert len(sources) == 4
        assert sources.count(f"{DIFFUSION_VOTE} (perov-5)") == 1
        assert sources.count("diffusion (perov-5)") == 3
    assert diffusion_candidates("NaCl", 4, seed=0) == []  # fits no family


def test_search_relaxes_the_vote_whatever_its_screening_energy(
        aflow_library: StructureLibrary) -> None:
    plain = StructureSearch(structure_library=aflow_library, progress=False,
                            **{**SMALL, "budget_relaxations": 1})
    assert not any(src.startswith(TEMPLATE_VOTE) for _, src in plain.candidates("NaCl"))
    search = StructureSearch(structure_library=aflow_library, progress=False, vote_window=10.0,
                             **{**SMALL, "budget_relaxations": 1})
    assert sum(src.startswith(TEMPLATE_VOTE) for _, src in search.candidates("NaCl")) == 1
    result = search.search_chunk(["NaCl"])[0]
    assert result.found[0].source.startswith(TEMPLATE_VOTE)
    assert result.relaxations in (1, 2)  # the budget's one, plus the vote unless it was that one


def test_search_under_pressure_ranks_by_enthalpy(aflow_library: StructureLibrary) -> None:
    search = StructureSearch(structure_library=aflow_library, progress=False, pressure=10.0,
                             **SMALL)
    found = search.search_chunk(["NaCl"])[0].found
    assert found
    enthalpies = [f.enthalpy_per_atom for f in found]
    assert enthalpies == sorted(enthalpies)
    assert all(f.enthalpy_per_atom > f.energy_per_atom for f in found)  # + PV, P > 0
    top = search.propose("NaCl")[0].properties
    assert top["pressure_gpa"] == 10.0 and top["enthalpy_per_atom"] > top["energy_per_atom"]


def test_store_resumes_without_relaxing_again(aflow_library: StructureLibrary, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "search.sqlite"
    first = StructureSearch(structure_library=aflow_library, store=store, progress=False, **SMALL)
    before = first.search(["KCl"])["KCl"]

    def no_relaxing(*args, **kwargs):
        raise AssertionError("a stored composition must not be searched again")

    monkeypatch.setattr("matforge.oracles.relax.relax_structures", no_relaxing)
    again = StructureSearch(structure_library=aflow_library, store=store, progress=False, **SMALL)
    after = again.search(["KCl"])["KCl"]
    assert [f.energy_per_atom for f in after.found] == \
        pytest.approx([f.energy_per_atom for f in before.found])
    other = StructureSearch(structure_library=aflow_library, store=store, progress=False,
                            **{**SMALL, "budget_relaxations": 2})
    with pytest.raises(AssertionError, match="must not be searched"):
        other.search(["KCl"])  # another recipe is another key


def test_unknown_option_names_the_nearest() -> None:
    from matforge import registry

    with pytest.raises(MatforgeError, match="did you mean 'n_random'"):
        registry.get("csp", "auto").validate({"n_randm": 3})
    with pytest.raises(Exception, match="budget_relaxations"):
        SearchOptions(budget_relaxations=0)


def test_nothing_fits_gives_a_reason(aflow_library: StructureLibrary) -> None:
    search = StructureSearch(structure_library=aflow_library, progress=False,
                             **{**SMALL, "n_random": 0, "max_atoms": 2})
    with pytest.raises(MatforgeError, match="no known structure, template or random"):
        search.propose("Li3PO4")


def test_ga_children_keep_the_composition() -> None:
    from matforge.generators.crystal.evolution import cut_and_splice, offspring

    a = rocksalt().make_supercell([2, 1, 1], in_place=False)
    b = a.copy()
    b.perturb(0.2)
    kids = offspring([a, b], n=12, seed=3)
    assert kids
    for child, op in kids:
        assert op in {"strain", "swap", "crossover"}
        assert child.composition == a.composition
    rng = np.random.default_rng(0)
    made = [cut_and_splice(a, b, rng) for _ in range(20)]
    assert all(c is None or c.composition == a.composition for c in made)


def test_csp_auto_command(tmp_path: Path) -> None:
    inp = tmp_path / "in.csv"
    pd.DataFrame({"material_id": ["a", "b"], "formula": ["NaCl", "Xx2O"]}).to_csv(inp,
                                                                              index=False)
    out = tmp_path / "out.csv"
    args = ["csp", "--model", "auto", "--input", str(inp), "--out", str(out),
            "--n-samples", "2", "--budget-relaxations", "2", "--option", "n_templates=3",
            "--option", "n_random=0", "--option", "n_diffusion=0",
            "--option", "library=[]", "--store", str(tmp_path / "s.sqlite")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "skipped b" in res.output  # the unreadable row is reported, the rest goes on
    frame = pd.read_csv(out)
    assert set(frame["material_id"]) == {"a"}
    assert {"energy_per_atom", "source", "potential"} <= set(frame.columns)
    assert frame["energy_per_atom"].is_monotonic_increasing
    s = Structure.from_str(frame["cif"][0], fmt="cif")
    assert s.composition.reduced_formula == Composition("NaCl").reduced_formula
    bad = CliRunner().invoke(app, args + ["--option", "n_templtes=3"])
    assert isinstance(bad.exception, MatforgeError)  # `matforge` prints it and exits 2
    assert "unknown option 'n_templtes' (did you mean 'n_templates'?)" in str(bad.exception)


@pytest.mark.slow
def test_ray_executor_gives_the_serial_result() -> None:
    pytest.importorskip("ray")
    import ray

    settings = {**SMALL, "n_random": 0, "library": ()}
    serial = StructureSearch(progress=False, **settings).search(["NaCl", "KCl"], chunk=1)
    try:
        spread = StructureSearch(progress=False, executor="ray", **settings).search(
            ["NaCl", "KCl"], chunk=1)
    finally:
        ray.shutdown()
    for f in ("NaCl", "KCl"):
        assert [x.source for x in spread[f].found] == [x.source for x in serial[f].found]
        assert [x.energy_per_atom for x in spread[f].found] == \
            pytest.approx([x.energy_per_atom for x in serial[f].found], abs=1e-4)


def test_fit_adds_user_structures_as_templates_and_known(aflow_library: StructureLibrary
                                                         ) -> None:
    search = StructureSearch(structure_library=aflow_library, **SMALL)
    search.fit(pd.DataFrame({"cif": [rocksalt("Rb", "I", 7.3).to(fmt="cif")]}))
    assert search.library.sources[-1] == "user"
    assert len(search.library.templates.templates) == \
        len(aflow_library.templates.templates) + 1
    assert search.library.structures_of("RbI")
    assert not aflow_library.structures_of("RbI")  # the shared library is left as it was
    assert ("known structure" in {src for _, src in search.candidates("RbI")})
