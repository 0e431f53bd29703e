"""Crystal structure prediction for any composition: a search scored by a universal potential.

No generative model trained here knows more than perovskites and carbon, so a structure for
a general composition comes from search and physics: candidates from every source at once,
each scored by the energy of a universal interatomic potential (CHGNet or SevenNet), the
lowest-energy distinct structures returned with where each came from.

1. Candidates (`candidates`):
   - the formula's own known structures in the library (`library.StructureLibrary`);
   - template substitution: one candidate per distinct structure type (space group and
     Wyckoff sites) with the composition's anonymized formula, at any multiple of the
     formula unit, nearest template chemistry first, each in its closest site assignments;
   - symmetric random structures (pyxtal) over 1-4 formula units;
   - the shipped diffusion models where a composition fits them (ABX3 with X3 any three of
     O, N, F, S; carbon).
2. Screening: one single-point energy per candidate (or a few optimiser steps); the lowest
   are relaxed fully, in batches across compositions (`oracles.relax`).
3. Evolution: children of the lowest relaxed structures (strain, swaps, cut-and-splice,
   `evolution`) spend what is left of the relaxation budget.
4. The relaxed structures, duplicates removed (StructureMatcher), lowest energy first
   (enthalpy under a `pressure`); with a `vote_window`, a generative method's own choice
   goes first when it is that close to the lowest: the structure most of a fitting
   diffusion model's samples agree on, else the template method's vote (with
   `vote_as_proposed`, as its method proposed it, unrelaxed); with `samples_as_proposed`
   the diffusion samples, unrelaxed, follow it.

A `SearchStore` keeps each finished composition, so an interrupted run resumes; `executor=
"ray"` spreads chunks of compositions over a Ray cluster.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pymatgen.core import Composition, Structure

from matforge.candidate import Candidate, to_structure
from matforge.errors import MatforgeError
from matforge.generators.base import Condition, Generator, read_config, write_config
from matforge.generators.crystal.library import CSP_SETS, StructureLibrary, default_library
from matforge.generators.crystal.template import CONSENSUS

SEARCH_VERSION = "search-v2"  # bump when the procedure changes what a result is
TEMPLATE_VOTE = "template vote"  # the source of the template method's own choice
DIFFUSION_VOTE = "diffusion vote"  # the structure most of a diffusion model's samples share
# with a vote_window, the first of these found goes first; the order was chosen on Perov-5's
# val halves (benchmarks/csp_vote.py)
VOTES = (DIFFUSION_VOTE, TEMPLATE_VOTE)


class SearchOptions(BaseModel):
    """Every setting of a structure search (a misspelt key is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["chgnet", "sevennet"] = "chgnet"
    library: tuple[str, ...] = CSP_SETS  # data sets, CIF folders or mp: queries
    include_known: bool = True  # the formula's own known structures are candidates
    # Defaults chosen on the tune part of benchmarks/csp_any.py (16 types, 2 assignments and
    # 8 relaxations: 61% at one sample; 24, 6 and 12: 74%; 32, 6 and 16: no better)
    n_templates: int = Field(24, ge=0)  # distinct structure types substituted
    assignments: int = Field(6, ge=1)  # site assignments tried per structure type
    n_random: int = Field(6, ge=0)  # pyxtal random structures
    # random structures only where no known structure or template fits (the hull's phases)
    random_only_without_templates: bool = False
    random_max_atoms: int = Field(16, ge=1)
    n_diffusion: int = Field(4, ge=0)  # diffusion samples where a shipped model fits
    # family ("perov-5", "carbon-24") -> model directory used in its place, e.g. a model
    # fitted on half of val for choosing settings on the other half
    diffusion_models: dict[str, str] = Field(default_factory=dict)
    screen_steps: int = Field(0, ge=0)  # optimiser steps before screening (0 = single point)
    budget_relaxations: int = Field(12, ge=1)  # full relaxations per composition
    ga_relaxations: int = Field(0, ge=0)  # of those, spent on children of the best
    fmax: float = Field(0.1, gt=0)
    steps: int = Field(300, ge=1)
    max_atoms: int = Field(40, ge=1)
    # "given": the formula's atom count is the cell's (C12: a 12-atom cell), as CSP
    # benchmarks pose it; "any": 1-4 formula units and any template multiple
    cell: Literal["any", "given"] = "any"
    max_minutes: float = Field(5.0, gt=0)  # per composition: no evolution past it
    # eV/atom: a generative method's own choice (VOTES: a fitting diffusion model's, else the
    # template method's) is always relaxed and goes first when its energy is within this
    # much of the lowest. 0 = lowest energy first. Meant for sets whose cells are not the
    # potential's ground states (Perov-5, Carbon-24); benchmarks/csp_vote.py chooses it on
    # their val halves (Perov-5: 0.5 with keep_symmetry, vote_as_proposed and
    # samples_as_proposed; Carbon-24: 10, always, the template vote at 10 GPa with
    # samples_as_proposed). Off by default: the default search serves MP compositions, where
    # it was never tried (docs/crystal_generation.md)
    vote_window: float = Field(0.0, ge=0)
    # the vote goes first as its method proposed it, not relaxed (its relaxed enthalpy still
    # decides the window): the sets' cells are DFT minima, which the potential's relaxation
    # moves away from (chosen on the val halves, benchmarks/csp_vote.py)
    vote_as_proposed: bool = False
    # the votes that may go first, the first one found winning (Perov-5's val halves chose
    # the diffusion model's before the template method's)
    votes: tuple[Literal["diffusion vote", "template vote"], ...] = VOTES
    # every diffusion sample follows the vote as the model sampled it (unrelaxed, with its
    # single-point energy): the model's other guesses at a set whose DFT cells it learned,
    # which the potential's relaxation moves away from (chosen on val, benchmarks/csp_vote.py)
    samples_as_proposed: bool = False
    # GPa: cells relax to this hydrostatic pressure and rank by enthalpy (Carbon-24's cells
    # are minima at 10 GPa)
    pressure: float = Field(0.0, ge=0)
    # relax each candidate within the space group it starts in (oracles.symmetry), so a
    # template keeps its type instead of sliding into a distorted minimum
    keep_symmetry: bool = False

    @field_validator("diffusion_models")
    @classmethod
    def _known_families(cls, models: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(models) - set(DIFFUSION_FITS))
        if unknown:
            raise ValueError(f"diffusion_models: unknown famil{'ies' if len(unknown) > 1 else 'y'} "
                             f"{', '.join(unknown)}; use {', '.join(DIFFUSION_FITS)}")
        return models

    def recipe(self) -> str:
        """What a result of these options means, for the store's keys."""
        from matforge.oracles.potentials import potential_info

        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return f"{SEARCH_VERSION}|{potential_info(self.model).identity}|{text}"


@dataclass
class Found:
    """One relaxed structure of a search and where its starting point came from."""

    structure: Structure
    energy_per_atom: float  # the potential's energy, eV/atom
    source: str  # "known structure", "template ...", "random ...", "diffusion ...", "ga ..."
    converged: bool
    steps: int = 0  # optimiser steps of its relaxation
    enthalpy_per_atom: float = np.nan  # E + PV at the search's pressure; the energy at 0
    # a vote's starting point as its method proposed it, with its single-point energy
    start: Found | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.enthalpy_per_atom):
            self.enthalpy_per_atom = self.energy_per_atom

    def to_dict(self) -> dict[str, Any]:
        d = {"cif": self.structure.to(fmt="cif"), "energy_per_atom": self.energy_per_atom,
             "source": self.source, "converged": self.converged, "steps": self.steps,
             "enthalpy_per_atom": self.enthalpy_per_atom}
        return d | ({"start": self.start.to_dict()} if self.start else {})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Found:
        return cls(Structure.from_str(d["cif"], fmt="cif"), float(d["energy_per_atom"]),
                   d["source"], bool(d["converged"]), int(d["steps"]),
                   float(d.get("enthalpy_per_atom", np.nan)),
                   cls.from_dict(d["start"]) if d.get("start") else None)


