"""The one formula identity of matforge: pymatgen's reduced formula.

Two compositions are the same material for novelty, uniqueness, lookups and splits exactly
when their reduced formulas are equal ("NaCl" == "Na2Cl2" == "ClNa"). Memoised, because data
sets repeat formulas and a campaign asks about the same candidates many times.
"""

from __future__ import annotations

from functools import lru_cache

from pymatgen.core import Composition


@lru_cache(maxsize=1_000_000)
def reduced_formula(formula: str) -> str:
    """Reduced formula of a formula string; raises ValueError for text that is not one."""
    return Composition(formula).reduced_formula
