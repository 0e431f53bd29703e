"""The structure variant of the synthesizability model: is this polymorph the one chemists make?

A composition score cannot tell two structures of one formula apart. The structure variant
scores a structure from the pretrained CHGNet's descriptors of it (which carry its energy and
local environments) together with the composition's features, trained by the same bagging PU
learning as the composition model:

- **positives**: the Materials Project structures matforge has (`matbench-phonons`) whose
  composition is reported from experiment (the Matbench experimental sets). MP keeps the
  structure it computed for a composition, which for these compounds is almost always the
  made polymorph; this is the nearest thing to ICSD-sourced entries (Jang et al.'s positives)
  that loads here.
- **unlabelled**: the other `matbench-phonons` structures, the Perov-5 and Carbon-24 val
  structures (hypothetical perovskites and AIRSS carbon polymorphs), and, as artificial
  unlabelled structures in the way SynthNN adds artificial formulas, one random symmetric
  structure (pyxtal, unrelaxed) with the cell composition of every `matbench-phonons`
  structure, so the model sees the same composition in a structure nobody made.

Splits go by chemical system, as for the composition model. The test split's random
structures of positive compositions give a check the composition model cannot pass: how
often the real structure outranks a random one of the same composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Structure
from tqdm.auto import tqdm

from matforge.errors import MatforgeError
from matforge.synthesizability.data import POSITIVE_SETS, system_split

MP_STRUCTURES = "matbench-phonons"
HYPOTHETICAL_SETS = ("perov-5", "carbon-24")  # val splits only


@dataclass
class StructurePUData:
    """Structures with labels (1 positive, 0 unlabelled), sources and splits; `pair[i]` is
    the index of the random structure made for structure i (or -1)."""

    structures: list[Structure] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    pair: list[int] = field(default_factory=list)

    def add(self, structure: Structure, label: int, source: str) -> int:
        self.structures.append(structure)
        self.labels.append(label)
        self.sources.append(source)
        self.splits.append(system_split(structure.composition.reduced_formula))
        self.pair.append(-1)
        return len(self.structures) - 1

    def select(self, split: str, label: int | None = None,
               source: str | None = None) -> list[int]:
        return [i for i, (sp, lab, src) in enumerate(zip(self.splits, self.labels, self.sources))
                if sp == split and (label is None or lab == label)
                and (source is None or src == source)]

    def describe(self) -> str:
        parts = []
        for split in ("train", "val", "test"):
            parts.append(f"{split} {len(self.select(split, 1))}/{len(self.select(split, 0))}")
        return "positives/unlabelled structures per split: " + ", ".join(parts)


def load_structure_pu_data(seed: int = 0, progress: bool = True) -> StructurePUData:
    """Assemble the structure PU data (see the module docstring); needs MATFORGE_DATA_DIR."""
    from matforge.data import load_dataset
    from matforge.data.known import dataset_formulas
    from matforge.data.readers import parse_cif

    experimental: set[str] = set()
    for name in POSITIVE_SETS:
        experimental |= dataset_formulas(name)
    data = StructurePUData()
    mp = load_dataset(MP_STRUCTURES)
    for i, (formula, cif) in enumerate(zip(mp["formula"], mp["cif"])):
        data.add(parse_cif(cif, row=i + 1), int(formula in experimental), MP_STRUCTURES)
    for name in HYPOTHETICAL_SETS:
        frame = load_dataset(name, split="val")
        for i, cif in enumerate(frame["cif"]):
            data.add(parse_cif(cif, row=i + 1), 0, name)
    add_random_polymorphs(data, seed, progress)
    return data


def add_random_polymorphs(data: StructurePUData, seed: int, progress: bool) -> None:
    """One unrelaxed pyxtal structure per MP structure, same cell composition, unlabelled."""
    from matforge.generators.crystal.random_symmetric import RandomSymmetricCSP

    csp = RandomSymmetricCSP()
    mp = [i for i, src in enumerate(data.sources) if src == MP_STRUCTURES]
    for i in tqdm(mp, desc="random polymorphs", disable=not progress):
        try:
            made = csp.propose(data.structures[i].composition, k=1, seed=seed * 100_003 + i)[0]
        except MatforgeError:
            continue  # no symmetric placement for this cell: it gets no random partner
        data.pair[i] = data.add(made, 0, "random")


def same_composition_auc(scores: np.ndarray, data: StructurePUData, split: str) -> float:
    """Share of positive structures of `split` that outrank the random structure of their own
    composition (ties count half): the ROC AUC over those pairs."""
    wins = [float(scores[i] > scores[j]) + 0.5 * float(scores[i] == scores[j])
            for i in data.select(split, 1) if (j := data.pair[i]) >= 0]
    if not wins:
        raise MatforgeError(f"no positive structure of the {split} split has a random partner")
    return float(np.mean(wins))
