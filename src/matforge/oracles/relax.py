"""Fast batched structure relaxation with a universal interatomic potential.

Why not ASE one structure at a time: every ASE step pays for one model call on one small graph,
and CHGNet's own forward builds a double-backward graph (create_graph=True, meant for training)
for forces and stress. Here all unconverged structures of a batch take their optimiser step
together: one batched CHGNet energy evaluation and one first-order backward for forces and
stress per step, then a per-structure optimiser update (FIRE or BFGS) on atom positions and the
log of the cell deformation gradient (the same coordinates as ASE's FrechetCellFilter, so
results and the `fmax` criterion match CHGNet's StructOptimizer). Converged structures leave
the batch (per-structure convergence mask). One structure that fails is reported, not fatal; a structure that makes no physical sense
(`chem.geometry.structure_problem`) fails with the reason before any model call.

The pieces live in their own modules: `potentials` (models, versions, batched energies),
`cellfilter` (the generalised coordinates), `optimizers` (FIRE, BFGS); this is the driver.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymatgen.core import Structure

from matforge.candidate import to_structure
from matforge.chem.geometry import DEFAULT_LIMITS, StructureLimits, structure_problem
from matforge.errors import MatforgeError
from matforge.oracles.cellfilter import CellState
from matforge.oracles.optimizers import OPTIMIZERS, SWITCH_FMAX, make_optimizer
from matforge.oracles.potentials import (
    MODELS,
    ChgnetPotential,
    Potential,
    default_device,
    get_potential,
)
from matforge.oracles.symmetry import SymmetryConstraint

__all__ = ["MODELS", "OPTIMIZERS", "SWITCH_FMAX", "RelaxResult", "relax_structure",
           "relax_structures", "worker_count"]


@dataclass
class RelaxResult:
    """One relaxation: the relaxed structure (None on failure), its energy and how it went."""

    structure: Structure | None
    energy_per_atom: float = float("nan")
    converged: bool = False
    steps: int = 0
    error: str = ""
    initial_energy_per_atom: float = float("nan")
    fmax: float = float("nan")
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and self.structure is not None


# ----------------------------------------------------------------------------- driver


def relax_structures(structures: Iterable[Any], fmax: float = 0.1, steps: int = 500,
                     model: str | Potential = "chgnet", relax_cell: bool = True,
                     optimizer: str = "fire", device: str | None = None,
                     max_atoms: int = 64, progress: bool = True,
                     workers: int | None = None, switch_fmax: float = SWITCH_FMAX,
                     limits: StructureLimits = DEFAULT_LIMITS,
                     pressure: float = 0.0, keep_symmetry: bool = False
                     ) -> list[RelaxResult]:
    """Relax every structure (batched model calls); one RelaxResult per input.

    `fmax` (eV/A) applies to atomic forces and to the cell's generalised forces, exactly as
    CHGNet's StructOptimizer with ASE's FrechetCellFilter; `steps` caps optimiser steps.
    `optimizer="fire+bfgs"` hands over to BFGS once forces are below `switch_fmax`.
    `pressure` (GPa, hydrostatic) relaxes the cell to that pressure (ASE's scalar_pressure);
    the energies reported stay energies, so add P*V for enthalpies (`enthalpy_per_atom`).
    `keep_symmetry` relaxes each structure within the space group it starts in
    (`oracles.symmetry`, as ASE's FixSymmetry).
    Accepts pymatgen Structures, ase.Atoms or CIF strings; one outside `limits` fails with
    the reason. `workers` processes (default:
    the cores this process may use, on CPU) each relax small chunks with one torch thread:
    CHGNet's small graphs leave a second thread partly idle (measured on 2 cores: 1.5x the
    throughput of one process with two threads, benchmarks/results/relax.md).
    """
    if optimizer not in OPTIMIZERS:
        raise MatforgeError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    if fmax <= 0 or steps < 0:
        raise MatforgeError("fmax must be > 0 and steps >= 0")
    items = list(structures)
    options = {"fmax": fmax, "steps": steps, "model": model, "relax_cell": relax_cell,
               "optimizer": optimizer, "device": device, "max_atoms": max_atoms,
               "switch_fmax": switch_fmax, "limits": limits, "pressure": pressure,
               "keep_symmetry": keep_symmetry}
    n_workers = worker_count(workers, len(items), model, device)
    started = time.perf_counter()
    if n_workers > 1:
        get_potential(model, device=device)  # loaded once here; forked workers share it
        results = _relax_in_workers(items, options, n_workers, progress)
    else:
        results = _relax_batch(items, progress=progress, **options)
    elapsed = time.perf_counter() - started
    for res in results:
        res.seconds = elapsed / max(len(items), 1)
    return results


CHUNK = 8  # structures per worker task: small batches are fastest per structure on CPU
CHUNK_ATOMS = 64  # and at most this many atoms, so a few large cells cannot hold one worker


def worker_count(workers: int | None, n_items: int, model: Any, device: str | None) -> int:
    """Worker processes for `n_items` structures: `workers` if given, else one per usable core
    on CPU when there are at least two chunks (a GPU runs everything in one process)."""
    if workers is not None:
        if workers < 1:
            raise MatforgeError("workers must be >= 1")
        return min(workers, max(1, -(-n_items // CHUNK)))
    on_cpu = default_device(device) == "cpu"
    if not on_cpu or not isinstance(model, str) or n_items < 2 * CHUNK:
        return 1
    from matforge.metrics.parallel import default_jobs

    return min(default_jobs(), -(-n_items // CHUNK))


def _relax_in_workers(items: list[Any], options: dict[str, Any], n_workers: int,
                      progress: bool) -> list[RelaxResult]:
    """Chunks of at most CHUNK structures and CHUNK_ATOMS atoms over a forked process pool,
    largest cells first so that the slowest chunks start early; results come back in input
    order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    sizes = [_size(obj) for obj in items]
    order = sorted(range(len(items)), key=lambda i: -sizes[i])
    chunks: list[list[int]] = []
    for i in order:
        last = chunks[-1] if chunks else None
        if last is None or len(last) == CHUNK or \
                sum(sizes[j] for j in last) + sizes[i] > CHUNK_ATOMS:
            chunks.append([i])
        else:
            last.append(i)
    results: list[RelaxResult | None] = [None] * len(items)
    bar = _progress(len(items), progress)
    with ProcessPoolExecutor(max_workers=n_workers, initializer=_init_worker,
                             mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {pool.submit(_relax_batch, [items[i] for i in chunk], progress=False,
                               **options): chunk
                   for chunk in chunks}
        for fut in as_completed(futures):
            try:
                done = fut.result()
            except Exception as exc:  # noqa: BLE001 - a crashed worker fails its chunk only
                done = [RelaxResult(None, error=f"worker failed: {_reason(exc)}")
                        for _ in futures[fut]]
            for i, res in zip(futures[fut], done):
                results[i] = res
            bar.update(len(futures[fut]))
    bar.close()
    return results  # type: ignore[return-value] - every chunk filled its slots


def _size(obj: Any) -> int:
    try:
        return len(obj)
    except TypeError:  # a CIF string: parsed in the worker
        return 0


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _relax_batch(items: list[Any], fmax: float, steps: int, model: str | Potential,
                 relax_cell: bool, optimizer: str, device: str | None, max_atoms: int,
                 progress: bool, switch_fmax: float,
                 limits: StructureLimits, pressure: float,
                 keep_symmetry: bool) -> list[RelaxResult]:
    """All structures of `items` relaxed together in this process."""
    potential = get_potential(model, device=device)
    if isinstance(potential, ChgnetPotential):
        potential.max_atoms = max_atoms
    results: list[RelaxResult] = [RelaxResult(None) for _ in items]
    states: dict[int, CellState] = {}
    opts: dict[int, Any] = {}
    for i, obj in enumerate(items):
        try:
            structure = to_structure(obj)
            problem = structure_problem(structure, limits)
            if not problem:
                potential.check(structure)
                symmetry = SymmetryConstraint(structure) if keep_symmetry else None
        except Exception as exc:  # noqa: BLE001 - report and continue
            results[i].error = _reason(exc)
            continue
        if problem:
            results[i].error = f"unphysical structure: {problem}"
            continue
        states[i] = CellState(structure, relax_cell, pressure * EV_PER_A3_PER_GPA, symmetry)
        opts[i] = make_optimizer(optimizer, states[i].x, switch_fmax)
    active = sorted(states)
    bar = _progress(len(active), progress)
    step = 0
    while active:
        current = {i: states[i].structure() for i in active}
        evaluated = _evaluate(potential, current)
        still = []
        for i in active:
            res = results[i]
            out = evaluated[i]
            if isinstance(out, str):
                res.error = out
                res.structure = None
                bar.update(1)
                continue
            energy, forces, stress = out
            if step == 0:
                res.initial_energy_per_atom = energy
            gen = states[i].forces(forces, stress)
            fnow = float(np.sqrt((gen**2).sum(axis=1)).max())
            res.structure, res.energy_per_atom, res.fmax, res.steps = current[i], energy, fnow, step
            if not np.isfinite(energy) or not np.isfinite(fnow):
                res.error = "non-finite energy or forces"
                res.structure = None
                bar.update(1)
            elif fnow < fmax:
                res.converged = True
                bar.update(1)
            elif step >= steps:
                bar.update(1)
            else:
                states[i].x = opts[i].step(states[i].x, gen)
                still.append(i)
        active = still
        step += 1
    bar.close()
    return results


EV_PER_A3_PER_GPA = 1.0 / 160.21766208  # 1 eV/A^3 = 160.2 GPa


def enthalpy_per_atom(energy_per_atom: float, structure: Structure, pressure: float) -> float:
    """E/N + P*V/N in eV/atom, `pressure` in GPa."""
    return energy_per_atom + pressure * EV_PER_A3_PER_GPA * structure.volume / len(structure)


def relax_structure(structure: Any, **kwargs: Any) -> RelaxResult:
    """Relax a single structure (see relax_structures)."""
    kwargs.setdefault("progress", False)
    return relax_structures([structure], **kwargs)[0]


def _evaluate(potential: Potential, current: dict[int, Structure]) -> dict[int, Any]:
    """Batched evaluation; if the batch fails, isolate the failing structures one by one."""
    keys = list(current)
    try:
        values = potential.efs([current[i] for i in keys])
        return dict(zip(keys, values))
    except Exception:  # noqa: BLE001 - fall back to singles to find the culprit
        out: dict[int, Any] = {}
        for i in keys:
            try:
                out[i] = potential.efs([current[i]])[0]
            except Exception as exc:  # noqa: BLE001
                out[i] = _reason(exc)
        return out


def _reason(exc: Exception) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text[:300]


@dataclass
class _NullBar:
    n: int = 0
    extra: dict = field(default_factory=dict)

    def update(self, k: int) -> None:
        self.n += k

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NullBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="relaxing", unit="structure", leave=False)
