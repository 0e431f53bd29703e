"""Pieces the composition generators share: training data, property scaling, conditions,
devices and threads, decoding count logits, and turning sampled formulas into candidates.

Training data are the *train* splits of named data sets (never a test split), concatenated;
rows with the same reduced composition are merged and their properties averaged. By default
only compositions that pass the strict SMACT check (charge-neutral, electronegativity-balanced,
not all-metal) are kept: the models learn chemistry from the valid part of what is known.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.representations.tokens import canonical_keys, formulas_to_arrays

DEFAULT_DATA = ("mp-e-hull", "mp-transport", "oqmd-bandgap")


def load_training_data(data: str | Sequence[str] | pd.DataFrame) -> pd.DataFrame:
    """Concatenate the train splits of comma-separated data set names (or paths: all rows)."""
    if isinstance(data, pd.DataFrame):
        return data
    from matforge.data import DATASETS, load_dataset

    names = [d.strip() for d in (data.split(",") if isinstance(data, str) else data) if d.strip()]
    if not names:
        raise MatforgeError("no training data given")
    frames = []
    for name in names:
        split = "train" if name in DATASETS else "all"
        frame = load_dataset(name, split=split)
        if "formula" not in frame.columns:
            raise MatforgeError(f"{name}: the data set has no 'formula' column")
        frames.append(frame.drop(columns=[c for c in ("cif", "material_id") if c in frame]))
    return pd.concat(frames, ignore_index=True, sort=False)


@dataclass
class TrainingSet:
    formulas: list[str]
    el: np.ndarray
    cnt: np.ndarray
    props: np.ndarray  # (n, P) raw property values, NaN where unknown
    keys: np.ndarray


def prepare(frame: pd.DataFrame, condition_on: Sequence[str], max_elements: int, max_count: int,
            valid_only: bool = True, min_elements: int = 2) -> TrainingSet:
    """Parse, merge duplicates, optionally keep strict-valid compositions only."""
    missing = [p for p in condition_on if p not in frame.columns]
    if missing:
        raise MatforgeError(f"cannot condition on {', '.join(missing)}: not a column of the "
                            f"training data (columns: {', '.join(map(str, frame.columns))})")
    formulas = frame["formula"].astype(str).tolist()
    el, cnt, ok = formulas_to_arrays(formulas, max_elements, max_count, min_elements)
    if not ok.any():
        raise MatforgeError("no usable compositions in the training data")
    keys = canonical_keys(el[ok], cnt[ok])
    props = frame.loc[ok, list(condition_on)].apply(pd.to_numeric, errors="coerce")
    merged = props.assign(_key=keys).groupby("_key", sort=True).mean()
    first = pd.Series(np.nonzero(ok)[0], index=keys).groupby(level=0).first().loc[merged.index]
    rows = first.to_numpy()
    out_formulas = [formulas[i] for i in rows]
    el, cnt = el[rows], cnt[rows]
    values = merged[list(condition_on)].to_numpy(dtype=np.float64) if condition_on \
        else np.zeros((len(rows), 0))
    keys = merged.index.to_numpy()
    if valid_only:
        keep = _strict_valid(out_formulas, el)
        if not keep.any():
            raise MatforgeError("no training composition passes the SMACT check")
        out_formulas = [f for f, k in zip(out_formulas, keep) if k]
        el, cnt, values, keys = el[keep], cnt[keep], values[keep], keys[keep]
    return TrainingSet(out_formulas, el, cnt, values, keys)


def _strict_valid(formulas: list[str], el: np.ndarray) -> np.ndarray:
    """Strict SMACT verdicts, cached on disk by the list of formulas (slow for 10^5 rows)."""
    import hashlib
    import os
    from pathlib import Path

    digest = hashlib.sha1("\n".join(formulas).encode()).hexdigest()[:16]
    cache_dir = Path(os.environ.get("MATFORGE_CACHE_DIR", Path.home() / ".cache" / "matforge"))
    cache = cache_dir / f"smact_strict_{digest}.npy"
    if cache.exists():
        return np.load(cache)
    import smact
    from tqdm.auto import tqdm

    from matforge.chem import check_composition
    from matforge.representations.tokens import ELEMENTS

    metal = np.array([s in smact.metals for s in ELEMENTS] + [True])
    alloy = metal[np.where(el >= 0, el, len(ELEMENTS))].all(axis=1)  # cheap pre-filter
    keep = np.zeros(len(formulas), dtype=bool)
    for i in tqdm(np.nonzero(~alloy)[0], desc="SMACT check of training data",
                  mininterval=5, leave=False):
        keep[i] = check_composition(formulas[i]).valid_strict
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cache, keep)
    except OSError:  # a read-only cache is only slower
        pass
    return keep


def property_stats(props: np.ndarray, names: Sequence[str]) -> dict[str, list[float]]:
    stats = {}
    for j, name in enumerate(names):
        col = props[:, j]
        col = col[np.isfinite(col)]
        if len(col) == 0:
            raise MatforgeError(f"property {name} has no numeric values in the training data")
        stats[name] = [float(col.mean()), float(col.std() or 1.0)]
    return stats


def scale(props: np.ndarray, names: Sequence[str], stats: dict[str, list[float]]
          ) -> tuple[np.ndarray, np.ndarray]:
    """Standardised values (NaN -> 0) and a mask of known values."""
    values = np.zeros_like(props, dtype=np.float32)
    mask = np.isfinite(props)
    for j, name in enumerate(names):
        mean, std = stats[name]
        values[:, j] = np.where(mask[:, j], (props[:, j] - mean) / std, 0.0)
    return values, mask


def condition_arrays(condition: dict[str, Any] | None, names: Sequence[str],
                     stats: dict[str, list[float]]) -> tuple[np.ndarray, np.ndarray] | None:
    """(P,) scaled target values and mask from a user condition; ranges use their midpoint."""
    if not condition:
        return None
    unknown = [k for k in condition if k not in names]
    if unknown:
        raise MatforgeError(f"this model cannot condition on {', '.join(unknown)} "
                            f"(it was trained on: {', '.join(names) or 'nothing'})")
    raw = np.full(len(names), np.nan)
    for j, name in enumerate(names):
        if name in condition:
            target = condition[name]
            if isinstance(target, (tuple, list)):
                lo, hi = float(target[0]), float(target[1])
                if not (np.isfinite(lo) or np.isfinite(hi)):
                    continue  # an open range on both ends constrains nothing
                # a range aims at its midpoint; a half-open one at its finite end
                target = (lo + hi) / 2 if np.isfinite(lo) and np.isfinite(hi) else \
                    (lo if np.isfinite(lo) else hi)
            raw[j] = float(target)
    values, mask = scale(raw[None, :], names, stats)
    return values[0], mask[0]


def pick_device(device: str | None = None):
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_threads() -> None:
    """At most 2 torch threads (MATFORGE_TORCH_THREADS overrides: 1 is faster on a busy box)."""
    import os

    import torch

    torch.set_num_threads(min(torch.get_num_threads(),
                              int(os.environ.get("MATFORGE_TORCH_THREADS", "2"))))


def to_candidates(formulas: Iterable[str], kind: str, seed: int | None,
                  extra_provenance: dict[str, Any] | None = None,
                  scores: dict[str, np.ndarray] | None = None) -> list[Candidate]:
    """Candidates from formula strings, skipping empty strings (failed decodes)."""
    from pymatgen.core import Composition

    out = []
    prov = {"generator": kind, "seed": seed, **(extra_provenance or {})}
    for i, f in enumerate(formulas):
        if not f:
            continue
        sc = {k: float(v[i]) for k, v in (scores or {}).items()}
        out.append(Candidate(Composition(f), provenance=dict(prov), scores=sc))
    return out


def sampling_provenance(n: int, condition: dict | None) -> dict[str, Any]:
    """Check n and describe the condition for each candidate's provenance."""
    if n < 0:
        raise MatforgeError("the number of samples must be >= 0")
    return {"condition": json.dumps(condition)} if condition else {}


