"""The synthesizability model as an oracle, so a campaign can rank by it or chain it in as a
second objective (`synthesizability:max`); it costs well under a millisecond per candidate."""

from __future__ import annotations

import time

from matforge.candidate import Candidate
from matforge.oracles.base import OK, Oracle, Result


class SynthesizabilityOracle(Oracle):
    """`synthesizability` in [0, 1] per candidate, from the shipped model or a model dir."""

    def __init__(self, model: str | None = None) -> None:
        from matforge.synthesizability import DEFAULT_MODEL, load_synthesizability_model

        self.model = load_synthesizability_model(model or DEFAULT_MODEL)
        self.name = f"synthesizability {model or DEFAULT_MODEL}"

    def evaluate(self, candidates: list[Candidate]) -> list[Result]:
        if not candidates:
            return []
        start = time.perf_counter()
        scores = self.model.score([c.composition for c in candidates])
        per = (time.perf_counter() - start) / len(candidates)
        return [Result(c, OK, {"synthesizability": float(s)}, "", per)
                for c, s in zip(candidates, scores)]
