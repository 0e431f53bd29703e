"""Thermodynamic stability of any structure: relax, correct, place on the convex hull.

`assess_stability` is the one implementation behind `matforge stability`, the Python API and
the CHGNet/SevenNet campaign oracle:

1. the structure must make physical sense (`chem.geometry`), else it fails with the reason;
2. it is relaxed with the potential (or, with relax=False, evaluated as given);
3. its energy is put on the Materials Project 2020 scale (`compatibility`);
4. it is placed on the hull of its chemical system (`hull`): energy above the hull, the
   phases it would decompose into, and its formation energy against the hull's elements.

One structure that fails gives a failed row with the reason, never a crashed batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pymatgen.core import Structure

from matforge.candidate import Candidate
from matforge.chem.geometry import DEFAULT_LIMITS, StructureLimits
from matforge.errors import MatforgeError
from matforge.oracles.base import OK, Oracle, Result
from matforge.oracles.compatibility import corrected_energy_per_atom, correction_id
from matforge.oracles.hull import Hull, default_hull_spec, make_hull
from matforge.oracles.potentials import potential_info

COLUMNS = ("status", "reason", "formula", "energy_per_atom", "corrected_energy_per_atom",
           "formation_energy_per_atom", "e_above_hull", "decomposition", "n_competing_phases",
           "hull_source", "potential", "correction", "converged", "relax_steps")


@dataclass
class StabilityResult:
    """One structure's verdict; `values` holds the numeric columns."""

    status: str
    reason: str = ""
    structure: Structure | None = None  # relaxed (or as given)
    values: dict[str, float] = field(default_factory=dict)
    decomposition: str = ""
    hull_source: str = ""
    potential: str = ""  # PotentialInfo.identity of the model that gave the energy
    correction: str = ""  # how that energy was put on the MP2020 scale

    @property
    def ok(self) -> bool:
        return self.status == OK


def assess_stability(structures: Sequence[Any], hull: Hull | str | None = None,
                     model: str = "chgnet", relax: bool = True, fmax: float = 0.1,
                     steps: int = 500, optimizer: str = "fire",
                     limits: StructureLimits = DEFAULT_LIMITS, progress: bool = True,
                     leave_out: Sequence[str | None] | None = None) -> list[StabilityResult]:
    """Energy above the hull of every structure (Structure, ase.Atoms, CIF text or None).

    Args:
        hull: a Hull, or "auto" / "mp" / a path / a data set name (default: "mp" when
            MP_API_KEY is set and mp-api installed, else "auto").
        model: "chgnet" or "sevennet"; the hull's phases use the same potential.
        relax: relax first (atoms and cell, `fmax` eV/A, at most `steps`).
        leave_out: per structure, a formula whose known structures the hull may not use.
    Returns:
        One StabilityResult per input, in order.
    """
    from matforge.oracles.relax import relax_structures

    hull = hull if isinstance(hull, Hull) else make_hull(hull or default_hull_spec(), model,
                                                         progress=progress)
    items = list(structures)
    todo = [i for i, s in enumerate(items) if s is not None]
    relaxed = relax_structures([items[i] for i in todo], fmax=fmax, steps=steps if relax else 0,
                               model=model, optimizer=optimizer, limits=limits,
                               progress=progress) if todo else []
    by_index = dict(zip(todo, relaxed))
    return place_on_hull([by_index.get(i) for i in range(len(items))], hull, model, leave_out)


def place_on_hull(relaxed: Sequence[Any], hull: Hull, model: str = "chgnet",
                  leave_out: Sequence[str | None] | None = None) -> list[StabilityResult]:
    """Verdicts for relaxation results (`oracles.relax.RelaxResult`, None for no structure):
    the phases of every system are prepared in one batch, then each is placed."""
    info = potential_info(model)
    hull.prepare([[str(e) for e in r.structure.composition.elements]
                  for r in relaxed if r is not None and r.ok])
    results = []
    for i, res in enumerate(relaxed):
        if res is None or not res.ok:
            reason = "no structure" if res is None else res.error or "relaxation failed"
            results.append(StabilityResult("failed", reason))
            continue
        verdict = _place(res, hull, info, None if leave_out is None else leave_out[i])
        verdict.values.update(converged=float(res.converged), relax_steps=float(res.steps))
        verdict.hull_source = verdict.hull_source or hull.name
        results.append(verdict)
    for r in results:
        r.potential, r.correction = info.identity, correction_id(info)
    return results


