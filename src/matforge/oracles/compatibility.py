"""Energies on the Materials Project 2020 scale, so GGA and GGA+U results can share a hull.

MP mixes GGA (metals, most compounds) and GGA+U (oxides and fluorides of Co, Cr, Fe, Mn, Mo,
Ni, V, W) and fixes the anion and mixing errors with fitted corrections, the
MaterialsProject2020Compatibility scheme. A potential's energy must be on that scale before
it meets other phases on a hull:

- a potential whose training labels already carry the corrections (CHGNet 0.3.0, see
  `potentials`) is on the scale as predicted: correction 0;
- a potential trained on uncorrected energies gets pymatgen's scheme, with the run type
  and U values MP would have used for the composition (MPRelaxSet's convention: U on
  those metals when O or F is present), as matbench-discovery does for such models.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version

from pymatgen.core import Structure

from matforge.oracles.potentials import PotentialInfo

SCHEME = "MP2020"


def correction_id(info: PotentialInfo) -> str:
    """How energies of this potential are put on the MP2020 scale (part of every cache key)."""
    if info.energy_scale == "mp2020":
        return f"{SCHEME} (in the potential's training labels)"
    return f"{SCHEME} (pymatgen MaterialsProject2020Compatibility, pymatgen {version('pymatgen')})"


@lru_cache(maxsize=1)
def _scheme():
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    return MaterialsProject2020Compatibility(check_potcar=False)


def mp_run_parameters(structure: Structure) -> dict:
    """The run type and Hubbard U values Materials Project would use for this composition."""
    scheme = _scheme()
    symbols = {str(el) for el in structure.composition.elements}
    anion = "F" if "F" in symbols else "O" if "O" in symbols else None
    hubbards = {} if anion is None else {
        el: u for el, u in scheme.u_settings[anion].items() if el in symbols and u > 0}
    return {"run_type": "GGA+U" if hubbards else "GGA", "hubbards": hubbards}


def corrected_energy_per_atom(structure: Structure, energy_per_atom: float,
                              info: PotentialInfo) -> float:
    """The potential's energy per atom of `structure` on the MP2020 scale.

    Raises ValueError when the scheme refuses the entry (pymatgen's CompatibilityError), so
    the caller can fail that one structure with the reason."""
    if info.energy_scale == "mp2020":
        return float(energy_per_atom)
    from pymatgen.entries.compatibility import CompatibilityError
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    entry = ComputedStructureEntry(structure, float(energy_per_atom) * len(structure),
                                   parameters=mp_run_parameters(structure))
    try:
        processed = _scheme().process_entry(entry)
    except CompatibilityError as exc:
        raise ValueError(f"MP2020 compatibility refused the entry: {exc}") from None
    if processed is None:
        raise ValueError("MP2020 compatibility refused the entry (no correction defined)")
    return float(processed.energy_per_atom)
