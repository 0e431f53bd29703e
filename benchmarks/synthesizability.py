"""Synthesizability: the shipped PU model on held-out experimental compositions and decoys.

    MATFORGE_DATA_DIR=../shared/data python benchmarks/synthesizability.py
    MATFORGE_DATA_DIR=../shared/data python benchmarks/synthesizability.py --model DIR

Protocol (the PU literature's, with every difference stated in the table notes):
- held-out positives: the experimental compositions of the test chemical systems (split by
  a hash of the chemical system; nothing of those systems was trained on or tuned on);
- TPR at the model's threshold: the highest whose validation TPR is at least 95% with 95%
  confidence (one-sided Clopper-Pearson bound); the plain 95% validation quantile, the rule
  before that, is shown beside it;
- precision, lower bound: every unlabelled test composition above the threshold counted as
  a false positive, on the natural mix of held-out positives and unlabelled compositions;
- ROC AUC against decoys: random charge-balanced compositions (2-4 elements from H..Bi without
  noble gases or radioactive elements, amounts 1-6, SMACT default oxidation states, strict),
  not known to matforge, in test chemical systems only, so none was in training;
- baselines on the same rows: a formation-energy-style screen (energy above the hull predicted
  by a tree ensemble trained on mp-e-hull's train split; threshold set on the validation
  positives for the same validation TPR as the PU model), and SMACT charge balance alone;
- the structure variant (`--structures`, needs CHGNet): the test chemical systems'
  structures (see matforge.synthesizability.structures), its AUC against unlabelled
  structures and how often a made structure outranks a random one of its own composition,
  beside the composition model on the same structures.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from common import RESULTS_DIR, provenance_footer, write_results
from sklearn.metrics import roc_auc_score

warnings.filterwarnings("ignore")

N_DECOYS = 2000
TARGET_TPR = 0.95
ANCHORS = [  # (method, figure, note)
    ("target", "TPR >= 95%, precision above a formation-energy screen, decoy AUC >= 0.9",
     "issue target"),
    ("Jang et al. 2020, PU learning on structures (cited by seed 002)", "TPR 87.5%",
     "crystal-graph PU on MP/ICSD structures; a different positive set"),
    ("TSDNN (Gleaves et al. 2023) / its PU baseline", "TPR 97.9% / 87.9%",
     "structure-based semi-supervised; MP/ICSD"),
    ("SynthNN (Antoniuk et al. 2023)", "7x the precision of formation-energy screening",
     "compositions; ICSD positives and artificially generated unlabelled formulas"),
]


def screen_metrics(name: str, pos_val: np.ndarray, pos: np.ndarray, unl: np.ndarray,
                   decoys: np.ndarray | None, threshold: float | None = None) -> dict:
    """Higher score = more likely made; threshold from the validation positives."""
    from matforge.synthesizability.train import precision_lower_bound

    if threshold is None:
        threshold = float(np.quantile(pos_val, 1.0 - TARGET_TPR))
    row = {"method": name, "threshold": threshold, "val_tpr": float((pos_val >= threshold).mean())}
    row |= {"tpr": float((pos >= threshold).mean()),
           "unlabelled_above": float((unl >= threshold).mean()),
           "precision_lower_bound": precision_lower_bound(pos, unl, threshold),
           "auc_vs_unlabelled": _auc(pos, unl)}
    if decoys is not None:
        row["decoys_above"] = float((decoys >= threshold).mean())
        row["auc_vs_decoys"] = _auc(pos, decoys)
    return row


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]))


def test_decoys(data, n: int, seed: int) -> list[str]:
    from matforge.synthesizability.data import random_in_split

    return random_in_split(n, "test", data, seed, batch=4 * n)


def hull_screen(data, seed: int):
    """-(predicted energy above the hull): a tree ensemble on mp-e-hull's train split."""
    from matforge.data import load_dataset
    from matforge.surrogates.ensemble import EnsembleSurrogate

    train = load_dataset("mp-e-hull", split="train")
    model = EnsembleSurrogate(n_members=2, max_iter=300, seed=seed, progress=False)
    model.fit(list(train["formula"]), train["e_above_hull"].to_numpy())
    return lambda formulas: -model.predict(formulas)[0]