def _place(res: Any, hull: Hull, info: Any, leave_out: str | None) -> StabilityResult:
    """The hull verdict for one relaxed structure; any error fails that structure only."""
    structure = res.structure
    try:
        corrected = corrected_energy_per_atom(structure, res.energy_per_atom, info)
        verdict = hull.assess(structure.composition, corrected, leave_out=leave_out)
    except (MatforgeError, ValueError) as exc:
        return StabilityResult("failed", " ".join(str(exc).split())[:300], structure,
                               {"energy_per_atom": float(res.energy_per_atom)})
    values = {"energy_per_atom": float(res.energy_per_atom),
              "corrected_energy_per_atom": corrected,
              "formation_energy_per_atom": verdict.formation_energy_per_atom,
              "e_above_hull": verdict.e_above_hull,
              "n_competing_phases": float(verdict.n_competing_phases)}
    return StabilityResult(OK, "", structure, values, verdict.decomposition, verdict.hull_source)


def stability_rows(results: Sequence[StabilityResult]) -> list[dict[str, Any]]:
    """Output rows (COLUMNS, plus the relaxed `cif`) for CSV writers."""
    rows = []
    for r in results:
        row: dict[str, Any] = {c: None for c in COLUMNS}
        row.update(r.values)
        row.update(status=r.status, reason=r.reason, decomposition=r.decomposition,
                   hull_source=r.hull_source, potential=r.potential, correction=r.correction,
                   formula=r.structure.composition.reduced_formula if r.structure else None,
                   cif=r.structure.to(fmt="cif") if r.structure is not None else None)
        for key, kind in (("converged", bool), ("n_competing_phases", int),
                          ("relax_steps", int)):
            if row[key] is not None:
                row[key] = kind(row[key])
        rows.append(row)
    return rows


def stability(inputs: str | Path | Sequence[Any], hull: Hull | str | None = None,
              model: str = "chgnet", relax: bool = True, fmax: float = 0.1, steps: int = 500,
              progress: bool = True) -> pd.DataFrame:
    """Energy above the hull of structures, as a table (one row per input, in order).

    Args:
        inputs: a path (CSV with `cif`, CIF folder, .cif, .extxyz; other columns pass
            through) or a list of pymatgen Structures, ase.Atoms or CIF strings.
        hull: "auto" (offline), "mp" (needs MP_API_KEY), a file/folder of phases or a
            structure data set; default "mp" with a key, else "auto".
        model: "chgnet" or "sevennet". relax, fmax, steps: as `assess_stability`.
    Returns:
        DataFrame with `COLUMNS` (status, reason, e_above_hull, decomposition, ...) and the
        relaxed `cif`.

    Example:
        >>> import matforge
        >>> table = matforge.stability("structures.csv")          # doctest: +SKIP
        >>> table[["formula", "e_above_hull", "decomposition"]]    # doctest: +SKIP
    """
    from matforge.data.structure_input import read_structure_rows, require_usable_single

    if isinstance(inputs, (str, Path)):
        rows = read_structure_rows(inputs)
        require_usable_single(rows, inputs)
    else:
        rows = [{"_structure": s} for s in inputs]
    verdicts = stability_rows(assess_stability([r["_structure"] for r in rows], hull=hull,
                                               model=model, relax=relax, fmax=fmax,
                                               steps=steps, progress=progress))
    out = []
    for row, verdict in zip(rows, verdicts):
        passed = {k: v for k, v in row.items() if k not in {"_structure", "cif", "error"}}
        if row.get("error"):
            verdict.update(reason=row["error"], cif=row.get("cif"))
        out.append({**passed, **verdict})
    frame = pd.DataFrame(out)
    for key in ("n_competing_phases", "relax_steps"):  # counts stay integers beside gaps
        frame[key] = frame[key].astype("Int64")
    return frame


