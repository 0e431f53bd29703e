"""Competing phases for the offline hull: the lowest energy matforge finds for a composition.

For each known composition: its known structures (exact formula) in the structure library,
plus the nearest template substitutions (AFLOW prototypes and every Materials Project
structure set available here). All candidates get one single-point energy; the lowest few
are relaxed with the potential, and the lowest relaxed energy on the MP2020 scale becomes
the phase. Screening before relaxing keeps a new ternary system within a minute or two on
two cores; the relaxations are batched (`oracles.relax`).

The candidates' quality bounds the hull's: a competing phase whose real structure is not
among them sits too high, which makes candidates look more stable than they are. The
stability benchmark measures that (docs/oracles.md).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure

from matforge.chem.geometry import structure_problem
from matforge.errors import MatforgeError
from matforge.generators.crystal.library import StructureLibrary, default_library
from matforge.oracles.compatibility import corrected_energy_per_atom
from matforge.oracles.hull_cache import FailedPhase, Phase
from matforge.oracles.potentials import potential_info
from matforge.oracles.relax import RelaxResult

BUILDER_VERSION = "phases-v1"  # bump when the recipe below changes what a phase is


@dataclass
class Found:
    """The lowest-energy structure found for one formula."""

    relaxed: RelaxResult  # structure, raw energy, converged, steps
    corrected_energy_per_atom: float  # on the MP2020 scale
    source: str  # where its starting structure came from


@dataclass
class PhaseBuilder:
    """Lowest-energy structures of known compositions with one potential.

    n_templates: template substitutions tried per composition; n_relax: how many of all
    candidates (lowest single-point energies first) are relaxed; max_atoms: larger cells
    are skipped. `exclude_structures_of` leaves the known structures of those formulas out of
    both lists (leave-one-out benchmarks)."""

    model: str = "chgnet"
    # chosen on the tune part of benchmarks/stability.py: 8 templates, 3 relaxed put the
    # phase within 0.02 eV/atom of the known MP structure for 72% of compositions (4 and 2:
    # 64%) at 1.4x the time
    n_templates: int = 8
    n_relax: int = 3
    fmax: float = 0.1
    steps: int = 300
    max_atoms: int = 40
    progress: bool = True
    library: StructureLibrary | None = None

    @property
    def recipe(self) -> str:
        """What a phase built here means, for cache keys: a change of any setting is a new
        recipe whose phases never mix with the old ones."""
        return (f"{BUILDER_VERSION} templates={self.n_templates} relaxed={self.n_relax} "
                f"fmax={self.fmax} steps={self.steps} max_atoms={self.max_atoms}")

    def candidates(self, formula: str, exclude: Collection[str] = ()
                   ) -> list[tuple[Structure, str]]:
        """(structure, where it came from) for one composition, known structures first."""
        lib = self.library or default_library()
        out = [] if formula in exclude else [
            (s, "known structure") for s in lib.structures_of(formula)[:3]]
        try:
            proposals = lib.templates.propose(formula, k=self.n_templates, consensus=1,
                                              exclude=exclude)
        except MatforgeError:
            proposals = []
        for s in proposals:
            props = s.properties
            where = f"template {props.get('template_formula', '?')} ({props.get('template_source')})"
            out.append((s, where))
        return [(s, src) for s, src in out if len(s) <= self.max_atoms]

    def search(self, formulas: Sequence[str], exclude: Collection[str] = (),
               extra: dict[str, list[tuple[Structure, str]]] | None = None
               ) -> dict[str, Found | str]:
        """The lowest-energy relaxed structure of each formula, or the reason there is none.

        Every candidate (with `extra` ones per formula, e.g. a campaign's own first guess)
        gets a single-point energy and the `n_relax` lowest are relaxed: a structure far
        from its minimum costs many steps and rarely ends lowest."""
        from matforge.oracles.relax import relax_structures

        info = potential_info(self.model)
        extra = extra or {}
        cands = {f: self.candidates(f, exclude) + extra.get(f, [])
                 for f in dict.fromkeys(formulas)}
        flat = [(f, s, src) for f, items in cands.items() for s, src in items]
        singles = relax_structures([s for _, s, _ in flat], steps=0, model=self.model,
                                   progress=False)
        chosen: list[tuple[str, Structure, str]] = []
        for f in cands:
            scored = [(self._energy(r.structure, r.energy_per_atom, info), s, src)
                      for (g, s, src), r in zip(flat, singles) if g == f and r.ok]
            scored = sorted((x for x in scored if np.isfinite(x[0])), key=lambda x: x[0])
            chosen.extend((f, s, src) for _, s, src in scored[: self.n_relax])
        relaxed = relax_structures([s for _, s, _ in chosen], fmax=self.fmax, steps=self.steps,
                                   model=self.model, progress=self.progress)
        best: dict[str, Found] = {}
        for (f, _, src), r in zip(chosen, relaxed):
            if not r.ok or structure_problem(r.structure):
                continue
            e = self._energy(r.structure, r.energy_per_atom, info)
            if np.isfinite(e) and (f not in best or e < best[f].corrected_energy_per_atom):
                best[f] = Found(r, e, src)
        return {f: best.get(f) or self._why_none(cands[f]) for f in cands}

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

    @staticmethod
    def _energy(structure: Structure, energy_per_atom: float, info) -> float:
        try:
            return corrected_energy_per_atom(structure, energy_per_atom, info)
        except ValueError:
            return float("inf")

    def _why_none(self, candidates: list) -> str:
        if not candidates:
            return (f"no known structure or template of at most {self.max_atoms} atoms fits "
                    "this composition")
        return "every candidate structure failed to relax or left the physical limits"
