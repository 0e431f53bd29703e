"""Fast batched structure relaxation with a universal interatomic potential.

Why not ASE one structure at a time: every ASE step pays for one model call on one small graph,
and CHGNet's own forward builds a double-backward graph (create_graph=True, meant for training)
for forces and stress. Here all unconverged structures of a batch take their optimiser step
together: one batched CHGNet energy evaluation and one first-order backward for forces and
stress per step, then a per-structure optimiser update (FIRE or BFGS) on atom positions and the
log of the cell deformation gradient (the same coordinates as ASE's FrechetCellFilter, so
results and the `fmax` criterion match CHGNet's StructOptimizer). Converged structures leave
the batch (per-structure convergence mask). One structure that fails is reported, not fatal.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymatgen.core import Lattice, Structure

from matforge.candidate import to_structure
from matforge.errors import MatforgeError

MODELS = ("chgnet", "sevennet")
OPTIMIZERS = ("fire", "bfgs", "fire+bfgs")
SWITCH_FMAX = 0.3  # eV/A where fire+bfgs hands over (chosen on val rows, docs/oracles.md)
MAX_EDGES_PER_ATOM = 400  # a dense metal has ~80 within 5 A; far more means collapsed atoms


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


# ----------------------------------------------------------------------------- potentials


class Potential:
    """Energy, forces and stress for a list of structures in one call."""

    name = "potential"
    max_z = 118

    def efs(self, structures: Sequence[Structure]) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """Per structure: (energy per atom eV, forces (n,3) eV/A, stress (3,3) eV/A^3, ASE sign)."""
        raise NotImplementedError

    def check(self, structure: Structure) -> None:
        """Raise ValueError if this potential cannot handle the structure at all."""
        zs = [sp.Z for sp in structure.composition.elements]
        if max(zs) > self.max_z:
            raise ValueError(f"{self.name} has no parameters for Z={max(zs)}")


class ChgnetPotential(Potential):
    """CHGNet with batched graphs and a single first-order backward pass per batch.

    `max_atoms` caps the atoms per model call: on 2 CPU cores large batches are no faster per
    atom than small ones, while small ones keep memory low.
    """

    name = "chgnet"
    max_z = 94

    def __init__(self, device: str | None = None, max_atoms: int = 256,
                 threads: int | None = None) -> None:
        import torch
        from chgnet.model import CHGNet

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = CHGNet.load(verbose=False).to(self.device)
        self.model.eval()
        self.model.graph_converter.set_isolated_atom_response("error")
        for param in self.model.parameters():
            param.requires_grad_(False)
        self.max_atoms = max_atoms

    def graph(self, structure: Structure) -> Any:
        return self.model.graph_converter(structure)

    def check(self, structure: Structure) -> None:
        super().check(structure)
        graph = self.graph(structure)
        bonded = set(graph.atom_graph[:, 0].tolist()) if graph.atom_graph.numel() else set()
        if graph.atom_graph.shape[0] > MAX_EDGES_PER_ATOM * len(structure):
            raise ValueError("atoms too close: more than "
                             f"{MAX_EDGES_PER_ATOM} neighbours per atom within 5 A")
        if len(bonded) < len(structure):  # whatever the converter's isolated-atom setting
            raise ValueError(f"{len(structure) - len(bonded)} isolated atom(s): no neighbour "
                             "within CHGNet's 5 A cutoff")

    def efs(self, structures: Sequence[Structure]) -> list[tuple[float, np.ndarray, np.ndarray]]:
        out: list[tuple[float, np.ndarray, np.ndarray]] = []
        chunk: list[Structure] = []
        n_atoms = 0
        for s in structures:
            if chunk and n_atoms + len(s) > self.max_atoms:
                out.extend(self._efs_batch(chunk))
                chunk, n_atoms = [], 0
            chunk.append(s)
            n_atoms += len(s)
        if chunk:
            out.extend(self._efs_batch(chunk))
        return out

    def _efs_batch(self, structures: Sequence[Structure]) -> list[tuple]:
        from chgnet.model.model import BatchedGraph

        torch, model = self.torch, self.model
        graphs = [self.graph(s).to(self.device) for s in structures]
        with torch.enable_grad():
            batched = BatchedGraph.from_graphs(
                graphs, bond_basis_expansion=model.bond_basis_expansion,
                angle_basis_expansion=model.angle_basis_expansion, compute_stress=True)
            pred = model._compute(batched, compute_force=False, compute_stress=False)
            per_atom = pred["e"]
            n = pred["atoms_per_graph"].to(per_atom.dtype)
            grads = torch.autograd.grad((per_atom * n).sum(),
                                        [*batched.atom_positions, *batched.strains])
        with torch.no_grad():
            comp = model.composition_model(graphs) if model.composition_model is not None else 0
            energy = (per_atom + comp).detach().cpu().numpy()
        k = len(graphs)
        results = []
        for i in range(k):
            forces = -grads[i].detach().cpu().numpy().astype(float)
            volume = float(batched.volumes[i])
            stress = grads[k + i].detach().cpu().numpy().astype(float) / volume
            results.append((float(energy[i]), forces, stress))
        return results


class AsePotential(Potential):
    """Any ASE calculator, one structure at a time (used for SevenNet)."""

    def __init__(self, calculator: Any, name: str) -> None:
        self.calc = calculator
        self.name = name

    def efs(self, structures: Sequence[Structure]) -> list[tuple[float, np.ndarray, np.ndarray]]:
        from ase.stress import voigt_6_to_full_3x3_stress
        from pymatgen.io.ase import AseAtomsAdaptor

        out = []
        for s in structures:
            atoms = AseAtomsAdaptor.get_atoms(s)
            atoms.calc = self.calc
            energy = atoms.get_potential_energy() / len(atoms)
            stress = voigt_6_to_full_3x3_stress(atoms.get_stress())
            out.append((float(energy), np.asarray(atoms.get_forces(), float), stress))
        return out


_POTENTIALS: dict[tuple, Potential] = {}


def get_potential(model: str = "chgnet", device: str | None = None, **kwargs: Any) -> Potential:
    """A cached potential by name ("chgnet" or "sevennet"); loading CHGNet takes ~1 s."""
    if isinstance(model, Potential):
        return model
    key = (model, device, tuple(sorted(kwargs.items())))
    if key in _POTENTIALS:
        return _POTENTIALS[key]
    if model == "chgnet":
        pot: Potential = ChgnetPotential(device=device, **kwargs)
    elif model == "sevennet":
        try:
            from sevenn.calculator import SevenNetCalculator
        except ImportError as exc:
            raise MatforgeError("--model sevennet needs the 'sevenn' package "
                                "(pip install sevenn); CHGNet is the default") from exc
        pot = AsePotential(SevenNetCalculator("7net-0", device=device or "auto"), "sevennet")
    else:
        raise MatforgeError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    _POTENTIALS[key] = pot
    return pot


# ----------------------------------------------------------------------------- cell coordinates


class _CellState:
    """One structure's generalised coordinates (ASE FrechetCellFilter convention).

    x = [positions expressed in the reference cell (n,3); exp_cell_factor * logm(F) (3,3)],
    with F the deformation gradient from the reference cell. Generalised forces are the atomic
    forces mapped by F and the virial's derivative w.r.t. logm(F) divided by exp_cell_factor.
    """

    def __init__(self, structure: Structure, relax_cell: bool) -> None:
        self.species = structure.species
        self.site_properties = structure.site_properties
        self.orig_cell = structure.lattice.matrix.copy()
        self.n = len(structure)
        self.relax_cell = relax_cell
        self.factor = float(self.n)
        self.x = np.zeros((self.n + 3, 3))
        self.x[: self.n] = structure.cart_coords  # F = I initially
        self._deform: tuple[bytes, np.ndarray] | None = None

    def deform(self) -> np.ndarray:
        if not self.relax_cell:
            return np.eye(3)
        key = self.x[self.n:].tobytes()  # structure() and forces() ask at the same x
        if self._deform is None or self._deform[0] != key:
            self._deform = (key, small_expm(self.x[self.n:] / self.factor))
        return self._deform[1]

    def structure(self) -> Structure:
        f = self.deform()
        cell = self.orig_cell @ f.T
        pos = self.x[: self.n] @ f.T
        return Structure(Lattice(cell), self.species, pos, coords_are_cartesian=True,
                         site_properties=self.site_properties)

    def forces(self, forces: np.ndarray, stress: np.ndarray) -> np.ndarray:
        f = self.deform()
        g = np.zeros_like(self.x)
        g[: self.n] = forces @ f
        if self.relax_cell:
            volume = abs(np.linalg.det(self.orig_cell @ f.T))
            virial = -volume * stress
            ucf = virial @ np.linalg.inv(f.T)
            log_f = self.x[self.n:] / self.factor
            # d<expm(L), U>/dL is the adjoint Frechet derivative, which is the Frechet
            # derivative at L^T applied to U: one call instead of ASE's nine.
            dlog = small_expm_frechet(log_f.T, ucf)
            g[self.n:] = dlog / self.factor
        return g


def small_expm(a: np.ndarray) -> np.ndarray:
    """exp(a) for a small square matrix: scaling and squaring around a degree-12 Taylor series.

    For the 3x3 and 6x6 matrices of the cell filter this is ~50x cheaper than scipy's expm,
    whose per-call overhead with expm_frechet's took ~20% of a perov-5 relaxation step; once
    scaled to norm <= 1/4 the series' truncation error is below 1e-18, and the result agrees
    with scipy to rounding (tests/oracles/test_oracles_relax.py).
    """
    norm = float(np.abs(a).sum(axis=0).max())
    squarings = max(0, int(np.ceil(np.log2(norm / 0.25)))) if norm > 0.25 else 0
    m = a / 2.0**squarings
    result = np.eye(len(a))
    term = np.eye(len(a))
    for k in range(1, 13):
        term = term @ m / k
        result = result + term
    for _ in range(squarings):
        result = result @ result
    return result


def small_expm_frechet(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The Frechet derivative of exp at `a` in direction `e`: the upper right block of
    exp([[a, e], [0, a]]), with `e` normalised first (the derivative is linear in it) so its
    size adds no squarings."""
    size = float(np.abs(e).max())
    if size == 0.0:
        return np.zeros_like(e)
    n = len(a)
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n] = block[n:, n:] = a
    block[:n, n:] = e / size
    return small_expm(block)[:n, n:] * size


