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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.generators.base import Condition, Generator
from matforge.generators.composition import common
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


class GANGenerator(Generator):
    kind = "composition-gan"

    def __init__(self, condition_on: Sequence[str] = (), max_count: int = 8, noise: int = 64,
                 hidden: int = 256, temperature: float = 0.0, min_elements: int = 2,
                 output: str = "soft", device: str | None = None):
        self.condition_on = list(condition_on)
        self.arch = {"max_count": max_count, "noise": noise, "hidden": hidden}
        self.output = output
        self.sampling = {"temperature": temperature}
        self.min_elements = min_elements
        self.device = common.pick_device(device)
        self.nets = _GenNet(len(self.condition_on), **self.arch).to(self.device)
        self.stats: dict[str, list[float]] = {}
        self.info: dict[str, Any] = {}

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
        common.set_threads()
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        mc = self.arch["max_count"]
        ts = common.prepare(dataset, self.condition_on, 12, mc, valid_only, self.min_elements)
        self.stats = common.property_stats(ts.props, self.condition_on) if self.condition_on else {}
        values, mask = common.scale(ts.props, self.condition_on, self.stats)
        counts = torch.as_tensor(count_matrix(ts.el, ts.cnt, mc))
        c_all = torch.as_tensor(np.concatenate([values * mask, mask], 1).astype(np.float32))
        n = len(counts)
        # start from the data's per-element count frequencies: G(z) begins on the marginals
        freq = np.stack([(counts.numpy() == c).mean(0) for c in range(mc + 1)], 1)
        with torch.no_grad():
            self.nets.net[-1].bias.copy_(torch.as_tensor(np.log(freq + 1e-4).ravel()))
        batch_size = min(batch_size, n // n_critic)  # a small data set: smaller batches
        batch_size -= batch_size % pack
        if batch_size < max(2, pack):
            raise MatforgeError(f"too few training compositions ({n}) for the GAN")
        critic = _Critic(len(self.condition_on), mc, self.arch["hidden"], pack).to(self.device)
        opt_g = torch.optim.Adam(self.nets.parameters(), lr=lr, betas=(0.5, 0.9))
        opt_c = torch.optim.Adam(critic.parameters(), lr=lr_critic or lr, betas=(0.5, 0.9))
        timer = common.Timer(max_minutes)
        per_epoch = max(1, n // (batch_size * n_critic))
        bar = tqdm(total=epochs * per_epoch, desc=f"train {self.kind}", mininterval=2)
        it, wdist, epoch = 0, 0.0, 0
        self.nets.train()
        for epoch in range(1, epochs + 1):
            perm = torch.as_tensor(rng.permutation(n))
            for s in range(0, per_epoch * batch_size * n_critic, batch_size * n_critic):
                for k in range(n_critic):
                    idx = perm[s + k * batch_size: s + (k + 1) * batch_size]
                    real = nn.functional.one_hot(counts[idx], mc + 1).float().to(self.device)
                    c = self._drop(c_all[idx].to(self.device), cond_drop)
                    with torch.no_grad():
                        fake = self._fake(len(idx), c)
                    eps = torch.rand((len(idx) // pack, 1, 1, 1), device=self.device)
                    eps = eps.expand(-1, pack, 1, 1).reshape(len(idx), 1, 1)
                    mid = (eps * real + (1 - eps) * fake).requires_grad_(True)
                    grad = torch.autograd.grad(critic(mid, c).sum(), mid, create_graph=True)[0]
                    norm = grad.reshape(len(idx) // pack, -1).norm(dim=1)  # per packed input
                    penalty = ((norm - 1) ** 2).mean()
                    w = critic(real, c).mean() - critic(fake, c).mean()
                    opt_c.zero_grad()
                    (-w + gp * penalty).backward()
                    opt_c.step()
                    wdist = w.item()
                c = self._drop(c_all[perm[s:s + batch_size]].to(self.device), cond_drop)
                for p in critic.parameters():
                    p.requires_grad_(False)
                z = torch.randn((batch_size, self.arch["noise"]), device=self.device)
                fake = self._soft_or_hard(self.nets(z, c))
                g_loss = -critic(fake, c).mean()
                if diversity > 0:  # mode seeking (Mao et al. 2019): distinct z, distinct rows
                    h = batch_size // 2
                    ratio = (fake[:h] - fake[h:2 * h]).abs().flatten(1).sum(1) / \
                        (z[:h] - z[h:2 * h]).abs().mean(1)
                    g_loss = g_loss + diversity * (1.0 / (ratio + 1e-5)).mean()
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                for p in critic.parameters():
                    p.requires_grad_(True)
                it += 1
                progress = timer.progress(it, epochs * per_epoch)
                for opt, base in ((opt_g, lr), (opt_c, lr_critic or lr)):
                    for group in opt.param_groups:  # decays with the run (steps or time)
                        group["lr"] = common.lr_at(progress, base)
                bar.update(1)
                if it % 20 == 0:
                    bar.set_postfix(w=f"{wdist:.3f}")
                if timer.done():
                    break
            if timer.done():
                break
        bar.close()
        self.nets.eval()
        self.info = {"n_train": n, "epochs": epoch, "generator_steps": it,
                     "train_seconds": round(timer.elapsed, 1), "wasserstein_estimate":
                     round(wdist, 4), "valid_only": valid_only, "seed": seed,
                     "recipe": {"batch_size": batch_size, "lr": lr, "lr_critic": lr_critic or lr,
                                "n_critic": n_critic, "gp": gp, "pack": pack,
                                "diversity": diversity, "output": self.output}}
        return self

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
            logits = self.nets(z, c.expand(b, -1))
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
        """Generator weights only (half precision: sampling needs no critic, and it keeps a
        shipped model small)."""
        return common.save_torch_generator(self, self.nets, path, half=True)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> GANGenerator:
        return common.load_torch_generator(cls, path, device, "nets")
