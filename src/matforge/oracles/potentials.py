"""Universal interatomic potentials behind one provider that pins and records their versions.

Every energy matforge compares (formation energies, hulls, rankings) must come from one named
model at one version, so each potential carries a `PotentialInfo`: the model name and
version it loads (pinned, never "latest"), the package version, and the energy scale of its
training labels. That record goes into every output and every cache key.

Energy scale: CHGNet 0.3.0 was trained on MPtrj energies that already carry the Materials
Project 2020 corrections (anion, GGA/GGA+U mixing). Its formation energies against its own
elemental references match experiment for oxides with and without U (Fe2O3 -1.69 vs -1.71
eV/atom, MnO -2.01 vs -2.00, Li2O -2.07 vs -2.07; benchmarks/energy_scale.py), while applying
the scheme again would shift them by the whole correction (Fe2O3 to -3.00). So its scale is
"mp2020": compatible as predicted. A potential trained on uncorrected GGA/GGA+U energies has
scale "raw" and goes through pymatgen's MaterialsProject2020Compatibility
(`oracles.compatibility`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
from pymatgen.core import Structure

from matforge.errors import MatforgeError

MODELS = ("chgnet", "sevennet")
CHGNET_MODEL = "0.3.0"
SEVENNET_MODEL = "7net-0"
MAX_EDGES_PER_ATOM = 400  # a dense metal has ~80 within 5 A; far more means collapsed atoms


@dataclass(frozen=True)
class PotentialInfo:
    """Which model produced an energy: enough to reproduce it and to key a cache on it."""

    name: str  # "chgnet" or "sevennet"
    model: str  # the pinned weights, e.g. "0.3.0"
    package: str  # the package version that loaded them
    energy_scale: str  # "mp2020" (labels already corrected) or "raw" (correct them)

    @property
    def identity(self) -> str:
        """One string for cache keys and output columns, e.g. 'chgnet-0.3.0 (chgnet 0.4.2)'."""
        return f"{self.name}-{self.model} ({self.name} {self.package})"


def _package_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


@lru_cache(maxsize=4)
def potential_info(model: str = "chgnet") -> PotentialInfo:
    """The record of a potential by name, without loading its weights."""
    if model == "chgnet":
        return PotentialInfo("chgnet", CHGNET_MODEL, _package_version("chgnet"), "mp2020")
    if model == "sevennet":
        # SevenNet-0 predicts uncorrected GGA/GGA+U energies: 0.64 eV/atom from experiment
        # as predicted, 0.04 with MP2020 applied (benchmarks/energy_scale.py)
        return PotentialInfo("sevennet", SEVENNET_MODEL, _package_version("sevenn"), "raw")
    raise MatforgeError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


class Potential:
    """Energy, forces and stress for a list of structures in one call."""

    info: PotentialInfo
    max_z = 118

    @property
    def name(self) -> str:
        return self.info.name

    def efs(self, structures: Sequence[Structure]) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """Per structure: (energy per atom eV, forces (n,3) eV/A, stress (3,3) eV/A^3, ASE sign)."""
        raise NotImplementedError

    def check(self, structure: Structure) -> None:
        """Raise ValueError if this potential cannot handle the structure at all."""
        zs = [sp.Z for sp in structure.composition.elements]
        if max(zs) > self.max_z:
            raise ValueError(f"{self.name} has no parameters for Z={max(zs)}")


def default_device(device: str | None = None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


_CHGNET: dict[str, Any] = {}


def load_chgnet(device: str | None = None) -> Any:
    """The pinned CHGNet model on `device`, loaded once per process (weights ship in the
    package). Every CHGNet user in matforge goes through here."""
    from chgnet.model import CHGNet

    device = default_device(device)
    if device not in _CHGNET:
        model = CHGNet.load(model_name=CHGNET_MODEL, verbose=False).to(device)
        model.eval()
        # callers check for isolated atoms themselves and say which structure has them
        model.graph_converter.set_isolated_atom_response("ignore")
        for param in model.parameters():
            param.requires_grad_(False)
        _CHGNET[device] = model
    return _CHGNET[device]


class ChgnetPotential(Potential):
    """CHGNet with batched graphs and a single first-order backward pass per batch.

    `max_atoms` caps the atoms per model call: on 2 CPU cores large batches are no faster per
    atom than small ones, while small ones keep memory low.
    """

    max_z = 94

    def __init__(self, device: str | None = None, max_atoms: int = 256) -> None:
        import torch

        self.torch = torch
        self.info = potential_info("chgnet")
        self.device = default_device(device)
        self.model = load_chgnet(self.device)
        self.max_atoms = max_atoms

    def graph(self, structure: Structure) -> Any:
        from matforge.oracles.chgnet_graph import chgnet_graph

        return chgnet_graph(structure, self.model.graph_converter)

    def check(self, structure: Structure) -> None:
        super().check(structure)
        graph = self.graph(structure)
        bonded = set(graph.atom_graph[:, 0].tolist()) if graph.atom_graph.numel() else set()
        if graph.atom_graph.shape[0] > MAX_EDGES_PER_ATOM * len(structure):
            raise ValueError("atoms too close: more than "
                             f"{MAX_EDGES_PER_ATOM} neighbours per atom within 5 A")
        if len(bonded) < len(structure):
            raise ValueError(f"{len(structure) - len(bonded)} isolated atom(s): no neighbour "
                             "within CHGNet's 5 A cutoff")

    def efs(self, structures: Sequence[Structure]) -> list[tuple[float, np.ndarray, np.ndarray]]:
        out: list[tuple[float, np.ndarray, np.ndarray]] = []
        chunk: list[Structure] = []
        n_atoms = 0
        for s in structures:
            if chunk and n_atoms + len(s) > self.max_atoms:
                out.extend(self._efs_batch(chunk))
                chunk, n_atoms = [], 0
            chunk.append(s)
            n_atoms += len(s)
        if chunk:
            out.extend(self._efs_batch(chunk))
        return out

    def _efs_batch(self, structures: Sequence[Structure]) -> list[tuple]:
        torch = self.torch
        graphs = [self.graph(s).to(self.device) for s in structures]
        with torch.enable_grad():
            per_atom, positions, strains, volumes = chgnet_energy_graph(self.model, graphs)
            grads = torch.autograd.grad(per_atom[1].sum(), [*positions, *strains])
        energy = per_atom[0].detach().cpu().numpy()
        k = len(graphs)
        results = []
        for i in range(k):
            forces = -grads[i].detach().cpu().numpy().astype(float)
            stress = grads[k + i].detach().cpu().numpy().astype(float) / float(volumes[i])
            results.append((float(energy[i]), forces, stress))
        return results


def chgnet_energy_graph(model: Any, graphs: list[Any]) -> tuple:
    """((energy per atom, total energy of the interaction part), positions, strains, volumes)
    for a batch of CHGNet graphs, differentiable with respect to positions and strains.

    CHGNet's public `forward` always builds the second-order graph it needs for training
    (create_graph=True); relaxation needs first derivatives only, so the energy comes from
    `chgnet_factored.chgnet_energy` (CHGNet's own layers, computed in a cheaper order) and is
    differentiated here. tests/oracles/test_oracles_relax.py compares its forces and stress
    with CHGNet's own calculator, so a changed CHGNet fails there.
    """
    import torch
    from chgnet.model.model import BatchedGraph

    from matforge.oracles.chgnet_factored import chgnet_energy

    batched = BatchedGraph.from_graphs(
        graphs, bond_basis_expansion=model.bond_basis_expansion,
        angle_basis_expansion=model.angle_basis_expansion, compute_stress=True)
    per_atom = chgnet_energy(model, batched)
    n = torch.bincount(batched.atom_owners).to(per_atom.dtype)
    comp = model.composition_model(graphs) if model.composition_model is not None else 0
    return ((per_atom + comp, per_atom * n), batched.atom_positions, batched.strains,
            batched.volumes)


class AsePotential(Potential):
    """Any ASE calculator, one structure at a time (used for SevenNet)."""

    def __init__(self, calculator: Any, info: PotentialInfo) -> None:
        self.calc = calculator
        self.info = info

    def efs(self, structures: Sequence[Structure]) -> list[tuple[float, np.ndarray, np.ndarray]]:
        from ase.stress import voigt_6_to_full_3x3_stress
        from pymatgen.io.ase import AseAtomsAdaptor

        out = []
        for s in structures:
            atoms = AseAtomsAdaptor.get_atoms(s)
            atoms.calc = self.calc
            energy = atoms.get_potential_energy() / len(atoms)
            stress = voigt_6_to_full_3x3_stress(atoms.get_stress())
            out.append((float(energy), np.asarray(atoms.get_forces(), float), stress))
        return out


_POTENTIALS: dict[tuple, Potential] = {}


def get_potential(model: str | Potential = "chgnet", device: str | None = None,
                  **kwargs: Any) -> Potential:
    """A cached potential by name ("chgnet" or "sevennet"); loading CHGNet takes ~1 s."""
    if isinstance(model, Potential):
        return model
    key = (model, device, tuple(sorted(kwargs.items())))
    if key in _POTENTIALS:
        return _POTENTIALS[key]
    info = potential_info(model)
    if model == "chgnet":
        pot: Potential = ChgnetPotential(device=device, **kwargs)
    else:
        try:
            from sevenn.calculator import SevenNetCalculator
        except ImportError as exc:
            raise MatforgeError("--model sevennet needs the 'sevenn' package "
                                "(pip install sevenn); CHGNet is the default") from exc
        pot = AsePotential(SevenNetCalculator(SEVENNET_MODEL, device=device or "auto"), info)
    _POTENTIALS[key] = pot
    return pot
