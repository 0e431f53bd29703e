"""Oracles in sequence, and a fitted property model used as a cheap oracle.

A campaign often wants a cheap judgement and an expensive one: the default campaign asks a
surrogate trained on measured data for the property and CHGNet for stability. `ChainOracle`
runs its stages in order; a candidate a stage fails goes no further, and the values of all
stages are merged into one Result. `SurrogateOracle` reports a saved surrogate's prediction
as `pred_<target>` and `pred_<target>_std`, named so no reader mistakes it for a measurement.
"""

from __future__ import annotations

import time
from pathlib import Path

from matforge.candidate import Candidate
from matforge.oracles.base import OK, Oracle, Result


class SurrogateOracle(Oracle):
    """Mean and calibrated std of a saved surrogate (`matforge train surrogate` output)."""

    def __init__(self, model_dir: str | Path) -> None:
        from matforge.surrogates.base import load_surrogate

        self.model = load_surrogate(model_dir)
        self.target = str(getattr(self.model, "target", "target"))
        self.name = f"surrogate {Path(model_dir).name}"

    def evaluate(self, candidates: list[Candidate]) -> list[Result]:
        if not candidates:
            return []
        start = time.perf_counter()
        mean, std = self.model.predict([c.composition for c in candidates])
        per = (time.perf_counter() - start) / len(candidates)
        key = f"pred_{self.target}"
        return [Result(c, OK, {key: float(m), f"{key}_std": float(s)}, "", per)
                for c, m, s in zip(candidates, mean, std)]


class ChainOracle(Oracle):
    """Each stage scores the candidates the previous stages passed; values are merged."""

    def __init__(self, stages: list[Oracle]) -> None:
        self.stages = stages
        self.name = " + ".join(s.name for s in stages)

    def evaluate(self, candidates: list[Candidate]) -> list[Result]:
        values: list[dict[str, float]] = [{} for _ in candidates]
        seconds = [0.0] * len(candidates)
        failed: dict[int, Result] = {}
        for stage in self.stages:
            alive = [i for i in range(len(candidates)) if i not in failed]
            if not alive:
                break
            for i, res in zip(alive, stage.evaluate([candidates[i] for i in alive])):
                seconds[i] += res.seconds
                if res.ok:
                    values[i].update(res.values)
                else:
                    failed[i] = Result.failed(candidates[i], f"{stage.name}: {res.reason}",
                                              seconds[i])
        return [failed.get(i) or Result(c, OK, values[i], "", seconds[i])
                for i, c in enumerate(candidates)]
