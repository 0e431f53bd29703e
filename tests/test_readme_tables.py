"""README.md's benchmark tables are generated from benchmarks/results/*.json and must not drift.

Reads only the committed result files (no data sets, no models): fails when README.md's block
between the results markers differs from what benchmarks/readme_table.py renders now, or when a
result JSON is shown by no row family. Fix with `python benchmarks/readme_table.py`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _renderer():
    spec = importlib.util.spec_from_file_location("readme_table",
                                                  ROOT / "benchmarks" / "readme_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_readme_block_matches_the_result_files():
    mod = _renderer()
    text = (ROOT / "README.md").read_text()
    assert text.count("<!-- results:start") == 1 and text.count(mod.END) == 1
    block = text[text.index("<!-- results:start"):text.index(mod.END) + len(mod.END)]
    assert block == mod.render(), (
        "README.md's results tables differ from benchmarks/results/*.json: "
        "run `python benchmarks/readme_table.py`")


def test_every_result_file_has_a_row_family():
    mod = _renderer()
    results = mod.Results()
    mod.render(results)
    unused = sorted(set(results.names) - results.used)
    assert not unused, (f"no README row family reads {unused}: add one function and one Section "
                        "line in benchmarks/readme_table.py (see its docstring)")


def test_tables_are_well_formed(tmp_path):
    mod = _renderer()
    block = mod.render()
    for line in block.splitlines():
        if line.startswith("|"):
            assert line.endswith("|")
    # A family whose files are absent renders nothing rather than failing.
    assert mod.render(mod.Results(tmp_path)) == f"{mod.START}\n\n{mod.END}"


def test_paired_comparison_counts_only_the_cells_one_method_matched():
    mod = _renderer()
    results = {"a": {"matched_first": [1, 1, 0, 0, 1]}, "b": {"matched_first": [1, 0, 0, 1, 0]},
               "no cells": {}}
    (row,) = mod.paired_at_one(results)
    assert (row["a"], row["b"], row["cells"], row["only_a"], row["only_b"]) == ("a", "b", 5, 2, 1)
    assert row["p"] == 1.0  # 2 against 1 is what a fair coin gives half the time or more
    (row,) = mod.paired_at_one({"a": {"matched_first": [1] * 6}, "b": {"matched_first": [0] * 6}})
    assert row["p"] == 2 / 64  # six of six one way: both tails of a fair coin


def test_vote_rules_take_the_first_vote_a_search_has_within_the_window():
    _renderer()  # puts benchmarks/ on the path
    vote = sys.modules.get("csp_vote") or __import__("csp_vote")
    rows = [{"lowest_match": False, "votes": {"template vote": {"match": True, "gap": 0.03},
                                              "diffusion vote": {"match": False, "gap": 0.0}}},
            {"lowest_match": True, "votes": {"template vote": {"match": False, "gap": 0.2}}}]
    template = vote.match_by_window(rows, ("template vote",))
    assert (template["0.0"], template["0.02"], template["0.05"], template["0.5"]) == (
        0.5, 0.5, 1.0, 0.5)
    either = vote.match_by_window(rows, ("diffusion vote", "template vote"))
    assert (either["0.0"], either["0.05"], either["0.5"]) == (0.5, 0.5, 0.0)
    res = {"match_at_one": template, "match_at_one_by_vote": {"either": either}}
    assert vote.choose(res) == ("template vote", 0.05)
    rows[0]["votes"]["template vote"]["match_as_proposed"] = False
    rows[1]["votes"]["template vote"]["match_as_proposed"] = True
    proposed = vote.match_by_window(rows, ("template vote",), as_proposed=True)
    # unrelaxed, the first cell's vote misses; the second's hits once inside the window
    assert (proposed["0.0"], proposed["0.05"], proposed["0.5"]) == (0.5, 0.5, 0.5)
    assert (template["0.05"], template["0.5"]) == (1.0, 0.5)
    tie = {"match_at_one": template, "match_at_one_by_vote": {
        "template vote, as proposed": template}}
    assert vote.choose(tie) == ("template vote", 0.05)  # on a tie the relaxed vote


def test_rankings_score_match_at_one_and_best_of_five_over_the_targets_that_have_them():
    _renderer()  # puts benchmarks/ on the path
    vote = sys.modules.get("csp_vote") or __import__("csp_vote")
    rows = [{"first_match": {"lowest enthalpy": 1, "template vote": 3}},
            {"first_match": {"lowest enthalpy": None, "template vote": 1}},
            {"first_match": {"lowest enthalpy": 5}}]  # no template vote for this target
    rates = vote.top_k_rates(rows)
    assert rates["lowest enthalpy"] == {"n": 3, "at_1": 1 / 3, "best_of_5": 2 / 3}
    assert rates["template vote"] == {"n": 2, "at_1": 0.5, "best_of_5": 1.0}
    table = vote.rankings_table({"carbon-24": {"rankings": rates}})
    assert "| carbon-24 | template vote | always the vote | 2 | 50.0 | 100.0 |" in table
    table = vote.rankings_table({"perov-5": {"rankings": rates, "rank_window": 0.5}})
    assert "| perov-5 | lowest enthalpy | 0.5 | 3 | 33.3 | 66.7 |" in table
    assert vote.rankings_table({"perov-5": {}}) == []  # older results hold none


def test_first_matches_places_the_target_in_each_ranking():
    from pymatgen.core import Lattice, Structure

    from matforge.generators.crystal.search import TEMPLATE_VOTE, Found

    _renderer()
    vote = sys.modules.get("csp_vote") or __import__("csp_vote")
    cscl = Structure(Lattice.cubic(3.4), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    salt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(6.8), ["Cs", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()
    proposed = Found(salt, -2.0, f"{TEMPLATE_VOTE} NaCl (aflow), as proposed", False)
    relaxed = [Found(salt.copy(), -3.4, "template NaCl (aflow)", True),
               Found(cscl, -3.3, f"{TEMPLATE_VOTE} NaCl (aflow)", True, start=proposed)]
    places = vote.first_matches(relaxed, cscl, window=10.0)
    # lowest first: rock salt, then CsCl; the vote first: CsCl; as proposed: rock salt, and
    # the relaxed rock salt is its duplicate, so CsCl comes second
    assert places == {"lowest enthalpy": 2, "template vote": 1,
                      "template vote, as proposed": 2}
    # the vote is 0.1 eV/atom above the lowest: a window of 0.05 leaves the lowest first
    assert vote.first_matches(relaxed, cscl, window=0.05) == {
        "lowest enthalpy": 2, "template vote": 2, "template vote, as proposed": 2}


def test_a_search_label_names_every_setting_that_changes_its_answers():
    _renderer()  # puts benchmarks/ on the path
    common = sys.modules.get("common") or __import__("common")
    assert common.search_label("auto", {}) == "auto"
    assert common.search_label("auto", {"vote_window": 0.5, "vote_as_proposed": True,
                                        "keep_symmetry": True}) == (
        "auto (diffusion vote, else template vote as proposed within 0.5 eV/atom, "
        "symmetry kept)")
    assert common.search_label("auto", {"vote_window": 0.2, "pressure": 10,
                                        "n_diffusion": 0}) == (
        "auto (template vote within 0.2 eV/atom, 10 GPa, no diffusion)")
    assert common.search_label("auto", {"vote_window": 10, "votes": ("template vote",),
                                        "samples_as_proposed": True, "pressure": 10}) == (
        "auto (template vote within 10 eV/atom, then the diffusion samples as proposed, "
        "10 GPa)")
