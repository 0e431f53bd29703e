"""matforge's array-built CHGNet graph is CHGNet's own graph, row for row."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from matforge.oracles.chgnet_graph import chgnet_graph, pair_directed_edges
from matforge.oracles.potentials import load_chgnet


def _perturbed(structure: Structure, seed: int) -> Structure:
    rng = np.random.default_rng(seed)
    out = structure.copy()
    out.apply_strain(rng.normal(0, 0.03, 3))
    return Structure(out.lattice, out.species,
                     out.cart_coords + rng.normal(0, 0.05, (len(out), 3)),
                     coords_are_cartesian=True)


STRUCTURES = {
    # one atom per cell: every bond joins an atom to its own periodic image
    "bcc Fe, primitive": Structure(Lattice([[-1.43, 1.43, 1.43], [1.43, -1.43, 1.43],
                                            [1.43, 1.43, -1.43]]), ["Fe"], [[0, 0, 0]]),
    # dense covalent network: many angles per atom
    "diamond": _perturbed(Structure(Lattice.cubic(3.57), ["C"] * 8,
                                    [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
                                     [0.25, 0.25, 0.25], [0.75, 0.75, 0.25],
                                     [0.75, 0.25, 0.75], [0.25, 0.75, 0.75]]), 0),
    "cubic perovskite": _perturbed(Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"],
                                             [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0],
                                              [0.5, 0, 0.5], [0, 0.5, 0.5]]), 1),
    "triclinic": Structure(Lattice.from_parameters(4.1, 5.3, 6.2, 71, 98, 113),
                           ["Li", "Mn", "O", "O"],
                           [[0.1, 0.2, 0.3], [0.6, 0.4, 0.8], [0.35, 0.7, 0.1],
                            [0.8, 0.9, 0.55]]),
}


@pytest.fixture(scope="module")
def converter():
    return load_chgnet("cpu").graph_converter


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_graph_is_chgnets_row_for_row(converter, name):
    structure = STRUCTURES[name]
    ours, theirs = chgnet_graph(structure, converter), converter(structure)
    assert len(ours.bond_graph) > 0
    for attr in ("atomic_number", "atom_graph", "neighbor_image", "directed2undirected",
                 "undirected2directed", "bond_graph", "lattice", "atom_frac_coord"):
        assert torch.equal(getattr(ours, attr), getattr(theirs, attr)), attr
    assert ours.atom_frac_coord.requires_grad and ours.lattice.requires_grad


def test_every_directed_edge_is_paired_with_its_reverse():
    center = np.array([0, 1, 0, 0])
    neighbor = np.array([1, 0, 0, 0])
    image = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [-1, 0, 0]])
    d2u, u2d = pair_directed_edges(center, neighbor, image)
    assert d2u.tolist() == [0, 0, 1, 1]
    assert u2d.tolist() == [0, 2]


def test_an_edge_without_reverse_is_an_error():
    with pytest.raises(ValueError, match="not symmetric"):
        pair_directed_edges(np.array([0]), np.array([1]), np.zeros((1, 3), dtype=int))


def test_a_structure_without_bonds_gives_an_empty_graph(converter):
    lonely = Structure(Lattice.cubic(12.0), ["Na"], [[0, 0, 0]])
    graph = chgnet_graph(lonely, converter)
    assert graph.atom_graph.shape == (0, 2) and graph.bond_graph.shape == (0, 5)
