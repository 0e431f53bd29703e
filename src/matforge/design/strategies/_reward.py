"""Rewards shared by the surrogate-ranked strategies (generate_rank, steering, gflownet).

Both need one scalar per candidate that is comparable across steps: the objectives' utilities
scaled to the range seen so far ((u - min) / (max - min) per objective, averaged over the
objectives). Observed candidates get it from the oracle values; unobserved ones from a
tree-ensemble surrogate's optimistic estimate (mean + kappa * std of the utility).
"""

from __future__ import annotations

import numpy as np

from matforge.design.strategies._models import composition_inputs, ensemble_samples
from matforge.design.strategies.base import Context


def observed_reward(U: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n,) scaled rewards of evaluated utilities U (n, k), with the scale (lo, span)."""
    lo, hi = U.min(axis=0), U.max(axis=0)
    span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    return ((U - lo) / span).mean(axis=1), lo, span


def optimistic_reward(Us: np.ndarray, kappa: float, lo: np.ndarray, span: np.ndarray
                      ) -> np.ndarray:
    """(n,) scaled mean + kappa * std over surrogate members of utilities Us (members, n, k)."""
    return ((Us.mean(axis=0) + kappa * Us.std(axis=0) - lo) / span).mean(axis=1)


def surrogate_reward(ctx: Context, names: list[str], kappa: float = 0.5,
                     kind: str = "forest", members: int = 8, max_iter: int = 150
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n,) optimistic scaled rewards of the formulas `names`, and the surrogate's raw mean and
    std (n, k) for the store. Needs at least two evaluated rows."""
    formulas, Y, U = ctx.history_arrays()
    S = ensemble_samples(formulas, Y, names, seed=ctx.seed * 1000 + ctx.step, members=members,
                         max_iter=max_iter, kind=kind, pretrained=ctx.options.get("pretrained"))
    Us = np.stack([obj.utility(S[..., j]) for j, obj in enumerate(ctx.objectives)], -1)
    _, lo, span = observed_reward(U)
    return optimistic_reward(Us, kappa, lo, span), S.mean(axis=0), S.std(axis=0)


class RewardModel:
    """A forest per objective fitted once on the evaluations; `__call__(names)` gives the
    optimistic scaled reward of any formulas (used on fresh samples at every policy step)."""

    def __init__(self, ctx: Context, kappa: float = 0.5, trees: int = 64):
        from sklearn.ensemble import ExtraTreesRegressor
        from threadpoolctl import threadpool_limits

        formulas, Y, U = ctx.history_arrays()
        self.objectives, self.kappa = ctx.objectives, kappa
        _, self.lo, self.span = observed_reward(U)
        pretrained = ctx.options.get("pretrained")
        self._featurize = lambda names: composition_inputs(names, "magpie+fractions", pretrained)
        X = self._featurize(formulas)
        with threadpool_limits(1):
            self.forests = [ExtraTreesRegressor(n_estimators=trees, max_features=0.3,
                                                random_state=ctx.seed * 1000 + ctx.step + j,
                                                n_jobs=1).fit(X, Y[:, j])
                            for j in range(Y.shape[1])]

    def __call__(self, names: list[str]) -> np.ndarray:
        X = self._featurize(names)
        S = np.stack([np.stack([t.predict(X) for t in f.estimators_]) for f in self.forests], -1)
        Us = np.stack([o.utility(S[..., j]) for j, o in enumerate(self.objectives)], -1)
        return optimistic_reward(Us, self.kappa, self.lo, self.span)


def zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    x = np.where(finite, x, x[finite].min())
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 1e-12 else 1.0)
