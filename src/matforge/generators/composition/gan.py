"""WGAN-GP on the MatGAN one-hot element-count matrix (103 elements x counts 0..8).

The generator is a deterministic map from noise z to, per element, a softmax over its count;
the critic scores real one-hot matrices against those soft matrices, with the gradient
penalty of Gulrajani et al. (2017) on interpolates. A sample is the argmax count of every
element of G(z), so all the diversity of the samples comes from z.

Why not Gumbel-softmax (the first version): with a Gumbel draw inside training, the noise
the critic sees comes from the per-element Gumbel draws, so the generator learnt to ignore z
and emit the per-element marginals; argmax decoding at sampling time then turned every z into
the same few compositions (0.7% unique of 10,000), and per-element independent draws would
have broken the correlations between elements that make a composition charge-balanced.
With the soft output the critic pushes G(z) toward one-hot rows, and z has to carry the
variety. With properties given, the condition (scaled values and a known-mask, dropped at
random in training) is appended to both networks' inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from matforge.errors import MatforgeError
from matforge.generators.base import Condition
from matforge.generators.composition import common
from matforge.generators.composition.torch_base import TorchCompositionGenerator
from matforge.generators.training import TrainingLoop, optimiser_step
from matforge.representations.tokens import N_ELEMENTS, count_matrix


class _GenNet(nn.Module):
    """z (+ condition) -> (B, 103, max_count + 1) count logits.

    Batch normalisation (as in MatGAN) keeps every hidden unit varying across a batch, so
    the output cannot start (or settle) independent of z."""

    def __init__(self, n_props: int, max_count: int = 8, noise: int = 64, hidden: int = 256):
        super().__init__()
        self.max_count, self.noise = max_count, noise
        self.net = nn.Sequential(nn.Linear(noise + 2 * n_props, hidden), nn.BatchNorm1d(hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 2 * hidden),
                                 nn.BatchNorm1d(2 * hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(2 * hidden, N_ELEMENTS * (max_count + 1)))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, c], 1)).view(-1, N_ELEMENTS, self.max_count + 1)


class _Critic(nn.Module):
    """Packs of `pack` count matrices (one-hot or soft) (+ conditions) -> one score per pack.

    Packing (PacGAN, Lin et al. 2018) lets the critic see several samples at once, so a
    generator that puts all z on a few compositions is penalised directly. Only needed in
    training, so it is not saved with the model."""

    def __init__(self, n_props: int, max_count: int = 8, hidden: int = 256, pack: int = 1):
        super().__init__()
        self.pack = pack
        d_in = pack * (N_ELEMENTS * (max_count + 1) + 2 * n_props)
        self.net = nn.Sequential(nn.Linear(d_in, 2 * hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        rows = torch.cat([x.flatten(1), c], 1)
        return self.net(rows.reshape(len(rows) // self.pack, -1)).squeeze(1)


@dataclass(frozen=True)
class _Recipe:
    """The WGAN-GP training options that the steps need (and the training log records)."""

    batch_size: int
    lr: float
    lr_critic: float
    n_critic: int
    gp: float
    pack: int
    diversity: float
    cond_drop: float


class GANGenerator(TorchCompositionGenerator):
    kind = "composition-gan"
    network_attr = "nets"
    half_precision = True  # sampling needs no critic, and it keeps a shipped model small

    def __init__(self, condition_on: Sequence[str] = (), max_count: int = 8, noise: int = 64,
                 hidden: int = 256, temperature: float = 0.0, min_elements: int = 2,
                 output: str = "soft", device: str | None = None):
        super().__init__(condition_on, device)
        self.arch = {"max_count": max_count, "noise": noise, "hidden": hidden}
        self.output = output
        self.sampling = {"temperature": temperature}
        self.min_elements = min_elements
        self.nets = _GenNet(len(self.condition_on), **self.arch).to(self.device)

    def fit(self, dataset: pd.DataFrame, epochs: int = 200, batch_size: int = 64,
            lr: float = 3e-4, n_critic: int = 2, gp: float = 10.0, lr_critic: float | None = None,
            pack: int = 1, diversity: float = 1.0,
            max_minutes: float | None = 25.0, seed: int = 0, valid_only: bool = True,
            cond_drop: float = 0.2, **_: Any) -> GANGenerator:
        """n_critic critic steps (fresh real batches) per generator step, Adam(0.5, 0.9) as in
        WGAN-GP, until time or epochs run out (an epoch: every real row seen by the critic).
        Learning rates warm up and decay (cosine) over the run, by steps or by time.

        Defaults chosen for a CPU budget of minutes (a few thousand generator steps): small
        batches, 2 critic steps per generator step, lr 3e-4, and the mode-seeking term
        (`diversity`); `pack` > 1 packs samples for the critic (PacGAN; slower to start,
        not used by default), `output="hard"` trains through straight-through one-hot rows."""
        rng = self._start_fit(seed)
        ts, values, mask = self._training_set(dataset, 12, self.arch["max_count"], valid_only,
                                              self.min_elements)
        counts = torch.as_tensor(count_matrix(ts.el, ts.cnt, self.arch["max_count"]))
        conds = torch.as_tensor(np.concatenate([values * mask, mask], 1).astype(np.float32))
        self._start_on_marginals(counts)
        recipe = _Recipe(_fit_batch_size(len(counts), batch_size, n_critic, pack), lr,
                         lr_critic or lr, n_critic, gp, pack, diversity, cond_drop)
        critic = _Critic(len(self.condition_on), self.arch["max_count"], self.arch["hidden"],
                         pack).to(self.device)
        opt_g = torch.optim.Adam(self.nets.parameters(), lr=lr, betas=(0.5, 0.9))
        opt_c = torch.optim.Adam(critic.parameters(), lr=recipe.lr_critic, betas=(0.5, 0.9))
        # one batch of the loop: n_critic critic batches, the first also the generator's
        bs = recipe.batch_size
        loop = TrainingLoop(f"train {self.kind}", len(counts), bs * n_critic, epochs,
                            max_minutes, rng, self.nets,
                            schedules=[(opt_g, lr), (opt_c, recipe.lr_critic)])
        wdist = 0.0
        for idx in loop:
            for k in range(n_critic):
                rows = idx[k * bs:(k + 1) * bs]
                wdist = self._critic_step(critic, opt_c, counts[rows], conds[rows], recipe)
            self._generator_step(critic, opt_g, conds[idx[:bs]], recipe)
            loop.postfix = {"w": f"{wdist:.3f}"}
        self.info = {"n_train": len(counts), "epochs": loop.epoch, "generator_steps": loop.step,
                     "train_seconds": round(loop.timer.elapsed, 1), "wasserstein_estimate":
                     round(wdist, 4), "valid_only": valid_only, "seed": seed,
                     "recipe": {"batch_size": bs, "lr": lr, "lr_critic": recipe.lr_critic,
                                "n_critic": n_critic, "gp": gp, "pack": pack,
                                "diversity": diversity, "output": self.output}}
        return self

    def _start_on_marginals(self, counts: torch.Tensor) -> None:
        """Set the output bias to the data's per-element count frequencies: G(z) begins on
        the marginals."""
        freq = np.stack([(counts.numpy() == c).mean(0) for c in range(self.arch["max_count"] + 1)],
                        1)
        with torch.no_grad():
            self.nets.net[-1].bias.copy_(torch.as_tensor(np.log(freq + 1e-4).ravel()))

    def _critic_step(self, critic: _Critic, opt: torch.optim.Optimizer, counts: torch.Tensor,
                     conds: torch.Tensor, recipe: _Recipe) -> float:
        """One critic update on a batch of real count matrices; returns the Wasserstein
        estimate (critic score of real minus fake)."""
        real = nn.functional.one_hot(counts, self.arch["max_count"] + 1).float().to(self.device)
        c = self._drop(conds.to(self.device), recipe.cond_drop)
        with torch.no_grad():
            fake = self._fake(len(counts), c)
        penalty = self._gradient_penalty(critic, real, fake, c, recipe.pack)
        w = critic(real, c).mean() - critic(fake, c).mean()
        optimiser_step(opt, -w + recipe.gp * penalty)
        return w.item()

    def _gradient_penalty(self, critic: _Critic, real: torch.Tensor, fake: torch.Tensor,
                          c: torch.Tensor, pack: int) -> torch.Tensor:
        """Gulrajani et al.'s penalty on interpolates: one mixing weight and one gradient norm
        per packed critic input."""
        b = len(real)
        eps = torch.rand((b // pack, 1, 1, 1), device=self.device)
        eps = eps.expand(-1, pack, 1, 1).reshape(b, 1, 1)
        mid = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad = torch.autograd.grad(critic(mid, c).sum(), mid, create_graph=True)[0]
        norm = grad.reshape(b // pack, -1).norm(dim=1)
        return ((norm - 1) ** 2).mean()

    def _generator_step(self, critic: _Critic, opt: torch.optim.Optimizer, conds: torch.Tensor,
                        recipe: _Recipe) -> None:
        """One generator update against the (frozen) critic, with the mode-seeking term."""
        c = self._drop(conds.to(self.device), recipe.cond_drop)
        critic.requires_grad_(False)
        z = torch.randn((recipe.batch_size, self.arch["noise"]), device=self.device)
        fake = self._soft_or_hard(self.nets(z, c))
        g_loss = -critic(fake, c).mean()
        if recipe.diversity > 0:  # mode seeking (Mao et al. 2019): distinct z, distinct rows
            h = recipe.batch_size // 2
            ratio = (fake[:h] - fake[h:2 * h]).abs().flatten(1).sum(1) / \
                (z[:h] - z[h:2 * h]).abs().mean(1)
            g_loss = g_loss + recipe.diversity * (1.0 / (ratio + 1e-5)).mean()
        optimiser_step(opt, g_loss)
        critic.requires_grad_(True)

    def _drop(self, c: torch.Tensor, p: float) -> torch.Tensor:
        k = len(self.condition_on)
        if k == 0:
            return c
        keep = (torch.rand((len(c), k), device=c.device) > p).float()
        return torch.cat([c[:, :k] * keep, c[:, k:] * keep], 1)

    def _fake(self, b: int, c: torch.Tensor) -> torch.Tensor:
        z = torch.randn((b, self.arch["noise"]), device=self.device)
        return self._soft_or_hard(self.nets(z, c))

    def _soft_or_hard(self, logits: torch.Tensor) -> torch.Tensor:
        soft = logits.softmax(dim=-1)
        if self.output == "soft":
            return soft
        hard = nn.functional.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
        return hard + soft - soft.detach()  # straight-through

    @torch.no_grad()
    def sample_formulas(self, n: int, condition: Condition | None = None,
                        seed: int | None = None, temperature: float | None = None) -> list[str]:
        """Argmax count per element of G(z) (temperature 0, the default); temperature > 0
        draws each element's count from its softmax instead (more varied, less valid)."""
        t = self.sampling["temperature"] if temperature is None else temperature
        gen = self._torch_rng(seed)
        v, m = self._condition_batch(
            common.condition_arrays(condition, self.condition_on, self.stats), 1)
        c = torch.cat([v * m, m.float()], 1)
        self.nets.eval()
        out: list[str] = []
        for _, b in self._batches(n, 50_000):
            z = torch.randn((b, self.arch["noise"]), generator=gen, device=self.device)
            logits = self.nets(z, c.expand(b, -1))
            out += common.decode_count_logits(logits, t, gen, self.min_elements)
        return out


def _fit_batch_size(n: int, batch_size: int, n_critic: int, pack: int) -> int:
    """The batch size for n training rows: smaller for a small data set (every critic step
    of a generator step takes fresh rows), a multiple of `pack`."""
    batch_size = min(batch_size, n // n_critic)
    batch_size -= batch_size % pack
    if batch_size < max(2, pack):
        raise MatforgeError(f"too few training compositions ({n}) for the GAN")
    return batch_size
