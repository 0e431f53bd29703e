"""The convex hull of competing phases, and where those phases come from.

A structure is stable when no mix of the other phases of its chemical system is lower in
energy: its energy above the hull (pymatgen's PhaseDiagram) is <= 0. A formation energy
below zero says only that it beats the elements. Every phase on a hull carries an energy on
the MP2020 scale (`compatibility`), so a candidate's corrected energy can be placed on it.

Sources (`make_hull`):
- "auto": every composition matforge knows in the system and its subsystems (the union the
  novelty check uses), each with its lowest-energy structure from `phase_builder`, relaxed
  with the candidate's potential; elements from the potential's elemental references.
  Phases are cached per potential in one SQLite file (`hull_cache`) and seeded from the
  reference matforge ships (`hull_reference`).
- "mp": the Materials Project's GGA/GGA+U entries of the system (MP2020-corrected by MP),
  through mp-api with MP_API_KEY.
- a path or data set name: the user's own phases (CIF folder, CSV with `cif` and optionally
  an energy, or pymatgen ComputedStructureEntry JSON), relaxed with the potential where no
  energy is given (`hull_sources`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from matforge.errors import MatforgeError
from matforge.oracles.hull_cache import Phase


@dataclass(frozen=True)
class HullResult:
    e_above_hull: float  # eV/atom; negative: below the hull of the known phases
    formation_energy_per_atom: float  # against the hull's elemental references
    decomposition: str  # the phases (and fractions) the hull offers at this composition
    n_competing_phases: int  # phases of the system on the diagram, elements included
    hull_source: str


class PhaseSource(ABC):
    """Competing phases of a chemical system, elements included, all on the MP2020 scale."""

    name: str = "phases"

    @abstractmethod
    def phases(self, elements: frozenset[str], leave_out: str | None = None) -> list[Phase]:
        """Phases of the system `elements` and its subsystems. `leave_out`: a formula whose
        own known structures may not be used (leave-one-out benchmarks)."""


class Hull:
    """Phase diagrams per chemical system from one source, built lazily and kept."""

    def __init__(self, source: PhaseSource) -> None:
        self.source = source
        self._diagrams: dict[tuple, tuple[PhaseDiagram, int]] = {}

    @property
    def name(self) -> str:
        return self.source.name

    def prepare(self, systems: list[Collection[str]]) -> None:
        """Build the phases of many systems in one go (one batched relaxation) before they
        are assessed one by one; a source that needs no building ignores it."""
        prepare = getattr(self.source, "prepare", None)
        if prepare is not None:
            prepare([frozenset(str(e) for e in s) for s in systems])

    def diagram(self, elements: Collection[str], leave_out: str | None = None
                ) -> tuple[PhaseDiagram, int]:
        """The diagram of a system and the number of phases on it."""
        key = (frozenset(str(e) for e in elements), leave_out)
        if key not in self._diagrams:
            phases = self.source.phases(key[0], leave_out)
            unaries = [Composition(p.formula).elements for p in phases]
            missing = sorted(key[0] - {str(els[0]) for els in unaries if len(els) == 1})
            if missing:
                raise MatforgeError(f"hull {self.name}: no energy for the element(s) "
                                    f"{', '.join(missing)}")
            entries = [PDEntry(Composition(p.formula),
                               p.corrected_energy_per_atom * Composition(p.formula).num_atoms,
                               name=p.formula) for p in phases]
            self._diagrams[key] = (PhaseDiagram(entries), len(entries))
        return self._diagrams[key]

    def assess(self, composition: Composition | str, corrected_energy_per_atom: float,
               leave_out: str | None = None) -> HullResult:
        """Place one candidate energy (eV/atom, MP2020 scale) on the hull of its system."""
        comp = Composition(composition)
        pd, n = self.diagram([str(e) for e in comp.elements], leave_out)
        entry = PDEntry(comp, float(corrected_energy_per_atom) * comp.num_atoms, name="candidate")
        decomp, e_hull = pd.get_decomp_and_e_above_hull(entry, allow_negative=True)
        return HullResult(float(e_hull), float(pd.get_form_energy_per_atom(entry)),
                          format_decomposition(decomp), n, self.name)


def format_decomposition(decomp: dict) -> str:
    """'0.500 CeAs + 0.500 InAs' (atom fractions), largest share first."""
    parts = sorted(((float(x), e.composition.reduced_formula) for e, x in decomp.items()),
                   reverse=True)
    return " + ".join(f"{x:.3f} {f}" for x, f in parts if x > 1e-6)


def make_hull(spec: str = "auto", model: str = "chgnet", progress: bool = True) -> Hull:
    """The hull named by `spec`: "auto", "mp", a path, or a registered structure data set."""
    from matforge.oracles import hull_sources

    if spec == "auto":
        return Hull(hull_sources.AutoPhases(model=model, progress=progress))
    if spec == "mp":
        return Hull(hull_sources.MaterialsProjectPhases())
    return Hull(hull_sources.StructureSetPhases(spec, model=model, progress=progress))


def default_hull_spec() -> str:
    """"mp" when a Materials Project key is set and mp-api is installed, else "auto"."""
    import importlib.util
    import os

    if os.environ.get("MP_API_KEY") and importlib.util.find_spec("mp_api") is not None:
        return "mp"
    return "auto"
