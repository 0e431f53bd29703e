"""Latent-space optimisation through the composition VAE: BO on VAE latent means.

The VAE (`options.vae`: model name or directory of a `composition-vae` generator) encodes
every candidate into its latent mean. With a pool, a GP on the latent coordinates of the
evaluated candidates chooses the next batch with qLogEI/qUCB/qLogNEHVI over the pool's latent
points. Without a pool, latent points are moved by gradient ascent on the GP's upper confidence
bound from the best evaluated points and decoded to new compositions. The 2-D projection of
the latent points is stored for the report's latent map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from matforge import registry
from matforge.candidate import Candidate
from matforge.design.acquisition import botorch_select
from matforge.design.strategies._models import PoolEncoder, fit_gp, gp_mean_std
from matforge.design.strategies.base import (
    Context,
    Selection,
    Strategy,
    StrategyOptions,
    filter_new,
    random_pick,
    random_selection,
)
from matforge.errors import MatforgeError


class LatentOptions(StrategyOptions):
    vae: str | None = None  # model name or directory of a composition-vae (required to run)
    acquisition: str | None = None  # qei|qucb|qnehvi; None: qei, or qnehvi for several
    steps: int = Field(30, ge=0)  # gradient steps in latent space (no pool)
    lr: float = Field(0.05, gt=0)
    beta: float = 2.0


class LatentOpt(Strategy):
    """options: vae (model name/dir, required), acquisition (qei|qucb), steps, lr, beta."""

    name = "latent"

    def __init__(self, options: LatentOptions | None = None):
        super().__init__(options)
        self._vae = None
        self.latent_map: dict[str, Any] | None = None

    @property
    def vae(self) -> Any:
        if self._vae is None:
            from matforge.generators.base import load_generator

            if not self.options.vae:
                raise MatforgeError("the latent strategy needs a trained composition VAE: "
                                    "set strategy option vae=MODEL_DIR")
            self._vae = load_generator(self.options.vae)
            if not registry.get("generator", self._vae.kind).supports("latent"):
                raise MatforgeError(f"{self.options.vae} is not a composition VAE")
        return self._vae

    def encode(self, formulas: list[str]) -> np.ndarray:
        import torch

        with torch.no_grad():
            return np.asarray(self.vae.encode(formulas), dtype=float)

    def propose(self, ctx: Context) -> Selection:
        import torch

        formulas, Y, _ = ctx.history_arrays()
        Zh = self.encode(formulas) if formulas else np.zeros((0, 1))
        keep = np.all(np.isfinite(Zh), axis=1) if len(Zh) else np.zeros(0, dtype=bool)
        formulas, Y, Zh = [f for f, k in zip(formulas, keep) if k], Y[keep], Zh[keep]
        if ctx.pool is None:
            return self._decode_step(ctx, formulas, Y, Zh)
        cands = [c for c in ctx.pool]
        Zp = self.encode([c.formula for c in cands])
        ok = np.all(np.isfinite(Zp), axis=1)
        cands, Zp = [c for c, k in zip(cands, ok) if k], Zp[ok]
        if len(formulas) < 5 or not cands:
            return random_selection(ctx, cands)
        enc = PoolEncoder(np.vstack([Zp, Zh]), n_components=None)
        Xp, Xh = enc(Zp), enc(Zh)
        allx = np.vstack([Xp, Xh])
        gp = fit_gp(Xh, Y, np.stack([allx.min(0), allx.max(0) + 1e-9]))
        acq = self.options.acquisition or ("qei" if Y.shape[1] == 1 else "qnehvi")
        idx, values = botorch_select(gp, torch.as_tensor(Xp, dtype=torch.double),
                                     ctx.batch_size, ctx.objectives,
                                     torch.as_tensor(Y, dtype=torch.double), acquisition=acq,
                                     beta=self.options.beta,
                                     seed=ctx.seed * 1000 + ctx.step,
                                     X_baseline=torch.as_tensor(Xh, dtype=torch.double))
        mean, std = gp_mean_std(gp, Xp[idx])
        self.latent_map = _map(np.vstack([Zh, Zp]), len(Zh))
        return Selection([cands[i] for i in idx], mean=mean, std=std, acquisition=values,
                         info={"latent_dim": int(Zp.shape[1])})

    def _decode_step(self, ctx: Context, formulas: list[str], Y: np.ndarray,
                     Zh: np.ndarray) -> Selection:
        import torch

        from matforge.design.acquisition import torch_utility
        from matforge.generators.composition import common

        vae = self.vae
        seed = ctx.seed * 1000 + ctx.step
        gen = torch.Generator().manual_seed(seed)
        n = max(ctx.generate_per_step, ctx.batch_size * 5)
        if len(formulas) >= 5:
            gp = fit_gp(Zh, Y, None)
            U = np.stack([o.utility(Y[:, j]) for j, o in enumerate(ctx.objectives)], 1).sum(1)
            starts = torch.as_tensor(Zh[np.argsort(-U)[:8]], dtype=torch.double)
            z = starts[torch.randint(len(starts), (n,), generator=gen)]
            z = (z + 0.3 * torch.randn(z.shape, generator=gen, dtype=torch.double))
            z.requires_grad_(True)
            opt = torch.optim.Adam([z], lr=self.options.lr)
            beta = self.options.beta
            for _ in range(self.options.steps):
                post = gp.posterior(z)
                ucb = sum(torch_utility(o, post.mean[..., j])
                          for j, o in enumerate(ctx.objectives))
                ucb = ucb + beta ** 0.5 * post.variance.clamp_min(1e-12).sqrt().sum(-1)
                loss = -(ucb.sum()) + 0.05 * (z ** 2).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
            z = z.detach().float()
        else:  # no model yet: the VAE's own fitted prior, where its decoder was trained
            z = vae.model.sample_prior(
                n, generator=torch.Generator(device=vae.device).manual_seed(seed)).cpu()
        p = len(vae.condition_on)
        zero = torch.zeros((n, p))
        with torch.no_grad():
            logits = vae.model.decode(z.to(vae.device), zero.to(vae.device),
                                      zero.bool().to(vae.device))
        # The argmax decode of nearby latent points often repeats a few formulas (a young
        # VAE, a narrow optimum); when it leaves fewer new candidates than a batch, draw
        # from the same logits at rising temperature rather than stall the campaign.
        kids, verdicts, seen = [], [], set()
        for temperature in (0.0, 0.5, 1.0):
            decoded = common.decode_count_logits(logits, temperature, gen, vae.min_elements)
            fresh = [f for f in dict.fromkeys(decoded) if f and f not in seen]
            seen.update(fresh)
            new, why = filter_new(ctx, [Candidate(f, provenance={"source": "latent",
                                                                 "temperature": temperature})
                                        for f in fresh])
            kids += new
            verdicts += why
            if len(kids) >= ctx.batch_size:
                break
        idx = random_pick(ctx, kids, ctx.batch_size) if len(formulas) < 5 else \
            list(range(min(ctx.batch_size, len(kids))))
        return Selection([kids[i] for i in idx], verdicts=verdicts)


def _map(Z: np.ndarray, n_evaluated: int) -> dict[str, Any]:
    centred = Z - Z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    pts = centred @ vt[:2].T
    sub = np.linspace(0, len(pts) - 1, min(len(pts), 2000)).astype(int)
    return {"points": pts[sub].round(4).tolist(),
            "evaluated": [bool(i < n_evaluated) for i in sub]}