# ----------------------------------------------------------------------------- optimisers


class _Fire:
    """ASE's FIRE (same defaults), one state per structure."""

    def __init__(self, x: np.ndarray, dt: float = 0.1, maxstep: float = 0.2, dtmax: float = 1.0,
                 nmin: int = 5, finc: float = 1.1, fdec: float = 0.5, astart: float = 0.1,
                 fa: float = 0.99) -> None:
        self.v: np.ndarray | None = None
        self.dt, self.maxstep, self.dtmax, self.nmin = dt, maxstep, dtmax, nmin
        self.finc, self.fdec, self.astart, self.fa = finc, fdec, astart, fa
        self.a, self.nsteps = astart, 0

    def step(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        if self.v is None:
            self.v = np.zeros_like(x)
        else:
            vf = float(np.vdot(f, self.v))
            if vf > 0.0:
                fnorm = np.sqrt(np.vdot(f, f))
                self.v = (1.0 - self.a) * self.v + self.a * f / fnorm * np.sqrt(
                    np.vdot(self.v, self.v))
                if self.nsteps > self.nmin:
                    self.dt = min(self.dt * self.finc, self.dtmax)
                    self.a *= self.fa
                self.nsteps += 1
            else:
                self.v[:] = 0.0
                self.a = self.astart
                self.dt *= self.fdec
                self.nsteps = 0
        self.v += self.dt * f
        dr = self.dt * self.v
        norm = np.sqrt(np.vdot(dr, dr))
        if norm > self.maxstep:
            dr = self.maxstep * dr / norm
        return x + dr


class _Bfgs:
    """ASE's BFGS (quasi-Newton, Hessian guess alpha*I), one state per structure."""

    def __init__(self, x: np.ndarray, maxstep: float = 0.2, alpha: float = 70.0) -> None:
        self.h = np.eye(x.size) * alpha
        self.maxstep = maxstep
        self.x0: np.ndarray | None = None
        self.f0: np.ndarray | None = None

    def step(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        r, g = x.ravel(), f.ravel()
        if self.x0 is not None:
            dr = r - self.x0
            if np.abs(dr).max() > 1e-7:
                df = g - self.f0
                a = float(dr @ df)
                dg = self.h @ dr
                b = float(dr @ dg)
                if abs(a) > 1e-12 and abs(b) > 1e-12:
                    self.h -= np.outer(df, df) / a + np.outer(dg, dg) / b
        omega, vecs = np.linalg.eigh(self.h)
        dr = (vecs @ ((g @ vecs) / np.abs(omega))).reshape(-1, 3)
        longest = np.sqrt((dr**2).sum(axis=1)).max()
        if longest > self.maxstep:
            dr *= self.maxstep / longest
        self.x0, self.f0 = r.copy(), g.copy()
        return x + dr


class _FireThenBfgs:
    """FIRE while the largest generalised force is above `switch` (eV/A), then BFGS from a
    fresh Hessian guess, which converges in fewer steps than FIRE's slow tail. Most
    structures end where FIRE would; some run on to a lower stationary point
    (docs/oracles.md)."""

    def __init__(self, x: np.ndarray, switch: float = SWITCH_FMAX) -> None:
        self.switch = switch
        self.active: _Fire | _Bfgs = _Fire(x)

    def step(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        if isinstance(self.active, _Fire) and np.sqrt((f**2).sum(axis=1)).max() < self.switch:
            self.active = _Bfgs(x)
        return self.active.step(x, f)


def _optimizer(name: str, x: np.ndarray, switch_fmax: float) -> Any:
    if name == "fire":
        return _Fire(x)
    if name == "bfgs":
        return _Bfgs(x)
    return _FireThenBfgs(x, switch_fmax)


# ----------------------------------------------------------------------------- driver


def relax_structures(structures: Iterable[Any], fmax: float = 0.1, steps: int = 500,
                     model: str | Potential = "chgnet", relax_cell: bool = True,
                     optimizer: str = "fire", device: str | None = None,
                     max_atoms: int = 64, progress: bool = True,
                     workers: int | None = None,
                     switch_fmax: float = SWITCH_FMAX) -> list[RelaxResult]:
    """Relax every structure (batched model calls); one RelaxResult per input.

    `fmax` (eV/A) applies to atomic forces and to the cell's generalised forces, exactly as
    CHGNet's StructOptimizer with ASE's FrechetCellFilter; `steps` caps optimiser steps.
    `optimizer="fire+bfgs"` hands over to BFGS once forces are below `switch_fmax`.
    Accepts pymatgen Structures, ase.Atoms or CIF strings. `workers` processes (default:
    the cores this process may use, on CPU) each relax small chunks with one torch thread:
    CHGNet's small graphs leave a second thread partly idle (measured on 2 cores: 8% faster
    than one process with two threads, benchmarks/results/relax.md).
    """
    if optimizer not in OPTIMIZERS:
        raise MatforgeError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    if fmax <= 0 or steps < 0:
        raise MatforgeError("fmax must be > 0 and steps >= 0")
    items = list(structures)
    options = {"fmax": fmax, "steps": steps, "model": model, "relax_cell": relax_cell,
               "optimizer": optimizer, "device": device, "max_atoms": max_atoms,
               "switch_fmax": switch_fmax}
    n_workers = _worker_count(workers, len(items), model, device)
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


def _worker_count(workers: int | None, n_items: int, model: Any, device: str | None) -> int:
    if workers is not None:
        if workers < 1:
            raise MatforgeError("workers must be >= 1")
        return min(workers, max(1, -(-n_items // CHUNK)))
    import torch

    on_cpu = (device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cpu"
    if not on_cpu or not isinstance(model, str) or n_items < 2 * CHUNK:
        return 1
    from matforge.metrics.parallel import default_jobs

    return min(default_jobs(), -(-n_items // CHUNK))


def _relax_in_workers(items: list[Any], options: dict[str, Any], n_workers: int,
                      progress: bool) -> list[RelaxResult]:
    """Chunks of CHUNK structures over a forked process pool, largest cells first so that
    the slowest chunks start early; results come back in input order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    sizes = [_size(obj) for obj in items]
    order = sorted(range(len(items)), key=lambda i: -sizes[i])
    chunks = [order[i:i + CHUNK] for i in range(0, len(order), CHUNK)]
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
                 progress: bool, switch_fmax: float) -> list[RelaxResult]:
    """All structures of `items` relaxed together in this process."""
    potential = get_potential(model, device=device)
    if isinstance(potential, ChgnetPotential):
        potential.max_atoms = max_atoms
    results: list[RelaxResult] = [RelaxResult(None) for _ in items]
    states: dict[int, _CellState] = {}
    opts: dict[int, Any] = {}
    for i, obj in enumerate(items):
        try:
            structure = to_structure(obj)
            if len(structure) == 0:
                raise ValueError("empty structure")
            potential.check(structure)
        except Exception as exc:  # noqa: BLE001 - report and continue
            results[i].error = _reason(exc)
            continue
        states[i] = _CellState(structure, relax_cell)
        opts[i] = _optimizer(optimizer, states[i].x, switch_fmax)
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
