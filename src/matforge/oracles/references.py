"""Elemental reference energies relaxed with the same potential as the candidates.

A formation energy is only meaningful when the elements and the compound are computed with the
same model. For each element we relax a few ground-state candidates and keep the lowest energy
per atom: AFLOW unary prototypes that pymatgen ships (fcc, bcc, hcp, diamond, A7, ...) chosen
by element family, and an isolated diatomic molecule in a box for H, N, O and the halogens.
The table is cached as JSON in the matforge cache; a precomputed CHGNet table ships in
`matforge/assets/chgnet_elemental_references.json` (built by `python -m
matforge.oracles.references --out ...`, the command is recorded inside the file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Composition, Element, Lattice, Structure

from matforge.chem.geometry import DEFAULT_LIMITS, StructureLimits
from matforge.errors import MatforgeError

ASSET = "chgnet_elemental_references.json"
DIATOMIC = ("H", "N", "O", "F", "Cl", "Br", "I")
BOX = 12.0  # A, edge of the cubic box for diatomic molecules
MOLECULE_LIMITS = StructureLimits(max_volume_per_atom=BOX**3)  # a molecule in a box is mostly empty
NOBLE = ("He", "Ne", "Ar", "Kr", "Xe", "Rn")  # fcc solids, started at van der Waals contact
MIN_NN = 1.4  # A, floor for the starting nearest-neighbour distance (dense cells blow up graphs)
# Prototype names (pymatgen's AFLOW library, key "aflow") tried for every element.
COMMON = ("A_cF4_225_a", "A_cI2_229_a", "A_hP2_194_c")  # fcc, bcc, hcp
# Extra prototypes by element: the known ground states of the p-block, lanthanides, actinides.
EXTRA: dict[str, tuple[str, ...]] = {
    "C": ("A_cF8_227_a", "A_hP4_194_bc"),  # diamond, graphite
    "Si": ("A_cF8_227_a",), "Ge": ("A_cF8_227_a",), "Sn": ("A_cF8_227_a", "A_tI4_141_a"),
    "B": ("A_hR12_166_2h",), "P": ("A_hR2_166_c", "A_oC8_64_f"),
    "As": ("A_hR2_166_c",), "Sb": ("A_hR2_166_c",), "Bi": ("A_hR2_166_c",),
    "S": ("A_hP3_152_a",), "Se": ("A_hP3_152_a",), "Te": ("A_hP3_152_a",),
    "Ga": ("A_oC8_64_f",), "In": ("A_tI2_139_a",), "Hg": ("A_hR1_166_a",),
    "Po": ("A_cP1_221_a",), "Sm": ("A_hR3_166_ac",),
    "U": ("A_oC4_63_c",), "Np": ("A_oC4_63_c",), "Pu": ("A_oC4_63_c",), "Pa": ("A_tI2_139_a",),
    **{el: ("A_hP4_194_ac",) for el in ("La", "Ce", "Pr", "Nd", "Pm", "Am", "Cm", "Bk", "Cf")},
}


def potential_key(model: str) -> str:
    """'chgnet-0.3.0': the potential and the weights a table was computed with."""
    from matforge.oracles.potentials import potential_info

    info = potential_info(model)
    return f"{info.name}-{info.model}"


@dataclass
class ReferenceEntry:
    element: str
    energy_per_atom: float
    prototype: str
    converged: bool


class ElementalReferences:
    """Lowest relaxed energy per atom for each element, for one potential.

    `get(el)` returns eV/atom; missing elements are computed on demand (and cached) when a
    potential is available, else a MatforgeError names the element.
    """

    def __init__(self, entries: dict[str, ReferenceEntry] | None = None, model: str = "chgnet",
                 meta: dict[str, Any] | None = None, cache_path: Path | None = None,
                 fmax: float = 0.05, steps: int = 300) -> None:
        self.entries = dict(entries or {})
        self.model = model
        self.meta = dict(meta or {})
        self.cache_path = cache_path
        self.fmax, self.steps = fmax, steps

    # -- access
    def __contains__(self, element: str) -> bool:
        return str(element) in self.entries

    def get(self, element: str | Element) -> float:
        el = str(element)
        if el not in self.entries:
            self.compute([el])
        return self.entries[el].energy_per_atom

    def as_dict(self) -> dict[str, float]:
        return {el: e.energy_per_atom for el, e in sorted(self.entries.items())}

    # -- building
    def compute(self, elements: Iterable[str], progress: bool = False) -> None:
        """Relax the candidates of `elements` not yet in the table and store the lowest."""
        from matforge.oracles.relax import relax_structures

        todo = [str(el) for el in elements if str(el) not in self.entries]
        if not todo:
            return
        jobs: list[tuple[str, str, Structure, bool]] = []
        for el in todo:
            if Element(el).Z > 94 and self.model == "chgnet":
                raise MatforgeError(f"CHGNet has no parameters for {el} (Z > 94)")
            for name, structure, cell in reference_candidates(el):
                jobs.append((el, name, structure, cell))
        bulk = [j for j in jobs if j[3]]
        molecules = [j for j in jobs if not j[3]]
        results = {}
        for group, relax_cell in ((bulk, True), (molecules, False)):
            if not group:
                continue
            out = relax_structures([j[2] for j in group], fmax=self.fmax, steps=self.steps,
                                   model=self.model, relax_cell=relax_cell, progress=progress,
                                   limits=DEFAULT_LIMITS if relax_cell else MOLECULE_LIMITS)
            for job, res in zip(group, out):
                results[(job[0], job[1])] = res
        for el in todo:
            best = None
            for (e, name), res in results.items():
                if e != el or not res.ok or not np.isfinite(res.energy_per_atom):
                    continue
                if best is None or res.energy_per_atom < best.energy_per_atom:
                    best = ReferenceEntry(el, float(res.energy_per_atom), name,
                                          bool(res.converged))
            if best is None:
                raise MatforgeError(f"no reference structure of {el} could be relaxed")
            self.entries[el] = best
        if self.cache_path is not None:
            self.save(self.cache_path)

    # -- persistence
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"model": self.model, "potential": potential_key(self.model),
                "fmax": self.fmax, "steps": self.steps, **self.meta,
                "elements": {el: {"energy_per_atom": e.energy_per_atom,
                                  "prototype": e.prototype, "converged": e.converged}
                             for el, e in sorted(self.entries.items())}}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)  # a reader never sees half a table
        return path

    @classmethod
    def load(cls, path: str | Path, cache_path: Path | None = None) -> ElementalReferences:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise MatforgeError(f"cannot read elemental references {path}: {exc}") from exc
        entries = {el: ReferenceEntry(el, float(v["energy_per_atom"]), v.get("prototype", ""),
                                      bool(v.get("converged", True)))
                   for el, v in data.get("elements", {}).items()}
        meta = {k: v for k, v in data.items()
                if k not in {"elements", "model", "potential", "fmax", "steps"}}
        return cls(entries, model=data.get("model", "chgnet"), meta=meta, cache_path=cache_path,
                   fmax=data.get("fmax", 0.05), steps=data.get("steps", 300))

    @classmethod
    def default(cls, model: str = "chgnet") -> ElementalReferences:
        """The shipped table merged with the user cache; new elements go to the cache.
        A table computed with other weights of the potential is not used."""
        from matforge.data.paths import cache_dir

        key = potential_key(model)
        cache = cache_dir() / f"{key}_elemental_references.json"
        refs = cls(model=model, cache_path=cache)
        shipped = resources.files("matforge") / "assets" / f"{model}_elemental_references.json"
        for path in (Path(str(shipped)), cache):
            if path.is_file() and json.loads(path.read_text()).get("potential") == key:
                refs.entries.update(cls.load(path).entries)
        return refs


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


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, Structure]:
    from monty.serialization import loadfn
    from pymatgen.analysis import prototypes

    folder = Path(next(iter(prototypes.__path__)))
    library = loadfn(folder / "aflow_prototypes.json.gz")
    out = {}
    for entry in library:
        structure = entry["snl"].structure
        if len(structure.composition.elements) == 1:
            out.setdefault(entry["tags"]["aflow"], structure)
    return out


def reference_candidates(element: str) -> list[tuple[str, Structure, bool]]:
    """(name, starting structure, relax_cell) for each ground-state candidate of `element`."""
    el = Element(element)
    protos = _prototypes()
    if element in NOBLE:
        nn = 2.0 * float(el.van_der_waals_radius or 1.8)
    else:
        radius = el.atomic_radius or el.atomic_radius_calculated or 1.5
        nn = max(2.0 * float(radius), MIN_NN)
    out = []
    bulk = () if element in DIATOMIC else COMMON + EXTRA.get(element, ())  # molecular solids
    for name in bulk:
        if name not in protos:
            continue
        s = protos[name].copy()
        s.replace_species({sp: el for sp in s.composition.elements})
        out.append((name, _scaled(s, nn), True))
    if element in DIATOMIC:
        from ase.data import covalent_radii

        bond = 2.0 * float(covalent_radii[el.Z])
        mol = Structure(Lattice.cubic(BOX), [el, el],
                        [[0, 0, 0], [bond + 0.0, 0.0, 0.0]], coords_are_cartesian=True)
        out.append(("dimer", mol, False))
    return out


def _scaled(structure: Structure, nn_distance: float) -> Structure:
    """Scale the cell so the shortest interatomic distance equals `nn_distance`."""
    if len(structure) == 1:
        dmin = min(structure.lattice.abc)
        nbrs = structure.get_neighbors(structure[0], 6.0)
        if nbrs:
            dmin = min(n.nn_distance for n in nbrs)
    else:
        dm = structure.distance_matrix + np.eye(len(structure)) * 1e9
        dmin = float(dm.min())
        nbrs = structure.get_neighbors(structure[0], 6.0)
        if nbrs:
            dmin = min(dmin, min(n.nn_distance for n in nbrs))
    scale = nn_distance / dmin
    structure.scale_lattice(structure.volume * scale**3)
    return structure


def chgnet_elements() -> list[str]:
    """Elements CHGNet has parameters for (Z = 1..94)."""
    return [Element.from_Z(z).symbol for z in range(1, 95)]


def main(argv: list[str] | None = None) -> int:
    """Build the elemental reference table: `python -m matforge.oracles.references --out F`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--elements", default="", help="comma-separated; default: all")
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--chunk", type=int, default=32, help="elements relaxed per batch")
    args = parser.parse_args(argv)
    elements = [e for e in args.elements.split(",") if e] or chgnet_elements()
    out = Path(args.out)
    refs = ElementalReferences.load(out) if out.exists() else ElementalReferences(
        model=args.model, fmax=args.fmax, steps=args.steps)
    refs.cache_path = out
    refs.meta["command"] = "python -m matforge.oracles.references " + " ".join(
        argv if argv is not None else sys.argv[1:])
    start = time.perf_counter()
    chunk = max(args.chunk, 1)
    for k in range(0, len(elements), chunk):  # batched; the file grows, so a rerun resumes
        group = elements[k:k + chunk]
        refs.compute(group, progress=True)
        for el in group:
            print(f"{el:3s} {refs.entries[el].energy_per_atom:9.4f} eV/atom "
                  f"{refs.entries[el].prototype}", flush=True)
    refs.meta["seconds"] = round(time.perf_counter() - start, 1)
    refs.save(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
