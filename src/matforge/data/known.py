"""Every composition matforge knows: the union of all registered data sets it can load here.

Novelty means "absent from everything we know", not "absent from the training set": a
candidate that sits in OQMD or the Matbench sets is a known compound, whatever the generator
was trained on. The same union lists the competing phases of a chemical system for the
offline hull. Data sets that cannot be loaded on this machine (not downloaded, offline) are
named in `missing`, so every output can say exactly what it was checked against.

Reduced formulas per data set are cached under the matforge cache, keyed by a hash of the
set's formula column, so a second call costs a few seconds of parquet reads.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from matforge.chem.formula import reduced_formula
from matforge.data.paths import cache_dir
from matforge.errors import MatforgeError

CACHE_VERSION = "1"
KNOWN = "known"  # the name campaign specs use for this union
_SYMBOL = re.compile(r"[A-Z][a-z]?")


@dataclass
class KnownCompositions:
    """Reduced formulas with the data sets they came from."""

    formulas: frozenset[str]
    sources: dict[str, int]  # data set -> distinct compositions it holds
    missing: list[str] = field(default_factory=list)  # registered sets not loadable here
    _by_system: dict[str, list[str]] | None = field(default=None, repr=False)

    def __contains__(self, formula: object) -> bool:
        return isinstance(formula, str) and formula in self.formulas

    def __len__(self) -> int:
        return len(self.formulas)

    def describe(self) -> str:
        """One line naming the reference, for outputs and reports."""
        parts = ", ".join(f"{name} {n:,}" for name, n in sorted(self.sources.items()))
        text = f"{len(self):,} known compositions from {len(self.sources)} data sets ({parts})"
        if self.missing:
            text += f"; not available here: {', '.join(self.missing)}"
        return text

    def in_system(self, elements: Iterable[str]) -> list[str]:
        """Known compositions of the chemical system and all its subsystems with at least
        two elements (elements themselves are the hull's references)."""
        index = self._system_index()
        els = sorted({str(e) for e in elements})
        out: list[str] = []
        for k in range(2, len(els) + 1):
            for sub in itertools.combinations(els, k):
                out.extend(index.get("-".join(sub), ()))
        return out

    def _system_index(self) -> dict[str, list[str]]:
        if self._by_system is None:
            index: dict[str, list[str]] = defaultdict(list)
            for f in sorted(self.formulas):
                index[chemical_system(f)].append(f)
            self._by_system = dict(index)
        return self._by_system


def chemical_system(formula: str) -> str:
    """'Ce-In-As' style system of a formula string, sorted, from its element symbols (what
    pymatgen's `Composition.chemical_system` gives, without parsing the amounts)."""
    return "-".join(sorted(set(_SYMBOL.findall(formula))))


def dataset_formulas(name: str) -> frozenset[str]:
    """Reduced formulas of one registered data set (all splits), cached on disk."""
    from matforge.data.registry import load_dataset

    frame = load_dataset(name, split="all")
    if "formula" not in frame.columns:
        return frozenset()
    raw = [str(f) for f in frame["formula"]]
    digest = hashlib.sha256(("\n".join([CACHE_VERSION, name, *raw])).encode()).hexdigest()[:16]
    path = cache_dir() / "known" / f"{name}-{digest}.txt.gz"
    if path.exists():
        with gzip.open(path, "rt") as fh:
            return frozenset(line for line in fh.read().split("\n") if line)
    formulas = set()
    for f in set(raw):
        try:
            formulas.add(reduced_formula(f))
        except Exception:  # noqa: BLE001, S112 - a formula pymatgen cannot read is no composition
            continue
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt") as fh:
        fh.write("\n".join(sorted(formulas)))
    tmp.replace(path)
    return frozenset(formulas)


@lru_cache(maxsize=4)
def known_compositions(datasets: tuple[str, ...] | None = None) -> KnownCompositions:
    """The union of the registered data sets (default: all of them) that load here."""
    from matforge.data.registry import DATASETS

    names = datasets if datasets is not None else tuple(sorted(DATASETS))
    union: set[str] = set()
    sources: dict[str, int] = {}
    missing: list[str] = []
    for name in names:
        if name not in DATASETS:
            raise MatforgeError(f"unknown data set {name!r} for the known compositions")
        try:
            formulas = dataset_formulas(name)
        except MatforgeError:
            missing.append(name)
            continue
        if formulas:
            sources[name] = len(formulas)
            union |= formulas
    return KnownCompositions(frozenset(union), sources, missing)
