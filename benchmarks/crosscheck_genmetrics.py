"""Cross-check matforge.metrics against matbench-genmetrics and a direct StructureMatcher loop.

matbench-genmetrics pins pymatgen 2023.12, so it runs in its own virtualenv; the two sides
exchange CIFs and numbers through JSON files:

    python -m venv /tmp/mgm && /tmp/mgm/bin/pip install matbench-genmetrics
    python benchmarks/crosscheck_genmetrics.py --n 30 --seed 0 --mgm-python /tmp/mgm/bin/python

Inputs: a seeded subset of the Perov-5 test split ("test"), the Perov-5 val split subset with
the same size ("train"), and "generated" = pyxtal random structures with the test
compositions plus lightly perturbed copies of test and train structures (so that matches
exist). CSP pairs: each test structure against its perturbed copy and its pyxtal structure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------ genmetrics side (old env)
def genmetrics_side(exchange: Path) -> None:
    """Runs under the matbench-genmetrics virtualenv: no matforge imports here."""
    warnings.filterwarnings("ignore")
    from matbench_genmetrics.core.metrics import GenMatcher
    from matbench_genmetrics.core.utils.featurize import featurize_comp_struct
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    data = json.loads((exchange / "inputs.json").read_text())
    load = lambda key: [Structure.from_str(c, fmt="cif") for c in data[key]]
    test, train, gen = load("test"), load("train"), load("gen")
    t = time.perf_counter()
    test_comp, test_struct = featurize_comp_struct(test)
    gen_comp, gen_struct = featurize_comp_struct(gen)
    out = {"featurize_seconds": time.perf_counter() - t,
           "test_comp_fp": np.asarray(test_comp, float).tolist(),
           "test_struct_fp": np.asarray(test_struct, float).tolist(),
           "gen_comp_fp": np.asarray(gen_comp, float).tolist(),
           "gen_struct_fp": np.asarray(gen_struct, float).tolist()}
    cov = GenMatcher(test, gen, test_comp_fingerprints=test_comp,
                     test_struct_fingerprints=test_struct, gen_comp_fingerprints=gen_comp,
                     gen_struct_fingerprints=gen_struct, verbose=False)
    out["genmetrics_coverage"] = float(cov.match_rate)
    sm_novel = GenMatcher(train, gen, verbose=False, match_type="StructureMatcher")
    mm = np.asarray(sm_novel.match_matrix, bool)  # (train, gen)
    out["gen_matches_train"] = mm.any(axis=0).tolist()
    out["genmetrics_novelty"] = float(1.0 - sm_novel.match_count / sm_novel.num_gen)
    sm_self = GenMatcher(gen, gen, verbose=False, match_type="StructureMatcher")
    out["gen_self_match_matrix"] = np.asarray(sm_self.match_matrix, bool).tolist()
    out["genmetrics_uniqueness"] = float(1.0 - sm_self.duplicity_rate)
    # CSP: a plain StructureMatcher loop with the CDVAE/DiffCSP settings, on pymatgen 2023.12
    matcher = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    rms = []
    for target_cif, pred_cif in data["csp_pairs"]:
        r = matcher.get_rms_dist(Structure.from_str(pred_cif, fmt="cif"),
                                 Structure.from_str(target_cif, fmt="cif"))
        rms.append(None if r is None else float(r[0]))
    out["csp_rms"] = rms
    import pymatgen.core

    out["pymatgen_version"] = getattr(pymatgen.core, "__version__", "?")
    (exchange / "genmetrics.json").write_text(json.dumps(out))


# ------------------------------------------------------------------ matforge side
def build_inputs(n: int, seed: int) -> dict:
    import pandas as pd  # noqa: F401
    from evaluation_baselines import pyxtal_structure
    from pymatgen.core import Structure

    from matforge.metrics import load_set

    rng = np.random.default_rng(seed)
    test_df = load_set("perov-5", "test").sample(n=n, random_state=seed)
    train_df = load_set("perov-5", "val").sample(n=n, random_state=seed)
    test = [Structure.from_str(c, fmt="cif") for c in test_df["cif"]]
    train = [Structure.from_str(c, fmt="cif") for c in train_df["cif"]]

    def perturbed(s: Structure) -> Structure:
        p = s.copy()
        p.perturb(0.05, min_distance=0.01, seed=int(rng.integers(2**31)))
        return p

    randoms = []
    for s in test:
        counts = {el.symbol: round(k) for el, k in s.composition.items()}
        r = pyxtal_structure(counts, rng)
        randoms.append(r if r is not None else perturbed(s))
    k = n // 3
    gen = randoms + [perturbed(s) for s in test[:k]] + [perturbed(s) for s in train[:k]]
    gen += [gen[-1].copy()]  # one exact duplicate
    csp_pairs = ([(t.to(fmt="cif"), perturbed(t).to(fmt="cif")) for t in test]
                 + [(t.to(fmt="cif"), r.to(fmt="cif")) for t, r in zip(test, randoms)])
    return {"test": [s.to(fmt="cif") for s in test], "train": [s.to(fmt="cif") for s in train],
            "gen": [s.to(fmt="cif") for s in gen], "csp_pairs": csp_pairs}


def matforge_side(data: dict, jobs: int) -> dict:
    from pymatgen.core import Structure
    from scipy.spatial.distance import cdist

    from matforge.metrics import coverage, csp, matching
    from matforge.metrics.fingerprints import composition_fingerprints, structure_fingerprints
    from matforge.representations.composition import magpie_features

    load = lambda key: [Structure.from_str(c, fmt="cif") for c in data[key]]
    test, train, gen = load("test"), load("train"), load("gen")
    t = time.perf_counter()
    test_sfp = structure_fingerprints(test, n_jobs=jobs)
    gen_sfp = structure_fingerprints(gen, n_jobs=jobs)
    out = {"featurize_seconds": time.perf_counter() - t}
    out["test_struct_fp"] = [f.tolist() if f is not None else None for f in test_sfp]
    out["gen_struct_fp"] = [f.tolist() if f is not None else None for f in gen_sfp]
    out["test_comp_raw"] = magpie_features([s.composition for s in test])[:, :132].tolist()
    out["gen_comp_raw"] = magpie_features([s.composition for s in gen])[:, :132].tolist()
    cut = coverage.cutoffs_for("perov-5")
    cov = coverage.coverage(gen_sfp, composition_fingerprints([s.composition for s in gen]),
                            test_sfp, composition_fingerprints([s.composition for s in test]),
                            *cut)
    out["cov_recall_cdvae"], out["cov_precision_cdvae"] = cov["cov_recall"], cov["cov_precision"]
    # matbench-genmetrics' own coverage definition, recomputed from matforge fingerprints:
    # a test crystal is covered when ONE generated crystal is within 0.4 (structure) AND 10
    # (unscaled Magpie) of it.
    d_s = cdist(np.array(out["test_struct_fp"]), np.array(out["gen_struct_fp"]))
    d_c = cdist(np.array(out["test_comp_raw"]), np.array(out["gen_comp_raw"]))
    pair = (d_s <= 0.4) & (d_c <= 10.0)  # (test, gen)
    out["genmetrics_style_coverage"] = float(pair.any(axis=1).mean())
    # GenMatcher.match_rate = (generated crystals with a match) / (number of test crystals)
    out["genmetrics_match_rate_reproduced"] = float(pair.any(axis=0).sum() / len(test))
    kw = dict(csp.CSP_MATCHER)  # genmetrics uses stol 0.5, ltol 0.3, angle_tol 10 everywhere
    red_gen = matching.reduce_all(gen, n_jobs=jobs)
    red_train = matching.reduce_all(train, n_jobs=jobs)
    hits = matching.match_against(red_gen, red_train, n_jobs=jobs, **kw)
    out["gen_matches_train"] = (hits >= 0).tolist()
    classes = matching.structure_classes(gen, reduced=red_gen, n_jobs=jobs, **kw)
    out["gen_classes"] = classes.tolist()
    pairs = [(Structure.from_str(a, fmt="cif"), Structure.from_str(b, fmt="cif"))
             for a, b in data["csp_pairs"]]
    res = csp.csp_metrics([t for t, _ in pairs], [[p] for _, p in pairs], n_jobs=jobs)
    out["csp_rms"] = [r[0] for r in res["rms_per_target"]]
    return out


def compare(ours: dict, theirs: dict) -> dict:
    def fp_diff(a: list, b: list) -> float:
        a = np.array([x if x is not None else [np.nan] * 61 for x in a], float)
        b = np.array(b, float)
        return float(np.nanmax(np.abs(a - b)))

    n_gen = len(ours["gen_classes"])
    mm = np.array(theirs["gen_self_match_matrix"], bool)
    # genmetrics duplicity: ordered pairs (i != j) that match; ours: classes
    our_pairs = sum(1 for i in range(n_gen) for j in range(n_gen)
                    if i != j and ours["gen_classes"][i] == ours["gen_classes"][j])
    their_pairs = int(mm.sum() - np.trace(mm))
    csp_ours, csp_theirs = ours["csp_rms"], theirs["csp_rms"]
    both = [(a, b) for a, b in zip(csp_ours, csp_theirs) if a is not None and b is not None]
    return {
        "struct_fp_max_abs_diff_test": fp_diff(ours["test_struct_fp"], theirs["test_struct_fp"]),
        "struct_fp_max_abs_diff_gen": fp_diff(ours["gen_struct_fp"], theirs["gen_struct_fp"]),
        "magpie_max_abs_diff": float(np.nanmax(np.abs(np.array(ours["gen_comp_raw"])
                                                      - np.array(theirs["gen_comp_fp"])))),
        "coverage_genmetrics": theirs["genmetrics_coverage"],
        "coverage_genmetrics_reproduced_from_matforge_fps":
            ours["genmetrics_match_rate_reproduced"],
        "test_covered_pairwise_from_matforge_fps": ours["genmetrics_style_coverage"],
        "cov_recall_cdvae_definition": ours["cov_recall_cdvae"],
        "cov_precision_cdvae_definition": ours["cov_precision_cdvae"],
        "novel_flags_agree": int(sum(a == b for a, b in zip(ours["gen_matches_train"],
                                                            theirs["gen_matches_train"]))),
        "n_gen": n_gen,
        "novelty_matforge": 1 - float(np.mean(ours["gen_matches_train"])),
        "novelty_genmetrics": theirs["genmetrics_novelty"],
        "uniqueness_matforge": float(np.mean(np.array(ours["gen_classes"]) == np.arange(n_gen))),
        "uniqueness_genmetrics": theirs["genmetrics_uniqueness"],
        "duplicate_ordered_pairs_matforge": our_pairs,
        "duplicate_ordered_pairs_genmetrics": their_pairs,
        "csp_pairs": len(csp_ours),
        "csp_match_agree": int(sum((a is None) == (b is None)
                                   for a, b in zip(csp_ours, csp_theirs))),
        "csp_match_rate_matforge": float(np.mean([a is not None for a in csp_ours])),
        "csp_match_rate_loop": float(np.mean([b is not None for b in csp_theirs])),
        "csp_rms_max_abs_diff": float(max((abs(a - b) for a, b in both), default=0.0)),
        "pymatgen_genmetrics_side": theirs.get("pymatgen_version"),
        "featurize_seconds_matforge": ours["featurize_seconds"],
        "featurize_seconds_genmetrics": theirs["featurize_seconds"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", choices=["matforge", "genmetrics"], default="matforge")
    p.add_argument("--exchange", type=Path, default=Path("/tmp/mf_crosscheck"))
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--mgm-python", default="/tmp/mgm/bin/python")
    args = p.parse_args()
    if args.side == "genmetrics":
        genmetrics_side(args.exchange)
        return
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(HERE))
    from common import write_results

    args.exchange.mkdir(parents=True, exist_ok=True)
    data = build_inputs(args.n, args.seed)
    (args.exchange / "inputs.json").write_text(json.dumps(data))
    proc = subprocess.run([args.mgm_python, __file__, "--side", "genmetrics", "--exchange",
                           str(args.exchange)], check=False, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit("matbench-genmetrics side failed:\n" + proc.stderr[-3000:])
    theirs = json.loads((args.exchange / "genmetrics.json").read_text())
    ours = matforge_side(data, args.jobs)
    result = compare(ours, theirs)
    result.update({"n_test": args.n, "seed": args.seed})
    md = [("# Cross-check: matforge.metrics vs matbench-genmetrics 0.6.5 and a "
           "StructureMatcher loop"), "",
          (f"Perov-5: {args.n} test structures, {args.n} val structures as "
           f"'train', {result['n_gen']} generated (pyxtal + perturbed copies + one duplicate); "
           f"seed {args.seed}. Timings under contention (shared 2-core machine)."), "",
          "| quantity | value |", "|---|---|"]
    md += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |"
           for k, v in result.items()]
    write_results("crosscheck_genmetrics", result, "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
