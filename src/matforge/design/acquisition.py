"""Acquisition: how predicted means, uncertainties or posterior samples become a chosen batch.

Two families: sample-based greedy batch selection in numpy (for ensembles, whose members are
the posterior samples: qEI, qUCB, qEHVI for two objectives, random Chebyshev scalarisations
for more), and
BoTorch acquisitions (qLogEI, qUCB, qLogNEHVI) over a discrete candidate set for GP models.
"""

from __future__ import annotations

import math

import numpy as np

from matforge.design.objectives import Objective, pareto_mask


def greedy_qei(samples: np.ndarray, best: float, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy batch expected improvement from samples (S, n) of the utility.

    Each pick maximises E[max(batch so far, f_i)] - E[batch so far], the sequential-greedy
    construction of qEI; returns the chosen indices and their marginal gains.
    """
    S, n = samples.shape
    current = np.full(S, best, dtype=float)
    chosen, gains = [], []
    taken = np.zeros(n, dtype=bool)
    for _ in range(min(q, n)):
        gain = np.maximum(samples - current[:, None], 0.0).mean(axis=0)
        gain[taken] = -np.inf
        i = int(np.argmax(gain))
        if not np.isfinite(gain[i]) or gain[i] <= 0:
            # no expected improvement left: fall back to the best remaining mean
            mean = samples.mean(axis=0)
            mean[taken] = -np.inf
            i = int(np.argmax(mean))
            gains.append(0.0)
        else:
            gains.append(float(gain[i]))
        chosen.append(i)
        taken[i] = True
        current = np.maximum(current, samples[:, i])
    return np.array(chosen, dtype=int), np.array(gains)


def greedy_qucb(samples: np.ndarray, q: int, beta: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Greedy batch UCB in BoTorch's MC form: E[max_j mean_j + sqrt(beta*pi/2)|f_j - mean_j|]."""
    mean = samples.mean(axis=0, keepdims=True)
    upper = mean + math.sqrt(beta * math.pi / 2) * np.abs(samples - mean)
    return greedy_qei(upper, best=-np.inf if upper.size == 0 else float(upper.min()) - 1.0, q=q)


def hypervolume_improvement_2d(points: np.ndarray, front: np.ndarray,
                               ref: np.ndarray) -> np.ndarray:
    """Exact hypervolume gained by adding each of `points` (n, 2) to `front` (m, 2), utilities
    maximised above `ref`: the box [ref, p] minus the part of it `front` already dominates
    (the front clipped to the box, whose area is a sweep over its points sorted by x)."""
    box = np.prod(np.clip(points - ref, 0.0, None), axis=1)
    if len(front) == 0:
        return box
    clipped = np.minimum(front[None, :, :], points[:, None, :])  # (n, m, 2)
    order = np.argsort(-clipped[..., 0], axis=1, kind="stable")
    clipped = np.take_along_axis(clipped, order[..., None], axis=1)
    width = np.clip(clipped[..., 0] - ref[0], 0.0, None)
    heights = np.maximum(clipped[..., 1], ref[1])
    below = np.maximum.accumulate(np.concatenate(
        [np.full((len(points), 1), ref[1]), heights[:, :-1]], axis=1), axis=1)
    covered = (width * np.clip(heights - below, 0.0, None)).sum(axis=1)
    return box - covered


def greedy_qehvi(samples: np.ndarray, observed: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy batch expected hypervolume improvement for two objectives from posterior
    samples (S, n, 2) of the utilities (e.g. the members of a tree ensemble).

    Each pick maximises the mean over samples of the hypervolume it adds to that sample's
    front (observed points plus the batch picked so far, valued at that sample): the
    sequential-greedy qEHVI of BoTorch, with samples instead of a GP posterior. The reference
    point is BoTorch's usual one: the worst observed utility less 10% of the observed range.
    """
    S, n, k = samples.shape
    if k != 2:
        raise ValueError("greedy_qehvi handles two objectives")
    obs = observed[np.all(np.isfinite(observed), axis=1)]
    lo, hi = obs.min(axis=0), obs.max(axis=0)
    ref = lo - 0.1 * np.where(hi - lo > 1e-12, hi - lo, 1.0)
    fronts = [obs[pareto_mask(obs)] for _ in range(S)]
    taken = np.zeros(n, dtype=bool)
    chosen, gains = [], []
    for _ in range(min(q, n)):
        gain = np.mean([hypervolume_improvement_2d(samples[j], fronts[j], ref)
                        for j in range(S)], axis=0)
        gain[taken] = -np.inf
        i = int(np.argmax(gain))
        if gain[i] <= 0:  # nothing improves any sample's front: best mean utility sum
            score = samples.mean(axis=0).sum(axis=1)
            score[taken] = -np.inf
            i = int(np.argmax(score))
        chosen.append(i)
        gains.append(max(float(gain[i]), 0.0))
        taken[i] = True
        for j in range(S):
            pts = np.vstack([fronts[j], samples[j, i]])
            fronts[j] = pts[pareto_mask(pts)]
    return np.array(chosen, dtype=int), np.array(gains)


def chebyshev(utilities: np.ndarray, weights: np.ndarray, lo: np.ndarray,
              hi: np.ndarray) -> np.ndarray:
    """Augmented Chebyshev scalarisation of (..., k) utilities normalised to [lo, hi]."""
    scale = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    z = (utilities - lo) / scale
    return np.min(weights * z, axis=-1) + 0.05 * np.sum(weights * z, axis=-1)


def random_weights(rng: np.random.Generator, k: int) -> np.ndarray:
    w = rng.exponential(size=k)
    return w / w.sum()


def sample_utilities(objectives: list[Objective], samples: np.ndarray) -> np.ndarray:
    """(S, n, k) raw-value samples -> (S, n, k) utility samples."""
    return np.stack([o.utility(samples[..., j]) for j, o in enumerate(objectives)], axis=-1)


def torch_utility(objective: Objective, t):
    """The objective's utility on torch tensors (for BoTorch MC objectives)."""
    import torch

    if objective.goal == "max":
        return t
    if objective.goal == "min":
        return -t
    centre, half = (objective.low + objective.high) / 2, (objective.high - objective.low) / 2
    dist = (t - centre).abs()
    return -torch.clamp(dist - half, min=0.0) - 0.1 * dist


def botorch_select(model, X_pool, q: int, objectives: list[Objective], train_Y,
                   acquisition: str = "qei", beta: float = 2.0, seed: int = 0,
                   X_baseline=None) -> tuple[np.ndarray, np.ndarray]:
    """Choose q rows of X_pool with a BoTorch acquisition (sequential greedy over the pool)."""
    import torch
    from botorch.acquisition import qLogExpectedImprovement, qUpperConfidenceBound
    from botorch.acquisition.objective import GenericMCObjective
    from botorch.optim import optimize_acqf_discrete
    from botorch.sampling import SobolQMCNormalSampler

    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([128]), seed=seed)
    k = len(objectives)
    if k == 1:
        obj = objectives[0]
        mc_obj = GenericMCObjective(lambda Y, X=None: torch_utility(obj, Y[..., 0]))
        if acquisition == "qucb":
            acq = qUpperConfidenceBound(model, beta=beta, sampler=sampler, objective=mc_obj)
        else:
            best = torch_utility(obj, train_Y[:, 0]).max()
            acq = qLogExpectedImprovement(model, best_f=best, sampler=sampler, objective=mc_obj)
    else:
        from botorch.acquisition.multi_objective.logei import (
            qLogNoisyExpectedHypervolumeImprovement,
        )
        from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective

        mo = GenericMCMultiOutputObjective(
            lambda Y, X=None: torch.stack([torch_utility(o, Y[..., j])
                                           for j, o in enumerate(objectives)], dim=-1))
        U = torch.stack([torch_utility(o, train_Y[:, j]) for j, o in enumerate(objectives)], -1)
        ref = U.min(dim=0).values - 0.1 * (U.max(dim=0).values - U.min(dim=0).values + 1e-9)
        acq = qLogNoisyExpectedHypervolumeImprovement(
            model, ref_point=ref.tolist(), X_baseline=X_baseline, sampler=sampler, objective=mo,
            prune_baseline=True, cache_root=False)
    X, values = optimize_acqf_discrete(acq, q=min(q, len(X_pool)), choices=X_pool,
                                       max_batch_size=512, unique=True)
    # map the chosen rows back to pool indices
    idx: list[int] = []
    for row in X:
        d = (X_pool - row).abs().sum(dim=-1)
        if idx:
            d[idx] = float("inf")
        idx.append(int(torch.argmin(d)))
    return np.array(idx, dtype=int), values.detach().cpu().numpy().reshape(-1)