class StabilityOracle(Oracle):
    """A campaign oracle: relax each candidate and score its stability on the hull.

    Values: energy_per_atom, corrected_energy_per_atom, formation_energy_per_atom,
    e_above_hull, n_competing_phases, converged, relax_steps, and the labels decomposition,
    hull_source, potential and structure_source. A candidate with a structure is relaxed
    from it. A candidate with a composition only (csp="search") gets the structure search
    the hull's own phases get (`phase_builder.PhaseBuilder`: its known structures, template
    substitutions across structure types, random structures where no template fits,
    screened by single-point energy, the 2 lowest relaxed); the lowest relaxed energy wins.
    csp="none" fails formula-only candidates instead. With `update_structures` the
    candidate's structure becomes the relaxed one, so the campaign store and reports show it.
    """

    def __init__(self, model: str = "chgnet", hull: str | Hull | None = None,
                 fmax: float = 0.1, steps: int = 300, csp: str = "search",
                 update_structures: bool = True, progress: bool = True) -> None:
        if csp not in ("search", "none"):
            raise MatforgeError(f"stability oracle: csp must be 'search' or 'none', not {csp!r}")
        self.model, self.fmax, self.steps, self.csp = model, fmax, steps, csp
        self.name = f"{model}-stability"
        self._hull = hull
        self.update_structures = update_structures
        self.progress = progress

    @property
    def hull(self) -> Hull:
        if not isinstance(self._hull, Hull):  # built on first use: loading costs seconds
            self._hull = make_hull(self._hull or default_hull_spec(), self.model,
                                   progress=self.progress)
        return self._hull

    def evaluate(self, candidates: list[Candidate]) -> list[Result]:
        start = time.perf_counter()
        given = [i for i, c in enumerate(candidates) if c.structure is not None]
        verdicts: dict[int, StabilityResult] = dict(zip(given, assess_stability(
            [candidates[i].structure for i in given], self.hull, model=self.model,
            fmax=self.fmax, steps=self.steps, progress=self.progress))) if given else {}
        sources = {i: "given" for i in given}
        searched = [i for i in range(len(candidates)) if i not in verdicts]
        if searched and self.csp == "search":
            verdicts.update(self._search([candidates[i] for i in searched], searched, sources))
        per = (time.perf_counter() - start) / max(len(candidates), 1)
        out = []
        for i, cand in enumerate(candidates):
            v = verdicts.get(i)
            if v is None:
                out.append(Result.failed(cand, "no structure to relax", per))
                continue
            if self.update_structures and v.structure is not None:
                cand.structure = v.structure
            if not v.ok:
                out.append(Result.failed(cand, v.reason, per))
                continue
            labels = {"decomposition": v.decomposition, "hull_source": v.hull_source,
                      "potential": v.potential, "structure_source": sources[i]}
            out.append(Result(cand, OK, {**v.values, **labels}, "", per))
        return out

    def _search(self, cands: list[Candidate], index: list[int],
                sources: dict[int, str]) -> dict[int, StabilityResult]:
        """Structure search for formula-only candidates, then their hull verdicts."""
        from matforge.oracles.phase_builder import PhaseBuilder

        builder = PhaseBuilder(model=self.model, n_relax=2, fmax=self.fmax, steps=self.steps,
                               progress=self.progress)
        found = builder.search([c.formula for c in cands])
        relaxed = [None if isinstance(found[c.formula], str) else found[c.formula].relaxed
                   for c in cands]
        verdicts = place_on_hull(relaxed, self.hull, self.model)
        for i, c, v in zip(index, cands, verdicts):
            f = found[c.formula]
            if isinstance(f, str):
                v.reason = f
            else:
                sources[i] = f.source
        return dict(zip(index, verdicts))
