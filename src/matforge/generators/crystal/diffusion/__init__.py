"""Periodic diffusion over lattice + fractional coordinates (+ atom types), DiffCSP-style:
corruption (forward noise), score_model (denoiser), sampler (reverse process), generator."""
