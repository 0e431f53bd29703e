"""De novo crystal generation benchmark (CDVAE/DiffCSP protocol, reduced sizes): validity,
COV-R/COV-P, Wasserstein distances of density and element count, for the crystal diffusion
checkpoint, template substitution (random template + random similar elements) and the pyxtal
random baseline (random val compositions).

Models are fitted on val.csv (the published train split is not available); coverage and
distribution distances are measured against a seeded subset of test.csv.

    MATFORGE_DATA_DIR=../shared/data python benchmarks/crystal_generation.py --dataset perov-5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, write_results

PUBLISHED = {  # DiffCSP de novo on Perov-5, trained on the full train split (10,000 samples)
    "perov-5": {"DiffCSP": {"structural_validity": 100.0, "compositional_validity": 98.85,
                            "cov_recall": 99.74, "cov_precision": 98.27,
                            "wdist_density": 0.1110}},
    "carbon-24": {},
}
KEYS = ("structural_validity", "compositional_validity", "cov_recall", "cov_precision",
        "wdist_density", "wdist_num_elements", "uniqueness", "novelty")


SAMPLE_STEPS: int | None = None  # diffusion: denoising steps at sampling (None = all)


def _generator(method: str, dataset: str, val):
    if method == "diffusion":
        from matforge.generators.base import load_generator

        model = load_generator(dataset)
        if SAMPLE_STEPS:
            model.config["sample_steps"] = SAMPLE_STEPS
        return model
    if method == "template":
        from matforge.generators.crystal.template import TemplateCSP

        return TemplateCSP().fit(val, source=f"{dataset}-val")
    if method == "random":
        from matforge.generators.crystal.random_symmetric import RandomSymmetricCSP

        return RandomSymmetricCSP().fit(val, max_structures=300)
    raise SystemExit(f"unknown method {method}")


def run(dataset: str, methods: list[str], n: int, n_test: int, seed: int) -> dict:

    from matforge.candidate import candidates_to_frame
    from matforge.data import load_dataset
    from matforge.metrics.coverage import cutoffs_for
    from matforge.metrics.suite import evaluate

    val = load_dataset(dataset, split="val")
    test = load_dataset(dataset, split="test").sample(frac=1.0, random_state=seed).head(n_test)
    results = {}
    for method in methods:
        gen = _generator(method, dataset, val)
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        cands = gen.sample(n, seed=seed)
        per = (time.perf_counter() - t0) / n
        frame = candidates_to_frame(cands)
        res = evaluate(frame, reference=val, test=test, cov_cutoffs=cutoffs_for(dataset),
                       n_jobs=1, progress=False)
        results[method] = {k: res.metrics.get(k) for k in KEYS} | {
            "n": n, "sample_seconds_per_structure": per,
            "load_average_1_5_15_before": load_before, "load_average_1_5_15_after": os.getloadavg()}
        print(method, results[method], flush=True)
    return {"dataset": dataset, "n_samples": n, "n_test": n_test, "seed": seed,
            "diffusion_sample_steps": SAMPLE_STEPS,
            "results": results, "published": PUBLISHED[dataset],
            "setup": "fitted on val.csv; coverage and distances against a seeded test.csv "
                     f"subset; timings on {os.cpu_count()} CPU cores with 2 torch threads (load "
                     "averages in the JSON: above the core count means other jobs shared them)"}


def _fmt(x, pct=False):
    if x is None:
        return "-"
    return f"{100 * x:.2f}" if pct else f"{x:.4f}"


def markdown(payload: dict) -> str:
    lines = [(f"## De novo generation on {payload['dataset']} ({payload['n_samples']} samples, "
             f"{payload['n_test']} test.csv cells, seed {payload['seed']})"), "",
             ("| method | struct. valid % | comp. valid % | COV-R % | COV-P % | W(density) | "
             "W(#elements) | s / structure |"), "|---|---|---|---|---|---|---|---|"]
    for method, r in payload["results"].items():
        lines.append(f"| {method} | {_fmt(r['structural_validity'], True)} | "
                     f"{_fmt(r['compositional_validity'], True)} | "
                     f"{_fmt(r['cov_recall'], True)} | {_fmt(r['cov_precision'], True)} | "
                     f"{_fmt(r['wdist_density'])} | {_fmt(r['wdist_num_elements'])} | "
                     f"{r['sample_seconds_per_structure']:.3f} |")
    for name, r in payload["published"].items():
        lines.append(f"| {name} (published, full train split, 10k samples) | "
                     f"{r['structural_validity']:.2f} | {r['compositional_validity']:.2f} | "
                     f"{r['cov_recall']:.2f} | {r['cov_precision']:.2f} | "
                     f"{r['wdist_density']:.4f} | - | - |")
    lines += ["", payload["setup"] + "."]
    return "\n".join(lines)


def main() -> None:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="perov-5", choices=sorted(PUBLISHED))
    p.add_argument("--methods", default="diffusion,template,random")
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--n-test", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-steps", type=int, default=0, help="diffusion steps (0 = all)")
    p.add_argument("--tag", default="", help="suffix of the results file name")
    args = p.parse_args()
    global SAMPLE_STEPS
    SAMPLE_STEPS = args.sample_steps or None
    import torch

    torch.set_num_threads(2)
    payload = run(args.dataset, args.methods.split(","), args.n, args.n_test, args.seed)
    old = RESULTS_DIR / f"generation_{args.dataset}{args.tag}.json"
    if old.exists():
        prev = json.loads(old.read_text())
        if all(prev.get(key) == payload[key] for key in ("n_samples", "n_test", "seed")):
            payload["results"] = {**prev["results"], **payload["results"]}
    write_results(f"generation_{args.dataset}{args.tag}", payload, markdown(payload))


if __name__ == "__main__":
    main()
