"""Elements a design campaign leaves out unless told otherwise.

A candidate nobody can handle or make is not a useful answer: noble gases form almost no
solids, and radioactive elements (technetium, promethium and everything from polonium,
Z = 84, on) need licences and hot cells. Campaigns exclude both by default; a campaign's
`allowed_elements` or `forbidden_elements` replaces this default.
"""

from __future__ import annotations

from pymatgen.core import Element

NOBLE_GASES = ("He", "Ne", "Ar", "Kr", "Xe", "Rn", "Og")
RADIOACTIVE = ("Tc", "Pm", *(Element.from_Z(z).symbol for z in range(84, 119)))
DEFAULT_EXCLUDED = tuple(sorted(set(NOBLE_GASES) | set(RADIOACTIVE)))
