"""Relaxation throughput: `matforge relax` (batched) vs one structure at a time, and vs torch-sim.

The same perturbed structures (perov_5 and carbon_24 test rows, half each; Gaussian position
noise and a random strain, fixed seed) are relaxed by each in one run, with the same
fmax/steps/filter (FIRE + FrechetCellFilter-equivalent). The one-at-a-time baseline is
CHGNet's StructOptimizer, or ASE's FIRE on a FrechetCellFilter with SevenNet's calculator
(`--model sevennet`). With `--model sevennet --torch-sim-python PY`, torch-sim's batched
`frechet_cell_fire` runs the same structures in the interpreter PY (`torchsim_relax.py`).
Writes benchmarks/results/NAME.{json,md}: wall time per method, speed-ups, and the final
energy differences (eV/atom).

    MATFORGE_DATA_DIR=../shared/data python benchmarks/relax.py --n 64 --seed 0
    MATFORGE_DATA_DIR=../shared/data python benchmarks/relax.py --n 64 --model sevennet \\
        --runs fire:auto,fire:1 --torch-sim-python /tmp/tsvenv/bin/python --name relax_sevennet
    MATFORGE_DATA_DIR=../shared/data python benchmarks/relax.py --name relax_sevennet --resolve

The timed baseline stops after --baseline-minutes, so its energies cover a prefix; `--resolve`
relaxes one at a time each later structure on which matforge and torch-sim disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import provenance, provenance_footer

warnings.filterwarnings("ignore")

RESULTS = Path(__file__).resolve().parent / "results"


def perturbed_structures(n: int, seed: int, sigma_pos: float = 0.05,
                         sigma_strain: float = 0.03, split: str = "test") -> tuple[list, list[str]]:
    """n/2 perov-5 and n/2 carbon-24 structures of `split`, perturbed reproducibly, in
    alternating order."""
    from pymatgen.core import Structure

    from matforge.data import load_dataset

    rng = np.random.default_rng(seed)
    out, ids = [], []
    for name, k in (("perov-5", n - n // 2), ("carbon-24", n // 2)):
        frame = load_dataset(name, split=split)
        rows = frame.sample(n=k, random_state=seed)
        for idx, cif in zip(rows.index, rows["cif"]):
            s = Structure.from_str(cif, fmt="cif")
            s = Structure(s.lattice, s.species,
                          s.cart_coords + rng.normal(0, sigma_pos, (len(s), 3)),
                          coords_are_cartesian=True)
            s.apply_strain(rng.normal(0, sigma_strain, 3))
            out.append(s)
            ids.append(f"{name}:{idx}")
    # alternate the sets, so the prefix that a time-limited baseline reaches holds both
    # halves (perov-5 first would time small cells only and flatter the baseline)
    order = [i for pair in zip(range(n - n // 2), range(n - n // 2, n)) for i in pair]
    order += [i for i in range(n) if i not in set(order)]
    return [out[i] for i in order], [ids[i] for i in order]


def run_one_at_a_time(model: str, structures: list, fmax: float, steps: int,
                      max_seconds: float) -> tuple[list[float], list[int], float, int]:
    """The usual single-structure route: CHGNet's own StructOptimizer, or ASE FIRE on a
    FrechetCellFilter with SevenNet's calculator, one structure after another."""
    from tqdm import tqdm

    relax_one = _chgnet_one if model == "chgnet" else _sevennet_one(fmax, steps)
    energies, nsteps = [], []
    start = time.perf_counter()
    for s in tqdm(structures, desc="one at a time", leave=False):
        if time.perf_counter() - start > max_seconds:
            break
        e, n = relax_one(s, fmax, steps)
        energies.append(e)
        nsteps.append(n)
    return energies, nsteps, time.perf_counter() - start, len(energies)


def _chgnet_one(structure, fmax: float, steps: int) -> tuple[float, int]:
    from chgnet.model import StructOptimizer

    global _STRUCT_OPTIMIZER
    _STRUCT_OPTIMIZER = globals().get("_STRUCT_OPTIMIZER") or StructOptimizer()
    traj = _STRUCT_OPTIMIZER.relax(structure, fmax=fmax, steps=steps, relax_cell=True,
                                   verbose=False)["trajectory"]
    return float(traj.energies[-1]) / len(structure), len(traj.energies)


