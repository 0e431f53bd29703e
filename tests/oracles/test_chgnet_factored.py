"""CHGNet's energy computed in the factored order is CHGNet's own energy, forces and stress."""

from __future__ import annotations

import pytest
import torch
from pymatgen.core import Lattice, Structure

from matforge.oracles.chgnet_factored import chgnet_energy, gated_mlp
from matforge.oracles.chgnet_graph import chgnet_graph
from matforge.oracles.potentials import load_chgnet

# nearest neighbours beyond the bond graph's 3 A: bonds but no angles
NO_ANGLES = Structure(Lattice.cubic(3.4), ["Cs"], [[0, 0, 0]])


@pytest.fixture(scope="module")
def model():
    return load_chgnet("cpu")


def _batched(model, structures):
    from chgnet.model.model import BatchedGraph

    graphs = [chgnet_graph(s, model.graph_converter) for s in structures]
    return BatchedGraph.from_graphs(graphs, bond_basis_expansion=model.bond_basis_expansion,
                                    angle_basis_expansion=model.angle_basis_expansion,
                                    compute_stress=True)


def _energy_and_gradients(model, structures, factored: bool):
    batched = _batched(model, structures)
    with torch.enable_grad():
        energy = chgnet_energy(model, batched) if factored else model._compute(batched)["e"]
        total = (energy * torch.bincount(batched.atom_owners)).sum()
        grads = torch.autograd.grad(total, [*batched.atom_positions, *batched.strains])
    return energy.detach(), grads


def test_gated_mlp_of_pieces_is_the_mlp_of_their_concatenation(model):
    layer = model.bond_conv_layers[0].twoBody_bond  # [bond i, bond j, angle, atom] -> 64
    gen = torch.Generator().manual_seed(0)
    atoms, bonds, angles = (torch.randn(n, 64, generator=gen) for n in (4, 9, 30))
    idx = [torch.randint(0, n, (30,), generator=gen) for n in (9, 9, 4)]
    pieces = [(bonds, idx[0]), (bonds, idx[1]), (angles, None), (atoms, idx[2])]
    expected = layer(torch.cat([bonds[idx[0]], bonds[idx[1]], angles, atoms[idx[2]]], dim=1))
    assert torch.allclose(gated_mlp(layer, pieces), expected, atol=1e-5)


@pytest.mark.parametrize("with_cells", [True, False], ids=["batch", "no angles at all"])
def test_energy_forces_and_stress_match_chgnets_own_pass(model, small_cells, with_cells):
    assert len(_batched(model, [NO_ANGLES]).angle_bases) == 0
    structures = [*small_cells.values(), NO_ANGLES] if with_cells else [NO_ANGLES]
    ours, our_grads = _energy_and_gradients(model, structures, factored=True)
    theirs, their_grads = _energy_and_gradients(model, structures, factored=False)
    assert torch.allclose(ours, theirs, atol=1e-5)
    for mine, reference in zip(our_grads, their_grads):
        assert torch.allclose(mine, reference, atol=1e-4)


def test_only_the_last_angle_update_is_skipped(model, small_cells):
    """Its output feeds nothing the energy uses, so skipping it changes no number."""
    called = []
    hooks = [layer.twoBody_bond.bn1.register_forward_hook(lambda *args, i=i: called.append(i))
             for i, layer in enumerate(model.angle_layers)]
    try:
        chgnet_energy(model, _batched(model, [small_cells["diamond"]]))
    finally:
        for hook in hooks:
            hook.remove()
    assert called == list(range(len(model.angle_layers) - 1))
