"""Charge neutrality and electronegativity balance, by SMACT's definitions, with reasons.

The rules follow SMACT's `smact_validity` (as CDVAE uses it): a composition is charge-neutral
when some assignment of allowed oxidation states, one per element, balances the charge at
the composition's reduced stoichiometry; it is electronegativity-balanced when a
charge-neutral assignment also passes the Pauling test (every cation less electronegative than
every anion). Unlike `smact_validity`, every verdict is split into its parts and carries a
reason, and all-metal compositions are reported as the category "alloy" instead of being
counted valid silently. `valid` reproduces SMACT/CDVAE (alloys and single elements valid);
`valid_strict` counts alloys invalid.

The default oxidation states are SMACT 4's own default, the filtered ICSD 2024 set
(`chem.oxidation`); `oxidation_set="smact14"` gives the 2014 list behind the published CDVAE,
MatGAN and Material-Transformer validity figures, for tables that compare with them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from pymatgen.core import Composition

from matforge.chem.oxidation import DEFAULT_OXIDATION_SET, element_data


@dataclass(frozen=True)
class ChemVerdict:
    formula: str
    category: str  # "element", "alloy" (all metals) or "compound"
    charge_neutral: bool
    electronegativity_balanced: bool
    oxidation_states: tuple[tuple[str, int], ...] | None  # one passing assignment, if any
    reason: str

    @property
    def valid(self) -> bool:
        """SMACT/CDVAE validity: single elements and all-metal compositions count as valid."""
        if self.category in ("element", "alloy"):
            return True
        return self.charge_neutral and self.electronegativity_balanced

    @property
    def valid_strict(self) -> bool:
        """Charge-neutral and balanced, with all-metal compositions (alloys) invalid."""
        return self.category != "alloy" and self.charge_neutral and self.electronegativity_balanced

    @property
    def charge_neutral_strict(self) -> bool:
        return self.category != "alloy" and self.charge_neutral


def check_composition(composition: Composition | str,
                      oxidation_set: str = DEFAULT_OXIDATION_SET) -> ChemVerdict:
    comp = composition if isinstance(composition, Composition) else Composition(composition)
    reduced, _ = comp.get_reduced_composition_and_factor()
    symbols = tuple(str(el) for el in reduced.elements)
    counts = []
    for el in reduced.elements:
        amount = reduced[el]
        if abs(amount - round(amount)) > 1e-6:
            # Fractional (disordered) occupancies: scale to integers as far as is sensible.
            return _fractional(comp, oxidation_set)
        counts.append(round(amount))
    return _check(symbols, tuple(counts), oxidation_set)


def check_compositions(compositions: Iterable[Composition | str],
                       oxidation_set: str = DEFAULT_OXIDATION_SET) -> list[ChemVerdict]:
    return [check_composition(c, oxidation_set) for c in compositions]


def _fractional(comp: Composition, oxidation_set: str) -> ChemVerdict:
    for scale in range(1, 21):
        amounts = [comp[el] * scale / min(comp.values()) for el in comp.elements]
        if all(abs(a - round(a)) < 1e-3 for a in amounts):
            ints = [round(a) for a in amounts]
            g = math.gcd(*ints)
            return _check(tuple(str(e) for e in comp.elements), tuple(i // g for i in ints),
                          oxidation_set)
    return ChemVerdict(comp.reduced_formula, "compound", False, False, None,
                       "fractional occupancies with no small integer ratio")


@lru_cache(maxsize=200_000)
def _check(symbols: tuple[str, ...], counts: tuple[int, ...], oxidation_set: str) -> ChemVerdict:
    import smact
    from smact.screening import pauling_test

    formula = Composition(dict(zip(symbols, counts))).reduced_formula
    if len(symbols) == 1:
        return ChemVerdict(formula, "element", True, True, ((symbols[0], 0),),
                           "single element: neutral by definition")
    is_alloy = all(s in smact.metals for s in symbols)
    category = "alloy" if is_alloy else "compound"
    ox_lists, electronegs = [], []
    for s in symbols:
        ox, en = element_data(s, oxidation_set)
        if not ox:
            return ChemVerdict(formula, category, False, False, None,
                               f"{s} has no oxidation states in the {oxidation_set} set"
                               + ("; all-metal composition (alloy)" if is_alloy else ""))
        ox_lists.append(ox)
        electronegs.append(en)
    threshold = max(counts)
    stoichs = [(c,) for c in counts]
    neutral = None
    for ox_states in itertools.product(*ox_lists):
        if not smact.neutral_ratios(ox_states, stoichs=stoichs, threshold=threshold):
            continue
        if neutral is None:
            neutral = ox_states
        try:
            en_ok = pauling_test(ox_states, electronegs)
        except TypeError:  # missing electronegativity: SMACT treats the test as passed
            en_ok = True
        if en_ok:
            reason = "charge-neutral and electronegativity-balanced"
            if is_alloy:
                reason += "; all-metal composition (alloy)"
            return ChemVerdict(formula, category, True, True, tuple(zip(symbols, ox_states)), reason)
    if neutral is not None:
        assignment = ", ".join(f"{s}{o:+d}" for s, o in zip(symbols, neutral))
        reason = (f"charge-neutral (e.g. {assignment}) but no neutral assignment puts every "
                  "cation below every anion in Pauling electronegativity")
        if is_alloy:
            reason += "; all-metal composition (alloy)"
        return ChemVerdict(formula, category, True, False, tuple(zip(symbols, neutral)), reason)
    reason = "no combination of allowed oxidation states balances the charge"
    if is_alloy:
        reason = "all-metal composition (alloy): " + reason
    return ChemVerdict(formula, category, False, False, None, reason)
