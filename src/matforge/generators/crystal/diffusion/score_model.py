"""The denoiser: message passing over all atom pairs of a cell, periodic and E(3)-invariant.

Inputs a network sees are invariant by construction: the six lattice numbers (lengths and
angles do not change when the crystal is rotated or reflected) and Fourier features of
fractional-coordinate differences (unchanged by translating every atom or by a lattice
translation of any one atom). Outputs: noise on the lattice numbers (pooled over atoms),
sigma-scaled scores on each atom's fractional coordinates, and noise on the atom-type
one-hots (de novo). A property embedding enters every layer; a learned "no property"
embedding is used when conditions are dropped, which is what classifier-free guidance needs.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the diffusion time in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    args = t[:, None] * 1000.0 * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class ScoreNet(nn.Module):
    def __init__(self, n_types: int, hidden: int = 128, layers: int = 4, n_freq: int = 8,
                 n_props: int = 1):
        super().__init__()
        self.hidden, self.n_freq, self.n_types, self.n_props = hidden, n_freq, n_types, n_props
        self.type_in = nn.Linear(n_types, hidden)
        self.time_in = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU())
        self.prop_in = nn.Sequential(nn.Linear(n_props, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.null_prop = nn.Parameter(torch.zeros(hidden))
        self.mode_in = nn.Embedding(2, hidden)  # 0: types given (CSP), 1: types generated
        edge_in = 2 * hidden + 6 + 6 * n_freq
        self.edge_mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(edge_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                          nn.SiLU()) for _ in range(layers))
        self.node_mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.coord_out = nn.Linear(hidden, 3)
        self.type_out = nn.Linear(hidden, n_types)
        self.lattice_out = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(),
                                         nn.Linear(hidden, 6))

    def forward(self, types: torch.Tensor, frac: torch.Tensor, lattice: torch.Tensor,
                mask: torch.Tensor, t: torch.Tensor, mode: torch.Tensor,
                prop: torch.Tensor | None, prop_mask: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """types (B,N,V) float, frac (B,N,3), lattice (B,6), mask (B,N) bool, t (B,) in [0,1],
        mode (B,) long, prop (B,P) or None, prop_mask (B,) bool (True = use the property)."""
        b, n, _ = frac.shape
        g = self.time_in(time_embedding(t, self.hidden)) + self.mode_in(mode)
        null = self.null_prop.expand(b, -1)
        if prop is not None:
            pe = self.prop_in(prop)
            keep = prop_mask[:, None] if prop_mask is not None else torch.ones_like(pe[:, :1])
            g = g + torch.where(keep.bool(), pe, null)
        else:
            g = g + null
        h = self.type_in(types) + g[:, None]
        diff = frac[:, None, :, :] - frac[:, :, None, :]  # (B,N,N,3) f_j - f_i
        k = torch.arange(1, self.n_freq + 1, device=frac.device, dtype=frac.dtype)
        ang = 2 * math.pi * diff[..., None] * k  # (B,N,N,3,F)
        fourier = torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1).flatten(-2)
        lat = lattice[:, None, None, :].expand(b, n, n, 6)
        pair_mask = (mask[:, :, None] & mask[:, None, :]).float()[..., None]
        count = mask.float().sum(1).clamp(min=1)[:, None, None]
        for edge_mlp, node_mlp, norm in zip(self.edge_mlps, self.node_mlps, self.norms):
            hi = h[:, :, None, :].expand(b, n, n, self.hidden)
            hj = h[:, None, :, :].expand(b, n, n, self.hidden)
            m = edge_mlp(torch.cat([hi, hj, lat, fourier], dim=-1)) * pair_mask
            agg = m.sum(2) / count
            h = h + node_mlp(torch.cat([norm(h), agg], dim=-1))
            h = h * mask[..., None]
        pooled = h.sum(1) / count[:, :, 0]
        return self.lattice_out(pooled), self.coord_out(h), self.type_out(h)
