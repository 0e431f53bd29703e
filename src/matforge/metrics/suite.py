"""All metrics of `matforge.metrics` on one set of samples: the engine behind `matforge evaluate`.

Inputs are frames with a `formula` and/or `cif` column (samples; a reference/training set for
novelty; a test set for coverage, distribution distances and recovery; CSP targets). Output:
the metrics dict with the keys of issue 3 (None where not applicable), one row per sample with
every flag and the reason for each invalid one, and details for the report.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from matforge.chem.formula import reduced_formula
from matforge.chem.geometry import structure_problem
from matforge.errors import DataError
from matforge.metrics import cost, coverage, csp, distributions, matching, recovery, stability
from matforge.metrics.fingerprints import (
    N_STRUCT_FP,
    SYMPREC,
    composition_fingerprints,
    structure_fingerprint,
    structure_fingerprints,
)
from matforge.metrics.parallel import pmap
from matforge.metrics.validity import compositional_validity, structural_validity

METRIC_KEYS = ("n", "structural_validity", "compositional_validity",
               "compositional_validity_strict", "validity", "uniqueness", "novelty",
               "cov_recall", "cov_precision", "wdist_density", "wdist_num_elements", "match_rate",
               "rmse", "sun_rate", "recovery", "hhi_production", "hhi_reserve")


@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    per_sample: pd.DataFrame
    details: dict[str, Any] = field(default_factory=dict)
    structures: list[Structure | None] = field(default_factory=list)
    test_density: np.ndarray | None = None
    test_num_elements: np.ndarray | None = None
    test_formulas: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- loading
def load_set(spec: str, default_split: str) -> pd.DataFrame:
    """A registered data set ("perov-5", "perov-5:val") or a path; "train" falls back to "val"
    for sets whose train split is not available (Perov-5 and Carbon-24 here)."""
    from matforge.data import DATASETS, load_dataset

    name, _, split = str(spec).partition(":")
    if name in DATASETS:
        wanted = split or default_split
        splits = ("all",) + tuple(DATASETS[name].splits)
        if wanted not in splits:
            wanted = "all"
        try:
            frame = load_dataset(name, split=wanted)
        except DataError:
            if split or wanted != "train":
                raise
            frame = load_dataset(name, split="val")
            frame.attrs["split"] = "val (train not available)"
        frame.attrs.setdefault("split", wanted)
        frame.attrs["dataset"] = name
        return frame
    frame = load_dataset(spec)
    frame.attrs.setdefault("dataset", str(spec))
    return frame


def _parse_structures(frame: pd.DataFrame, source: str) -> list[Structure | None]:
    if "cif" not in frame.columns:
        return [None] * len(frame)
    out: list[Structure | None] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, cif in enumerate(frame["cif"].tolist()):
            if not isinstance(cif, str) or not cif.strip():
                out.append(None)
                continue
            try:
                out.append(Structure.from_str(cif, fmt="cif"))
            except Exception as exc:
                raise DataError(f"cannot read the CIF ({type(exc).__name__})", source, i) from exc
    return out


def _formulas(frame: pd.DataFrame, structures: list[Structure | None], source: str) -> list[str]:
    out = []
    raw = frame["formula"].tolist() if "formula" in frame.columns else [None] * len(frame)
    for i, (f, s) in enumerate(zip(raw, structures)):
        if s is not None:
            out.append(s.composition.reduced_formula)
        elif isinstance(f, str) and f.strip():
            try:
                out.append(reduced_formula(f))
            except Exception as exc:
                raise DataError(f"cannot read the formula {f!r}", source, i) from exc
        else:
            raise DataError("a row needs a formula or a cif", source, i)
    return out


def _frame_formulas(frame: pd.DataFrame) -> list[str]:
    """Formula keys (`matching.formula_key`) of a data set, from its formula column when present
    (no CIF parsing)."""
    if "formula" in frame.columns:
        return [matching.formula_key(str(f)) for f in frame["formula"].tolist()]
    return [matching.formula_key(s.composition.reduced_formula)
            for s in _parse_structures(frame, "data set")]


# ---------------------------------------------------------------- reference-set caches
def _reduce_cached(frame: pd.DataFrame, rows: list[int], source: str, n_jobs: int | None,
                   progress: bool) -> list[Structure]:
    """Primitive Niggli cells of `frame.cif[rows]`; cached on disk per set of CIFs, so repeated
    evaluations against the same reference or test set skip the reduction."""
    import pickle

    from matforge.data.paths import cache_dir

    cifs = [str(c) for c in frame["cif"].iloc[rows].tolist()]
    h = hashlib.sha256(b"reduced-v1")
    for c in cifs:
        h.update(c.encode())
        h.update(b"\0")
    path = cache_dir() / "reduced" / f"{h.hexdigest()[:24]}.pkl"
    if path.exists():
        with path.open("rb") as fh:
            return pickle.load(fh)
    reduced = matching.reduce_all(_parse_structures(frame.iloc[rows], source), n_jobs, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(reduced, fh)
    tmp.replace(path)
    return reduced


# ---------------------------------------------------------------- test-set summaries (cached)
def _summarise_cif(cif: str) -> np.ndarray:
    """[density, n_elements, fingerprint...] of one CIF, NaN fingerprint when it fails."""
    s = Structure.from_str(cif, fmt="cif")
    fp = structure_fingerprint(s)
    fp = np.full(N_STRUCT_FP, np.nan) if fp is None else fp
    return np.concatenate([[s.density, len(s.composition.elements)], fp])


def summarise_test_set(cifs: list[str], n_jobs: int | None = None,
                       progress: bool = True) -> np.ndarray:
    """(n, 2 + 61) density, number of elements and CrystalNN fingerprint; cached on disk."""
    from matforge.data.paths import cache_dir

    h = hashlib.sha256(f"summary-crystalnn-ops-sym{SYMPREC}".encode())
    for c in cifs:
        h.update(c.encode())
        h.update(b"\0")
    path = cache_dir() / "fingerprints" / f"testset-{h.hexdigest()[:20]}.npy"
    if path.exists():
        return np.load(path)
    arr = np.stack(pmap(_summarise_cif, cifs, n_jobs=n_jobs, desc="test-set fingerprints",
                        progress=progress, chunksize=8))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    tmp.replace(path)
    return arr


# ---------------------------------------------------------------- the suite
def _mean(values: Any) -> float | None:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else None


def _csp_predictions(samples: pd.DataFrame, formulas: list[str], structures: list,
                     valid: np.ndarray, targets: pd.DataFrame,
                     target_formulas: list[str]) -> list[list[Structure | None]]:
    """Predictions for each target: rows whose `target_id`/`prov_target_id` names the target's
    material_id, else rows with the target's reduced formula, in input order (ambiguous when
    several targets share a formula, as in Carbon-24: give a target_id column there)."""
    id_col = next((c for c in ("target_id", "prov_target_id") if c in samples.columns), None)
    keys = (samples[id_col].astype(str).tolist() if id_col and "material_id" in targets.columns
            else formulas)
    target_keys = (targets["material_id"].astype(str).tolist() if id_col and
                   "material_id" in targets.columns else target_formulas)
    by_key: dict[str, list[Structure | None]] = {}
    for k, s, v in zip(keys, structures, valid):
        if s is not None:
            by_key.setdefault(k, []).append(s if v else None)
    return [by_key.get(k, []) for k in target_keys]


def evaluate(samples: pd.DataFrame, reference: pd.DataFrame | None = None,
             test: pd.DataFrame | None = None, targets: pd.DataFrame | None = None, *,
             cov_cutoffs: tuple[float, float] | None = None,
             sun_threshold: float = stability.DEFAULT_THRESHOLD, n_jobs: int | None = None,
             progress: bool = True) -> EvaluationResult:
    """Every metric that the inputs allow; see the module docstrings of `matforge.metrics`."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if len(samples) == 0:
        raise DataError("no samples to evaluate")
    s = _read_samples(samples)
    timings["parse"] = time.perf_counter() - t0
    with _timed(timings, "validity"):
        v = _validity(s)
    with _timed(timings, "uniqueness"):
        u = _uniqueness(s, n_jobs, progress)
    with _timed(timings, "novelty"):
        novel, ref_info = _novelty(s, u.reduced, reference, n_jobs, progress)
    metrics: dict[str, Any] = {k: None for k in METRIC_KEYS}
    details: dict[str, Any] = {"timings_s": timings, "reference": ref_info}
    shape = _shape(s)
    tc = _TestComparison.empty(s.n)
    if test is not None:
        with _timed(timings, "test_set_metrics"):
            tc = _test_set_metrics(s, v, u.reduced, shape, test, cov_cutoffs, n_jobs, progress)
    metrics.update(tc.metrics)
    details.update(tc.details)
    if targets is not None and s.any_struct:
        with _timed(timings, "csp"):
            res = _csp(samples, s, v.valid, targets, n_jobs, progress)
        metrics["match_rate"], metrics["rmse"] = res["match_rate"], res["rmse"]
        details["csp"] = {k: val for k, val in res.items() if k != "rms_per_target"}
    st = _stability(samples, s.n, u.unique, novel, reference is not None, sun_threshold)
    metrics["sun_rate"] = st.sun_rate
    if st.sun_rate is not None:
        details["sun_threshold_ev_per_atom"] = sun_threshold
    c = _cost(s.formulas)
    details["critical_or_toxic_free"] = c.free_fraction
    # novelty: NaN rows (no reference set) give None
    metrics.update(n=s.n, **v.metrics(s), uniqueness=float(u.unique.mean()),
                   novelty=_mean(novel), **c.metrics())
    timings["total"] = time.perf_counter() - t0
    per_sample = pd.DataFrame({
        "formula": s.formulas, "has_structure": s.has_struct,
        **v.columns(s),
        **u.columns(),
        "novel": _nullable_bool(novel),
        "cov_precise": _nullable_bool(tc.precise),
        **st.columns(),
        "density": shape.density, "num_elements": shape.num_elements,
        **c.columns(),
    })
    return EvaluationResult(metrics=_clean(metrics), per_sample=per_sample, details=details,
                            structures=s.structures, test_density=tc.density,
                            test_num_elements=tc.num_elements, test_formulas=tc.formulas)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start


