"""The positive-unlabelled data of the synthesizability model, its splits, and the decoys.

Positives are compositions reported from experiment: the Matbench experimental band gap and
metallicity sets (Zhuo et al. 2018, compiled from measurements). Unlabelled are the
compositions of the computed databases (Materials Project, OQMD, AFLOW, the Castelli
perovskites): many of them have been made, many are hypothetical, and which is which is not
recorded here, which is exactly the setting PU learning is for. No row of a data set's test
split is used; positives are removed from the unlabelled set.

Splits go by chemical system (all of Li-Fe-O on one side), so a doped variant of a training
compound cannot stand in for a held-out one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from matforge.chem.elements import DEFAULT_EXCLUDED
from matforge.chem.formula import reduced_formula
from matforge.chem.validity import check_composition
from matforge.data.known import chemical_system, dataset_formulas
from matforge.errors import MatforgeError

POSITIVE_SETS = ("matbench-expt-gap", "matbench-expt-is-metal")
UNLABELLED_SETS = ("mp-e-hull", "mp-mu-b", "mp-bulk-modulus", "oqmd-bandgap", "aflow-egap",
                   "aflow-bulk-modulus", "matbench-castelli", "matbench-dielectric",
                   "mp-transport")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass
class PUData:
    """Reduced formulas by label and split, with the data sets they came from."""

    positives: dict[str, list[str]]  # split -> formulas
    unlabelled: dict[str, list[str]]
    sources: dict[str, int]
    missing: list[str]

    def describe(self) -> str:
        sizes = ", ".join(f"{s} {len(self.positives[s]):,}/{len(self.unlabelled[s]):,}"
                          for s in ("train", "val", "test"))
        return f"positives/unlabelled per split: {sizes}"


def system_split(formula: str, salt: str = "synthesizability") -> str:
    """'train', 'val' or 'test' from a hash of the formula's chemical system."""
    digest = hashlib.sha256(f"{salt}:{chemical_system(formula)}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edges = np.cumsum(SPLIT_FRACTIONS)
    return ("train", "val", "test")[int(np.searchsorted(edges, u, side="right"))]


def _formulas(name: str, splits: tuple[str, ...] | None) -> frozenset[str]:
    """Reduced formulas of a data set, from the given splits only (None: all rows)."""
    if splits is None:
        return dataset_formulas(name)
    from matforge.data.registry import load_dataset

    out: set[str] = set()
    for split in splits:
        out |= {reduced_formula(str(f)) for f in load_dataset(name, split=split)["formula"]}
    return frozenset(out)


def load_pu_data(positive_sets: tuple[str, ...] = POSITIVE_SETS,
                 unlabelled_sets: tuple[str, ...] = UNLABELLED_SETS) -> PUData:
    """Assemble and split the PU data from the registered sets that load here."""
    sources: dict[str, int] = {}
    missing: list[str] = []
    positives: set[str] = set()
    unlabelled: set[str] = set()
    for names, target, splits in ((positive_sets, positives, None),
                                  (unlabelled_sets, unlabelled, ("train", "val"))):
        for name in names:
            try:
                formulas = _formulas(name, splits)
            except MatforgeError:
                missing.append(name)
                continue
            sources[name] = len(formulas)
            target |= formulas
    if not positives:
        raise MatforgeError("no experimental (positive) data set loads here: "
                            + ", ".join(positive_sets) + " (set MATFORGE_DATA_DIR)")
    unlabelled -= positives
    by_split = {s: ([], []) for s in ("train", "val", "test")}
    for label, formulas in ((0, positives), (1, unlabelled)):
        for f in sorted(formulas):
            by_split[system_split(f)][label].append(f)
    return PUData({s: p for s, (p, _) in by_split.items()},
                  {s: u for s, (_, u) in by_split.items()}, sources, missing)


def random_decoys(n: int, known: frozenset[str] | set[str], seed: int = 0,
                  max_tries: int | None = None) -> list[str]:
    """Random charge-balanced compositions: 2-4 elements drawn uniformly from H..Bi (no noble
    gases, no radioactive elements), integer amounts 1-6, kept when SMACT's default oxidation
    states find a charge-neutral, electronegativity-balanced assignment, the formula is not
    known, and it is not all-metal."""
    from pymatgen.core import Element

    pool = [Element.from_Z(z).symbol for z in range(1, 84)]
    pool = [s for s in pool if s not in DEFAULT_EXCLUDED]
    rng = np.random.default_rng(seed)
    out: dict[str, None] = {}
    max_tries = max_tries or 20 * n + 1000  # about one draw in six passes
    for _ in range(max_tries):
        if len(out) >= n:
            break
        k = int(rng.integers(2, 5))
        els = rng.choice(pool, size=k, replace=False)
        amounts = rng.integers(1, 7, size=k)
        formula = reduced_formula("".join(f"{e}{a}" for e, a in zip(els, amounts)))
        if formula in known or formula in out:
            continue
        if check_composition(formula).valid_strict:
            out[formula] = None
    if len(out) < n:
        raise MatforgeError(f"found only {len(out)} of {n} decoys in {max_tries} tries")
    return list(out)


def random_in_split(n: int, split: str, data: PUData, seed: int, batch: int) -> list[str]:
    """n random decoys (see `random_decoys`) whose chemical systems fall in `split`, none of
    them known or a positive; drawn `batch` at a time until there are n."""
    from matforge.data.known import known_compositions

    taken = known_compositions().formulas | {f for fs in data.positives.values() for f in fs}
    out: list[str] = []
    while len(out) < n:
        draws = random_decoys(batch, taken | set(out), seed=seed + len(out))
        out += [f for f in draws if system_split(f) == split][: n - len(out)]
    return out
