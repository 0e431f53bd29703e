"""Integer composition arrays shared by the composition generators.

A batch of compositions is two aligned integer arrays: element indices `el` (n, k) into
`ELEMENTS` (-1 pads) and integer counts `cnt` (n, k) of the reduced formula. Generators
sample into these arrays in torch and decode them here without a Python object per sample,
which is what keeps sampling above 10,000 compositions per second. The same arrays give a
canonical key per composition (reduced counts, elements by Z) so uniqueness, novelty and
recovery are set operations on strings rather than pymatgen calls.

Elements inside a formula are ordered by electronegativity rank (pymatgen's formula order),
so each composition has exactly one token sequence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
from pymatgen.core import Composition, Element

from matforge.representations.composition import ELEMENT_INDEX, ELEMENTS

N_ELEMENTS = len(ELEMENTS)
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")
_SIMPLE = re.compile(r"^(?:[A-Z][a-z]?\d*\.?\d*)+$")


@lru_cache(maxsize=1)
def electronegativity_rank() -> np.ndarray:
    """(103,) rank of each element in pymatgen's formula order (by X, then symbol)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keys = []
        for i, sym in enumerate(ELEMENTS):
            x = Element(sym).X
            keys.append((x if not math.isnan(x) else math.inf, sym, i))
    order = [i for _, _, i in sorted(keys)]
    rank = np.empty(N_ELEMENTS, dtype=np.int64)
    rank[order] = np.arange(N_ELEMENTS)
    return rank


@lru_cache(maxsize=600_000)
def parse_reduced(formula: str) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Element indices and reduced integer counts of a formula, or None when the formula has
    fractional amounts or elements outside H..Lr. Elements come in electronegativity order."""
    amounts: dict[str, float] = {}
    if _SIMPLE.match(formula):
        for sym, num in _TOKEN.findall(formula):
            amounts[sym] = amounts.get(sym, 0.0) + (float(num) if num else 1.0)
    else:
        try:
            amounts = {str(e): float(a) for e, a in Composition(formula).items()}
        except Exception:  # noqa: BLE001 - unparsable formula: not usable as training data
            return None
    if not amounts or any(s not in ELEMENT_INDEX for s in amounts):
        return None
    if any(abs(a - round(a)) > 1e-6 or a <= 0 for a in amounts.values()):
        return None
    counts = [round(a) for a in amounts.values()]
    g = math.gcd(*counts)
    rank = electronegativity_rank()
    pairs = sorted(((ELEMENT_INDEX[s], c // g) for s, c in zip(amounts, counts)),
                   key=lambda p: rank[p[0]])
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def formulas_to_arrays(formulas: Sequence[str], max_elements: int = 8, max_count: int = 20,
                       min_elements: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`el`, `cnt` (n, max_elements) and a boolean `ok` (n,) marking the formulas that fit
    (integer reduced counts <= max_count, between min_elements and max_elements elements)."""
    n = len(formulas)
    el = np.full((n, max_elements), -1, dtype=np.int64)
    cnt = np.zeros((n, max_elements), dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    for r, f in enumerate(formulas):
        parsed = parse_reduced(str(f))
        if parsed is None:
            continue
        idx, c = parsed
        if not (min_elements <= len(idx) <= max_elements) or max(c) > max_count:
            continue
        el[r, :len(idx)] = idx
        cnt[r, :len(idx)] = c
        ok[r] = True
    return el, cnt, ok


def reduce_arrays(el: np.ndarray, cnt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide each row's counts by their gcd; padded slots keep count 0."""
    cnt = np.where(el >= 0, cnt, 0)
    g = np.gcd.reduce(cnt, axis=1)
    g[g == 0] = 1
    return el, cnt // g[:, None]


def canonical_keys(el: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """One string per row that identifies the reduced composition (elements sorted by Z)."""
    el, cnt = reduce_arrays(np.asarray(el), np.asarray(cnt))
    valid = (el >= 0) & (cnt > 0)
    z = np.where(valid, el, N_ELEMENTS + 1)
    order = np.argsort(z, axis=1, kind="stable")
    z = np.take_along_axis(z, order, axis=1)
    c = np.take_along_axis(np.where(valid, cnt, 0), order, axis=1)
    # encode each (element, count) pair as a fixed-width integer and join
    code = np.where(z <= N_ELEMENTS, z * 1000 + c, 0)
    return np.array([" ".join(map(str, row[row > 0])) for row in code])


def formula_keys(formulas: Iterable[str]) -> set[str]:
    """Canonical keys of known formulas (those that parse to integer reduced counts)."""
    formulas = list(formulas)
    el, cnt, ok = formulas_to_arrays(formulas, max_elements=16, max_count=10**6)
    return set(canonical_keys(el[ok], cnt[ok]).tolist())


_SYMBOLS = np.array(list(ELEMENTS) + [""], dtype=object)


def arrays_to_formulas(el: np.ndarray, cnt: np.ndarray) -> list[str]:
    """Reduced formula strings (electronegativity order, count 1 omitted); '' for empty rows."""
    el, cnt = reduce_arrays(np.asarray(el), np.asarray(cnt))
    valid = (el >= 0) & (cnt > 0)
    rank = electronegativity_rank()
    key = np.where(valid, rank[np.clip(el, 0, None)], 10**6)
    order = np.argsort(key, axis=1, kind="stable")
    el = np.take_along_axis(np.where(valid, el, N_ELEMENTS), order, axis=1)
    cnt = np.take_along_axis(np.where(valid, cnt, 0), order, axis=1)
    sym = _SYMBOLS[el]
    num = np.where(cnt > 1, cnt.astype(str).astype(object), "")
    num = np.where(cnt > 0, num, "")
    parts = sym + num
    return ["".join(row) for row in parts]


def count_matrix(el: np.ndarray, cnt: np.ndarray, max_count: int) -> np.ndarray:
    """The MatGAN encoding: (n, 103) integer counts, each in 0..max_count."""
    out = np.zeros((len(el), N_ELEMENTS), dtype=np.int64)
    rows = np.repeat(np.arange(len(el)), el.shape[1])
    e, c = el.ravel(), cnt.ravel()
    keep = e >= 0
    out[rows[keep], e[keep]] = np.minimum(c[keep], max_count)
    return out


def matrix_to_arrays(counts: np.ndarray, max_elements: int = 103) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `count_matrix`: (n, 103) counts to padded `el`, `cnt` arrays."""
    counts = np.asarray(counts)
    k = max(1, min(max_elements, int((counts > 0).sum(axis=1).max(initial=1))))
    order = np.argsort(-(counts > 0).astype(np.int8), axis=1, kind="stable")[:, :k]
    c = np.take_along_axis(counts, order, axis=1)
    el = np.where(c > 0, order, -1)
    return el, np.where(c > 0, c, 0)
