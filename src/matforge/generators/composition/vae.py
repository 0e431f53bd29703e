"""VAE and conditional VAE on the fixed-size MatGAN encoding (103 elements x counts 0..8).

The encoder maps a one-hot count matrix to a latent Gaussian; the decoder gives, for every
element, a distribution over its count (0 = absent). A property head on the latent mean is
trained jointly, so the latent space is ordered by property: that head predicts properties
for samples (`pred_<prop>` scores) and steers sampling by gradient descent on z toward a
target (`latent_steps`). With `conditional=True` (the default when properties are given)
the condition also enters encoder and decoder (cVAE); properties are dropped at random in
training so the decoder also works without one.

Sampling draws z from a Gaussian mixture fitted to the training set's latent means after
training (ex-post density estimation, Ghosh et al. 2020), not from N(0, I). Why: with the
small KL weight that reconstruction needs, the aggregate posterior is far from N(0, I); z
drawn from N(0, I) landed off the data (the first version: 35% valid, 52% unique, many
decodes with 0-1 or > 6 elements). The mixture (a few thousand numbers) is stored with the
weights as buffers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from matforge.candidate import Candidate
from matforge.generators.base import Condition
from matforge.generators.composition import common
from matforge.generators.composition.torch_base import TorchCompositionGenerator
from matforge.generators.training import TrainingLoop, optimiser_step
from matforge.representations.tokens import (
    N_ELEMENTS,
    count_matrix,
    formulas_to_arrays,
)


class CompositionVAE(nn.Module):
    def __init__(self, n_props: int, conditional: bool, max_count: int = 8, latent: int = 32,
                 hidden: int = 256):
        super().__init__()
        self.n_props, self.conditional, self.max_count = n_props, conditional, max_count
        d_in = N_ELEMENTS * (max_count + 1)
        d_c = 2 * n_props if conditional else 0
        # one hidden layer each way: deeper stacks sat on the "predict the marginals" plateau
        self.enc = nn.Sequential(nn.Linear(d_in + d_c, hidden), nn.SiLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent + d_c, hidden), nn.SiLU(), nn.Linear(hidden, d_in))
        self.head = nn.Sequential(nn.Linear(latent, 128), nn.SiLU(), nn.Linear(128, max(n_props, 1)))
        # latent prior for sampling: a diagonal Gaussian mixture (standard normal until fitted)
        self.register_buffer("prior_logits", torch.zeros(1))
        self.register_buffer("prior_mean", torch.zeros(1, latent))
        self.register_buffer("prior_std", torch.ones(1, latent))

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent points from the fitted mixture prior."""
        k = torch.multinomial(self.prior_logits.softmax(0), n, replacement=True,
                              generator=generator)
        eps = torch.randn((n, self.prior_mean.shape[1]), generator=generator,
                          device=self.prior_mean.device)
        return self.prior_mean[k] + self.prior_std[k] * eps

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the mixture's size is data-dependent: take the stored shapes before copying
        for name in ("prior_logits", "prior_mean", "prior_std"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name],
                                                     dtype=torch.float32))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _c(self, values: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        return [values * mask, mask.float()] if self.conditional else []

    def encode(self, onehot: torch.Tensor, values: torch.Tensor, mask: torch.Tensor):
        h = self.enc(torch.cat([onehot.flatten(1)] + self._c(values, mask), dim=1))
        return self.mu(h), self.logvar(h).clamp(-8, 8)

    def decode(self, z: torch.Tensor, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.dec(torch.cat([z] + self._c(values, mask), dim=1))
        return out.view(-1, N_ELEMENTS, self.max_count + 1)


class VAEGenerator(TorchCompositionGenerator):
    kind = "composition-vae"
    half_precision = True

    def __init__(self, condition_on: Sequence[str] = (), conditional: bool | None = None,
                 max_count: int = 8, latent: int = 32, hidden: int = 256, temperature: float = 0.0,
                 latent_steps: int = 50, min_elements: int = 2, device: str | None = None):
        super().__init__(condition_on, device)
        cond = bool(self.condition_on) if conditional is None else conditional
        self.arch = {"conditional": cond, "max_count": max_count, "latent": latent, "hidden": hidden}
        self.sampling = {"temperature": temperature, "latent_steps": latent_steps}
        self.min_elements = min_elements
        self.model = CompositionVAE(len(self.condition_on), **self.arch).to(self.device)

    def _onehot(self, el: np.ndarray, cnt: np.ndarray) -> torch.Tensor:
        counts = torch.as_tensor(count_matrix(el, cnt, self.arch["max_count"]))
        return nn.functional.one_hot(counts, self.arch["max_count"] + 1).float()

    def fit(self, dataset: pd.DataFrame, epochs: int = 40, batch_size: int = 256,
            lr: float = 3e-3, beta: float = 0.05, head_weight: float = 5.0,
            max_minutes: float | None = 25.0, seed: int = 0, valid_only: bool = True,
            cond_drop: float = 0.2, prior_components: int = 256, **_: Any) -> VAEGenerator:
        """Train with KL annealed to `beta` over the first quarter of the run, then fit
        the sampling prior (a `prior_components` Gaussian mixture on the latent means)."""
        rng = self._start_fit(seed)
        ts, values, mask = self._training_set(dataset, 12, self.arch["max_count"], valid_only,
                                              self.min_elements)
        data = [self._onehot(ts.el, ts.cnt), torch.as_tensor(values), torch.as_tensor(mask)]
        n = len(ts.formulas)
        opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        loop = TrainingLoop(f"train {self.kind}", n, batch_size, epochs, max_minutes, rng,
                            self.model)
        last: dict[str, float] = {}
        for idx in loop:
            x, v, m = (d[idx].to(self.device) for d in data)
            # KL weight ramps up over the first quarter of the run (by steps or time)
            anneal = min(1.0, 4 * loop.progress())
            loss, terms = self._loss(x, v, m, cond_drop, beta * anneal, head_weight)
            optimiser_step(opt, loss)
            last.update(terms)
            loop.postfix = {"rec": f"{last['rec']:.2f}", "kl": f"{last['kl']:.1f}"}
        self._fit_prior(data, prior_components, seed)
        self.info = {"n_train": n, "epochs": loop.epoch,
                     "train_seconds": round(loop.timer.elapsed, 1), "valid_only": valid_only,
                     "seed": seed, "beta": beta, "prior_components": len(self.model.prior_logits),
                     **{k: round(v, 4) for k, v in last.items()}}
        return self

    def _loss(self, x: torch.Tensor, v: torch.Tensor, m: torch.Tensor, cond_drop: float,
              kl_weight: float, head_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of one batch (reconstruction + weighted KL, + the property head's
        error when conditioning) and its terms for the training log."""
        m_in = m & (torch.rand(m.shape, device=self.device) > cond_drop)
        mu, logvar = self.model.encode(x, v, m_in)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        logits = self.model.decode(z, v, m_in)
        rec = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                          x.argmax(-1).reshape(-1), reduction="sum") / len(x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
        loss = rec + kl_weight * kl
        terms = {}
        if self.condition_on:
            pred = self.model.head(mu)
            err = ((pred - v) ** 2 * m).sum() / m.sum().clamp(min=1)
            loss = loss + head_weight * err
            terms["head_mse"] = float(err.detach())
        terms.update(rec=rec.item(), kl=kl.item())
        return loss, terms

    @torch.no_grad()
    def _fit_prior(self, data: list[torch.Tensor], components: int, seed: int) -> None:
        """Fit the sampling prior: a diagonal Gaussian mixture on one posterior draw per
        training row (at most 30,000 rows; seconds to a minute with scikit-learn)."""
        from sklearn.mixture import GaussianMixture

        idx = torch.as_tensor(np.random.default_rng(seed).permutation(len(data[0]))[:30_000])
        mus = []
        for s in range(0, len(idx), 4096):
            x, v, m = (d[idx[s:s + 4096]].to(self.device) for d in data)
            mu, logvar = self.model.encode(x, v, m)
            # posterior draws, not only means: the prior is at least as wide as the posteriors
            mus.append((mu + torch.randn_like(mu) * (0.5 * logvar).exp()).cpu())
        mu = torch.cat(mus).double().numpy()
        # at least ~20 points per component, so a small training set gets a smooth prior
        k = max(1, min(components, len(mu) // 20))
        gmm = GaussianMixture(k, covariance_type="diag",
                              reg_covar=1e-4, max_iter=200, random_state=seed).fit(mu)
        dev = self.device
        self.model.prior_logits = torch.as_tensor(np.log(gmm.weights_), dtype=torch.float32,
                                                  device=dev)
        self.model.prior_mean = torch.as_tensor(gmm.means_, dtype=torch.float32, device=dev)
        self.model.prior_std = torch.as_tensor(np.sqrt(gmm.covariances_), dtype=torch.float32,
                                               device=dev)

    # ---------------------------------------------------------------- latent tools
    @torch.no_grad()
    def encode(self, formulas: Sequence[str]) -> np.ndarray:
        """Latent means of compositions (for latent maps); unusable formulas give NaN rows."""
        el, cnt, ok = formulas_to_arrays(list(formulas), 12, self.arch["max_count"], 1)
        out = np.full((len(formulas), self.arch["latent"]), np.nan, dtype=np.float32)
        if ok.any():
            p = len(self.condition_on)
            x = self._onehot(el[ok], cnt[ok]).to(self.device)
            zero = torch.zeros((len(x), p), device=self.device)
            mu, _ = self.model.encode(x, zero, zero.bool())
            out[ok] = mu.cpu().numpy()
        return out

    def predict_properties(self, z: torch.Tensor) -> dict[str, np.ndarray]:
        with torch.no_grad():
            pred = self.model.head(z).cpu().numpy()
        return {f"pred_{name}": pred[:, j] * self.stats[name][1] + self.stats[name][0]
                for j, name in enumerate(self.condition_on)}

    def optimise_latent(self, z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                        steps: int, lr: float = 0.05, prior: float = 0.05) -> torch.Tensor:
        """Gradient descent on z so the property head meets the (scaled) target; a small
        pull back toward each starting point (drawn from the fitted prior, so on the data)
        keeps z where the decoder has seen data."""
        start = z.detach()
        z = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        for _ in range(steps):
            err = ((self.model.head(z) - target) ** 2 * mask).sum(1)
            loss = (err + prior * ((z - start) ** 2).sum(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return z.detach()

    # ---------------------------------------------------------------- sampling
    def _sample(self, n: int, condition: Condition | None, seed: int | None,
                temperature: float | None = None, latent_steps: int | None = None
                ) -> tuple[list[str], dict[str, np.ndarray]]:
        t = self.sampling["temperature"] if temperature is None else temperature
        steps = self.sampling["latent_steps"] if latent_steps is None else latent_steps
        gen = self._torch_rng(seed)
        cond = common.condition_arrays(condition, self.condition_on, self.stats)
        v, m = self._condition_batch(cond, n)
        self.model.eval()
        z = self.model.sample_prior(n, gen)
        if cond is not None and steps > 0:
            z = self.optimise_latent(z, v, m.float(), steps)
        with torch.no_grad():
            logits = self.model.decode(z, v, m)
        formulas = common.decode_count_logits(logits, t, gen, self.min_elements)
        scores = self.predict_properties(z) if self.condition_on else {}
        return formulas, scores

    def sample_formulas(self, n: int, condition: Condition | None = None,
                        seed: int | None = None, **kwargs: Any) -> list[str]:
        out: list[str] = []
        for s, b in self._batches(n, 50_000):
            out += self._sample(b, condition, None if seed is None else seed + s, **kwargs)[0]
        return out

    def _sample_candidates(self, n: int, condition: Condition | None, seed: int | None,
                           **kwargs: Any) -> list[Candidate]:
        """One batch of n, with the property head's predictions as `pred_<prop>` scores."""
        prov = common.sampling_provenance(n, condition)
        formulas, scores = self._sample(n, condition, seed, **kwargs)
        return common.to_candidates(formulas, self.kind, seed, prov, scores)
