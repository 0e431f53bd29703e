"""Crystal encodings for learning: rotation-invariant lattice parameters + fractional coords.

A cell is described by six numbers (log a, log b, log c, alpha, beta, gamma in radians), which
do not change under rotation of the crystal, and by fractional coordinates in [0, 1), which are
periodic. Batches are padded to the largest cell with a mask, because Perov-5 / Carbon-24
cells have at most 24 atoms and dense padded tensors are simpler and fast on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Lattice, Structure

ANGLE_RANGE = (np.deg2rad(30.0), np.deg2rad(150.0))


def lattice_params(structure: Structure) -> np.ndarray:
    """(6,) log lengths and angles (radians) of a cell's lattice."""
    a, b, c = structure.lattice.abc
    al, be, ga = np.deg2rad(structure.lattice.angles)
    return np.array([np.log(a), np.log(b), np.log(c), al, be, ga])


def params_to_lattice(params: Sequence[float]) -> Lattice:
    """Inverse of `lattice_params`, clipping angles into a range that keeps the cell valid."""
    p = np.asarray(params, dtype=float)
    lengths = np.exp(np.clip(p[:3], np.log(0.5), np.log(100.0)))
    angles = np.rad2deg(np.clip(p[3:], *ANGLE_RANGE))
    lattice = Lattice.from_parameters(*lengths, *angles)
    if not np.isfinite(lattice.volume) or lattice.volume < 1e-3:
        lattice = Lattice.from_parameters(*lengths, 90.0, 90.0, 90.0)
    return lattice


@dataclass
class CrystalArrays:
    """Padded arrays for a batch of cells: types (B, N) vocab indices, frac (B, N, 3),
    mask (B, N) bool, lattice (B, 6)."""

    types: np.ndarray
    frac: np.ndarray
    mask: np.ndarray
    lattice: np.ndarray


def encode_structures(structures: Sequence[Structure], vocab: Sequence[str],
                      max_atoms: int | None = None) -> CrystalArrays:
    """Encode cells against an element vocabulary; elements outside it raise KeyError."""
    index = {el: i for i, el in enumerate(vocab)}
    n_max = max_atoms or max(len(s) for s in structures)
    b = len(structures)
    types = np.zeros((b, n_max), dtype=np.int64)
    frac = np.zeros((b, n_max, 3), dtype=np.float32)
    mask = np.zeros((b, n_max), dtype=bool)
    lattice = np.zeros((b, 6), dtype=np.float32)
    for i, s in enumerate(structures):
        n = len(s)
        types[i, :n] = [index[site.specie.symbol] for site in s]
        frac[i, :n] = s.frac_coords % 1.0
        mask[i, :n] = True
        lattice[i] = lattice_params(s)
    return CrystalArrays(types, frac, mask, lattice)


def decode_structure(types: Sequence[int], frac: np.ndarray, lattice: Sequence[float],
                     vocab: Sequence[str]) -> Structure:
    """One cell from vocab indices, fractional coordinates and the six lattice numbers."""
    return Structure(params_to_lattice(lattice), [vocab[int(t)] for t in types],
                     np.asarray(frac) % 1.0)