def _sevennet_one(fmax: float, steps: int):
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor
    from sevenn.calculator import SevenNetCalculator

    calc = SevenNetCalculator("7net-0", device="cpu")

    def relax(structure, fmax: float, steps: int) -> tuple[float, int]:
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = calc
        opt = FIRE(FrechetCellFilter(atoms), logfile=None)
        opt.run(fmax=fmax, steps=steps)
        return float(atoms.get_potential_energy()) / len(atoms), opt.nsteps

    return relax


def run_torch_sim(python: str, structures: list, fmax: float, steps: int,
                  threads: int) -> dict:
    """torch-sim's batched FIRE in another interpreter (`torchsim_relax.py`)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job.write_text(json.dumps({"cifs": [s.to(fmt="cif") for s in structures],
                                   "fmax": fmax, "steps": steps, "threads": threads}))
        subprocess.run([python, str(Path(__file__).with_name("torchsim_relax.py")), str(job),
                        str(out)], check=True)
        return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=("chgnet", "sevennet"), default="chgnet")
    parser.add_argument("--torch-sim-python", default=None,
                        help="an interpreter with torch-sim and a SevenNet it loads "
                             "(torchsim_relax.py); --model sevennet only")
    parser.add_argument("--fmax", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-atoms", type=int, default=64)
    parser.add_argument("--runs", default="fire:auto,fire:1,bfgs:auto,fire+bfgs@0.3:auto",
                        help="matforge relax runs as OPTIMIZER[@SWITCH_FMAX]:WORKERS (auto = the "
                             "default, one worker per core; 1 = one process with --threads torch "
                             "threads)")
    parser.add_argument("--split", default="test",
                        help="rows to perturb; tune optimiser settings with --split val")
    parser.add_argument("--baseline-minutes", type=float, default=10.0,
                        help="stop the one-at-a-time baseline after this long (timed subset)")
    parser.add_argument("--name", default="relax")
    parser.add_argument("--rerender", action="store_true",
                        help="only rewrite results/<name>.md from its JSON")
    parser.add_argument("--resolve", action="store_true",
                        help="relax one at a time the structures on which matforge and "
                             "torch-sim disagree in results/<name>.json, and record them")
    args = parser.parse_args()
    if args.rerender:
        rerender(args.name, args.split)
        return 0
    if args.resolve:
        resolve_disagreements(args.name, args.split)
        return 0

    import torch

    torch.set_num_threads(args.threads)
    from matforge.oracles.potentials import get_potential, potential_info
    from matforge.oracles.relax import SWITCH_FMAX, relax_structures, worker_count

    structures, ids = perturbed_structures(args.n, args.seed, split=args.split)
    get_potential(args.model)  # load once, outside the timings
    load_at_start = os.getloadavg()
    load_start = load_at_start[0]
    rows = {}
    for run in [r for r in args.runs.split(",") if r]:
        spec, _, workers = run.partition(":")
        opt, _, switch = spec.partition("@")
        n_workers = None if workers in ("", "auto") else int(workers)
        t0 = time.perf_counter()
        res = relax_structures(structures, fmax=args.fmax, steps=args.steps, optimizer=opt,
                               model=args.model, max_atoms=args.max_atoms, workers=n_workers,
                               switch_fmax=float(switch) if switch else SWITCH_FMAX)
        rows[run] = {"seconds": time.perf_counter() - t0, "optimizer": spec,
                     "workers": worker_count(n_workers, len(structures), args.model, None),
                     "energies": [r.energy_per_atom for r in res],
                     "steps": [r.steps for r in res],
                     "converged": int(sum(r.converged for r in res)),
                     "errors": [r.error for r in res if r.error]}
    torch_sim = None
    if args.torch_sim_python and args.model == "sevennet":
        torch_sim = run_torch_sim(args.torch_sim_python, structures, args.fmax, args.steps,
                                  args.threads)
    base_e, base_steps, base_s, base_n = run_one_at_a_time(
        args.model, structures, args.fmax, args.steps, args.baseline_minutes * 60)
    load_end = os.getloadavg()[0]

    report = {"n_structures": len(structures), "ids": ids, "fmax": args.fmax,
              "model": args.model, "potential": potential_info(args.model).identity,
              "steps": args.steps, "threads": args.threads, "max_atoms": args.max_atoms,
              "seed": args.seed, "machine": platform.processor() or platform.machine(),
              "cpu_count": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": load_end,
              "note": "load average above 0 at start means other jobs shared the machine",
              "struct_optimizer": {"seconds": base_s, "n_done": base_n,
                                   "seconds_per_structure": base_s / max(base_n, 1),
                                   "mean_steps": float(np.mean(base_steps)) if base_steps else None,
                                   "energies": base_e},
              "matforge": {}}
    per_base = base_s / max(base_n, 1)
    # Without a timed baseline (--baseline-minutes 0, e.g. tuning on val rows) the energies
    # are compared with the first matforge run instead.
    first = next(iter(rows.values()))["energies"]
    ref_e = base_e if base_n else first
    report["energy_reference"] = "struct_optimizer" if base_n else next(iter(rows))
    per_torch_sim = torch_sim["seconds"] / len(structures) if torch_sim else None
    for run, row in rows.items():
        report["matforge"][run] = {"optimizer": row["optimizer"], "workers": row["workers"],
                                   "mean_steps": float(np.mean(row["steps"])),
                                   "converged": row["converged"], "errors": row["errors"],
                                   **_compared(row, len(structures), ref_e, per_base)}
        if per_torch_sim:
            report["matforge"][run]["speedup_vs_torch_sim"] = (
                per_torch_sim / report["matforge"][run]["seconds_per_structure"])
    if torch_sim:
        report["torch_sim"] = {"versions": torch_sim["versions"],
                               "converged": int(sum(torch_sim["converged"])),
                               **_compared(torch_sim, len(structures), ref_e, per_base)}
    report["split"] = args.split
    report["provenance"] = provenance(load_at_start)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    md = render(report)
    (RESULTS / f"{args.name}.md").write_text(md)
    print(md)
    return 0


def _compared(row: dict, n: int, ref_e: list[float], per_base: float) -> dict:
    """Time per structure and final energies of one run against the reference energies."""
    e = np.array(row["energies"][:len(ref_e)], float)
    signed = e - np.array(ref_e, float)
    diff = np.abs(signed)
    per = row["seconds"] / n
    return {"seconds": row["seconds"], "seconds_per_structure": per,
            "speedup_vs_struct_optimizer": per_base / per if ref_e and per_base else None,
            "energy_mae_vs_struct_optimizer": float(np.nanmean(diff)),
            "energy_max_abs_diff": float(np.nanmax(diff)),
            "within_0.01_eV": int((diff < 0.01).sum()),
            "lower_by_0.01_eV": int((signed < -0.01).sum()),
            "higher_by_0.01_eV": int((signed > 0.01).sum()),
            "energies": row["energies"]}


def render(report: dict) -> str:
    """The markdown table of one run's report (also for --rerender of a saved JSON)."""
    n, threads = report["n_structures"], report["threads"]
    model = report.get("model", "chgnet")  # older reports: CHGNet only
    baseline = ("CHGNet StructOptimizer" if model == "chgnet"
                else "ASE FIRE + FrechetCellFilter, SevenNet calculator")
    base = report["struct_optimizer"]
    base_n = base["n_done"]
    n_ref = base_n if base_n else n
    reference = "one at a time" if base_n else report["energy_reference"]
    potential = report.get("potential", "CHGNet 0.3.0")
    title = (f"# Relaxation throughput ({n} perturbed perov-5 + carbon-24 "
             f"{report['split']} structures, fmax {report['fmax']} eV/A, {potential}, "
             f"{threads} torch threads)")
    note = (f"{report['cpu_count']}-core machine, load average {report['loadavg_start']:.1f} at "
            f"start and {report['loadavg_end']:.1f} at end (the start, above ~0.5, means other "
            "jobs shared the machine: absolute times are then pessimistic; the end includes "
            "this run's own processes; ratios from the same run are the figure of merit). "
            f"matforge relax: {report['max_atoms']} atoms per model call at most; "
            f"several workers run one torch thread each, one worker runs {threads}. "
            f"The one-at-a-time baseline ({baseline}) ran with {threads} torch threads.")
    header = ("| method | structures timed | s / structure | speed-up | vs torch-sim "
              f"| mean steps | converged | energy MAE vs {reference} (eV/atom) | max diff "
              "| within 0.01 | lower by > 0.01 | higher by > 0.01 |")
    md = [title, "", note, "", header, "|---" * 12 + "|"]
    if base_n:
        md.append(f"| {baseline}, one at a time | {base_n} | "
                  f"{base['seconds_per_structure']:.2f} | 1.0 | - | {base['mean_steps']:.1f} | "
                  "- | - | - | - | - | - |")
    ts = report.get("torch_sim")
    if ts:
        versions = ", ".join(f"{k} {v}" for k, v in ts["versions"].items())
        md.append(_row(f"torch-sim frechet_cell_fire, all in one batch ({versions})", ts, n,
                       n_ref, "1.0", "-"))
    for r in report["matforge"].values():
        vs_ts = r.get("speedup_vs_torch_sim")
        md.append(_row(f"matforge relax ({r['optimizer']}, batched, {r['workers']} process"
                       f"{'es' if r['workers'] > 1 else ''})", r, n, n_ref,
                       "-" if vs_ts is None else f"{vs_ts:.2f}", f"{r['mean_steps']:.1f}"))
    target = ("Targets: >= 10x the throughput of one-at-a-time StructOptimizer on 2 CPU cores, "
              "and >= 2x torch-sim's with SevenNet, final energies within 0.01 eV/atom. "
              "fire+bfgs@F switches from FIRE to BFGS once the largest force is below F eV/A "
              "(F chosen on perturbed val rows).")
    if not base_n:
        target += f" No baseline timed: energies compared with {reference}."
    footer = [provenance_footer(report), ""] if "provenance" in report else []
    return "\n".join(md + ["", target, ""] + footer + _disagreements(report))


