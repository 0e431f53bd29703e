"""Where competing phases come from: matforge's own (auto), the Materials Project, a user set."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from pymatgen.core import Composition, Structure

from matforge.errors import DataError, MatforgeError
from matforge.oracles.compatibility import corrected_energy_per_atom, correction_id
from matforge.oracles.hull import PhaseSource
from matforge.oracles.hull_cache import FailedPhase, HullCache, Phase
from matforge.oracles.phase_builder import PhaseBuilder
from matforge.oracles.potentials import potential_info

MAX_BUILD_ROUNDS = 3  # claim, build, wait for others: rounds before giving up on a phase


def scheme_of(model: str, builder: PhaseBuilder | None = None) -> str:
    """The cache scheme: potential weights, correction, and the phase recipe."""
    info = potential_info(model)
    recipe = (builder or PhaseBuilder(model=model)).recipe
    return f"{info.name}-{info.model}|{correction_id(info)}|{recipe}"


def element_phases(elements: Iterable[str], model: str) -> list[Phase]:
    """Each element's reference (lowest relaxed energy of its ground-state candidates)."""
    from matforge.oracles.references import ElementalReferences

    refs = ElementalReferences.default(model)
    els = sorted(set(elements))
    refs.compute(els)
    return [Phase(el, refs.get(el), refs.get(el), f"element reference ({refs.entries[el].prototype})")
            for el in els]


def ensure_phases(cache: HullCache, builder: PhaseBuilder, formulas: list[str],
                  exclude: Collection[str] = ()) -> list[Phase]:
    """Phases of `formulas` from the cache, building (once, across processes) what is missing."""
    todo = [f for f in formulas if f not in cache.lookup(formulas)]
    for _ in range(MAX_BUILD_ROUNDS):
        if not todo:
            break
        mine = cache.claim(todo)
        if mine:
            try:
                cache.store(builder.build(mine, exclude=exclude))
            except BaseException:
                cache.release(mine)
                raise
        todo = cache.wait_for([f for f in todo if f not in mine])
    return [p for p in cache.lookup(formulas).values() if isinstance(p, Phase)]


class AutoPhases(PhaseSource):
    """Every known composition of the system, with matforge's own structures and energies."""

    def __init__(self, model: str = "chgnet", builder: PhaseBuilder | None = None,
                 known: Any = None, cache_path: str | Path | None = None,
                 progress: bool = True) -> None:
        from matforge.data.known import known_compositions
        from matforge.oracles.hull_reference import import_shipped_reference

        self.model = model
        self.known = known if known is not None else known_compositions()
        self.builder = builder or PhaseBuilder(model=model, progress=progress)
        self.scheme = scheme_of(model, self.builder)
        self.cache = HullCache(self.scheme, cache_path)
        self.loo_cache = HullCache(self.scheme + "|without its own known structures",
                                   cache_path)
        import_shipped_reference(self.cache)
        info = potential_info(model)
        self.name = (f"auto ({info.name}-{info.model}, {len(self.known):,} known compositions, "
                     "structure search)")

    def prepare(self, systems: list[frozenset[str]]) -> None:
        """Every missing phase of these systems, built in one batch."""
        formulas = sorted({f for s in systems for f in self.known.in_system(s)})
        ensure_phases(self.cache, self.builder, formulas)

    def phases(self, elements: frozenset[str], leave_out: str | None = None) -> list[Phase]:
        formulas = [f for f in self.known.in_system(elements) if f != leave_out]
        found = ensure_phases(self.cache, self.builder, formulas)
        if leave_out is not None and leave_out in self.known:
            found += ensure_phases(self.loo_cache, self.builder, [leave_out],
                                   exclude={leave_out})
        return found + element_phases(elements, self.model)


def fetch_mp_entries(elements: list[str], api_key: str | None = None) -> list[Any]:
    """The Materials Project's GGA/GGA+U entries of a system (MP2020-corrected by MP)."""
    api_key = api_key or os.environ.get("MP_API_KEY")
    if not api_key:
        raise MatforgeError("--hull mp needs MP_API_KEY (https://materialsproject.org/api); "
                            "--hull auto works offline")
    try:
        from mp_api.client import MPRester
    except ImportError:
        raise MatforgeError("--hull mp needs the Materials Project client: pip install mp-api"
                            ) from None
    try:
        with MPRester(api_key) as mpr:
            return mpr.get_entries_in_chemsys(
                elements, additional_criteria={"thermo_types": ["GGA_GGA+U"]})
    except Exception as exc:  # noqa: BLE001 - network and API errors end as one line
        raise MatforgeError(f"Materials Project query for {'-'.join(elements)} failed: "
                            f"{' '.join(str(exc).split())[:200]}") from None


def entries_to_phases(entries: Iterable[Any]) -> list[Phase]:
    """The lowest entry per reduced formula of mp-api's ComputedStructureEntry objects (or
    their dicts), with its corrected energy; the uncorrected one is kept beside it."""
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    best: dict[str, Phase] = {}
    for entry in entries:
        if isinstance(entry, dict):
            entry = ComputedStructureEntry.from_dict(entry)
        formula = entry.composition.reduced_formula
        e = float(entry.energy_per_atom)
        if formula not in best or e < best[formula].corrected_energy_per_atom:
            best[formula] = Phase(formula, float(entry.uncorrected_energy_per_atom), e,
                                  f"mp {entry.entry_id}")
    return list(best.values())