@dataclass
class SearchResult:
    """The distinct relaxed structures of one composition, lowest energy first."""

    formula: str
    found: list[Found] = field(default_factory=list)
    candidates: int = 0
    relaxations: int = 0
    seconds: float = 0.0  # wall seconds of its share of the batch
    reason: str = ""  # why nothing was found

    def to_dict(self) -> dict[str, Any]:
        return {"formula": self.formula, "found": [f.to_dict() for f in self.found],
                "candidates": self.candidates, "relaxations": self.relaxations,
                "seconds": self.seconds, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchResult:
        return cls(d["formula"], [Found.from_dict(f) for f in d["found"]], d["candidates"],
                   d["relaxations"], d["seconds"], d["reason"])


class StructureSearch(Generator):
    """`matforge csp --model auto`: structures for any composition by potential-scored search."""

    kind: ClassVar[str] = "crystal-auto"

    def __init__(self, options: SearchOptions | None = None,
                 structure_library: StructureLibrary | None = None,
                 store: str | Path | None = None,
                 progress: bool = True, executor: str = "serial", **settings: Any) -> None:
        self.options = options or SearchOptions(**settings)
        self._library = structure_library  # default: built from `options.library`
        self.store_path = store
        self.progress = progress
        self.executor = executor  # "serial" or "ray" (chunks of compositions as Ray tasks)

    @property
    def library(self) -> StructureLibrary:
        if self._library is None:
            self._library = default_library(tuple(self.options.library))
        return self._library

    # ----------------------------------------------------------------- candidates
    def candidates(self, formula: str, leave_out_own: bool = False, seed: int = 0
                   ) -> list[tuple[Structure, str]]:
        """(unrelaxed structure, where it came from) from every source, at most `max_atoms`
        (exactly the formula's atoms with `cell="given"`)."""
        o = self.options
        comp = Composition(formula)
        if not _whole_numbers(comp):
            return []  # an off-stoichiometric formula (La1 Se1.9) has no periodic cell
        reduced = comp.reduced_formula
        target = comp if o.cell == "given" else Composition(reduced)
        exclude = {reduced} if leave_out_own else set()
        out: list[tuple[Structure, str]] = []
        if o.include_known and not leave_out_own:
            out += [(s.copy(), "known structure") for s in self.library.structures_of(reduced)]
        if o.vote_window > 0:
            out += self._vote(target, exclude, seed)
        for s in self.library.templates.substitutions(target, o.n_templates, o.assignments,
                                                      exclude, o.max_atoms, seed):
            out.append((s, (f"template {s.properties['template_formula']} "
                           f"({s.properties['template_source']})")))
        if o.cell == "given":
            out = [(_supercell(s, comp.num_atoms), src) for s, src in out]
            out = [(s, src) for s, src in out if len(s) == comp.num_atoms]
        if not (o.random_only_without_templates and out):
            sizes = [comp.num_atoms] if o.cell == "given" else None
            out += random_candidates(reduced, o.n_random, o.random_max_atoms, seed, sizes)
        out += diffusion_candidates(target, o.n_diffusion, seed, o.diffusion_models)
        return [(s, src) for s, src in out if len(s) <= o.max_atoms]

    def _vote(self, target: Composition, exclude: set[str], seed: int
              ) -> list[tuple[Structure, str]]:
        """The template method's first proposal: the structure most of the nearest
        templates reproduce (`TemplateCSP.propose`'s consensus vote), polymorphs weighed by
        their popularity in the library."""
        templates = self.library.templates
        if not templates.has_template(target):
            return []
        s = templates.propose(target, k=1, seed=seed, exclude=exclude, consensus=CONSENSUS)
        return [(x, (f"{TEMPLATE_VOTE} {x.properties['template_formula']} "
                     f"({x.properties['template_source']})")) for x in s]

    def key(self, formula: str | Composition) -> str:
        """The formula a result is filed under: reduced, or as given with `cell="given"`."""
        reduced = _reduced(formula)
        if self.options.cell == "any":
            return reduced
        return Composition(formula).formula.replace(" ", "")

    # ----------------------------------------------------------------- search
    def search(self, formulas: Sequence[str | Composition], leave_out_own: bool = False,
               seed: int = 0, chunk: int = 4, address: str | None = None
               ) -> dict[str, SearchResult]:
        """One SearchResult per reduced formula (in order), from the store where it is there.

        `leave_out_own`: each composition's own known structures and every template of its
        formula are left out (leave-one-out benchmarks). Compositions are searched `chunk`
        at a time so that their relaxations share model calls."""
        reduced = list(dict.fromkeys(self.key(f) for f in formulas))
        store = self._store(leave_out_own, seed)
        done = {f: SearchResult.from_dict(d) for f, d in store.load(reduced).items()} \
            if store else {}
        todo = [f for f in reduced if f not in done]
        chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
        bar = _bar(len(todo), self.progress and bool(todo))
        for results in self._run_chunks(chunks, leave_out_own, seed, address):
            for res in results:
                done[res.formula] = res
                if store:
                    store.save(res.formula, res.to_dict())
            bar.update(len(results))
        bar.close()
        if store:
            store.close()
        return {f: done[f] for f in reduced}

    def _store(self, leave_out_own: bool, seed: int) -> Any:
        if self.store_path is None:
            return None
        from matforge.generators.crystal.search_store import SearchStore

        sources = ",".join(self.library.sources)
        return SearchStore(self.store_path, f"{self.options.recipe()}|library={sources}|"
                                            f"leave_out_own={leave_out_own}|seed={seed}")

    def _run_chunks(self, chunks: list[list[str]], leave_out_own: bool, seed: int,
                    address: str | None) -> Iterator[list[SearchResult]]:
        if self.executor == "serial":
            for c in chunks:
                yield self.search_chunk(c, leave_out_own, seed)
        elif self.executor == "ray":
            yield from _ray_chunks(self, chunks, leave_out_own, seed, address)
        else:
            raise MatforgeError(f"unknown executor {self.executor!r}; use serial or ray")

    def search_chunk(self, formulas: list[str], leave_out_own: bool = False, seed: int = 0
                     ) -> list[SearchResult]:
        """Search these compositions together (no store): screen, relax, evolve, dedupe."""
        start = time.perf_counter()
        cands = {f: self.candidates(f, leave_out_own, seed) for f in formulas}
        relaxed = self.relax_candidates(cands, seed)
        seconds = (time.perf_counter() - start) / max(len(formulas), 1)
        o = self.options
        out = []
        for f in formulas:
            mine = relaxed[f]
            ranked = vote_first(distinct(mine), mine, o.vote_window, o.vote_as_proposed,
                                o.votes)
            if o.samples_as_proposed:
                ranked = with_samples(ranked, mine)
            res = SearchResult(f, ranked, len(cands[f]), len(mine), seconds)
            if not res.found:
                res.reason = _why_none(f, cands[f], o.max_atoms)
            out.append(res)
        return out

    def relax_candidates(self, cands: dict[str, list[tuple[Structure, str]]], seed: int = 0
                         ) -> dict[str, list[Found]]:
        """Every relaxed structure of each formula, duplicates kept and unranked: the
        screened candidates relaxed together, then children of the best within the time."""
        o = self.options
        start = time.perf_counter()
        chosen = self._screen(cands)
        relaxed = self._relax([(f, s, src) for f, items in chosen.items() for s, src in items])
        if o.ga_relaxations and time.perf_counter() - start < 60 * o.max_minutes * len(cands):
            relaxed += self._evolve(relaxed, seed)
        return {f: [found for g, found in relaxed if g == f] for f in cands}

    def _screen(self, cands: dict[str, list[tuple[Structure, str]]]
                ) -> dict[str, list[tuple[Structure, str]]]:
        """Per formula, the candidates with the lowest screening enthalpies (the structures
        after `screen_steps` optimiser steps), as many as the budget leaves for them."""
        from matforge.oracles.relax import enthalpy_per_atom, relax_structures

        o = self.options
        flat = [(f, s, src) for f, items in cands.items() for s, src in items]
        # keep_symmetry even for single points: a candidate whose operations fail the check
        # is dropped here, before it takes one of the budget's relaxations
        screened = relax_structures([s for _, s, _ in flat], steps=o.screen_steps,
                                    fmax=o.fmax, model=o.model, progress=False,
                                    pressure=o.pressure, keep_symmetry=o.keep_symmetry)
        keep = max(o.budget_relaxations - o.ga_relaxations, 1)
        chosen: dict[str, list[tuple[Structure, str]]] = {f: [] for f in cands}
        for f in cands:
            scored = [(enthalpy_per_atom(r.energy_per_atom, r.structure, o.pressure),
                       r.structure, src)
                      for (g, _, src), r in zip(flat, screened)
                      if g == f and r.ok and np.isfinite(r.energy_per_atom)]
            scored.sort(key=lambda x: x[0])
            chosen[f] = [(s, src) for _, s, src in scored[:keep]]
            chosen[f] += [(s, src) for _, s, src in scored[keep:] if self._always_relaxed(src)]
        return chosen

    def _start_kept(self, source: str) -> bool:
        """Whether a relaxed candidate keeps its starting point, to be returned as proposed:
        every vote and, with `samples_as_proposed`, every diffusion sample."""
        return is_vote(source) or (self.options.samples_as_proposed and is_diffusion(source))

    def _always_relaxed(self, source: str) -> bool:
        """Relaxed whatever its screening energy: the votes where a `vote_window` may put
        one first and, with `samples_as_proposed`, every diffusion sample."""
        o = self.options
        return (o.vote_window > 0 and is_vote(source)) or \
            (o.samples_as_proposed and is_diffusion(source))

    def _relax(self, items: list[tuple[str, Structure, str]]) -> list[tuple[str, Found]]:
        """Full relaxations; the ones that fail or leave physical limits are dropped."""
        from matforge.chem.geometry import structure_problem
        from matforge.oracles.relax import enthalpy_per_atom, relax_structures

        o = self.options
        results = relax_structures([s for _, s, _ in items], fmax=o.fmax, steps=o.steps,
                                   model=o.model, progress=False, pressure=o.pressure,
                                   keep_symmetry=o.keep_symmetry)
        out = []
        for (f, start, src), r in zip(items, results):
            if r.ok and np.isfinite(r.energy_per_atom) and not structure_problem(r.structure):
                h = enthalpy_per_atom(float(r.energy_per_atom), r.structure, o.pressure)
                found = Found(r.structure, float(r.energy_per_atom), src, r.converged,
                              r.steps, h)
                if self._start_kept(src):
                    e0 = float(r.initial_energy_per_atom)
                    found.start = Found(start, e0, f"{src}, as proposed", False, 0,
                                        enthalpy_per_atom(e0, start, o.pressure))
                out.append((f, found))
        return out

    def _evolve(self, relaxed: list[tuple[str, Found]], seed: int) -> list[tuple[str, Found]]:
        """Children of each formula's lowest distinct structures, relaxed."""
        from matforge.generators.crystal.evolution import offspring

        children = []
        for f in dict.fromkeys(g for g, _ in relaxed):
            parents = distinct([found for g, found in relaxed if g == f])[:4]
            kids = offspring([p.structure for p in parents], self.options.ga_relaxations, seed)
            children += [(f, s, f"ga {op} of {parents[0].source}") for s, op in kids]
        return self._relax(children)

    # ----------------------------------------------------------------- Generator API
    def propose(self, composition: Composition | str, k: int = 1, seed: int = 0
                ) -> list[Structure]:
        """The `k` lowest-energy distinct structures found for one composition."""
        res = self.search([composition], seed=seed)[self.key(composition)]
        if not res.found:
            raise MatforgeError(f"{res.formula}: {res.reason}")
        return [_annotated(f, self.options) for f in res.found[:k]]

    def propose_many(self, compositions: Sequence[Composition | str], k: int = 1,
                     seed: int = 0, progress: bool = False) -> list[list[Structure]]:
        """`propose` for many compositions in shared batches (an empty list: none found)."""
        results = self.search(compositions, seed=seed)
        return [[_annotated(f, self.options) for f in results[self.key(c)].found[:k]]
                for c in compositions]

    def fit(self, dataset: pd.DataFrame, **options: Any) -> StructureSearch:
        """Add a structure data set (a `cif` column) to the library's templates."""
        if "cif" not in dataset.columns:
            raise MatforgeError("a structure search learns templates from a 'cif' column")
        structures = [to_structure(c) for c in dataset["cif"]]
        self._library = self.library.extended({"user": structures})
        return self

    def sample(self, n: int, condition: Condition | None = None,
               seed: int | None = None) -> list[Candidate]:
        formula = (condition or {}).get("formula") or (condition or {}).get("composition")
        if formula is None:
            raise MatforgeError("a structure search needs a composition: condition "
                                "{'formula': F}")
        structures = self.propose(str(formula), k=n, seed=seed or 0)
        return [Candidate.from_structure(s, provenance={"generator": self.kind, "rank": i,
                                                        "source": s.properties["source"]})
                for i, s in enumerate(structures)]

    def save(self, path: str | Path) -> Path:
        """The options only: `load` rebuilds the library from `options.library`, so give user
        structures as a library entry (a CIF folder or file) rather than through `fit` to
        keep them in a saved model."""
        return write_config(path, self.kind, options=self.options.model_dump(mode="json"))

    @classmethod
    def load(cls, path: str | Path) -> StructureSearch:
        return cls(SearchOptions(**read_config(path).get("options", {})))


def predict_structures(compositions: Sequence[str | Composition] | str, k: int = 1,
                       seed: int = 0, store: str | Path | None = None, progress: bool = True,
                       **options: Any) -> dict[str, list[Structure]]:
    """Structures for any compositions: the `k` lowest-energy distinct structures a search
    finds for each (reduced formula -> list, empty when none was found), each with
    `properties` energy_per_atom, source, converged and potential (and enthalpy_per_atom
    with a `pressure`).

    Options are `SearchOptions` fields (a misspelt one raises), e.g. `budget_relaxations`.

    Example:
        >>> found = predict_structures(["NaCl", "GaAs"], k=2, budget_relaxations=4)
        >>> found["NaCl"][0].properties["source"]
    """
    if isinstance(compositions, (str, Composition)):
        compositions = [compositions]
    search = StructureSearch(SearchOptions(**options), store=store, progress=progress)
    results = search.search(compositions, seed=seed)
    return {f: [_annotated(x, search.options) for x in r.found[:k]]
            for f, r in results.items()}


def random_candidates(formula: str, n: int, max_atoms: int, seed: int,
                      sizes: Sequence[float] | None = None) -> list[tuple[Structure, str]]:
    """`n` pyxtal structures cycling over 1-4 formula units of at most `max_atoms` atoms
    (or over cells of the given atom counts)."""
    from matforge.generators.crystal.random_symmetric import RandomSymmetricCSP

    reduced = Composition(formula)
    units = [1, 2, 3, 4] if sizes is None else [round(a / reduced.num_atoms) for a in sizes]
    units = [z for z in units if 0 < reduced.num_atoms * z <= max_atoms]
    if n <= 0 or not units:
        return []
    csp = RandomSymmetricCSP()
    out = []
    for i in range(n):
        z = units[i % len(units)]
        try:
            s = csp.propose(reduced * z, k=1, seed=seed * 7919 + i)[0]
        except MatforgeError:
            continue
        out.append((s, (f"random (pyxtal, space group {s.properties.get('spacegroup')}, "
                       f"Z={z})")))
    return out


PEROVSKITE_ANIONS = frozenset({"O", "N", "F", "S"})


def perovskite_family(comp: Composition) -> bool:
    """Perov-5's family: five atoms per formula unit, three of them O, N, F or S (SrTiO3,
    LaTiO2N, Zn2O3), not only ABC3 (72% of Perov-5's val cells have mixed anions or A = B)."""
    unit = comp.reduced_composition
    anions = sum(n for el, n in unit.items() if el.symbol in PEROVSKITE_ANIONS)
    return unit.num_atoms == 5 and anions == 3


DIFFUSION_FITS = {"perov-5": perovskite_family,
                  "carbon-24": lambda c: {e.symbol for e in c.elements} == {"C"}}


@lru_cache(maxsize=4)
def _diffusion_model(name_or_dir: str) -> Any:
    from matforge.generators.base import load_generator

    return load_generator(name_or_dir)


def diffusion_candidates(formula: str | Composition, n: int, seed: int,
                         models: dict[str, str] | None = None) -> list[tuple[Structure, str]]:
    """`n` samples of each diffusion model whose family the composition fits (the shipped
    model, or `models[family]`); the one most of the samples agree on is the model's vote."""
    comp = Composition(formula)
    out = []
    for name, fits in DIFFUSION_FITS.items():
        if n <= 0 or not fits(comp):
            continue
        try:
            structures = _diffusion_model((models or {}).get(name, name)).propose(
                comp, k=n, seed=seed)
        except MatforgeError:  # an element outside the model's training set
            continue
        mode = modal_index(structures)
        out += [(s, f"{DIFFUSION_VOTE if i == mode else 'diffusion'} ({name})")
                for i, s in enumerate(structures)]
    return out


def modal_index(structures: list[Structure]) -> int:
    """The structure that matches the most of the others (StructureMatcher's defaults); the
    earliest on a tie, so with no agreement it is the first sample."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agree = [sum(_same(matcher, a, b) for b in structures) for a in structures]
    return int(np.argmax(agree))


def is_vote(source: str) -> bool:
    return source.startswith(VOTES)


def is_diffusion(source: str) -> bool:
    """A diffusion model's sample (its vote included)."""
    return source.startswith("diffusion")


def distinct(found: list[Found]) -> list[Found]:
    """Lowest enthalpy (the energy at zero pressure) first, one per structure (pymatgen
    StructureMatcher's defaults)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    kept: list[Found] = []
    for f in sorted(found, key=lambda x: x.enthalpy_per_atom):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not any(_same(matcher, f.structure, k.structure) for k in kept):
                kept.append(f)
    return kept


def first_vote(relaxed: list[Found], kinds: Sequence[str] = VOTES) -> Found | None:
    """The relaxed vote of the first of `kinds` that the search has, or None."""
    return next((x for kind in kinds for x in relaxed if x.source.startswith(kind)), None)


def vote_first(found: list[Found], relaxed: list[Found], window: float,
               as_proposed: bool = False, kinds: Sequence[str] = VOTES) -> list[Found]:
    """`found` (distinct, lowest enthalpy first) with the first vote (of `kinds`, in order)
    moved to the front when its relaxed enthalpy is within `window` eV/atom of the lowest:
    its relaxed structure, or with `as_proposed` its starting point."""
    vote = first_vote(relaxed, kinds)
    if not (window > 0 and vote and found):
        return found
    if vote.enthalpy_per_atom > found[0].enthalpy_per_atom + window:
        return found
    if as_proposed and vote.start is not None:
        vote = vote.start
    return lead_first([vote], found)


def with_samples(ranked: list[Found], relaxed: list[Found]) -> list[Found]:
    """`ranked` with every diffusion sample as sampled (its start) right after the leading
    vote, or first where no vote leads; lowest relaxed enthalpy first."""
    lead = ranked[:1] if ranked and is_vote(ranked[0].source) else []
    samples = sorted((x for x in relaxed if is_diffusion(x.source) and x.start),
                     key=lambda x: x.enthalpy_per_atom)
    return lead_first(lead + [x.start for x in samples], ranked[len(lead):])


def lead_first(lead: list[Found], found: list[Found]) -> list[Found]:
    """`lead`, then `found` (already distinct), each left out where it matches an earlier
    structure of `lead`."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    kept: list[Found] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x in lead:
            if not any(_same(matcher, x.structure, y.structure) for y in kept):
                kept.append(x)
        return kept + [x for x in found
                       if not any(_same(matcher, x.structure, y.structure) for y in kept)]


def _same(matcher: Any, a: Structure, b: Structure) -> bool:
    try:
        return bool(matcher.fit(a, b))
    except Exception:  # noqa: BLE001 - a cell the matcher cannot reduce counts as different
        return False


def _supercell(structure: Structure, atoms: float) -> Structure:
    """The structure repeated along a to `atoms` atoms, where that is a whole multiple."""
    n = round(atoms)
    if n > len(structure) and n % len(structure) == 0:
        structure.make_supercell([n // len(structure), 1, 1])
    return structure


def _annotated(found: Found, options: SearchOptions) -> Structure:
    from matforge.oracles.potentials import potential_info

    s = found.structure.copy()
    s.properties = {"energy_per_atom": found.energy_per_atom, "source": found.source,
                    "converged": found.converged,
                    "potential": potential_info(options.model).identity}
    if options.pressure:
        s.properties.update(pressure_gpa=options.pressure,
                            enthalpy_per_atom=found.enthalpy_per_atom)
    return s


def _reduced(formula: str | Composition) -> str:
    try:
        return Composition(formula).reduced_formula
    except Exception as exc:  # noqa: BLE001 - pymatgen raises several types for bad formulas
        raise MatforgeError(f"cannot read composition {formula!r}: {exc}") from None


def _whole_numbers(comp: Composition) -> bool:
    reduced = comp.reduced_composition
    return all(abs(a - round(a)) < 1e-6 for a in reduced.values())


def _why_none(formula: str, cands: list, max_atoms: int) -> str:
    if not _whole_numbers(Composition(formula)):
        return "fractional amounts: no crystal cell holds this composition exactly"
    if not cands:
        return (f"no known structure, template or random placement of at most {max_atoms} "
                "atoms fits this composition")
    return "every candidate structure failed to relax or left the physical limits"


def _ray_chunks(search: StructureSearch, chunks: list[list[str]], leave_out_own: bool,
                seed: int, address: str | None) -> Iterator[list[SearchResult]]:
    """Chunks as Ray tasks, yielded as they finish; each worker builds its own library."""
    try:
        import ray
    except ImportError:
        raise MatforgeError("--executor ray needs ray: pip install 'ray[default]'") from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(_search_chunk_task)
    options = search.options.model_dump(mode="json")
    pending = [remote.remote(options, c, leave_out_own, seed) for c in chunks]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield [SearchResult.from_dict(d) for d in ray.get(ready[0])]


def _search_chunk_task(options: dict, formulas: list[str], leave_out_own: bool,
                       seed: int) -> list[dict]:
    search = StructureSearch(SearchOptions(**options), progress=False)
    return [r.to_dict() for r in search.search_chunk(formulas, leave_out_own, seed)]


def _bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="structure search", unit="composition", disable=not enabled)

