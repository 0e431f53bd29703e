"""Generate, filter, rank: candidates from the pool or a generator, ranked by an ensemble
surrogate trained on the evaluations so far (mean + kappa * std of the utility)."""

from __future__ import annotations

import numpy as np

from matforge.design.strategies._models import ensemble_samples
from matforge.design.strategies.base import (
    Context,
    Selection,
    Strategy,
    candidates_from,
    random_pick,
)


class GenerateRank(Strategy):
    name = "generate_rank"

    def propose(self, ctx: Context) -> Selection:
        o = self.options
        cands, verdicts = candidates_from(ctx, max(ctx.generate_per_step, ctx.batch_size))
        formulas, Y, U = ctx.history_arrays()
        if len(formulas) < 10 or not cands:
            idx = random_pick(ctx, cands, ctx.batch_size)
            return Selection([cands[i] for i in idx], verdicts=verdicts,
                             info={"note": "too little data: random"})
        names = [c.formula for c in cands]
        S = ensemble_samples(formulas, Y, names, seed=ctx.seed * 1000 + ctx.step,
                             members=int(o.get("members", 8)), max_iter=int(o.get("max_iter", 100)),
                             kind=str(o.get("surrogate", "forest")))
        Us = np.stack([obj.utility(S[..., j]) for j, obj in enumerate(ctx.objectives)], -1)
        mu, sd = Us.mean(axis=0), Us.std(axis=0)
        lo, hi = U.min(axis=0), U.max(axis=0)
        scale = np.where(hi - lo > 1e-12, hi - lo, 1.0)
        score = ((mu + float(o.get("kappa", 0.5)) * sd - lo) / scale).mean(axis=1)
        order = np.argsort(-score)[: ctx.batch_size]
        raw_mean, raw_std = S.mean(axis=0), S.std(axis=0)
        scored = [{"formula": names[i], "mean": raw_mean[i].tolist(), "std": raw_std[i].tolist(),
                   "acquisition": float(score[i])}
                  for i in np.argsort(-score)[ctx.batch_size: ctx.batch_size * 5]]
        return Selection([cands[i] for i in order], mean=raw_mean[order], std=raw_std[order],
                         acquisition=score[order], scored=scored, verdicts=verdicts)
