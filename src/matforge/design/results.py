"""What a campaign found: every evaluation, the ranked candidates, and how many are S.U.N.

Ranking: candidates that meet every outcome constraint (e_above_hull<=0.1) come first; within
each group, by the objective's utility (several objectives: by the number of candidates that
dominate them, then the sum of utilities). Stability counts follow MatterGen's S.U.N.
definition: stable = energy above the hull <= 0.1 eV/atom (and <= 0 counted apart), unique
(one candidate per composition, as campaigns never repeat one) and novel against everything
matforge knows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from matforge.design.spec import CampaignSpec
from matforge.design.store import CampaignStore
from matforge.metrics.stability import DEFAULT_THRESHOLD as METASTABLE
from matforge.metrics.stability import ON_HULL, sun_flags


def evaluations_frame(store: CampaignStore, spec: CampaignSpec) -> pd.DataFrame:
    """One row per oracle evaluation, in order; the structure the oracle ended with."""
    rows = []
    names = [o.name for o in spec.objectives]
    for e in store.evaluations():
        row: dict[str, Any] = {"step": e["step"], "formula": e["formula"]}
        for n in names:
            row[n] = e["values"].get(n)
        row["strategy"] = e["strategy"]
        row["status"] = e["status"]
        for k, v in e["values"].items():
            if k not in names:
                row[k] = v
        row.update({k: v for k, v in e["provenance"].items() if k in ("parent", "generator")})
        row.update({"reason": e["reason"] or "", "seconds": e["seconds"],
                    "attempts": e["attempts"], "cif": e["result_cif"] or e["cif"]})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else
                         ["step", "formula", *names, "strategy", "status"])
    if "cif" in frame.columns and frame["cif"].isna().all():
        frame = frame.drop(columns=["cif"])
    return frame


def utilities_of(frame: pd.DataFrame, spec: CampaignSpec) -> np.ndarray:
    cols = []
    for o in spec.objectives:
        v = pd.to_numeric(frame[o.name], errors="coerce").to_numpy(dtype=float) \
            if o.name in frame.columns else np.full(len(frame), np.nan)
        cols.append(o.utility(v))
    return np.stack(cols, axis=1) if cols else np.zeros((len(frame), 0))


def feasible_of(frame: pd.DataFrame, spec: CampaignSpec) -> np.ndarray:
    """True where every outcome constraint is met (all rows when there are none)."""
    ok = np.ones(len(frame), dtype=bool)
    for c in spec.outcome_constraints:
        values = pd.to_numeric(frame[c.name], errors="coerce").to_numpy(dtype=float) \
            if c.name in frame.columns else np.full(len(frame), np.nan)
        ok &= c.met(values)
    return ok


def rank_candidates(frame: pd.DataFrame, spec: CampaignSpec) -> pd.DataFrame:
    """The successful evaluations, best first, with `rank` and `feasible` columns."""
    ok = frame[frame["status"] == "ok"].reset_index(drop=True) if len(frame) else frame
    if not len(ok):
        return ok.assign(rank=[], feasible=[])
    U = utilities_of(ok, spec)
    finite = np.all(np.isfinite(U), axis=1)
    score = np.where(finite, U.sum(axis=1), -np.inf)
    dominated = np.zeros(len(ok))
    if U.shape[1] > 1:
        for i in range(len(ok)):
            dominated[i] = np.sum(np.all(U >= U[i], axis=1) & np.any(U > U[i], axis=1))
    feasible = feasible_of(ok, spec)
    order = np.lexsort((-score, dominated, ~feasible))
    ranked = ok.iloc[order].reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    ranked.insert(2, "feasible", feasible[order])
    return ranked


def stability_summary(ranked: pd.DataFrame, known: Any) -> dict[str, Any] | None:
    """Stable / metastable / S.U.N. counts and rates of a ranked list (None without hulls)."""
    if "e_above_hull" not in ranked.columns or not len(ranked):
        return None
    e = pd.to_numeric(ranked["e_above_hull"], errors="coerce").to_numpy(dtype=float)
    novel = np.array([f not in known for f in ranked["formula"]])
    unique = ~ranked["formula"].duplicated().to_numpy()
    n = len(ranked)
    stable = np.isfinite(e) & (e <= ON_HULL)
    metastable, sun = sun_flags(e, unique, novel, METASTABLE)
    out = {"n": n, "stable": int(stable.sum()), "metastable": int(metastable.sum()),
           "novel": int(novel.sum()), "sun": int(sun.sum()),
           "stable_rate": stable.sum() / n, "metastable_rate": metastable.sum() / n,
           "sun_rate": sun.sum() / n, "thresholds_ev_per_atom": [ON_HULL, METASTABLE]}
    out["summary"] = (f"{n} candidates: {out['stable']} on or below the hull, "
                      f"{out['metastable']} within {METASTABLE} eV/atom, S.U.N. "
                      f"{out['sun']} ({out['sun_rate']:.1%}); novel against "
                      f"{getattr(known, 'describe', lambda: 'the known set')()}")
    return out
