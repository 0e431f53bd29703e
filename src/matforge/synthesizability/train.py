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
from matforge.synthesizability.structures import StructurePUData, load_structure_pu_data


def random_unlabelled(n: int, data: PUData, seed: int) -> list[str]:
    """Random charge-balanced compositions in training chemical systems only, added to the
    unlabelled set as SynthNN does with its artificial formulas: without them a model of
    'experimental versus computed' has never seen a composition nobody would compute."""
    return random_in_split(n, "train", data, seed, batch=int(n * 1.3) + 10)


def threshold_for_tpr(pos_scores: np.ndarray, target_tpr: float,
                      confidence: float = 0.95) -> float:
    """The highest threshold whose TPR on these held-out positives has a one-sided
    Clopper-Pearson lower bound (at `confidence`) of at least `target_tpr`.

    Why a bound and not the plain quantile: a threshold that keeps exactly 95% of a few hundred
    validation positives keeps less than 95% of new positives about half the time; the bound
    buys the margin that sampling error needs. With too few positives for any threshold to
    reach the bound, the lowest score is returned (every positive kept)."""
    from scipy.stats import beta

    scores = np.sort(np.asarray(pos_scores, dtype=float))[::-1]
    n = len(scores)
    if n == 0:
        raise ValueError("no positive scores to set a threshold on")
    kept = np.arange(1, n + 1)
    lower = beta.ppf(1.0 - confidence, kept, n - kept + 1)
    ok = np.flatnonzero(lower >= target_tpr)
    return float(scores[ok[0]] if len(ok) else scores[-1])


def precision_lower_bound(pos_scores: np.ndarray, unl_scores: np.ndarray,
                          threshold: float) -> float:
    """Precision counting every unlabelled composition above the threshold as a false
    positive: a lower bound, since some of them have been made."""
    tp = float((pos_scores >= threshold).sum())
    fp = float((unl_scores >= threshold).sum())
    return tp / (tp + fp) if tp + fp else float("nan")


def train_synthesizability(out: str | Path, seed: int = 0, n_bags: int = 8,
                           n_random: int = 50_000, target_tpr: float = 0.95,
                           confidence: float = 0.95,
                           data: PUData | None = None, command: str | None = None,
                           **params: Any) -> dict[str, Any]:
    """Fit the composition model on the train split, set the threshold whose validation TPR
    is at least `target_tpr` with `confidence` (`threshold_for_tpr`), save the model
    directory with its card; returns the validation metrics."""
    t0 = time.perf_counter()
    data = data or load_pu_data()
    generated = random_unlabelled(n_random, data, seed + 1) if n_random else []
    model = PUBaggingClassifier(n_bags=n_bags, seed=seed, **params)
    model.fit(data.positives["train"], data.unlabelled["train"] + generated)
    sources = ", ".join(f"`{k}` {v:,}" for k, v in sorted(data.sources.items()))
    what = ["# synthesizability: bagging PU classifier of compositions", "",
            ("Scores how much a composition looks like the compounds reported from experiment: "
            "a ranking in [0, 1], not a calibrated probability."), "",
            ("- positives: experimental compositions of `matbench-expt-gap` and "
            "`matbench-expt-is-metal`; unlabelled: the computed sets (train and val splits "
            f"only) minus the positives, plus {len(generated):,} random charge-balanced "
            f"compositions; formulas per set: {sources}"),
            f"- splits by chemical system (80/10/10): {data.describe()}",
            (f"- model: {n_bags} bags of gradient-boosted trees on Magpie statistics and "
            f"atomic fractions; seed {seed}")]
    run = {"sources": data.sources, "missing": data.missing, "splits": data.describe(),
           "n_random_unlabelled": len(generated)}
    return _finish(model, data.positives["val"], data.unlabelled["val"], out, what, run,
                   seed=seed, target_tpr=target_tpr, confidence=confidence, command=command,
                   t0=t0)