class MaterialsProjectPhases(PhaseSource):
    """MP's own hull: a candidate's MP2020-scale energy against MP's DFT phases."""

    name = "mp (Materials Project GGA/GGA+U entries, MP2020 corrections)"

    def __init__(self, fetch: Callable[[list[str]], list[Any]] = fetch_mp_entries) -> None:
        self.fetch = fetch
        self._memo: dict[frozenset[str], list[Phase]] = {}

    def phases(self, elements: frozenset[str], leave_out: str | None = None) -> list[Phase]:
        if elements not in self._memo:
            self._memo[elements] = entries_to_phases(self.fetch(sorted(elements)))
        return [p for p in self._memo[elements] if p.formula != leave_out]


class StructureSetPhases(PhaseSource):
    """A user's own phases: a CIF folder, CSV with `cif`, extxyz, data set name, or a JSON
    list of ComputedStructureEntry. Energies given in the file are used (an
    `corrected_energy_per_atom` column as it is, an `energy_per_atom` column as the
    potential's and corrected); otherwise each structure is relaxed with the potential,
    once per file content, and the potential's elemental references join the set."""

    def __init__(self, spec: str, model: str = "chgnet", progress: bool = True,
                 cache_path: str | Path | None = None) -> None:
        self.spec, self.model, self.progress = spec, model, progress
        self.name = f"{spec} (user phases)"
        self.cache_path = cache_path
        self._all: list[Phase] | None = None
        self._with_elements = False

    def phases(self, elements: frozenset[str], leave_out: str | None = None) -> list[Phase]:
        phases = self._load()
        inside = [p for p in phases if p.formula != leave_out
                  and {str(e) for e in Composition(p.formula).elements} <= elements]
        if self._with_elements:
            inside += element_phases(elements, self.model)
        return inside

    def _load(self) -> list[Phase]:
        if self._all is None:
            if str(self.spec).lower().endswith(".json"):
                self._all = self._from_entries(Path(self.spec))
            else:
                self._all = self._from_rows()
        return self._all

    def _from_entries(self, path: Path) -> list[Phase]:
        from monty.serialization import loadfn

        if not path.is_file():
            raise DataError("file not found", str(path))
        try:
            entries = loadfn(path)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
            raise DataError(f"not a JSON list of ComputedStructureEntry: {exc}", str(path)) from None
        if isinstance(entries, dict):
            entries = [entries]
        return entries_to_phases(entries)

    def _from_rows(self) -> list[Phase]:
        from matforge.data import load_dataset

        frame = load_dataset(self.spec)
        if "cif" not in frame.columns:
            raise DataError("a hull set needs a 'cif' column (structures)", self.spec)
        structures = [Structure.from_str(c, fmt="cif") for c in frame["cif"]]
        if "corrected_energy_per_atom" in frame.columns:
            energies = [float(e) for e in frame["corrected_energy_per_atom"]]
            return _lowest(structures, energies, energies, f"{self.spec} (given energy)")
        info = potential_info(self.model)
        if "energy_per_atom" in frame.columns:
            raw = [float(e) for e in frame["energy_per_atom"]]
            corrected = [corrected_energy_per_atom(s, e, info) for s, e in zip(structures, raw)]
            self._with_elements = True
            return _lowest(structures, raw, corrected, f"{self.spec} (given energy)")
        self._with_elements = True
        return self._relaxed(structures)

    def _relaxed(self, structures: list[Structure]) -> list[Phase]:
        """Relax every structure once per file content; lowest energy per formula."""
        digest = hashlib.sha256("\n".join(s.to(fmt="cif") for s in structures).encode())
        cache = HullCache(f"{scheme_of(self.model)}|user {digest.hexdigest()[:16]}",
                          self.cache_path)
        formulas = sorted({s.composition.reduced_formula for s in structures})
        stored = cache.lookup(formulas)
        if len(stored) < len(formulas):
            from matforge.oracles.relax import relax_structures

            info = potential_info(self.model)
            results = relax_structures(structures, model=self.model, progress=self.progress)
            ok = [(r.structure, r.energy_per_atom) for r in results if r.ok]
            phases = _lowest([s for s, _ in ok], [e for _, e in ok],
                             [corrected_energy_per_atom(s, e, info) for s, e in ok],
                             f"{self.spec} (relaxed with {info.name}-{info.model})")
            found = {p.formula for p in phases}
            cache.store(phases + [FailedPhase(f, "no structure relaxed") for f in formulas
                                  if f not in found])
            stored = cache.lookup(formulas)
        return [p for p in stored.values() if isinstance(p, Phase)]


def _lowest(structures: list[Structure], raw: list[float], corrected: list[float],
            source: str) -> list[Phase]:
    best: dict[str, Phase] = {}
    for s, e, ec in zip(structures, raw, corrected):
        f = s.composition.reduced_formula
        if f not in best or ec < best[f].corrected_energy_per_atom:
            best[f] = Phase(f, e, ec, source, s.to(fmt="cif"))
    return list(best.values())
