"""WGAN-GP on the MatGAN one-hot element-count matrix (103 elements x counts 0..8).

The generator outputs, per element, a distribution over counts; a straight-through
Gumbel-softmax makes its samples one-hot like the real data, so the critic cannot separate
them by softness alone. The critic is trained with the gradient penalty of Gulrajani et al.
(2017). With properties given, the condition (scaled values and a known-mask, dropped at
random in training) is appended to both networks' inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from matforge.candidate import Candidate
from matforge.generators.base import Condition, Generator
from matforge.generators.composition import common
from matforge.representations.tokens import N_ELEMENTS, count_matrix


class _Nets(nn.Module):
    def __init__(self, n_props: int, max_count: int = 8, noise: int = 64, hidden: int = 512):
        super().__init__()
        self.max_count, self.noise = max_count, noise
        d_x, d_c = N_ELEMENTS * (max_count + 1), 2 * n_props
        self.gen = nn.Sequential(nn.Linear(noise + d_c, hidden // 2), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden // 2, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, d_x))
        self.critic = nn.Sequential(nn.Linear(d_x + d_c, hidden), nn.LeakyReLU(0.2),
                                    nn.Linear(hidden, hidden // 2), nn.LeakyReLU(0.2),
                                    nn.Linear(hidden // 2, 1))

    def logits(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.gen(torch.cat([z, c], 1)).view(-1, N_ELEMENTS, self.max_count + 1)

    def score(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.critic(torch.cat([x.flatten(1), c], 1)).squeeze(1)


class GANGenerator(Generator):
    kind = "composition-gan"

    def __init__(self, condition_on: Sequence[str] = (), max_count: int = 8, noise: int = 64,
                 hidden: int = 256, temperature: float = 0.0, min_elements: int = 2,
                 device: str | None = None):
        self.condition_on = list(condition_on)
        self.arch = {"max_count": max_count, "noise": noise, "hidden": hidden}
        self.sampling = {"temperature": temperature}
        self.min_elements = min_elements
        self.device = common.pick_device(device)
        self.nets = _Nets(len(self.condition_on), **self.arch).to(self.device)
        self.stats: dict[str, list[float]] = {}
        self.info: dict[str, Any] = {}

    def fit(self, dataset: pd.DataFrame, epochs: int = 200, batch_size: int = 128,
            lr: float = 2e-4, n_critic: int = 5, gp: float = 10.0,
            max_minutes: float | None = 25.0, seed: int = 0, valid_only: bool = True,
            cond_drop: float = 0.2, **_: Any) -> GANGenerator:
        """Alternate n_critic critic steps and one generator step until time or epochs run out."""
        common.set_threads()
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        mc = self.arch["max_count"]
        ts = common.prepare(dataset, self.condition_on, 12, mc, valid_only, self.min_elements)
        self.stats = common.property_stats(ts.props, self.condition_on) if self.condition_on else {}
        values, mask = common.scale(ts.props, self.condition_on, self.stats)
        x_all = nn.functional.one_hot(torch.as_tensor(count_matrix(ts.el, ts.cnt, mc)), mc + 1)
        c_all = torch.as_tensor(np.concatenate([values * mask, mask], 1).astype(np.float32))
        n = len(x_all)
        opt_g = torch.optim.Adam(self.nets.gen.parameters(), lr=lr, betas=(0.5, 0.9))
        opt_c = torch.optim.Adam(self.nets.critic.parameters(), lr=lr, betas=(0.5, 0.9))
        timer = common.Timer(max_minutes)
        total = epochs * max(1, n // (batch_size * n_critic))
        bar = tqdm(total=total, desc=f"train {self.kind}", mininterval=2)
        it, wdist, epoch = 0, 0.0, 0
        for epoch in range(1, epochs + 1):
            perm = torch.as_tensor(rng.permutation(n))
            for s in range(0, n - batch_size * n_critic + 1, batch_size * n_critic):
                for k in range(n_critic):
                    idx = perm[s + k * batch_size: s + (k + 1) * batch_size]
                    real = x_all[idx].float().to(self.device)
                    c = self._drop(c_all[idx].to(self.device), cond_drop)
                    fake = self._fake(len(idx), c).detach()
                    eps = torch.rand((len(idx), 1, 1), device=self.device)
                    mid = (eps * real + (1 - eps) * fake).requires_grad_(True)
                    grad = torch.autograd.grad(self.nets.score(mid, c).sum(), mid,
                                               create_graph=True)[0]
                    penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
                    w = self.nets.score(real, c).mean() - self.nets.score(fake, c).mean()
                    opt_c.zero_grad()
                    (-w + gp * penalty).backward()
                    opt_c.step()
                    wdist = w.item()
                c = self._drop(c_all[perm[s:s + batch_size]].to(self.device), cond_drop)
                g_loss = -self.nets.score(self._fake(batch_size, c), c).mean()
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                it += 1
                bar.update(1)
                bar.set_postfix(w=f"{wdist:.3f}")
                if timer.done():
                    break
            if timer.done():
                break
        bar.close()
        self.info = {"n_train": n, "epochs": epoch, "generator_steps": it,
                     "train_seconds": round(timer.elapsed, 1), "wasserstein_estimate":
                     round(wdist, 4), "valid_only": valid_only, "seed": seed}
        return self

    def _drop(self, c: torch.Tensor, p: float) -> torch.Tensor:
        k = len(self.condition_on)
        if k == 0:
            return c
        keep = (torch.rand((len(c), k), device=c.device) > p).float()
        return torch.cat([c[:, :k] * keep, c[:, k:] * keep], 1)

    def _fake(self, b: int, c: torch.Tensor) -> torch.Tensor:
        z = torch.randn((b, self.arch["noise"]), device=self.device)
        return nn.functional.gumbel_softmax(self.nets.logits(z, c), tau=1.0, hard=True)

    @torch.no_grad()
    def sample_formulas(self, n: int, condition: Condition | None = None,
                        seed: int | None = None, temperature: float | None = None) -> list[str]:
        t = self.sampling["temperature"] if temperature is None else temperature
        gen = torch.Generator(device=self.device)
        gen.manual_seed(0 if seed is None else int(seed))
        k = len(self.condition_on)
        cond = common.condition_arrays(condition, self.condition_on, self.stats)
        c = torch.zeros((1, 2 * k), device=self.device)
        if cond is not None:
            c[0] = torch.as_tensor(np.concatenate([cond[0] * cond[1], cond[1]]), device=self.device)
        self.nets.eval()
        out: list[str] = []
        for s in range(0, n, 50_000):
            b = min(50_000, n - s)
            z = torch.randn((b, self.arch["noise"]), generator=gen, device=self.device)
            logits = self.nets.logits(z, c.expand(b, -1))
            out += common.decode_count_logits(logits, t, gen, self.min_elements)
        return out

    def sample(self, n: int, condition: Condition | None = None, seed: int | None = None,
               reject_invalid: bool = False, **kwargs: Any) -> list[Candidate]:
        if reject_invalid:
            return common.sample_valid(self, n, condition, seed, **kwargs)
        prov = common.sampling_provenance(n, condition)
        return common.to_candidates(self.sample_formulas(n, condition, seed, **kwargs), self.kind,
                                    seed, prov)

    def save(self, path: str | Path) -> Path:
        return common.save_torch_generator(self, self.nets, path)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> GANGenerator:
        return common.load_torch_generator(cls, path, device, "nets")
