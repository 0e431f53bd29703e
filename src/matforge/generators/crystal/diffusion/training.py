"""How the denoiser is trained: the options, the training set as tensors, the loss of one
batch, and the epoch loop with its learning-rate decay and weight average.

One network serves CSP and de novo generation: each cell of a batch is drawn into one mode
(types clean, or types noised and predicted), and the type loss counts de novo cells only.
Property conditions are dropped at random, because classifier-free guidance needs the
unconditional prediction of the same network.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from matforge.generators.crystal.diffusion.corruption import Schedule, corrupt
from matforge.generators.crystal.diffusion.score_model import ScoreNet
from matforge.generators.training import Timer, optimiser_step
from matforge.representations.crystal import CrystalArrays


@dataclass(frozen=True)
class FitOptions:
    """The options of `CrystalDiffusion.fit`, with their defaults; other keys are ignored."""

    seed: int = 0
    threads: int = 0  # torch threads; 0 leaves the setting alone
    progress: bool = True
    prop: str | None = None  # the property column to condition on
    lr: float = 1e-3
    ema: float = 0.999
    batch_size: int = 128
    max_minutes: float = 20.0
    epochs: int = 100_000
    cond_drop: float = 0.1
    denovo_frac: float = 0.5

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> FitOptions:
        given = {f.name: options[f.name] for f in fields(cls) if f.name in options}
        for name in ("seed", "batch_size", "epochs"):
            if name in given:
                given[name] = int(given[name])
        for name in ("lr", "ema", "max_minutes", "cond_drop", "denovo_frac"):
            if name in given:
                given[name] = float(given[name])
        given["threads"] = int(given["threads"]) if given.get("threads") else 0
        return cls(**given)


@dataclass
class TrainingTensors:
    """The training set on the device: standardised lattices (n, 6), fractional coordinates
    (n, N, 3), atom types as +-1 one-hots (n, N, V), atom masks (n, N), and the standardised
    property (n, 1) with its known-mask (n,) when the model is conditioned."""

    lattice: torch.Tensor
    frac: torch.Tensor
    types: torch.Tensor
    mask: torch.Tensor
    prop: torch.Tensor | None = None
    prop_known: torch.Tensor | None = None

    @classmethod
    def build(cls, arrays: CrystalArrays, config: dict[str, Any], prop_values: np.ndarray | None,
              device: torch.device) -> TrainingTensors:
        """Standardise with the statistics in `config` (lattice_mean/std, prop_mean/std)."""
        types = torch.tensor(arrays.types, device=device)
        onehot = torch.nn.functional.one_hot(types, len(config["vocab"])).float() * 2 - 1
        # the statistics in the lattices' own precision, as they were computed
        lat_mean, lat_std = (torch.tensor(np.asarray(config[k], dtype=arrays.lattice.dtype),
                                          device=device) for k in ("lattice_mean", "lattice_std"))
        lat = (torch.tensor(arrays.lattice, device=device) - lat_mean) / lat_std
        out = cls(lat, torch.tensor(arrays.frac, device=device), onehot,
                  torch.tensor(arrays.mask, device=device))
        if prop_values is not None:
            pv = torch.tensor((prop_values - config["prop_mean"]) / config["prop_std"],
                              dtype=torch.float32, device=device)
            out.prop_known = torch.isfinite(pv)
            out.prop = torch.nan_to_num(pv)[:, None]
        return out

    def __len__(self) -> int:
        return len(self.mask)


def batch_loss(model: ScoreNet, schedule: Schedule, data: TrainingTensors, idx: torch.Tensor,
               denovo_frac: float, cond_drop: float) -> torch.Tensor:
    """Denoising loss of the cells `idx` at random noise levels: lattice noise, coordinate
    scores (real atoms only) and, for the de novo cells, type noise."""
    b, dev = len(idx), idx.device
    t = torch.randint(1, schedule.steps + 1, (b,), device=dev)
    noisy = corrupt(schedule, t, data.lattice[idx], data.frac[idx], data.types[idx])
    denovo = torch.rand(b, device=dev) < denovo_frac
    typ_in = torch.where(denovo[:, None, None], noisy["types_t"], data.types[idx])
    m = data.mask[idx]
    keep = p_in = None
    if data.prop is not None:
        keep = data.prop_known[idx] & (torch.rand(b, device=dev) >= cond_drop)
        p_in = data.prop[idx]
    eps_l, x_out, eps_a = model(typ_in, noisy["frac_t"], noisy["lattice_t"], m,
                                t.float() / schedule.steps, denovo.long(), p_in, keep)
    mf = m.float()[..., None]
    loss_l = ((eps_l - noisy["eps_lattice"]) ** 2).mean()
    loss_x = (((x_out - noisy["score_target"]) ** 2) * mf).sum() / (mf.sum() * 3)
    tm = mf * denovo.float()[:, None, None]
    loss_a = (((eps_a - noisy["eps_types"]) ** 2) * tm).sum() \
        / (tm.sum() * data.types.shape[-1] + 1e-9)
    return loss_l + loss_x + loss_a


class WeightAverage:
    """Exponential moving average of a model's weights, which sampling uses: a short CPU run
    ends on noisy weights, and the average denoises far better than the last step's. The
    decay warms up as (1 + k) / (10 + k) so that short runs are not dominated by the initial
    weights."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model = copy.deepcopy(model).requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        keep = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for p_avg, p in zip(self.model.parameters(), model.parameters()):
            p_avg.lerp_(p, 1 - keep)


class Trainer:
    """AdamW on the denoiser with gradient clipping, a cosine learning-rate decay (to 5%)
    over the time budget or the epoch count, whichever ends first, and the weight average."""

    def __init__(self, model: ScoreNet, schedule: Schedule, data: TrainingTensors,
                 options: FitOptions):
        self.model, self.schedule, self.data, self.options = model, schedule, data, options
        self.opt = torch.optim.AdamW(model.parameters(), lr=options.lr)
        self.average = WeightAverage(model, options.ema)
        self.timer = Timer(options.max_minutes)

    def run_epoch(self, epoch: int, rng: np.random.Generator) -> float:
        """One pass over the shuffled training set (epoch counts from 0); the mean loss."""
        o, n = self.options, len(self.data)
        perm = torch.tensor(rng.permutation(n), device=self.data.mask.device)
        total = 0.0
        for i in range(0, n, o.batch_size):
            idx = perm[i:i + o.batch_size]
            loss = batch_loss(self.model, self.schedule, self.data, idx, o.denovo_frac,
                              o.cond_drop)
            done = max(self.timer.elapsed / self.timer.limit, epoch / o.epochs)
            for group in self.opt.param_groups:
                group["lr"] = o.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(done, 1))))
            optimiser_step(self.opt, loss, clip_norm=1.0)
            self.average.update(self.model)
            total += loss.item() * len(idx)
        return total / n
