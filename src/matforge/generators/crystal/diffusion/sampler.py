"""The reverse process: ancestral DDPM steps for lattice and types, predictor-corrector on the
torus for fractional coordinates (DiffCSP's sampler), classifier-free guidance on top.

Guidance mixes the conditional and unconditional predictions,
`(1 + w) * pred(prop) - w * pred(no prop)`, for every output.
"""

from __future__ import annotations

import itertools

import torch

from matforge.generators.crystal.diffusion.corruption import Schedule
from matforge.generators.crystal.diffusion.score_model import ScoreNet


@torch.no_grad()
def sample_batch(model: ScoreNet, schedule: Schedule, mask: torch.Tensor,
                 types: torch.Tensor | None, prop: torch.Tensor | None = None,
                 guidance: float = 0.0, step_lr: float = 1e-5, corrector: bool = True,
                 generator: torch.Generator | None = None, progress=None,
                 n_steps: int | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample cells. mask (B,N) bool; types (B,N,V) clean ±1 one-hots for CSP or None for de
    novo. `n_steps` < schedule.steps jumps between evenly spaced noise levels (the DDPM
    posterior and the VE predictor hold between any two levels). Returns (lattice (B,6)
    standardised, frac (B,N,3), type scores (B,N,V))."""
    b, n = mask.shape
    v = model.n_types
    dev = mask.device

    def randn(*shape):
        return torch.randn(*shape, generator=generator, device=dev)

    csp = types is not None
    mode = torch.full((b,), 0 if csp else 1, dtype=torch.long, device=dev)
    lat = randn(b, 6)
    typ = types.clone() if csp else randn(b, n, v)
    frac = torch.rand(b, n, 3, generator=generator, device=dev)
    ab, sig = schedule.alpha_bars.to(dev), schedule.sigmas.to(dev)
    use_prop = prop is not None
    ones = torch.ones(b, dtype=torch.bool, device=dev)

    def predict(t_int: int, lat, frac, typ):
        t = torch.full((b,), t_int / schedule.steps, device=dev)
        out = model(typ, frac, lat, mask, t, mode, prop, ones if use_prop else None)
        if use_prop and guidance != 0.0:
            unc = model(typ, frac, lat, mask, t, mode, prop, ~ones)
            out = tuple((1 + guidance) * c - guidance * u for c, u in zip(out, unc))
        return out

    n_steps = min(n_steps or schedule.steps, schedule.steps)
    levels = torch.linspace(schedule.steps, 0, n_steps + 1).round().long().tolist()
    pairs = list(itertools.pairwise(levels))
    for t, s in (progress(pairs) if progress else pairs):
        s_t, s_prev = sig[t], sig[s]
        if corrector:
            _, x_out, _ = predict(t, lat, frac, typ)
            step = step_lr * (s_t / sig[1]) ** 2
            frac = (frac + step * x_out / s_t + (2 * step).sqrt() * randn(b, n, 3)) % 1.0
        eps_l, x_out, eps_a = predict(t, lat, frac, typ)
        # coordinates: reverse VE predictor on the torus
        score = x_out / s_t
        var = s_t**2 - s_prev**2
        noise_std = (s_prev**2 * var / s_t**2).sqrt()
        frac = (frac + var * score + noise_std * randn(b, n, 3)) % 1.0
        # lattice (and types): ancestral DDPM
        alpha = ab[t] / ab[s]
        beta_tilde = (1 - ab[s]) / (1 - ab[t]) * (1 - alpha)
        z = 0.0 if s == 0 else 1.0
        lat = (lat - (1 - alpha) / (1 - ab[t]).sqrt() * eps_l) / alpha.sqrt() \
            + z * beta_tilde.sqrt() * randn(b, 6)
        if not csp:
            typ = (typ - (1 - alpha) / (1 - ab[t]).sqrt() * eps_a) / alpha.sqrt() \
                + z * beta_tilde.sqrt() * randn(b, n, v)
        frac = frac * mask[..., None]
    return lat, frac, typ
