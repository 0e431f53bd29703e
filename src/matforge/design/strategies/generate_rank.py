"""Generate, filter, rank: candidates from the pool or a generator, ranked by an ensemble
surrogate trained on the evaluations so far (mean + kappa * std of the utility)."""

from __future__ import annotations

import numpy as np

from matforge.design.strategies._reward import surrogate_reward
from matforge.design.strategies.base import (
    Context,
    Selection,
    Strategy,
    StrategyOptions,
    candidates_from,
    random_selection,
)


class GenerateRankOptions(StrategyOptions):
    kappa: float = 0.5  # UCB weight of the utility's std
    surrogate: str = "forest"  # forest|ensemble
    members: int = 8
    max_iter: int = 100


class GenerateRank(Strategy):
    name = "generate_rank"
    fits_surrogates = True

    def propose(self, ctx: Context) -> Selection:
        o = self.options
        cands, verdicts = candidates_from(ctx, max(ctx.generate_per_step, ctx.batch_size))
        formulas, _, _ = ctx.history_arrays()
        if len(formulas) < 10 or not cands:
            return random_selection(ctx, cands, verdicts, "too little data: random")
        names = [c.formula for c in cands]
        score, raw_mean, raw_std = surrogate_reward(
            ctx, names, o.kappa, o.surrogate, members=o.members, max_iter=o.max_iter)
        order = np.argsort(-score)[: ctx.batch_size]
        scored = [{"formula": names[i], "mean": raw_mean[i].tolist(), "std": raw_std[i].tolist(),
                   "acquisition": float(score[i])}
                  for i in np.argsort(-score)[ctx.batch_size: ctx.batch_size * 5]]
        return Selection([cands[i] for i in order], mean=raw_mean[order], std=raw_std[order],
                         acquisition=score[order], scored=scored, verdicts=verdicts)