def reject_invalid(formulas: list[str], n: int, draw, seed: int | None,
                   max_rounds: int = 20) -> list[str]:
    """Keep formulas that pass the strict SMACT check, drawing more (with derived seeds)
    until n are kept. `draw(m, seed)` returns m new formulas."""
    from matforge.chem import check_composition

    kept = [f for f in formulas if f and check_composition(f).valid_strict]
    base = 0 if seed is None else int(seed)
    for r in range(1, max_rounds + 1):
        if len(kept) >= n:
            break
        more = draw(max(2 * (n - len(kept)), 64), base + 7919 * r)
        kept += [f for f in more if f and check_composition(f).valid_strict]
    return kept[:n]


def decode_count_logits(logits, temperature: float, generator, min_elements: int = 2,
                        max_elements: int = 6) -> list[str]:
    """(B, 103, C+1) count-class logits (class 0 = absent) to formulas. At temperature 0:
    argmax per element, topped up to `min_elements` with the most probable absent elements.
    Else one draw per element. Rows with fewer than `min_elements` or more than
    `max_elements` elements decode to '' (a failed sample, counted as such by the benchmark)."""
    import torch

    from matforge.representations.tokens import arrays_to_formulas, matrix_to_arrays

    if temperature <= 0:
        counts = logits.argmax(dim=-1)
        # too few elements present: add the most probable absent ones, at their best count
        present = 1.0 - logits.softmax(dim=-1)[..., 0]
        n_el = (counts > 0).sum(dim=1)
        best = logits[..., 1:].argmax(dim=-1) + 1
        ranked = present.masked_fill(counts > 0, -1.0).argsort(dim=1, descending=True)
        for j in range(min_elements):
            need = n_el + j < min_elements
            col = ranked[:, j]
            rows = torch.nonzero(need).squeeze(1)
            counts[rows, col[rows]] = best[rows, col[rows]]
    else:
        probs = (logits / temperature).softmax(dim=-1)
        b, e, c = probs.shape
        counts = torch.multinomial(probs.reshape(b * e, c), 1, generator=generator).view(b, e)
    counts = counts.cpu().numpy()
    n_el = (counts > 0).sum(axis=1)
    counts[(n_el < min_elements) | (n_el > max_elements)] = 0
    formulas = arrays_to_formulas(*matrix_to_arrays(counts, max_elements=max_elements))
    return formulas
