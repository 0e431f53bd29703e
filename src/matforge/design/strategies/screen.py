"""Screen: rank the candidates by a surrogate trained beforehand on measured data.

When the property cannot be measured inside the loop (the default campaign's power factor),
the best use of a calibrated model trained on the data set is to screen: the upper confidence
bound mean + kappa * std of the objective's predicted utility, the highest first, at most
`max_per_chemsys` picks per chemical system over the whole campaign, so the batch spreads
over chemistries instead of repeating one (and the oracle builds fewer hulls per pick).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import Field

from matforge.design.strategies.base import (
    Context,
    Selection,
    Strategy,
    StrategyOptions,
    candidates_from,
)
from matforge.errors import MatforgeError


class ScreenOptions(StrategyOptions):
    surrogate: str = Field(..., description="saved surrogate model directory")
    kappa: float = Field(1.0, description="UCB exploration weight, in calibrated std units")
    max_per_chemsys: int = Field(1, ge=1)


class Screen(Strategy):
    name = "screen"

    def __init__(self, options: ScreenOptions | None = None):
        super().__init__(options)
        self._model = None
        self._predicted: dict[str, tuple[float, float]] = {}

    def _predict(self, formulas: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Predictions are a pure function of the formula: computed once per campaign."""
        new = [f for f in formulas if f not in self._predicted]
        if new:
            if self._model is None:
                from matforge.surrogates.base import load_surrogate

                self._model = load_surrogate(self.options.surrogate)
            mean, std = self._model.predict(new)
            self._predicted.update(zip(new, zip(mean.tolist(), std.tolist())))
        pairs = np.array([self._predicted[f] for f in formulas]).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def propose(self, ctx: Context) -> Selection:
        from matforge.data.known import chemical_system

        if len(ctx.objectives) != 1:
            raise MatforgeError("strategy screen ranks one objective")
        cands, verdicts = candidates_from(ctx, max(ctx.generate_per_step, ctx.batch_size))
        if not cands:
            return Selection([], verdicts=verdicts)
        names = [c.formula for c in cands]
        mean, std = self._predict(names)
        goal = ctx.objectives[0]
        utility = goal.utility(mean)
        score = utility + self.options.kappa * std
        used = Counter(chemical_system(f) for f in ctx.evaluated)
        chosen: list[int] = []
        for i in np.argsort(-score, kind="stable"):
            system = chemical_system(names[i])
            if used[system] >= self.options.max_per_chemsys:
                continue
            used[system] += 1
            chosen.append(int(i))
            if len(chosen) == ctx.batch_size:
                break
        return Selection([cands[i] for i in chosen], mean=mean[chosen, None],
                         std=std[chosen, None], acquisition=score[chosen], verdicts=verdicts,
                         info={"note": f"UCB, kappa {self.options.kappa}"})
