"""CHGNet's energy with each message MLP's first layer applied before the gather.

Why: CHGNet builds every message by gathering features onto the edges, concatenating them and
applying a linear layer. On the angle graph four 64-wide pieces (two bonds, the angle, the
centre atom) become a 256-wide row per angle, and angles outnumber the bonds they use ~20:1
and atoms ~150:1. A linear layer of a concatenation is the sum of linear layers of its pieces,
so here each piece is projected where it lives (per bond, per atom; only the bonds inside the
bond graph's cutoff), and only the projections are gathered and added. The gated MLP's core
and gate share one projection. The angle update of the last message-passing block feeds
nothing the energy uses, so it is skipped. The numbers are CHGNet's up to float32 rounding;
the forward and backward pass together take under 0.6 of the time of CHGNet's own
(docs/oracles.md).

This walks CHGNet's own modules and weights, so the model is unchanged. It follows the layer
layout of CHGNet 0.3.0 (`chgnet.model.layers`); tests/oracles/test_chgnet_factored.py compares
energies, forces and stress with CHGNet's own pass, so a changed CHGNet fails there.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Angles(NamedTuple):
    """CHGNet's bond graph (per angle: centre atom, bond i, bond j) and the bonds it uses."""

    graph: Any  # (angles, 3)
    bonds: Any  # the undirected bonds that take part in some angle
    local: Any  # (angles, 2): bond i and bond j as positions in `bonds`

    @classmethod
    def of(cls, bond_graph: Any) -> Angles:
        import torch

        bonds, local = torch.unique(bond_graph[:, 1:], return_inverse=True)
        return cls(bond_graph, bonds, local)


def chgnet_energy(model: Any, graph: Any) -> Any:
    """Energy per atom (as CHGNet's `_compute(...)["e"]`) of a BatchedGraph `graph`."""
    import torch

    atoms_per_graph = torch.bincount(graph.atom_owners)
    atom_feas = model.atom_embedding(graph.atomic_numbers - 1)
    bond_feas = model.bond_embedding(graph.bond_bases_ag)
    weights_ag = model.bond_weights_ag(graph.bond_bases_ag)
    weights_bg = model.bond_weights_bg(graph.bond_bases_bg)
    has_angles = len(graph.angle_bases) != 0
    angle_feas = model.angle_embedding(graph.angle_bases) if has_angles else None
    last = len(model.bond_conv_layers) - 1
    angles = Angles.of(graph.batched_bond_graph) if has_angles else None
    for idx, (atom_layer, bond_layer, angle_layer) in enumerate(
            zip(model.atom_conv_layers[:-1], model.bond_conv_layers, model.angle_layers)):
        atom_feas = _atom_conv(atom_layer, atom_feas, bond_feas, weights_ag, graph)
        if has_angles and bond_layer is not None:
            bond_feas = _bond_conv(bond_layer, atom_feas, bond_feas, weights_bg, angle_feas,
                                   angles)
            if angle_layer is not None and idx < last:
                angle_feas = _angle_update(angle_layer, atom_feas, bond_feas, angle_feas,
                                           angles)
    atom_feas = _atom_conv(model.atom_conv_layers[-1], atom_feas, bond_feas, weights_ag, graph)
    if model.readout_norm is not None:
        atom_feas = model.readout_norm(atom_feas)
    if model.mlp_first:
        energy = model.pooling(model.mlp(atom_feas), graph.atom_owners).view(-1)
    else:
        energy = model.mlp(model.pooling(atom_feas, graph.atom_owners)).view(-1)
        energy = energy * atoms_per_graph
    return energy / atoms_per_graph if model.is_intensive else energy


def _atom_conv(layer: Any, atom_feas: Any, bond_feas: Any, bond_weights: Any,
               graph: Any) -> Any:
    """chgnet.model.layers.AtomConv: messages [centre atom, bond, neighbour atom] per
    directed edge, weighted, summed onto the centre atom."""
    edges, to_undirected = graph.batched_atom_graph, graph.directed2undirected
    messages = gated_mlp(layer.twoBody_atom, [(atom_feas, edges[:, 0]),
                                              (bond_feas, to_undirected),
                                              (atom_feas, edges[:, 1])])
    messages = messages * bond_weights.index_select(0, to_undirected)
    new = atom_feas.new_zeros(atom_feas.shape).index_add_(0, edges[:, 0], messages)
    return _finish(layer, new, atom_feas, layer.atom_norm)


