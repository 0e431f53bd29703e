"""Competing phases for the offline hull: the lowest energy matforge's structure search finds.

Each known composition gets the search of `matforge csp --model auto`
(`generators.crystal.search.StructureSearch`) with a cheaper preset: its known structures in
the structure library, template substitutions across distinct structure types, and, only for
compositions that no known structure or template fits, a few pyxtal random structures. Every
candidate gets one single-point energy, the lowest few are relaxed in batches, and the lowest
relaxed energy on the MP2020 scale becomes the phase.

The candidates' quality bounds the hull's: a competing phase whose real structure is not
among them sits too high, which makes candidates look more stable than they are. The
stability benchmark measures that (docs/oracles.md).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Composition

from matforge.generators.crystal.library import MP_SETS, StructureLibrary
from matforge.generators.crystal.search import SearchOptions, StructureSearch
from matforge.oracles.compatibility import corrected_energy_per_atom
from matforge.oracles.hull_cache import FailedPhase, Phase
from matforge.oracles.potentials import potential_info
from matforge.oracles.relax import RelaxResult

BUILDER_VERSION = "phases-v2"  # bump when the recipe below changes what a phase is


@dataclass
class Found:
    """The lowest-energy structure found for one formula."""

    relaxed: RelaxResult  # structure, raw energy, converged, steps
    corrected_energy_per_atom: float  # on the MP2020 scale
    source: str  # where its starting structure came from


@dataclass
class PhaseBuilder:
    """Lowest-energy structures of known compositions with one potential.

    n_templates: distinct structure types substituted per composition, each in its
    `assignments` closest site assignments; n_relax: how many of all candidates (lowest
    single-point energies first) are relaxed; n_random: pyxtal structures for a composition
    no known structure or template fits; max_atoms: larger cells are skipped."""

    model: str = "chgnet"
    # chosen on the tune part of benchmarks/stability.py (docs/oracles.md)
    n_templates: int = 12
    assignments: int = 2
    n_relax: int = 3
    n_random: int = 4
    fmax: float = 0.1
    steps: int = 300
    max_atoms: int = 40
    progress: bool = True
    library: StructureLibrary | None = None

    @property
    def recipe(self) -> str:
        """What a phase built here means, for cache keys: a change of any setting is a new
        recipe whose phases never mix with the old ones."""
        return (f"{BUILDER_VERSION} templates={self.n_templates} "
                f"assignments={self.assignments} relaxed={self.n_relax} "
                f"random={self.n_random} fmax={self.fmax} steps={self.steps} "
                f"max_atoms={self.max_atoms}")

    def options(self) -> SearchOptions:
        """The structure-search settings this recipe stands for."""
        return SearchOptions(
            model=self.model, library=MP_SETS, n_templates=self.n_templates,
            assignments=self.assignments, n_random=self.n_random,
            random_only_without_templates=True, n_diffusion=0,
            budget_relaxations=self.n_relax, fmax=self.fmax, steps=self.steps,
            max_atoms=self.max_atoms)

    def search(self, formulas: Sequence[str], exclude: Collection[str] = ()
               ) -> dict[str, Found | str]:
        """The lowest-energy relaxed structure of each formula, or the reason there is none.
        Formulas in `exclude` are searched without their own known structures and templates
        (leave-one-out benchmarks)."""
        search = StructureSearch(self.options(), structure_library=self.library,
                                 progress=self.progress)
        formulas = list(dict.fromkeys(formulas))
        results = {}
        for leave_out in (False, True):
            part = [f for f in formulas if (f in exclude) == leave_out]
            if part:
                # one chunk: every relaxation of the batch shares the worker processes
                found = search.search(part, leave_out_own=leave_out, chunk=len(part))
                results.update({f: found[Composition(f).reduced_formula] for f in part})
        info = potential_info(self.model)
        out: dict[str, Found | str] = {}
        for f in formulas:
            found = [Found(RelaxResult(x.structure, x.energy_per_atom, x.converged, x.steps),
                           _corrected(x.structure, x.energy_per_atom, info), x.source)
                     for x in results[f].found]
            found = [x for x in found if np.isfinite(x.corrected_energy_per_atom)]
            out[f] = (min(found, key=lambda x: x.corrected_energy_per_atom) if found
                      else results[f].reason or "no structure had an MP2020-corrected energy")
        return out

    def build(self, formulas: Sequence[str], exclude: Collection[str] = ()
              ) -> list[Phase | FailedPhase]:
        """One Phase (or the reason there is none) per formula, in order."""
        out: list[Phase | FailedPhase] = []
        for f, found in self.search(formulas, exclude).items():
            if isinstance(found, str):
                out.append(FailedPhase(f, found))
            else:
                r = found.relaxed
                out.append(Phase(f, float(r.energy_per_atom), found.corrected_energy_per_atom,
                                 found.source, r.structure.to(fmt="cif")))
        return out


def _corrected(structure, energy_per_atom: float, info) -> float:
    try:
        return corrected_energy_per_atom(structure, energy_per_atom, info)
    except ValueError:
        return float("inf")
