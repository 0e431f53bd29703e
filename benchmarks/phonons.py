"""Phonon dynamic-stability check (phonopy + CHGNet forces): reference crystals with a known
answer, then a sample of perov-5 test structures relaxed by CHGNet first.

Known answers: rocksalt NaCl and diamond Si are dynamically stable; ideal cubic CaTiO3 and
SrTiO3 are saddle points (CaTiO3's Pnma ground state comes from octahedral tilts, the
R-point mode; SrTiO3 is cubic only above ~105 K, and DFT at 0 K finds soft modes), so they
must show imaginary modes. Times are per structure, on a shared CPU (indicative only).

    python benchmarks/phonons.py --n-perov 12

Writes benchmarks/results/phonons.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results


def reference_cases() -> dict:
    from pymatgen.core import Lattice, Structure

    def perovskite(a_site: str, a: float) -> Structure:
        return Structure(Lattice.cubic(a), [a_site, "Ti", "O", "O", "O"],
                         [[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])

    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                         [[0, 0, 0], [.5, .5, .5]]).get_primitive_structure()
    diamond = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.47), ["Si"],
                                        [[0, 0, 0]]).get_primitive_structure()
    return {"NaCl rocksalt": (rocksalt, True), "Si diamond": (diamond, True),
            "CaTiO3 cubic": (perovskite("Ca", 3.84), False),
            "SrTiO3 cubic": (perovskite("Sr", 3.90), False)}


def check(name: str, structure, expected, fmax: float) -> dict:
    from matforge.oracles.phonons import phonon_check
    from matforge.oracles.relax import relax_structure

    t0 = time.perf_counter()
    relaxed = relax_structure(structure, fmax=fmax, steps=500)
    t1 = time.perf_counter()
    res = phonon_check(relaxed.structure)
    return {"name": name, "formula": structure.composition.reduced_formula,
            "expected_stable": expected, "relax_converged": relaxed.converged,
            "relax_seconds": round(t1 - t0, 1), **res.to_dict()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-perov", type=int, default=12)
    ap.add_argument("--fmax", type=float, default=0.01)
    ap.add_argument("--name", default="phonons")
    args = ap.parse_args()
    os.environ.setdefault("MATFORGE_DATA_DIR",
                          str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    import torch

    torch.set_num_threads(int(os.environ.get("MATFORGE_TORCH_THREADS", "1")))
    rows = [check(name, s, exp, args.fmax) for name, (s, exp) in reference_cases().items()]
    if args.n_perov:
        from matforge.data import load_dataset
        from matforge.data.readers import parse_cif

        frame = load_dataset("perov-5", "test").sample(n=args.n_perov, random_state=0)
        for mid, cif in zip(frame["material_id"], frame["cif"]):
            rows.append(check(f"perov-5 {mid}", parse_cif(cif), None, args.fmax))
    lines = [("| structure | expected | min freq (THz) | q of min | stable | supercell | "
             "displacements | relax s | phonon s |"), "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        exp = {True: "stable", False: "unstable", None: "-"}[r["expected_stable"]]
        q = "(" + ", ".join(f"{x:.2f}" for x in r["q_min"]) + ")"
        lines.append(f"| {r['name']} ({r['formula']}) | {exp} | {r['min_phonon_freq_thz']:.3f} | "
                     f"{q} | {r['dynamically_stable']} | {'x'.join(map(str, r['supercell']))} "
                     f"({r['n_supercell_atoms']} atoms) | {r['n_displacements']} | "
                     f"{r['relax_seconds']} | {r['seconds']} |")
    load = os.getloadavg()[0]
    lines += ["", (f"CHGNet relax (cell free, fmax {args.fmax} eV/A) then phonopy, displacement "
              "0.03 A, supercell widths >= 7 A, 8x8x8 Gamma-centred mesh, tolerance 0.1 THz. "
              f"{os.cpu_count()} CPU cores, 1-minute load average {load:.1f} at the end.")]
    write_results(args.name, {"args": vars(args), "rows": rows, "load_average_at_end": load},
                  "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
