"""Crystal structure prediction: match rate and RMSE (CDVAE `RecEval`, DiffCSP).

A prediction matches its target when `StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)`
finds a mapping; the RMSE is `get_rms_dist(pred, target)[0]`, the root-mean-square site
displacement normalised by (V/N)^(1/3). As in CDVAE, invalid predictions (compositionally
or structurally) are not matched. Match rate = matched targets / all targets; RMSE = mean over
matched targets. Best of k: a target is matched when any of its k predictions matches, and
its RMSE is the smallest among the matches (DiffCSP's multi-sample evaluation).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from matforge.metrics.parallel import pmap

CSP_MATCHER = {"stol": 0.5, "angle_tol": 10.0, "ltol": 0.3}


def rms_dist(pred: Structure, target: Structure) -> float | None:
    """Normalised RMS displacement of a matching pair, None when they do not match."""
    matcher = StructureMatcher(**CSP_MATCHER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = matcher.get_rms_dist(pred, target)
        except Exception:  # noqa: BLE001 - one bad structure must not stop a batch
            return None
    return None if res is None else float(res[0])


def _best(args: tuple[Structure, list[Structure | None]]) -> list[float | None]:
    target, preds = args
    return [None if p is None else rms_dist(p, target) for p in preds]


def csp_metrics(targets: Sequence[Structure], predictions: Sequence[Sequence[Structure | None]],
                n_jobs: int | None = None, progress: bool = True) -> dict:
    """predictions[i]: the valid predictions for target i in order (None marks an invalid one).

    Returns match_rate/rmse for the first prediction and for the best of all k, plus the
    per-target RMS lists.
    """
    rms = pmap(_best, list(zip(targets, [list(p) for p in predictions])), n_jobs=n_jobs,
               desc="CSP matching", progress=progress, chunksize=4)
    n = len(targets)
    first = [r[0] if r else None for r in rms]
    best = [min((x for x in r if x is not None), default=None) for r in rms]
    k = max((len(p) for p in predictions), default=0)

    def _summary(vals: list[float | None]) -> tuple[float | None, float | None]:
        hits = [v for v in vals if v is not None]
        if n == 0:
            return None, None
        return len(hits) / n, (float(np.mean(hits)) if hits else None)

    m1, r1 = _summary(first)
    mk, rk = _summary(best)
    return {"match_rate": m1, "rmse": r1, "match_rate_best_of_k": mk, "rmse_best_of_k": rk,
            "k": k, "n_targets": n, "rms_per_target": rms}