def run(args: argparse.Namespace) -> dict:
    from matforge.chem.validity import check_compositions
    from matforge.synthesizability import load_synthesizability_model
    from matforge.synthesizability.data import load_pu_data

    data = load_pu_data()
    model = load_synthesizability_model(args.model)
    decoys = test_decoys(data, args.n_decoys, seed=args.seed + 100)
    t0 = time.perf_counter()
    scored = {k: model.score(v) for k, v in (("pos_val", data.positives["val"]),
                                             ("pos", data.positives["test"]),
                                             ("unl", data.unlabelled["test"]), ("dec", decoys))}
    per_1000 = 1000 * (time.perf_counter() - t0) / sum(len(v) for v in scored.values())
    rows = [screen_metrics("PU synthesizability (shipped threshold: 95% TPR at 95% confidence)",
                           scored["pos_val"], scored["pos"], scored["unl"], scored["dec"],
                           model.threshold),
            screen_metrics("PU synthesizability (plain 95% validation quantile)",
                           scored["pos_val"], scored["pos"], scored["unl"], scored["dec"])]
    hull = hull_screen(data, args.seed)
    h = {k: hull(v) for k, v in (("pos_val", data.positives["val"]),
                                 ("pos", data.positives["test"]),
                                 ("unl", data.unlabelled["test"]), ("dec", decoys))}
    same_tpr = float(np.quantile(h["pos_val"], 1.0 - rows[0]["val_tpr"]))
    rows.append(screen_metrics("predicted energy above hull (formation-energy-style screen)",
                               h["pos_val"], h["pos"], h["unl"], h["dec"], same_tpr))
    balanced = {k: np.array([v.valid_strict for v in check_compositions(f)], dtype=float)
                for k, f in (("pos_val", data.positives["val"]), ("pos", data.positives["test"]),
                             ("unl", data.unlabelled["test"]))}
    rows.append(screen_metrics("SMACT charge balance (strict) alone", balanced["pos_val"],
                               balanced["pos"], balanced["unl"], None, threshold=0.5))
    return {"rows": rows, "n": {"test_positives": len(data.positives["test"]),
                                "test_unlabelled": len(data.unlabelled["test"]),
                                "val_positives": len(data.positives["val"]),
                                "decoys": len(decoys)},
            "sources": data.sources, "missing": data.missing, "model": args.model,
            "model_info": model.info, "score_seconds_per_1000": per_1000,
            "positive_share": len(scored["pos"]) / (len(scored["pos"]) + len(scored["unl"])),
            "structures": structure_run(args) if args.structures else None}


def structure_run(args: argparse.Namespace) -> dict:
    """The structure variant and the composition model on the test split's structures."""
    from matforge.synthesizability import load_synthesizability_model
    from matforge.synthesizability.structures import load_structure_pu_data, same_composition_auc

    data = load_structure_pu_data(seed=args.seed, progress=False)
    test = data.select("test")
    labels = np.array([data.labels[i] for i in test])
    rows = []
    for name, model_name in (("PU structure variant", args.structure_model),
                             ("PU composition model (same structures)", args.model)):
        model = load_synthesizability_model(model_name)
        scores = np.full(len(data.structures), np.nan)
        scores[test] = model.score([data.structures[i] for i in test])
        pos, unl = scores[test][labels == 1], scores[test][labels == 0]
        random_ = np.array([scores[i] for i in data.select("test", 0, "random")])
        rows.append({"method": name, "threshold": model.threshold,
                     "tpr": float((pos >= model.threshold).mean()),
                     "unlabelled_above": float((unl >= model.threshold).mean()),
                     "auc_vs_unlabelled": _auc(pos, unl),
                     "auc_vs_random_structures": _auc(pos, random_),
                     "same_composition_auc": same_composition_auc(scores, data, "test")})
    return {"rows": rows, "splits": data.describe(),
            "n_test": {"positives": int(labels.sum()), "unlabelled": int((1 - labels).sum())}}


