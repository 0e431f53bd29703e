"""The compositions a generator was trained on, kept beside its weights.

A language model of known compositions reproduces many of them; a user asking for new
materials wants those left out. The model directory stores the canonical keys of every
training composition (before the SMACT filter, so an invalid training formula is still
"known") in `training_compositions.txt.gz`, and `sample(..., novel_only=True)` resamples
until it has n compositions outside that set. This is a filter on top of the model, reported
separately from the model's own novelty in the benchmark.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

FILE = "training_compositions.txt.gz"


def keys_of(formulas: Iterable[str]) -> np.ndarray:
    """Canonical key per formula ('' where a formula does not parse)."""
    from matforge.representations.tokens import canonical_keys, formulas_to_arrays

    formulas = [f or "X" for f in formulas]
    el, cnt, ok = formulas_to_arrays(formulas, 16, 10**6, 1)
    keys = np.full(len(formulas), "", dtype=object)
    if ok.any():
        keys[ok] = canonical_keys(el[ok], cnt[ok])
    return keys


def save_keys(keys: Iterable[str], model_dir: str | Path) -> Path:
    path = Path(model_dir) / FILE
    # mtime=0: the same training set gives the same bytes
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write("\n".join(sorted(set(keys))).encode())
    return path


def load_keys(model_dir: str | Path) -> frozenset[str]:
    """Training keys of a model directory; empty for a model saved without them."""
    path = Path(model_dir) / FILE
    if not path.exists():
        return frozenset()
    with gzip.open(path, "rt") as fh:
        return frozenset(line for line in fh.read().split("\n") if line)


def reject_known(formulas: list[str], n: int, known: frozenset[str],
                 draw: Callable[[int, int], list[str]], seed: int | None,
                 keep: Callable[[str], bool] = lambda f: True, max_rounds: int = 30) -> list[str]:
    """n formulas whose key is not in `known`, not repeated, and pass `keep`, drawing more
    with derived seeds (`draw(m, seed)`) until n are found or max_rounds pass."""
    seen: set[str] = set()
    kept: list[str] = []

    def take(batch: list[str]) -> None:
        for f, k in zip(batch, keys_of(batch)):
            if k and k not in known and k not in seen and keep(f):
                seen.add(k)
                kept.append(f)

    take(formulas)
    base = 0 if seed is None else int(seed)
    for r in range(1, max_rounds + 1):
        if len(kept) >= n:
            break
        take(draw(max(2 * (n - len(kept)), 256), base + 104_729 * r))
    return kept[:n]
