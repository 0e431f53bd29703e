"""Thermodynamic stability from one potential: formation energy and energy above the hull.

Formation energy per atom is the relaxed energy minus the composition-weighted elemental
reference energies (relaxed with the same potential, see references.py). The energy above the
convex hull uses pymatgen's PhaseDiagram built from those elemental references plus a set of
competing phases relaxed with the same potential (a data set, user files, or structures the
project generates), so that model errors largely cancel between candidate and competitors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Structure

from matforge.candidate import Candidate, to_structure
from matforge.errors import MatforgeError
from matforge.oracles.base import OK, Oracle, Result
from matforge.oracles.references import ElementalReferences


def formation_energy_per_atom(composition: Composition | str, energy_per_atom: float,
                              references: ElementalReferences | dict[str, float]) -> float:
    """E_f = E/atom - sum_i x_i mu_i, with mu_i the elemental reference energies (eV/atom)."""
    comp = Composition(composition)
    if comp.num_atoms <= 0:
        raise MatforgeError("empty composition has no formation energy")
    get = references.get if isinstance(references, ElementalReferences) else references.__getitem__
    total = 0.0
    for el, amount in comp.fractional_composition.items():
        try:
            total += float(amount) * float(get(str(el)))
        except KeyError as exc:
            raise MatforgeError(f"no elemental reference energy for {el}") from exc
    return float(energy_per_atom) - total


class HullReference:
    """Competing phases (composition, energy per atom) plus elemental references -> hull.

    Phase diagrams are built per chemical system on demand and cached, so screening many
    candidates in a few systems stays cheap.
    """

    def __init__(self, phases: Iterable[tuple[Composition | str, float]],
                 references: ElementalReferences | dict[str, float]) -> None:
        self.phases = [(Composition(c), float(e)) for c, e in phases if np.isfinite(e)]
        self.references = references
        self._diagrams: dict[frozenset, PhaseDiagram] = {}

    def _reference_energy(self, el: str) -> float:
        refs = self.references
        return float(refs.get(el) if isinstance(refs, ElementalReferences) else refs[el])

    def diagram(self, elements: Iterable[str]) -> PhaseDiagram:
        key = frozenset(str(e) for e in elements)
        if key not in self._diagrams:
            entries = [PDEntry(Composition(el), self._reference_energy(el)) for el in key]
            for comp, e in self.phases:
                if {str(x) for x in comp.elements} <= key:
                    entries.append(PDEntry(comp, e * comp.num_atoms))
            self._diagrams[key] = PhaseDiagram(entries)
        return self._diagrams[key]

    def e_above_hull(self, composition: Composition | str, energy_per_atom: float) -> float:
        """Energy above the hull (eV/atom); negative when the candidate lies below it."""
        comp = Composition(composition)
        pd = self.diagram(str(e) for e in comp.elements)
        entry = PDEntry(comp, float(energy_per_atom) * comp.num_atoms)
        _, ehull = pd.get_decomp_and_e_above_hull(entry, allow_negative=True)
        return float(ehull)

    # -- building from structures
    @classmethod
    def from_structures(cls, structures: Sequence[Any],
                        references: ElementalReferences | None = None, model: str = "chgnet",
                        fmax: float = 0.1, steps: int = 300,
                        cache: bool = True, progress: bool = True) -> HullReference:
        """Relax competing phases with `model` (cached on disk by content) and build the hull."""
        from matforge.data.paths import cache_dir
        from matforge.oracles.relax import relax_structures

        structs = [to_structure(s) for s in structures]
        refs = references if references is not None else ElementalReferences.default(model)
        digest = hashlib.sha1(json.dumps([model, fmax, steps] + [
            s.to(fmt="poscar") for s in structs]).encode()).hexdigest()[:16]
        path = cache_dir() / "hull" / f"{model}_{digest}.json"
        if cache and path.is_file():
            phases = json.loads(path.read_text())
        else:
            results = relax_structures(structs, fmax=fmax, steps=steps, model=model,
                                       progress=progress)
            phases = [[s.composition.formula, r.energy_per_atom]
                      for s, r in zip(structs, results) if r.ok]
            if cache:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(phases))
        return cls([(c, e) for c, e in phases], refs)

    @classmethod
    def from_dataset(cls, name_or_path: str, split: str = "all", limit: int | None = None,
                     **kwargs: Any) -> HullReference:
        """Competing phases from a structure data set (rows with `cif`), relaxed with the model."""
        from matforge.data import load_dataset

        frame = load_dataset(name_or_path, split=split)
        if "cif" not in frame.columns:
            raise MatforgeError(f"{name_or_path} has no 'cif' column; a hull needs structures")
        cifs = list(frame["cif"].dropna())[: limit or None]
        return cls.from_structures([Structure.from_str(c, fmt="cif") for c in cifs], **kwargs)


class ChgnetStabilityOracle(Oracle):
    """Relax each candidate's structure (batched) and score its thermodynamic stability.

    Values: energy_per_atom, formation_energy_per_atom, converged (1/0), relax_steps and, when
    a hull is given, e_above_hull. A candidate with a composition only gets a starting cell
    from template substitution (AFLOW prototypes, `csp="template"`; `csp="none"` fails it
    instead). With `update_structures` the candidate's structure is replaced by the relaxed one
    (so the campaign store and later stages see the relaxed cell).

    `hull` may be a HullReference or the name/path of a structure data set whose rows are
    relaxed with the same potential as competing phases (`hull_split`, `hull_limit`).
    `model` is "chgnet" or "sevennet".
    """

    name = "chgnet-stability"

    def __init__(self, model: str = "chgnet", fmax: float = 0.1, steps: int = 300,
                 references: ElementalReferences | None = None,
                 hull: HullReference | str | None = None, hull_split: str = "all",
                 hull_limit: int | None = None, csp: str = "template",
                 update_structures: bool = True, progress: bool = True,
                 **relax_kwargs: Any) -> None:
        if csp not in ("template", "none"):
            raise MatforgeError(f"stability oracle: csp must be 'template' or 'none', not {csp!r}")
        self.model, self.fmax, self.steps = model, fmax, steps
        self.name = f"{model}-stability"
        self._references = references
        self._hull = hull
        self.hull_split, self.hull_limit = hull_split, hull_limit
        self.csp = csp
        self._templates = None
        self.update_structures = update_structures
        self.progress = progress
        self.relax_kwargs = relax_kwargs

    @property
    def hull(self) -> HullReference | None:
        if isinstance(self._hull, str):  # relaxed once, then cached on disk by content
            self._hull = HullReference.from_dataset(
                self._hull, split=self.hull_split, limit=self.hull_limit,
                references=self.references, model=self.model, fmax=self.fmax,
                steps=self.steps, progress=self.progress)
        return self._hull

    def starting_structure(self, cand: Candidate) -> Structure | None:
        """The candidate's own structure, else the first template substitution (or None)."""
        if cand.structure is not None or self.csp == "none":
            return cand.structure
        if self._templates is None:
            from matforge.generators.crystal.template import TemplateCSP

            self._templates = TemplateCSP.from_aflow_prototypes()
        proposals = self._templates.propose(cand.composition, k=1, seed=0)
        return proposals[0] if proposals else None

    @property
    def references(self) -> ElementalReferences:
        if self._references is None:
            self._references = ElementalReferences.default(self.model)
        return self._references

    def evaluate(self, candidates: list[Candidate]) -> list[Result]:
        from matforge.oracles.relax import relax_structures

        start = time.perf_counter()
        results: list[Result | None] = [None] * len(candidates)
        todo, starts = [], []
        for i, cand in enumerate(candidates):
            start_structure = self.starting_structure(cand)
            if start_structure is None:
                why = "no structure to relax" if self.csp == "none" else \
                    f"no structure given and no prototype template fits {cand.formula}"
                results[i] = Result.failed(cand, why)
            else:
                todo.append(i)
                starts.append(start_structure)
        relaxed = relax_structures(starts, fmax=self.fmax,
                                   steps=self.steps, model=self.model, progress=self.progress,
                                   **self.relax_kwargs) if todo else []
        refs = self.references
        if isinstance(refs, ElementalReferences):  # one batched run for all missing elements
            needed = {str(el) for r in relaxed if r.ok for el in r.structure.composition.elements}
            # an element that cannot be computed fails its candidates one by one below
            with contextlib.suppress(Exception):
                refs.compute(sorted(needed))
        per = (time.perf_counter() - start) / max(len(todo), 1)
        hull = self.hull if todo else None  # a hull that cannot be built is a set-up error
        for i, res in zip(todo, relaxed):
            cand = candidates[i]
            if not res.ok:
                results[i] = Result.failed(cand, res.error or "relaxation failed", per)
                continue
            try:
                values = {"energy_per_atom": res.energy_per_atom,
                          "converged": float(res.converged), "relax_steps": float(res.steps)}
                values["formation_energy_per_atom"] = formation_energy_per_atom(
                    res.structure.composition, res.energy_per_atom, self.references)
                if hull is not None:
                    values["e_above_hull"] = hull.e_above_hull(
                        res.structure.composition, res.energy_per_atom)
            except Exception as exc:  # noqa: BLE001 - one bad candidate, not the batch
                results[i] = Result.failed(cand, f"{type(exc).__name__}: {exc}", per)
                continue
            if self.update_structures:
                cand.structure = res.structure
            results[i] = Result(cand, OK, values, "", per)
        return [r for r in results if r is not None]
