"""The oracle contract: one Result per candidate, failures isolated, values copied to scores."""

from __future__ import annotations

from matforge.candidate import Candidate
from matforge.oracles.base import FAILED, OK, PerCandidateOracle, Result, apply_results


class _NumAtoms(PerCandidateOracle):
    name = "num-atoms"

    def evaluate_one(self, candidate: Candidate) -> dict[str, float]:
        if "Xe" in candidate.formula:
            raise ValueError("no noble gases\nplease")
        return {"num_atoms": float(candidate.composition.num_atoms)}


def test_one_failure_does_not_crash_the_batch() -> None:
    cands = [Candidate("Fe2O3"), Candidate("XeF2"), Candidate("NaCl")]
    results = _NumAtoms().evaluate(cands)
    assert [r.status for r in results] == [OK, FAILED, OK]
    assert results[0].values == {"num_atoms": 5.0}
    assert results[1].reason == "ValueError: no noble gases please"
    assert results[1].values == {}
    assert all(r.candidate is c for r, c in zip(results, cands))


def test_apply_results_and_rows() -> None:
    cand = Candidate("NaCl")
    res = Result(cand, OK, {"e": -3.5}, seconds=0.1)
    assert res.ok and res.to_row()["e"] == -3.5 and res.to_row()["status"] == "ok"
    apply_results([res, Result.failed(Candidate("Xe"), "boom")], prefix="oracle_")
    assert cand.scores == {"oracle_e": -3.5, "oracle_status": "ok"}