def _bond_conv(layer: Any, atom_feas: Any, bond_feas: Any, bond_weights: Any, angle_feas: Any,
               angles: Angles) -> Any:
    """chgnet.model.layers.BondConv: messages [bond i, bond j, angle, centre atom] per angle,
    weighted by both bonds, summed onto bond i."""
    update = gated_mlp(layer.twoBody_bond, _angle_pieces(atom_feas, bond_feas, angle_feas,
                                                         angles))
    bond_i, bond_j = angles.graph[:, 1], angles.graph[:, 2]
    update = update * bond_weights.index_select(0, bond_i) \
        * bond_weights.index_select(0, bond_j)
    new = bond_feas.new_zeros(bond_feas.shape).index_add_(0, bond_i, update)
    return _finish(layer, new, bond_feas, layer.bond_norm)


def _angle_update(layer: Any, atom_feas: Any, bond_feas: Any, angle_feas: Any,
                  angles: Angles) -> Any:
    """chgnet.model.layers.AngleUpdate: the same pieces as BondConv, one new feature per
    angle."""
    new = gated_mlp(layer.twoBody_bond, _angle_pieces(atom_feas, bond_feas, angle_feas,
                                                      angles))
    if layer.resnet:
        new = new + angle_feas
    return layer.angle_norm(new) if layer.angle_norm is not None else new


def _angle_pieces(atom_feas: Any, bond_feas: Any, angle_feas: Any, angles: Angles) -> list:
    # about one bond in ten lies within the bond graph's 3 A: project only those
    near = bond_feas.index_select(0, angles.bonds)
    return [(near, angles.local[:, 0]), (near, angles.local[:, 1]), (angle_feas, None),
            (atom_feas, angles.graph[:, 0])]


def _finish(layer: Any, new: Any, old: Any, norm: Any) -> Any:
    if layer.use_mlp_out:
        new = layer.mlp_out(new)
    if layer.resnet:
        new = new + old
    return norm(new) if norm is not None else new


def gated_mlp(mlp: Any, pieces: list[tuple[Any, Any]]) -> Any:
    """chgnet.model.functions.GatedMLP applied to the concatenation of gathered pieces.

    `pieces` are (features, index) in concatenation order; index None means the rows are
    already per edge. Equal to `mlp(torch.cat([f[i] for f, i in pieces], 1))`.
    """
    import torch

    first_core, rest_core = _split_first_linear(mlp.mlp_core)
    first_gate, rest_gate = _split_first_linear(mlp.mlp_gate)
    weight = torch.cat([first_core.weight, first_gate.weight])
    bias = torch.cat([first_core.bias, first_gate.bias])
    out = _project_and_gather(pieces, weight, bias)
    core, gate = out.split(first_core.out_features, dim=1)  # split's backward is one cat
    core, gate = rest_core(core), rest_gate(gate)
    if mlp.norm is not None:
        core, gate = mlp.bn1(core), mlp.bn2(gate)
    return mlp.activation(core) * mlp.sigmoid(gate)


def _project_and_gather(pieces: list[tuple[Any, Any]], weight: Any, bias: Any) -> Any:
    """Per edge: bias + sum over pieces of (features @ its weight columns.T)[index].

    Each gathered piece is projected where it lives (per atom or bond), then gathered. The
    sum grows in place, since autograd needs none of the partial sums.
    """
    out, start = None, 0
    for feas, index in pieces:
        part = feas @ weight[:, start:start + feas.shape[1]].T
        if index is not None:
            part = part.index_select(0, index)
        out = part if out is None else out.add_(part)
        start += feas.shape[1]
    return out.add_(bias)


def _split_first_linear(mlp: Any) -> tuple[Any, Any]:
    """(first Linear, the layers after it) of a chgnet MLP; only zero dropouts may precede
    it, which are the identity."""
    import torch

    layers = list(mlp.layers)
    for i, layer in enumerate(layers):
        if isinstance(layer, torch.nn.Linear):
            if any(not (isinstance(lay, torch.nn.Dropout) and lay.p == 0) for lay in layers[:i]):
                raise ValueError("unexpected CHGNet MLP layout before its first Linear layer")
            return layer, torch.nn.Sequential(*layers[i + 1:])
    raise ValueError("CHGNet MLP without a Linear layer")