def train_structure_synthesizability(out: str | Path, seed: int = 0, n_bags: int = 8,
                                     target_tpr: float = 0.95, confidence: float = 0.95,
                                     data: StructurePUData | None = None,
                                     command: str | None = None,
                                     **params: Any) -> dict[str, Any]:
    """The structure variant (`matforge.synthesizability.structures`): fit on the train
    split's structures, threshold and card as for the composition model."""
    t0 = time.perf_counter()
    data = data or load_structure_pu_data(seed)
    model = PUBaggingClassifier(n_bags=n_bags, seed=seed, featurizer="chgnet+magpie", **params)

    def pick(split: str, label: int) -> list[Any]:
        return [data.structures[i] for i in data.select(split, label)]

    model.fit(pick("train", 1), pick("train", 0))
    counts = {src: data.sources.count(src) for src in sorted(set(data.sources))}
    what = ["# synthesizability-structure: bagging PU classifier of crystal structures", "",
            ("Scores how much a structure looks like the polymorphs reported from experiment: "
            "a ranking in [0, 1], not a calibrated probability."), "",
            "- positives: `matbench-phonons` (Materials Project) structures whose composition "
            "is in `matbench-expt-gap` or `matbench-expt-is-metal`; unlabelled: the other "
            "`matbench-phonons` structures, the Perov-5 and Carbon-24 val structures, and one "
            "unrelaxed pyxtal random structure per `matbench-phonons` cell composition; "
            "structures per source: " + ", ".join(f"`{k}` {v:,}" for k, v in counts.items()),
            f"- splits by chemical system (80/10/10): {data.describe()}",
            (f"- model: {n_bags} bags of gradient-boosted trees on CHGNet descriptors of the "
            f"structure (196) and Magpie statistics and atomic fractions of its composition; "
            f"seed {seed}")]
    run = {"sources": counts, "splits": data.describe()}
    return _finish(model, pick("val", 1), pick("val", 0), out, what, run, seed=seed,
                   target_tpr=target_tpr, confidence=confidence, command=command, t0=t0)


def _finish(model: PUBaggingClassifier, val_pos: list[Any], val_unl: list[Any],
            out: str | Path, what: list[str], run: dict[str, Any], *, seed: int,
            target_tpr: float, confidence: float, command: str | None,
            t0: float) -> dict[str, Any]:
    """Threshold on the validation positives, validation metrics, save, model card."""
    pos, unl = model.score(val_pos), model.score(val_unl)
    model.threshold = threshold_for_tpr(pos, target_tpr, confidence)
    val = {"n_positive": len(pos), "n_unlabelled": len(unl),
           "tpr": float((pos >= model.threshold).mean()),
           "unlabelled_above": float((unl >= model.threshold).mean()),
           "precision_lower_bound": precision_lower_bound(pos, unl, model.threshold),
           "positive_share": len(pos) / (len(pos) + len(unl))}
    run = {**run, "seed": seed, "target_tpr": target_tpr, "confidence": confidence,
           "command": command, "seconds": round(time.perf_counter() - t0, 1)}
    path = model.save(out, run=run, metrics={"val": val})
    write_model_card(path, model, what, run, val)
    return {"path": str(path), "val": val, "run": run}


def write_model_card(path: Path, model: PUBaggingClassifier, what: list[str],
                     run: dict[str, Any], val: dict[str, Any]) -> None:
    val_row = (f"| val | {val['n_positive']} | {val['n_unlabelled']} | {val['tpr']:.3f} | "
               f"{val['unlabelled_above']:.3f} | {val['precision_lower_bound']:.3f} |")
    lines = [
        *what,
        f"- threshold {model.threshold:.4f}: the highest whose validation TPR is at least "
        + f"{run['target_tpr']:.0%} with {run['confidence']:.0%} confidence (one-sided "
        + f"Clopper-Pearson bound); it keeps {val['tpr']:.1%} of the validation positives",
        f"- command: `{run['command'] or 'library call'}`",
        f"- wall time: {run['seconds']} s (shared CPU; indicative only)", "",
        "| split | positives | unlabelled | TPR | unlabelled above | precision (lower bound) |",
        "|---|---|---|---|---|---|", val_row, "",
        "Test-split figures, decoys and baselines: `benchmarks/results/synthesizability.md`.", "",
        "Parameters:", "", "```json", json.dumps(model.params, indent=2), "```"]
    (path / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")
