"""The oracle contract: score a batch of candidates, never crash on one bad candidate.

An oracle is the expensive, trusted judge at the end of the design loop (a relaxation with a
universal potential, a lookup table, an external code). Every oracle returns one `Result` per
input candidate, in input order; a candidate that cannot be evaluated yields a failed Result
with a one-line reason so a campaign can record it and move on.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from matforge.candidate import Candidate

OK = "ok"
FAILED = "failed"


@dataclass
class Result:
    """The outcome of evaluating one candidate: status "ok" or "failed", and its values
    (numbers, plus a few labels such as the decomposition of a hull verdict)."""

    candidate: Candidate
    status: str = OK
    values: dict[str, float | str] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == OK

    @classmethod
    def failed(cls, candidate: Candidate, reason: str, seconds: float = 0.0) -> Result:
        return cls(candidate=candidate, status=FAILED, values={}, reason=_one_line(reason),
                   seconds=seconds)

    def to_row(self) -> dict:
        """The candidate's row plus the values, status, reason and time (for CSV / stores)."""
        row = self.candidate.to_row()
        row.update(self.values)
        row.update({"status": self.status, "reason": self.reason, "seconds": self.seconds})
        return row


class Oracle(ABC):
    """Evaluates candidates; subclasses set `name` and implement `evaluate`."""

    name: str = "oracle"

    @abstractmethod
    def evaluate(self, candidates: list[Candidate]) -> list[Result]:
        """One Result per candidate, same order; failures are Results, not exceptions."""

    def __call__(self, candidates: list[Candidate]) -> list[Result]:
        return self.evaluate(candidates)


class PerCandidateOracle(Oracle):
    """Convenience base: implement `evaluate_one`; exceptions become failed Results."""

    @abstractmethod
    def evaluate_one(self, candidate: Candidate) -> dict[str, float]:
        """The values for one candidate; raise any exception to mark it failed."""

    def evaluate(self, candidates: list[Candidate]) -> list[Result]:
        results = []
        for cand in candidates:
            start = time.perf_counter()
            try:
                values = self.evaluate_one(cand)
            except Exception as exc:  # noqa: BLE001 - one bad candidate must not end the batch
                results.append(Result.failed(cand, f"{type(exc).__name__}: {exc}",
                                             time.perf_counter() - start))
                continue
            results.append(Result(cand, OK, dict(values), "", time.perf_counter() - start))
        return results


def apply_results(results: list[Result], prefix: str = "") -> list[Candidate]:
    """Copy each ok Result's values into its candidate's scores (prefixed); return candidates."""
    out = []
    for res in results:
        for key, value in res.values.items():
            res.candidate.scores[prefix + key] = value
        res.candidate.scores[prefix + "status"] = res.status
        if res.reason:
            res.candidate.scores[prefix + "reason"] = res.reason
        out.append(res.candidate)
    return out


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text[:300]
