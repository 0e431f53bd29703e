"""Allowed oxidation states per element, from SMACT's named sets.

The default, "icsd24-filtered", is what SMACT 4's `smact_validity` uses when it is given no
set: the oxidation states reported in the ICSD 2024 release, kept where at least
`consensus` structures show them (SMACT's `ICSD24FilterConfig` defaults). "smact14" is the
2014 list behind the published CDVAE, MatGAN and Material-Transformer validity figures; use
it only to compare with those figures. Everything SMACT-specific is read here, through
SMACT's public names, so a change in SMACT shows up in one place
(tests/chem/test_chem_validity.py compares every verdict with `smact_validity`).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

from matforge.errors import MatforgeError

DEFAULT_OXIDATION_SET = "icsd24-filtered"
# SMACT's named sets that are plain per-element attributes of smact.Element
ELEMENT_ATTRIBUTES = {"smact14": "oxidation_states_smact14",
                      "icsd16": "oxidation_states_icsd16",
                      "icsd24": "oxidation_states_icsd24",
                      "pymatgen_sp": "oxidation_states_sp"}
OXIDATION_SETS = (DEFAULT_OXIDATION_SET, *ELEMENT_ATTRIBUTES)


@lru_cache(maxsize=1)
def _icsd24_filtered() -> dict[str, tuple[int, ...]]:
    from smact.screening import ICSD24FilterConfig
    from smact.utils.oxidation import ICSD24OxStatesFilter

    config = ICSD24FilterConfig()
    table = ICSD24OxStatesFilter().filter(consensus=config.consensus,
                                          include_zero=config.include_zero,
                                          commonality=config.commonality)
    return {str(el): tuple(int(x) for x in str(states).split())
            for el, states in zip(table["element"], table["oxidation_state"])}


@lru_cache(maxsize=1024)
def element_data(symbol: str, oxidation_set: str = DEFAULT_OXIDATION_SET
                 ) -> tuple[tuple[int, ...], float | None]:
    """(allowed oxidation states, Pauling electronegativity) of one element in one set.

    An element SMACT does not know, or one without states in the set, gets ()."""
    import smact

    if oxidation_set not in OXIDATION_SETS:
        raise MatforgeError(f"unknown oxidation-state set {oxidation_set!r}; "
                            f"use one of {', '.join(OXIDATION_SETS)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # noble gases: "no Pauling electronegativity"
            el = smact.Element(symbol)
    except (NameError, KeyError, ValueError):
        return (), None
    if oxidation_set == DEFAULT_OXIDATION_SET:
        states = _icsd24_filtered().get(symbol, ())
    else:
        states = getattr(el, ELEMENT_ATTRIBUTES[oxidation_set]) or ()
    return tuple(int(o) for o in states), el.pauling_eneg
