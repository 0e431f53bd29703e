"""Oracle throughput of the serial and Ray executors for an oracle that takes 1 s per call.

    python benchmarks/design_ray_throughput.py --calls 16 --workers 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from matforge.candidate import Candidate
from matforge.design.executors import SerialExecutor, make_executor
from matforge.oracles.lookup import LookupOracle

FORMULAS = ["NaCl", "KCl", "LiF", "MgO", "CaO", "SrO", "BaO", "ZnS"]


def rate(executor, n: int) -> float:
    jobs = [(i, Candidate(FORMULAS[i % len(FORMULAS)])) for i in range(n)]
    start = time.perf_counter()
    results = list(executor.run(jobs))
    assert len(results) == n and all(r.ok for _, r in results)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "design_ray"))
    args = ap.parse_args(argv)
    table = pd.DataFrame({"formula": FORMULAS, "y": range(len(FORMULAS))})
    oracle = LookupOracle(table, delay=args.delay)
    serial = rate(SerialExecutor(oracle), max(4, args.calls // 2))
    ray_exec = make_executor("ray", oracle, workers=args.workers)
    try:
        rate(ray_exec, args.workers)  # warm the workers
        ray = rate(ray_exec, args.calls)
    finally:
        ray_exec.close()
    result = {"settings": vars(args), "serial_calls_per_s": serial, "ray_calls_per_s": ray,
              "speedup": ray / serial, "target": 1.8,
              "note": "local Ray cluster on a shared 2-core machine under heavy contention"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    out.with_suffix(".md").write_text(
        "| executor | calls/s (1 s oracle) | speed-up |\n|---|---|---|\n"
        f"| serial | {serial:.3f} | 1.00 |\n| ray ({args.workers} workers) | {ray:.3f} | "
        f"{ray / serial:.2f} |\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