# ---------------------------------------------------------------- the samples
@dataclass
class _Samples:
    """The samples as every metric family reads them: one reduced formula per row, and a
    structure where the row has a CIF."""

    formulas: list[str]
    structures: list[Structure | None]
    keys: list[str]  # `matching.formula_key` of each formula, for membership in other sets
    has_struct: np.ndarray

    @property
    def n(self) -> int:
        return len(self.formulas)

    @property
    def any_struct(self) -> bool:
        return bool(self.has_struct.any())

    @property
    def struct_rows(self) -> np.ndarray:
        return np.flatnonzero(self.has_struct)


def _read_samples(samples: pd.DataFrame) -> _Samples:
    structures = _parse_structures(samples, "samples")
    formulas = _formulas(samples, structures, "samples")
    return _Samples(formulas, structures, [matching.formula_key(f) for f in formulas],
                    np.array([st is not None for st in structures]))


# ---------------------------------------------------------------- validity
@dataclass
class _Validity:
    composition: list[tuple[bool, bool, str]]  # (valid, valid strict, reason) per row
    structure: list[tuple[bool | None, str]]  # (valid, reason) per row; None without one
    problems: list[str]  # `structure_problem` per row ('' when sound or no structure)
    comp_valid: np.ndarray = field(init=False)
    comp_strict: np.ndarray = field(init=False)
    struct_valid: np.ndarray = field(init=False)
    valid: np.ndarray = field(init=False)  # compositionally and structurally valid

    def __post_init__(self) -> None:
        self.comp_valid = np.array([c[0] for c in self.composition])
        self.comp_strict = np.array([c[1] for c in self.composition])
        self.struct_valid = np.array([bool(r[0]) for r in self.structure])
        self.valid = self.comp_valid & self.struct_valid

    def metrics(self, s: _Samples) -> dict[str, float | None]:
        return {
            "structural_validity": float(self.struct_valid[s.has_struct].mean())
            if s.any_struct else None,
            "compositional_validity": float(self.comp_valid.mean()),
            "compositional_validity_strict": float(self.comp_strict.mean()),
            "validity": float(self.valid[s.has_struct].mean()) if s.any_struct else None,
        }

    def columns(self, s: _Samples) -> dict[str, Any]:
        return {
            "compositional_validity": self.comp_valid,
            "compositional_validity_strict": self.comp_strict,
            "composition_reason": [c[2] for c in self.composition],
            "structural_validity": [r[0] for r in self.structure],
            "structure_reason": [r[1] for r in self.structure],
            "status": ["failed" if p else "ok" for p in self.problems],
            "reason": [f"unphysical structure: {p}" if p else "" for p in self.problems],
            "valid": np.where(s.has_struct, self.valid, None),
        }


