"""matforge's array-built CHGNet graph is CHGNet's own graph, row for row."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from matforge.oracles.chgnet_graph import chgnet_graph, pair_directed_edges
from matforge.oracles.potentials import load_chgnet


@pytest.fixture(scope="module")
def converter():
    return load_chgnet("cpu").graph_converter


def test_graph_is_chgnets_row_for_row(converter, small_cell):
    ours, theirs = chgnet_graph(small_cell, converter), converter(small_cell)
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
