"""Campaign filters a chemist accepts, a strict spec, and the pieces of the default preset:
the screen strategy, the chain oracle and the batch executor."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matforge.candidate import Candidate
from matforge.design.executors import make_executor
from matforge.design.filters import CandidateFilter
from matforge.design.spec import Constraints, spec_from_dict
from matforge.errors import MatforgeError
from matforge.oracles.base import OK, Oracle, Result
from matforge.oracles.chain import ChainOracle


def test_noble_gases_and_radioactive_elements_are_excluded_by_default():
    check = CandidateFilter(Constraints())
    for formula in ("PaC", "TiTcTe", "YU2ReO6", "UAsW", "XeF2", "PmCl3", "Po2Sr"):
        ok, reason = check.check(Candidate(formula))
        assert not ok and reason.startswith("forbidden elements"), formula
    assert check.check(Candidate("NaCl")) == (True, "")
    # naming an element as allowed, or giving the forbidden list, overrides the default
    assert CandidateFilter(Constraints(allowed_elements=["U", "O"])).check(Candidate("UO2"))[0]
    assert CandidateFilter(Constraints(forbidden_elements=[])).check(Candidate("UO2"))[0]


def test_validity_uses_smacts_default_states_and_2014_on_request():
    default = CandidateFilter(Constraints(validity="strict"))
    old = CandidateFilter(Constraints(validity="strict", oxidation_set="smact14"))
    assert not default.check(Candidate("SrEuH3"))[0] and old.check(Candidate("SrEuH3"))[0]
    ok, reason = default.check(Candidate("CuZn"))
    assert not ok and "alloy" in reason


def test_novelty_against_everything_matforge_knows():
    check = CandidateFilter(Constraints(novel_against="known"))
    assert check.check(Candidate("NaCl")) == (False, "not novel")  # in the embedded set
    assert "known compositions" in check.novelty_reference
    assert "mp-transport" in check.novelty_reference


def test_novelty_reaches_beyond_the_embedded_set(use_fixture_data):
    """CeAs is absent from mp-transport but present in the MP and OQMD sets (here their
    few-row fixtures, which hold it, stand in for the data folder)."""
    check = CandidateFilter(Constraints(novel_against="known"))
    assert check.check(Candidate("CeAs")) == (False, "not novel")
    assert "oqmd-bandgap" in check.novelty_reference
    assert not CandidateFilter(Constraints(novel_against="mp-transport")).known & {"CeAs"}


def test_pool_structures_that_make_no_sense_are_rejected():
    collapsed = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.001, 0, 0]])
    ok, reason = CandidateFilter(Constraints()).check(Candidate.from_structure(collapsed))
    assert not ok and reason.startswith("unphysical structure") and "apart" in reason


def test_a_misspelt_key_names_the_nearest_valid_one():
    with pytest.raises(MatforgeError, match=r"unknown key 'budjet' \(did you mean 'budget'\?\)"):
        spec_from_dict({"objectives": ["gap:max"], "budjet": 3})
    with pytest.raises(MatforgeError, match="constraints.max_atom' .*'max_atoms'"):
        spec_from_dict({"objectives": ["gap:max"], "constraints": {"max_atom": 3}})
    with pytest.raises(MatforgeError, match="NAME<=VALUE"):
        spec_from_dict({"objectives": ["gap:max"], "outcome_constraints": ["e_above_hull<0.1"]})
    spec = spec_from_dict({"objectives": ["gap:max"], "outcome_constraints": "e_above_hull<=0.1"})
    met = spec.outcome_constraints[0].met(np.array([0.05, 0.2, np.nan]))
    assert met.tolist() == [True, False, False]


class _Halves(Oracle):
    """Fails every second candidate it sees; the rest get value `tag`."""

    def __init__(self, tag: float):
        self.tag, self.name, self.calls = tag, f"halves{tag}", []

    def evaluate(self, candidates):
        self.calls.append([c.formula for c in candidates])
        return [Result(c, OK, {f"v{self.tag}": self.tag}) if i % 2 == 0 else
                Result.failed(c, "odd one") for i, c in enumerate(candidates)]


def test_chain_oracle_passes_survivors_on_and_batch_executor_calls_once():
    first, second = _Halves(1.0), _Halves(2.0)
    chain = ChainOracle([first, second])
    cands = [Candidate(f) for f in ("NaCl", "KCl", "LiF", "MgO")]
    executor = make_executor("batch", chain)
    results = dict(executor.run([(i, c) for i, c in enumerate(cands)]))
    assert first.calls == [["NaCl", "KCl", "LiF", "MgO"]]  # one call for the whole batch
    assert second.calls == [["NaCl", "LiF"]]  # only what the first stage passed
    assert results[0].ok and results[0].values == {"v1.0": 1.0, "v2.0": 2.0}
    assert results[1].reason == "halves1.0: odd one"
    assert results[2].reason == "halves2.0: odd one"


def test_cli_rejects_a_misspelt_yaml_key_in_one_line(tmp_path):
    import subprocess
    import sys

    spec = tmp_path / "campaign.yaml"
    spec.write_text("objectives: [gap:max]\nbudjet: 3\n")
    proc = subprocess.run([sys.executable, "-m", "matforge.cli", "design", str(spec),
                           "--out", str(tmp_path / "run")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: campaign spec: unknown key 'budjet' "
                                   "(did you mean 'budget'?)")


def test_potential_oracles_batch_unless_the_spec_names_an_executor():
    base = {"objectives": ["e_above_hull:min"], "oracle": {"kind": "chgnet"}}
    assert spec_from_dict(base).executor == "batch"
    assert spec_from_dict({**base, "executor": "serial"}).executor == "serial"
    assert spec_from_dict({"objectives": ["gap:max"]}).executor != "batch"