def _row(name: str, r: dict, n: int, n_ref: int, vs_torch_sim: str, steps: str) -> str:
    speedup = r["speedup_vs_struct_optimizer"]
    return (f"| {name} | {n} | {r['seconds_per_structure']:.2f} | "
            f"{'-' if speedup is None else f'{speedup:.1f}'} | {vs_torch_sim} | {steps} | "
            f"{r['converged']}/{n} | {r['energy_mae_vs_struct_optimizer']:.4f} | "
            f"{r['energy_max_abs_diff']:.4f} | {r['within_0.01_eV']}/{n_ref} | "
            f"{r['lower_by_0.01_eV']} | {r['higher_by_0.01_eV']} |")


def resolve_disagreements(name: str, split: str) -> None:
    """Each structure on which matforge's first run and torch-sim end more than 0.01 eV/atom
    apart, with the baseline's own energy for it (relaxed one at a time now when the timed
    baseline did not reach it): says which of the two left the reference's minimum."""
    import torch

    report = json.loads((RESULTS / f"{name}.json").read_text())
    if not report.get("torch_sim"):
        raise SystemExit(f"results/{name}.json has no torch-sim run")
    torch.set_num_threads(report["threads"])
    mine = next(iter(report["matforge"].values()))["energies"]
    theirs, done = report["torch_sim"]["energies"], report["struct_optimizer"]["energies"]
    structures, ids = perturbed_structures(report["n_structures"], report["seed"],
                                           split=report.get("split", split))
    by_id = dict(zip(ids, structures))  # older reports list the same structures in another order
    relax_one = _chgnet_one if report["model"] == "chgnet" else \
        _sevennet_one(report["fmax"], report["steps"])
    found = []
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if abs(a - b) > 0.01:
            ref = done[i] if i < len(done) else \
                relax_one(by_id[report["ids"][i]], report["fmax"], report["steps"])[0]
            found.append({"id": report["ids"][i], "one_at_a_time": ref, "matforge": a,
                          "torch_sim": b})
    report["disagreements"] = found
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1))
    (RESULTS / f"{name}.md").write_text(render(report))


def _disagreements(report: dict) -> list[str]:
    found = report.get("disagreements")
    if found is None:
        return []
    text = "; ".join(f"{d['id']}: one at a time {d['one_at_a_time']:.4f}, matforge "
                     f"{d['matforge']:.4f}, torch-sim {d['torch_sim']:.4f} eV/atom"
                     for d in found) or "none"
    line = ("Where matforge and torch-sim end more than 0.01 eV/atom apart, the one-at-a-time "
            f"relaxation of the same structure (`--resolve`): {text}.")
    return [line, ""]


def rerender(name: str, split: str) -> None:
    """Rewrite results/<name>.md from its JSON (older files lack `split`: taken from --split)."""
    report = json.loads((RESULTS / f"{name}.json").read_text())
    report.setdefault("split", split)
    (RESULTS / f"{name}.md").write_text(render(report))


if __name__ == "__main__":
    raise SystemExit(main())
