"""Train the synthesizability model: PU data, random unlabelled compositions, a threshold on
held-out positives, a model card. The library call behind `matforge train synthesizability`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from matforge.synthesizability.data import PUData, load_pu_data, random_in_split
from matforge.synthesizability.model import PUBaggingClassifier


def random_unlabelled(n: int, data: PUData, seed: int) -> list[str]:
    """Random charge-balanced compositions in training chemical systems only, added to the
    unlabelled set as SynthNN does with its artificial formulas: without them a model of
    'experimental versus computed' has never seen a composition nobody would compute."""
    return random_in_split(n, "train", data, seed, batch=int(n * 1.3) + 10)


def precision_lower_bound(pos_scores: np.ndarray, unl_scores: np.ndarray,
                          threshold: float) -> float:
    """Precision counting every unlabelled composition above the threshold as a false
    positive: a lower bound, since some of them have been made."""
    tp = float((pos_scores >= threshold).sum())
    fp = float((unl_scores >= threshold).sum())
    return tp / (tp + fp) if tp + fp else float("nan")


def train_synthesizability(out: str | Path, seed: int = 0, n_bags: int = 8,
                           n_random: int = 50_000, target_tpr: float = 0.95,
                           data: PUData | None = None, command: str | None = None,
                           **params: Any) -> dict[str, Any]:
    """Fit on the train split, set the threshold that keeps `target_tpr` of the validation
    positives, save the model directory with its card; returns the validation metrics."""
    t0 = time.perf_counter()
    data = data or load_pu_data()
    generated = random_unlabelled(n_random, data, seed + 1) if n_random else []
    model = PUBaggingClassifier(n_bags=n_bags, seed=seed, **params)
    model.fit(data.positives["train"], data.unlabelled["train"] + generated)
    pos, unl = model.score(data.positives["val"]), model.score(data.unlabelled["val"])
    model.threshold = float(np.quantile(pos, 1.0 - target_tpr))
    val = {"n_positive": len(pos), "n_unlabelled": len(unl),
           "tpr": float((pos >= model.threshold).mean()),
           "unlabelled_above": float((unl >= model.threshold).mean()),
           "precision_lower_bound": precision_lower_bound(pos, unl, model.threshold),
           "positive_share": len(pos) / (len(pos) + len(unl))}
    run = {"sources": data.sources, "missing": data.missing, "splits": data.describe(),
           "n_random_unlabelled": len(generated), "seed": seed, "target_tpr": target_tpr,
           "command": command, "seconds": round(time.perf_counter() - t0, 1)}
    path = model.save(out, run=run, metrics={"val": val})
    write_model_card(path, model, run, val)
    return {"path": str(path), "val": val, "run": run}


def write_model_card(path: Path, model: PUBaggingClassifier, run: dict[str, Any],
                     val: dict[str, Any]) -> None:
    sources = ", ".join(f"`{k}` {v:,}" for k, v in sorted(run["sources"].items()))
    positives = ("- positives: experimental compositions of `matbench-expt-gap` and "
                 "`matbench-expt-is-metal`; unlabelled: the computed sets (train and val "
                 f"splits only) minus the positives, plus {run['n_random_unlabelled']:,} "
                 f"random charge-balanced compositions; formulas per set: {sources}")
    val_row = (f"| val | {val['n_positive']} | {val['n_unlabelled']} | {val['tpr']:.3f} | "
               f"{val['unlabelled_above']:.3f} | {val['precision_lower_bound']:.3f} |")
    lines = [
        "# synthesizability: bagging PU classifier of compositions", "",
        "Scores how much a composition looks like the compounds reported from experiment: a "
        + "ranking in [0, 1], not a calibrated probability.", "",
        positives,
        f"- splits by chemical system (80/10/10): {run['splits']}",
        f"- model: {len(model.bags)} bags of gradient-boosted trees on Magpie statistics and "
        + f"atomic fractions; seed {run['seed']}",
        f"- threshold {model.threshold:.4f}: keeps {run['target_tpr']:.0%} of the validation "
        + "positives",
        f"- command: `{run['command'] or 'library call'}`",
        f"- wall time: {run['seconds']} s (shared CPU; indicative only)", "",
        "| split | positives | unlabelled | TPR | unlabelled above | precision (lower bound) |",
        "|---|---|---|---|---|---|", val_row, "",
        "Test-split figures, decoys and baselines: `benchmarks/results/synthesizability.md`.", "",
        "Parameters:", "", "```json", json.dumps(model.params, indent=2), "```"]
    (path / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")