def _validity(s: _Samples) -> _Validity:
    verdicts = {f: compositional_validity(f) for f in dict.fromkeys(s.formulas)}
    return _Validity(
        [verdicts[f] for f in s.formulas],
        [structural_validity(st) if st is not None else (None, "") for st in s.structures],
        # the physical-sense gate every structure passes elsewhere (relax, stability, pools);
        # reported per row beside CDVAE's validity, whose published definition stays as it is
        [structure_problem(st) if st is not None else "" for st in s.structures])


# ---------------------------------------------------------------- uniqueness
@dataclass
class _Uniqueness:
    unique: np.ndarray
    classes: np.ndarray  # the first row of each row's duplicate class
    reduced: list[Structure | None]  # primitive Niggli cell per row, for novelty and recovery

    def columns(self) -> dict[str, Any]:
        return {"unique": self.unique, "duplicate_of": np.where(self.unique, -1, self.classes)}


def _uniqueness(s: _Samples, n_jobs: int | None, progress: bool) -> _Uniqueness:
    reduced = matching.reduce_all([st for st in s.structures if st is not None], n_jobs, progress)
    red_iter = iter(reduced)
    reduced_all = [next(red_iter) if st is not None else None for st in s.structures]
    classes = matching.formula_classes(s.formulas)
    if s.any_struct:
        idx = s.struct_rows
        sc = matching.structure_classes([s.structures[i] for i in idx], reduced=reduced,
                                        n_jobs=n_jobs, progress=progress)
        classes[idx] = idx[sc]
        # composition-only rows keep formula identity; a structure never equals one of them
        first_comp: dict[str, int] = {}
        for i in np.flatnonzero(~s.has_struct):
            classes[i] = first_comp.setdefault(s.formulas[i], int(i))
    return _Uniqueness(classes == np.arange(s.n), classes, reduced_all)


