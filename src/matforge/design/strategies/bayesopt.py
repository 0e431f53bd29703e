"""Bayesian optimisation over a discrete candidate set (pool or generated): BoTorch qLogEI /
qUCB (one objective) or qLogNEHVI (several) on a GP over PCA-reduced Magpie features, or the
same acquisitions on a tree-ensemble surrogate whose members serve as posterior samples
(greedy qEHVI for two objectives; a random Chebyshev scalarisation per step for more, or with
acquisition=parego)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from matforge.design.acquisition import (
    botorch_select,
    chebyshev,
    greedy_qehvi,
    greedy_qei,
    greedy_qucb,
    random_weights,
)
from matforge.design.strategies._models import PoolEncoder, ensemble_samples, fit_gp, gp_mean_std
from matforge.design.strategies.base import (
    Context,
    Selection,
    Strategy,
    StrategyOptions,
    candidates_from,
    random_selection,
)


class BayesOptOptions(StrategyOptions):
    model: Literal["gp", "ensemble"] = "gp"
    # qei|qucb|qnehvi|parego; None: qei for one objective, qnehvi for several
    acquisition: str | None = None
    beta: float = 2.0  # qUCB exploration weight
    pca: int | None = 16  # GP input dimensions (None: every feature)
    surrogate: str = "forest"  # forest|ensemble, for model=ensemble
    members: int = 8
    max_iter: int = 100


class BayesOpt(Strategy):
    """options: model (gp|ensemble), surrogate (forest|ensemble, for model=ensemble),
    acquisition (qei|qucb|qnehvi|parego), beta, pca (GP input dimensions), members."""

    name = "bayesopt"
    fits_surrogates = True

    def propose(self, ctx: Context) -> Selection:
        o = self.options
        cands, verdicts = candidates_from(ctx, max(ctx.generate_per_step, ctx.batch_size))
        formulas, Y, U = ctx.history_arrays()
        if len(formulas) < 5 or not cands:
            return random_selection(ctx, cands, verdicts)
        names = [c.formula for c in cands]
        acq = (o.acquisition or ("qei" if len(ctx.objectives) == 1 else "qnehvi")).lower()
        if o.model == "ensemble":
            return self._ensemble(ctx, cands, names, formulas, Y, U, acq, verdicts)
        return self._gp(ctx, cands, names, formulas, Y, acq, verdicts)

    def _gp(self, ctx: Context, cands, names, formulas, Y, acq, verdicts) -> Selection:
        import torch

        o = self.options
        pool_f = ctx.features(names)
        hist_f = ctx.features(formulas)
        enc = PoolEncoder(np.vstack([pool_f, hist_f]), n_components=o.pca or None)
        Xp, Xh = enc(pool_f), enc(hist_f)
        allx = np.vstack([Xp, Xh])
        bounds = np.stack([allx.min(axis=0), allx.max(axis=0) + 1e-9])
        gp = fit_gp(Xh, Y, bounds)
        tX = torch.as_tensor(Xp, dtype=torch.double)
        idx, values = botorch_select(gp, tX, ctx.batch_size, ctx.objectives,
                                     torch.as_tensor(Y, dtype=torch.double), acquisition=acq,
                                     beta=o.beta,
                                     seed=ctx.seed * 1000 + ctx.step,
                                     X_baseline=torch.as_tensor(Xh, dtype=torch.double))
        mean, std = gp_mean_std(gp, Xp[idx])
        return Selection([cands[i] for i in idx], mean=mean, std=std, acquisition=values,
                         verdicts=verdicts, info={"model": "gp", "acquisition": acq})

    def _ensemble(self, ctx: Context, cands, names, formulas, Y, U, acq, verdicts) -> Selection:
        o = self.options
        S = ensemble_samples(formulas, Y, names, seed=ctx.seed * 1000 + ctx.step,
                             members=o.members, max_iter=o.max_iter, kind=o.surrogate,
                             pretrained=o.pretrained)
        Us = np.stack([obj.utility(S[..., j]) for j, obj in enumerate(ctx.objectives)], -1)
        if len(ctx.objectives) == 2 and acq in ("qnehvi", "qehvi"):
            acq = "qehvi"
            idx, gains = greedy_qehvi(Us, U, ctx.batch_size)
        else:
            if len(ctx.objectives) == 1:
                samples, best = Us[..., 0], float(U[:, 0].max())
            else:  # one random Chebyshev scalarisation per step (ParEGO-style)
                w = random_weights(ctx.rng, len(ctx.objectives))
                lo, hi = U.min(axis=0), U.max(axis=0)
                samples = chebyshev(Us, w, lo, hi)
                best = float(chebyshev(U, w, lo, hi).max())
            if acq == "qucb":
                idx, gains = greedy_qucb(samples, ctx.batch_size, o.beta)
            else:
                idx, gains = greedy_qei(samples, best, ctx.batch_size)
        return Selection([cands[i] for i in idx], mean=S.mean(axis=0)[idx],
                         std=S.std(axis=0)[idx], acquisition=gains, verdicts=verdicts,
                         info={"model": "ensemble", "acquisition": acq})
