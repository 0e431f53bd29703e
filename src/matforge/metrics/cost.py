"""Cost and supply risk of the elements a material needs.

- HHI: the Herfindahl-Hirschman index (0-10,000) of world production and of known reserves
  per element (Gaultois et al., Chem. Mater. 2013), from pymatgen's `HHIModel`, averaged over
  the elements of a composition weighted by mass fraction (pymatgen's definition). None when
  an element has no data.
- Critical or toxic elements: the elements the EU lists as critical raw materials
  (Regulation (EU) 2024/1252, Annex II, 2023 list; materials listed only as a mineral or ore
  form, such as bauxite, baryte, feldspar, fluorspar, phosphate rock, coking coal and natural
  graphite, are left out) and a short list of highly toxic or radioactive elements.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from pymatgen.core import Composition

CRITICAL_ELEMENTS = frozenset({
    "Sb", "As", "Be", "Bi", "B", "Co", "Cu", "Ga", "Ge", "Hf", "He", "Li", "Mg", "Mn", "Ni",
    "Nb", "Sc", "Si", "Sr", "Ta", "Ti", "W", "V",
    # platinum-group metals
    "Pt", "Pd", "Ir", "Rh", "Ru", "Os",
    # heavy and light rare earths
    "Y", "La", "Ce", "Pr", "Nd", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
})
TOXIC_ELEMENTS = frozenset({
    "Hg", "Cd", "Pb", "As", "Tl", "Be", "Se", "Te", "Os",
    # radioactive: no stable isotope
    "Tc", "Pm", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm",
    "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr",
})


@lru_cache(maxsize=1)
def _hhi_table() -> dict[str, tuple[float, float]]:
    from pymatgen.analysis.hhi import HHIModel

    return dict(HHIModel().symbol_hhip_hhir)


@lru_cache(maxsize=200_000)
def hhi(formula: str) -> tuple[float | None, float | None]:
    """(HHI of production, HHI of reserves) of a composition; (None, None) without data.

    Same numbers as `HHIModel().get_hhi` (mass-fraction weighted), without its per-element
    recomputation of the weight fractions.
    """
    table = _hhi_table()
    comp = Composition(formula)
    masses = {el.symbol: float(el.atomic_mass) * amt for el, amt in comp.items()}
    total = sum(masses.values())
    if total <= 0 or any(el not in table for el in masses):
        return None, None
    p = sum(table[el][0] * m for el, m in masses.items()) / total
    r = sum(table[el][1] * m for el, m in masses.items()) / total
    return p, r


def flagged_elements(formula: str, critical: Iterable[str] = CRITICAL_ELEMENTS,
                     toxic: Iterable[str] = TOXIC_ELEMENTS) -> list[str]:
    """The listed critical or toxic elements a composition contains, sorted."""
    listed = set(critical) | set(toxic)
    return sorted(s for s in _symbols(formula) if s in listed)


@lru_cache(maxsize=200_000)
def _symbols(formula: str) -> tuple[str, ...]:
    return tuple(el.symbol for el in Composition(formula).elements)