# ---------------------------------------------------------------- novelty
def _novelty(s: _Samples, reduced: list[Structure | None], reference: pd.DataFrame | None,
             n_jobs: int | None, progress: bool) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Per row 1.0 when absent from the reference set (by structure where both sides have
    one, else by formula), NaN without a reference; and a description of the reference."""
    if reference is None:
        return np.full(s.n, np.nan), None
    ref_formulas = _frame_formulas(reference)
    ref_set = set(ref_formulas)
    novel = np.array([k not in ref_set for k in s.keys], dtype=float)
    if s.any_struct and "cif" in reference.columns:
        idx = s.struct_rows
        needed = {s.keys[i] for i in idx}
        rows = [j for j, f in enumerate(ref_formulas) if f in needed]
        ref_reduced = _reduce_cached(reference, rows, "reference", n_jobs, progress)
        hits = matching.match_against([reduced[i] for i in idx], ref_reduced,
                                      n_jobs=n_jobs, progress=progress, desc="novelty")
        novel[idx] = (hits < 0).astype(float)
    return novel, {"dataset": reference.attrs.get("dataset"), "split": reference.attrs.get("split"),
                   "n": len(reference)}


# ---------------------------------------------------------------- test-set comparisons
@dataclass
class _Shape:
    density: np.ndarray  # NaN for composition-only rows
    num_elements: np.ndarray


def _shape(s: _Samples) -> _Shape:
    return _Shape(np.array([st.density if st is not None else np.nan for st in s.structures],
                           float),
                  np.array([len(cost._symbols(f)) for f in s.formulas]))


@dataclass
class _TestComparison:
    """Distribution distances, coverage and recovery against the test set."""

    formulas: list[str]  # formula keys of the test set
    num_elements: np.ndarray | None
    precise: np.ndarray  # per sample: within coverage cutoffs of a test row (NaN: not computed)
    density: np.ndarray | None = None  # with structures on both sides
    metrics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def empty(cls, n: int) -> _TestComparison:
        """No test set: nothing to compare against."""
        return cls([], None, np.full(n, np.nan))


def _test_set_metrics(s: _Samples, v: _Validity, reduced: list[Structure | None], shape: _Shape,
                      test: pd.DataFrame, cov_cutoffs: tuple[float, float] | None,
                      n_jobs: int | None, progress: bool) -> _TestComparison:
    test_formulas = _frame_formulas(test)
    tc = _TestComparison(test_formulas, np.array([len(cost._symbols(f)) for f in test_formulas]),
                         np.full(s.n, np.nan))
    tc.details["test"] = {"dataset": test.attrs.get("dataset"), "split": test.attrs.get("split"),
                          "n": len(test)}
    gate = v.valid if s.any_struct else v.comp_valid
    tc.metrics["wdist_num_elements"] = distributions.wdist(shape.num_elements[gate],
                                                           tc.num_elements)
    if s.any_struct and "cif" in test.columns:
        summary = summarise_test_set(test["cif"].tolist(), n_jobs, progress)
        tc.density = summary[:, 0]
        tc.metrics["wdist_density"] = distributions.wdist(shape.density[v.valid], tc.density)
        _coverage(tc, s, summary, test, cov_cutoffs, n_jobs, progress)
        first = _recovery_by_structure(s, reduced, test, test_formulas, n_jobs, progress)
        tc.details["recovery_by"] = "structure"
    else:
        first = recovery.first_hits_by_formula(test_formulas, s.keys)
        tc.details["recovery_by"] = "formula"
    tc.metrics["recovery"] = float(np.mean(first >= 0)) if len(first) else None
    tc.details["recovery_curve"] = recovery.recovery_curve(first, s.n)
    return tc


def _coverage(tc: _TestComparison, s: _Samples, summary: np.ndarray, test: pd.DataFrame,
              cov_cutoffs: tuple[float, float] | None, n_jobs: int | None,
              progress: bool) -> None:
    """COV-R and COV-P (CDVAE) on structure and composition fingerprints, into `tc`."""
    test_fp = [None if np.isnan(r).all() else r for r in summary[:, 2:]]
    sample_fp: list = [None] * s.n
    idx = s.struct_rows
    for i, fp in zip(idx, structure_fingerprints([s.structures[i] for i in idx], n_jobs,
                                                 progress)):
        sample_fp[i] = fp
    cut = cov_cutoffs or coverage.cutoffs_for(test.attrs.get("dataset"))
    cov = coverage.coverage(sample_fp, composition_fingerprints(s.formulas), test_fp,
                            composition_fingerprints(tc.formulas), *cut)
    tc.metrics["cov_recall"] = cov["cov_recall"]
    tc.metrics["cov_precision"] = cov["cov_precision"]
    tc.precise = np.array(cov["precise"], dtype=float)
    tc.details["cov_cutoffs"] = {"struc": cut[0], "comp": cut[1]}


def _recovery_by_structure(s: _Samples, reduced: list[Structure | None], test: pd.DataFrame,
                           test_formulas: list[str], n_jobs: int | None,
                           progress: bool) -> np.ndarray:
    """For each test row, the first sample row that matches its structure (-1 for none).
    Each test structure (of a formula the samples have) is matched against the samples in
    order, so duplicates within the test set are each recovered."""
    idx = s.struct_rows
    needed = {s.keys[i] for i in idx}
    rows = [j for j, f in enumerate(test_formulas) if f in needed]
    t_reduced = _reduce_cached(test, rows, "test", n_jobs, progress)
    hits = matching.match_against(t_reduced, [reduced[i] for i in idx],
                                  n_jobs=n_jobs, progress=progress, desc="recovery")
    first = np.full(len(test_formulas), -1)
    first[rows] = [idx[h] if h >= 0 else -1 for h in hits]
    return first


# ---------------------------------------------------------------- crystal structure prediction
def _csp(samples: pd.DataFrame, s: _Samples, valid: np.ndarray, targets: pd.DataFrame,
         n_jobs: int | None, progress: bool) -> dict[str, Any]:
    t_structs = _parse_structures(targets, "targets")
    if any(st is None for st in t_structs):
        raise DataError("CSP targets need a cif for every row", "targets")
    preds = _csp_predictions(samples, s.formulas, s.structures, valid, targets,
                             [st.composition.reduced_formula for st in t_structs])
    return csp.csp_metrics(t_structs, preds, n_jobs=n_jobs, progress=progress)


# ---------------------------------------------------------------- stability-aware
@dataclass
class _Stability:
    e_hull: np.ndarray  # from the samples' energy-above-hull column, NaN without one
    stable: np.ndarray  # 1.0 / 0.0, NaN where not computed
    sun: np.ndarray
    sun_rate: float | None

    def columns(self) -> dict[str, Any]:
        return {"e_above_hull": self.e_hull, "stable": _nullable_bool(self.stable),
                "sun": _nullable_bool(self.sun)}


def _stability(samples: pd.DataFrame, n: int, unique: np.ndarray, novel: np.ndarray,
               has_reference: bool, sun_threshold: float) -> _Stability:
    """Stable and S.U.N. (stable, unique, novel) flags; S.U.N. needs a reference set."""
    e_col = stability.find_e_hull_column(samples)
    e_hull = (pd.to_numeric(samples[e_col], errors="coerce").to_numpy(float) if e_col
              else np.full(n, np.nan))
    if not (e_col and has_reference):
        nan = np.full(n, np.nan)
        return _Stability(e_hull, nan, nan, None)
    stable, sun = stability.sun_flags(e_hull, unique, novel == 1.0, sun_threshold)
    return _Stability(e_hull, stable.astype(float), sun.astype(float), float(sun.mean()))


# ---------------------------------------------------------------- cost and supply risk
@dataclass
class _Cost:
    hhi_production: np.ndarray
    hhi_reserve: np.ndarray
    flagged: list[list[str]]  # critical or toxic elements per row

    @property
    def free_fraction(self) -> float:
        return float(np.mean([not fl for fl in self.flagged]))

    def metrics(self) -> dict[str, float | None]:
        return {"hhi_production": _mean(self.hhi_production),
                "hhi_reserve": _mean(self.hhi_reserve)}

    def columns(self) -> dict[str, Any]:
        return {"hhi_production": self.hhi_production, "hhi_reserve": self.hhi_reserve,
                "critical_or_toxic": [" ".join(f) for f in self.flagged]}


def _cost(formulas: list[str]) -> _Cost:
    hhis = [cost.hhi(f) for f in formulas]
    return _Cost(np.array([h[0] if h[0] is not None else np.nan for h in hhis], float),
                 np.array([h[1] if h[1] is not None else np.nan for h in hhis], float),
                 [cost.flagged_elements(f) for f in formulas])


def _nullable_bool(values: np.ndarray) -> list[bool | None]:
    return [None if not np.isfinite(v) else bool(v) for v in np.asarray(values, float)]


def _clean(metrics: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out
