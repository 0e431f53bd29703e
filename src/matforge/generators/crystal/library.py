"""The structure library: every known structure matforge can load, by formula and as templates.

Two users need the same thing. Structure search (`search.StructureSearch`) substitutes new
elements into known structure types; the offline hull (`oracles.phase_builder`) wants the
known structures of a formula first. Both read one `StructureLibrary`: the AFLOW prototypes
shipped with pymatgen, the Materials Project structure sets that load here, the val splits of
the CSP benchmark sets (never their test splits), and any user CIF folder, structure file or
`mp:` query (`matforge.data.load_dataset` reads them all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from pymatgen.core import Structure

from matforge.errors import MatforgeError

MP_SETS = ("matbench-phonons", "mp-20", "mpts-52")  # Materials Project structures
BENCHMARK_VAL_SETS = ("perov-5", "carbon-24")  # val splits only: their test splits score CSP
CSP_SETS = MP_SETS + BENCHMARK_VAL_SETS


@dataclass
class StructureLibrary:
    """Known structures by reduced formula, and a template CSP over all of them."""

    templates: object  # TemplateCSP
    known: dict[str, list[Structure]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def structures_of(self, formula: str) -> list[Structure]:
        return self.known.get(formula, [])

    def extended(self, groups: Mapping[str, Sequence[Structure]]) -> StructureLibrary:
        """A new library with each named group of structures added as templates and as known
        structures of their formulas."""
        from matforge.generators.crystal.template import TemplateCSP

        templates = list(self.templates.templates)
        known = {formula: list(found) for formula, found in self.known.items()}
        for source, structures in groups.items():
            templates += TemplateCSP.from_structures(structures, source=source).templates
            for s in structures:
                known.setdefault(s.composition.reduced_formula, []).append(s)
        sources = self.sources + tuple(groups)
        merged = TemplateCSP(templates, source="+".join(sources))
        return StructureLibrary(_library_templates(merged), known, sources)


def aflow_library() -> StructureLibrary:
    """The AFLOW prototypes shipped with pymatgen, as templates only."""
    from matforge.generators.crystal.template import TemplateCSP

    aflow = _library_templates(TemplateCSP.from_aflow_prototypes())
    return StructureLibrary(aflow, {}, ("aflow-prototypes",))


def _library_templates(csp: object) -> object:
    """`csp` (a TemplateCSP) made a library's: no vote by default (a search's substitutions
    rank by chemistry), polymorph popularity matched lazily for the search's template vote
    (`TemplateCSP.propose` with `consensus`), as `TemplateCSP.fit` gives it."""
    csp.consensus = 1
    csp.use_popularity()
    return csp


def _split_of(name: str) -> str:
    return "val" if name in BENCHMARK_VAL_SETS else "all"


def build_library(sets: Sequence[str] = MP_SETS) -> StructureLibrary:
    """AFLOW prototypes plus each of `sets` (registered names, CIF folders, structure files,
    `mp:` queries). A registered set whose files are not here is skipped, so the library
    works offline with whatever data is present; any other entry that does not load (a
    misspelt folder, a set without structures) is an error naming it."""
    from matforge.data import load_dataset
    from matforge.data.registry import DATASETS

    groups: dict[str, list[Structure]] = {}
    for name in sets:
        try:
            frame = load_dataset(name, split=_split_of(name))
        except MatforgeError as exc:
            if name in DATASETS:
                continue
            raise MatforgeError(f"structure library entry {name!r} does not load: {exc}"
                                ) from None
        if "cif" not in frame.columns:
            raise MatforgeError(f"structure library entry {name!r} has no structures (a 'cif' "
                                "column) to use as templates")
        groups[name] = [Structure.from_str(c, fmt="cif") for c in frame["cif"]]
    return aflow_library().extended(groups)


@lru_cache(maxsize=4)
def default_library(sets: tuple[str, ...] = MP_SETS) -> StructureLibrary:
    """`build_library(sets)`, built once per process."""
    return build_library(sets)
