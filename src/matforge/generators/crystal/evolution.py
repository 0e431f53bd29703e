"""Variation operators of a structure genetic algorithm: lattice strain, atom swaps and
cut-and-splice crossover (Deaven-Ho style, as USPEX and GASP use them).

Each operator takes relaxed parents and returns an unrelaxed child with the same composition
per cell; the search relaxes the children and keeps the low-energy ones. Children keep no
atoms closer than `MIN_SEPARATION`: the potential would push them apart violently or fail.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Lattice, Structure

MIN_SEPARATION = 0.7  # Å
STRAIN_SIGMA = 0.08  # symmetric strain components ~ N(0, sigma): enough to leave a basin


def strain(parent: Structure, rng: np.random.Generator) -> Structure:
    """The parent under a random symmetric strain, volume kept, atoms rattled a little."""
    e = rng.normal(0.0, STRAIN_SIGMA, (3, 3))
    e = (e + e.T) / 2
    matrix = parent.lattice.matrix @ (np.eye(3) + e)
    child = Structure(Lattice(matrix), parent.species, parent.frac_coords)
    child.scale_lattice(parent.volume)
    child.perturb(0.1)
    return child


def swap(parent: Structure, rng: np.random.Generator) -> Structure:
    """The parent with two atoms of different elements exchanged (the same cell otherwise)."""
    species = [site.specie for site in parent]
    pairs = [(i, j) for i in range(len(species)) for j in range(i + 1, len(species))
             if species[i] != species[j]]
    if not pairs:
        return strain(parent, rng)
    i, j = pairs[int(rng.integers(len(pairs)))]
    species[i], species[j] = species[j], species[i]
    return Structure(parent.lattice, species, parent.frac_coords)


def cut_and_splice(a: Structure, b: Structure, rng: np.random.Generator) -> Structure | None:
    """A child with the part of `a` below a random fractional plane and the part of `b`
    above it, in the average of the two cells; None when the halves cannot be stitched into
    the parents' composition (different sizes, or the wrong atoms on each side)."""
    if len(a) != len(b) or a.composition != b.composition:
        return None
    axis = int(rng.integers(3))
    cut = float(rng.uniform(0.3, 0.7))
    shift_a, shift_b = rng.random(3), rng.random(3)
    fa = (a.frac_coords + shift_a) % 1.0
    fb = (b.frac_coords + shift_b) % 1.0
    species = [s.specie for s in a] + [s.specie for s in b]
    coords = np.vstack([fa, fb])
    keep = np.concatenate([fa[:, axis] < cut, fb[:, axis] >= cut])
    child_species = [sp for sp, k in zip(species, keep) if k]
    target = a.composition
    counts: dict = {}
    for sp in child_species:
        counts[sp] = counts.get(sp, 0) + 1
    if any(counts.get(el, 0) != round(target[el]) for el in target) or \
            sum(counts.values()) != len(a):
        return None
    lattice = Lattice((a.lattice.matrix + b.lattice.matrix) / 2)
    return Structure(lattice, child_species, coords[keep])


def offspring(parents: Sequence[Structure], n: int, seed: int) -> list[tuple[Structure, str]]:
    """Up to `n` children of the lowest-energy `parents` (first = best), with the operator
    that made each. The best parent is chosen most often; a child with atoms too close is
    dropped and drawn again, up to a few times per child."""
    rng = np.random.default_rng(seed)
    if not parents:
        return []
    weights = 1.0 / (1.0 + np.arange(len(parents)))
    weights /= weights.sum()
    out: list[tuple[Structure, str]] = []
    for _ in range(4 * n):
        if len(out) >= n:
            break
        first = parents[int(rng.choice(len(parents), p=weights))]
        op = ("crossover", "strain", "swap")[int(rng.integers(3))]
        if op == "crossover" and len(parents) > 1:
            second = parents[int(rng.choice(len(parents), p=weights))]
            child = cut_and_splice(first, second, rng)
        elif op == "swap":
            child = swap(first, rng)
        else:
            op, child = "strain", strain(first, rng)
        if child is not None and _separated(child):
            out.append((child, op))
    return out


def _separated(structure: Structure) -> bool:
    if len(structure) < 2:
        return True
    dm = structure.distance_matrix + np.eye(len(structure)) * 1e3
    return float(dm.min()) >= MIN_SEPARATION
