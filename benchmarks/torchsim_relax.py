"""torch-sim's batched relaxation of the structures `relax.py` hands over, with SevenNet.

Run by `benchmarks/relax.py --torch-sim-python PY` in the interpreter PY, which has
`torch-sim-atomistic` and a SevenNet release it can load (torch-sim 0.3.0 imports
`sevenn.calculator.torch_script_type`, which sevenn 0.11 has and 0.13 does not):

    python -m venv --system-site-packages /tmp/tsvenv
    /tmp/tsvenv/bin/pip install torch-sim-atomistic==0.3.0 && \\
        /tmp/tsvenv/bin/pip install --no-deps sevenn==0.11.2

Reads a JSON file {"cifs": [...], "fmax": F, "steps": N, "threads": T}; writes
{"seconds", "energies" (eV/atom), "converged", "package versions"} to the output path.
Every structure is in one batch (torch-sim's `optimize` drops converged ones as it goes);
the clock starts after the model is loaded, as it does for matforge's runs.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from pathlib import Path


def main(in_path: str, out_path: str) -> int:
    import torch
    import torch_sim as ts
    from pymatgen.core import Structure
    from sevenn.calculator import SevenNetCalculator
    from torch_sim.models.sevennet import SevenNetModel

    job = json.loads(Path(in_path).read_text())
    torch.set_num_threads(job["threads"])
    structures = [Structure.from_str(c, fmt="cif") for c in job["cifs"]]
    model = SevenNetModel(model=SevenNetCalculator("7net-0", device="cpu").model,
                          device="cpu", dtype=torch.float32)
    converged = ts.generate_force_convergence_fn(force_tol=job["fmax"])
    start = time.perf_counter()
    final = ts.optimize(system=structures, model=model, optimizer=ts.frechet_cell_fire,
                        convergence_fn=converged, max_steps=job["steps"],
                        autobatcher=False)
    seconds = time.perf_counter() - start
    energies = final.energy.detach().numpy() / final.n_atoms_per_system.numpy()
    done = converged(final, None).numpy()
    versions = {p: version(p) for p in ("torch-sim-atomistic", "sevenn", "torch")}
    Path(out_path).write_text(json.dumps({
        "seconds": seconds, "energies": [float(e) for e in energies],
        "converged": [bool(c) for c in done], "versions": versions}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
