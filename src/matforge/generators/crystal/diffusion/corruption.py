"""The forward (noising) processes of the crystal diffusion, DiffCSP-style.

- Lattice (6 invariant numbers, standardised) and atom types (one-hot, for de novo): DDPM
  with a cosine schedule, the model predicts the noise.
- Fractional coordinates: variance-exploding noise wrapped onto the unit torus
  (x_t = frac(x_0 + sigma_t * eps)); the model predicts sigma_t times the score of the wrapped
  normal, which is O(1) at every noise level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

N_IMAGES = 3  # periodic images summed in the wrapped-normal density


def cosine_alpha_bars(steps: int, s: float = 0.008) -> torch.Tensor:
    """(steps + 1,) cumulative signal fractions of the cosine schedule (index 0 = clean)."""
    t = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    bars = (f / f[0]).clamp(1e-5, 1.0)
    return bars.float()


def ve_sigmas(steps: int, sigma_min: float = 0.005, sigma_max: float = 0.5) -> torch.Tensor:
    """(steps + 1,) geometric noise levels for the coordinates (index 0 = 0, clean)."""
    sig = torch.exp(torch.linspace(math.log(sigma_min), math.log(sigma_max), steps))
    return torch.cat([torch.zeros(1), sig])


def wrapped_normal_score(d: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """d/dx log of the wrapped normal density at displacement d (in fractional units)."""
    k = torch.arange(-N_IMAGES, N_IMAGES + 1, dtype=d.dtype, device=d.device)
    x = d.unsqueeze(-1) + k
    s2 = (sigma**2).unsqueeze(-1)
    logw = -(x**2) / (2 * s2)
    w = torch.softmax(logw, dim=-1)
    return (w * (-x / s2)).sum(-1)


@dataclass
class Schedule:
    steps: int
    alpha_bars: torch.Tensor
    sigmas: torch.Tensor

    @classmethod
    def make(cls, steps: int = 1000, sigma_min: float = 0.005,
             sigma_max: float = 0.5) -> Schedule:
        return cls(steps, cosine_alpha_bars(steps), ve_sigmas(steps, sigma_min, sigma_max))


def corrupt(schedule: Schedule, t: torch.Tensor, lattice: torch.Tensor, frac: torch.Tensor,
            types_onehot: torch.Tensor, generator: torch.Generator | None = None
            ) -> dict[str, torch.Tensor]:
    """Noise a clean batch at integer steps t (B,) in 1..steps; return noisy inputs + targets.

    lattice (B, 6) standardised, frac (B, N, 3), types_onehot (B, N, V) scaled to +-1."""
    ab = schedule.alpha_bars.to(lattice.device)[t]  # (B,)
    sig = schedule.sigmas.to(lattice.device)[t]  # (B,)
    eps_l = torch.randn(lattice.shape, generator=generator, device=lattice.device)
    eps_a = torch.randn(types_onehot.shape, generator=generator, device=lattice.device)
    eps_x = torch.randn(frac.shape, generator=generator, device=lattice.device)
    lat_t = ab.sqrt()[:, None] * lattice + (1 - ab).sqrt()[:, None] * eps_l
    typ_t = ab.sqrt()[:, None, None] * types_onehot + (1 - ab).sqrt()[:, None, None] * eps_a
    d = sig[:, None, None] * eps_x
    frac_t = (frac + d) % 1.0
    score = wrapped_normal_score(d, sig[:, None, None].expand_as(d))
    return {"lattice_t": lat_t, "types_t": typ_t, "frac_t": frac_t, "eps_lattice": eps_l,
            "eps_types": eps_a, "score_target": score * sig[:, None, None]}
