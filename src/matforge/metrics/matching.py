"""Structure and composition identity for uniqueness, novelty, recovery and S.U.N.

Two compositions are the same material when their reduced formulas are equal. Two structures
are the same when pymatgen's `StructureMatcher` (defaults: ltol=0.2, stol=0.3, angle_tol=5,
primitive cell, scaled volumes; the matcher DiffCSP and MatterGen use for uniqueness and
novelty) fits them. A supercell matches its primitive cell because both are reduced to the
primitive, Niggli-reduced cell first. To stay fast, every structure is reduced once
(instead of once per comparison) and only structures with the same reduced formula and the
same number of sites in the primitive cell are compared.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from matforge.metrics.parallel import pmap

MATCHER_DEFAULTS = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}


def reduce_structure(structure: Structure) -> Structure:
    """Primitive, Niggli-reduced cell: what StructureMatcher compares, computed once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return structure.get_primitive_structure().get_reduced_structure()
        except Exception:  # noqa: BLE001 - degenerate cells: compare them as given
            return structure.copy()


def reduce_all(structures: Sequence[Structure], n_jobs: int | None = None,
               progress: bool = True) -> list[Structure]:
    return pmap(reduce_structure, structures, n_jobs=n_jobs, desc="reduce cells",
                progress=progress, chunksize=16)


def _key(reduced: Structure) -> tuple[str, int]:
    return reduced.composition.reduced_formula, len(reduced)


def _fit(matcher: StructureMatcher, a: Structure, b: Structure) -> bool:
    try:
        return bool(matcher.fit(a, b, skip_structure_reduction=True))
    except Exception:  # noqa: BLE001 - one bad structure must not stop a batch
        return False


def _groups_unique(args: tuple[list[int], list[Structure], dict]) -> list[int]:
    """Class id (index of the first member) for each structure of one formula group."""
    idx, structs, kw = args
    matcher = StructureMatcher(**kw)
    reps: list[int] = []
    cls: list[int] = []
    for k, s in enumerate(structs):
        for r in reps:
            if _fit(matcher, structs[r], s):
                cls.append(idx[r])
                break
        else:
            reps.append(k)
            cls.append(idx[k])
    return cls


def structure_classes(structures: Sequence[Structure], reduced: Sequence[Structure] | None = None,
                      n_jobs: int | None = None, progress: bool = True,
                      **matcher_kw: float) -> np.ndarray:
    """For each structure, the index of the first structure it matches (itself if none)."""
    kw = {**MATCHER_DEFAULTS, **matcher_kw}
    reduced = list(reduced) if reduced is not None else reduce_all(structures, n_jobs, progress)
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, s in enumerate(reduced):
        groups[_key(s)].append(i)
    jobs = [(g, [reduced[i] for i in g], kw) for g in groups.values()]
    results = pmap(_groups_unique, jobs, n_jobs=n_jobs, desc="unique", progress=progress,
                   chunksize=max(1, len(jobs) // 64))
    out = np.arange(len(reduced))
    for (g, _, _), cls in zip(jobs, results):
        out[g] = cls
    return out


def _first_match(args: tuple[Structure, list[Structure], dict]) -> int:
    s, refs, kw = args
    if not refs:
        return -1
    matcher = StructureMatcher(**kw)
    for j, r in enumerate(refs):
        if _fit(matcher, s, r):
            return j
    return -1


def match_against(queries: Sequence[Structure], references: Sequence[Structure],
                  n_jobs: int | None = None, progress: bool = True, desc: str = "match",
                  **matcher_kw: float) -> np.ndarray:
    """For each (reduced) query, the index of the first (reduced) reference it matches, or -1."""
    kw = {**MATCHER_DEFAULTS, **matcher_kw}
    by_key: dict[tuple[str, int], list[int]] = defaultdict(list)
    for j, r in enumerate(references):
        by_key[_key(r)].append(j)
    jobs = [(q, [references[j] for j in by_key.get(_key(q), [])], kw) for q in queries]
    hits = pmap(_first_match, jobs, n_jobs=n_jobs, desc=desc, progress=progress, chunksize=8)
    out = np.full(len(queries), -1)
    for i, (q, h) in enumerate(zip(queries, hits)):
        if h >= 0:
            out[i] = by_key[_key(q)][h]
    return out


_SIMPLE_FORMULA = re.compile(r"(?:[A-Z][a-z]?\d*(?:\.\d+)?)+")
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*(?:\.\d+)?)")


@lru_cache(maxsize=500_000)
def formula_key(formula: str) -> str:
    """Canonical identity of a composition: elements sorted, amounts reduced by their gcd
    (or normalised to fractions when not integers). Equal keys <=> equal reduced formulas.
    Simple formulas ("Li2FeO4") are parsed with a regex, anything else by pymatgen."""
    amounts: dict[str, float] = {}
    if _SIMPLE_FORMULA.fullmatch(formula):
        for el, n in _TOKEN.findall(formula):
            amounts[el] = amounts.get(el, 0.0) + (float(n) if n else 1.0)
    else:
        from pymatgen.core import Composition

        amounts = {str(el): float(a) for el, a in Composition(formula).items()}
    amounts = {el: a for el, a in amounts.items() if a > 1e-8}
    if all(abs(a - round(a)) < 1e-6 for a in amounts.values()):
        g = math.gcd(*(round(a) for a in amounts.values())) or 1
        return "".join(f"{el}{round(a) // g}" for el, a in sorted(amounts.items()))
    total = sum(amounts.values())
    return "".join(f"{el}{a / total:.6f}" for el, a in sorted(amounts.items()))


def formula_classes(formulas: Sequence[str]) -> np.ndarray:
    """For each reduced formula, the index of its first occurrence."""
    first: dict[str, int] = {}
    return np.array([first.setdefault(formula_key(f), i) for i, f in enumerate(formulas)],
                    dtype=int)