def render_structures(run: dict) -> list[str]:
    n = run["n_test"]
    lines = ["", "## Structure variant", "",
             (f"Test chemical systems: {n['positives']} made structures (MP structures of "
              f"experimental compositions) against {n['unlabelled']} unlabelled ones. "
              f"{run['splits']}. With so few test positives the TPR is uncertain by about "
              f"+-{100 * np.sqrt(0.95 * 0.05 / max(n['positives'], 1)):.0f} points."), "",
             ("| method | threshold | TPR | unlabelled above | AUC vs unlabelled | "
              "AUC vs random structures | made beats random of same composition |"),
             "|---|---|---|---|---|---|---|"]
    for r in run["rows"]:
        lines.append(f"| {r['method']} | {r['threshold']:.3f} | {r['tpr']:.3f} | "
                     f"{r['unlabelled_above']:.3f} | {r['auc_vs_unlabelled']:.3f} | "
                     f"{r['auc_vs_random_structures']:.3f} | {r['same_composition_auc']:.3f} |")
    lines += ["", ("The random structures are unrelaxed pyxtal cells of the same composition "
                   "as an MP structure; the structure variant was trained on such cells from "
                   "other chemical systems, so the last column partly measures how well it "
                   "learnt that generator. The composition model cannot tell them apart (0.5 "
                   "by construction).")]
    return lines


def render(payload: dict) -> str:
    n = payload["n"]
    lines = ["# Synthesizability (PU learning)", "",
             (f"Held-out test chemical systems: {n['test_positives']:,} experimental "
             f"compositions, {n['test_unlabelled']:,} unlabelled (computed) compositions "
             f"(positives are {payload['positive_share']:.1%} of the mix); "
             f"{n['decoys']:,} random charge-balanced decoys. Thresholds are set on the "
             f"{n['val_positives']} validation positives (see the method column)."), "",
             ("| method | threshold | val TPR | TPR | unlabelled above | "
              "precision (lower bound) | AUC vs unlabelled | decoys above | AUC vs decoys |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in payload["rows"]:
        dec = (f"{r['decoys_above']:.3f} | {r['auc_vs_decoys']:.3f}" if "auc_vs_decoys" in r
               else "(all pass by construction) | -")
        lines.append(f"| {r['method']} | {r['threshold']:.3f} | {r['val_tpr']:.3f} | "
                     f"{r['tpr']:.3f} | "
                     f"{r['unlabelled_above']:.3f} | {r['precision_lower_bound']:.3f} | "
                     f"{r['auc_vs_unlabelled']:.3f} | {dec} |")
    lines += ["", f"Scoring: {payload['score_seconds_per_1000']:.2f} s per 1,000 compositions.",
              "", "Published figures (different data and protocols; none is on this split):", "",
              "| method | figure | difference |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in ANCHORS]
    lines += ["", ("Differences: positives here are the ~4.9k compositions of the Matbench "
              "experimental sets, not ICSD; precision is a lower bound because some unlabelled "
              "compositions have been made; the hull screen is a composition model of MP's "
              "energy above the hull, which has seen many of the test compositions' MP "
              "labels (as a DFT screen would).")]
    if payload.get("structures"):
        lines += render_structures(payload["structures"])
    lines += ["", provenance_footer(payload)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="synthesizability")
    parser.add_argument("--n-decoys", type=int, default=N_DECOYS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--structures", action="store_true",
                        help="also the structure variant (CHGNet features; minutes)")
    parser.add_argument("--structure-model", default="synthesizability-structure")
    parser.add_argument("--name", default="synthesizability")
    args = parser.parse_args()
    load = os.getloadavg()
    payload = run(args)
    write_results(args.name, payload, render, load_at_start=load)
    print((RESULTS_DIR / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
