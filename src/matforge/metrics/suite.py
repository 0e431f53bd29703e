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
    structures = _parse_structures(samples, "samples")
    formulas = _formulas(samples, structures, "samples")
    n = len(formulas)
    keys = [matching.formula_key(f) for f in formulas]
    has_struct = np.array([s is not None for s in structures])
    any_struct = bool(has_struct.any())
    timings["parse"] = time.perf_counter() - t0

    # validity ---------------------------------------------------------------------------
    t = time.perf_counter()
    verdicts = {f: compositional_validity(f) for f in dict.fromkeys(formulas)}
    comp = [verdicts[f] for f in formulas]
    comp_valid = np.array([c[0] for c in comp])
    comp_strict = np.array([c[1] for c in comp])
    struct_res = [structural_validity(s) if s is not None else (None, "") for s in structures]
    # the physical-sense gate every structure passes elsewhere (relax, stability, pools);
    # reported per row beside CDVAE's validity, whose published definition stays as it is
    sanity = [structure_problem(s) if s is not None else "" for s in structures]
    struct_valid = np.array([bool(r[0]) for r in struct_res])
    valid = comp_valid & struct_valid
    timings["validity"] = time.perf_counter() - t

    # uniqueness ----------------------------------------------------------------------------
    t = time.perf_counter()
    reduced = matching.reduce_all([s for s in structures if s is not None], n_jobs, progress)
    red_iter = iter(reduced)
    reduced_all = [next(red_iter) if s is not None else None for s in structures]
    classes = matching.formula_classes(formulas)
    if any_struct:
        idx = np.flatnonzero(has_struct)
        sc = matching.structure_classes([structures[i] for i in idx], reduced=reduced,
                                        n_jobs=n_jobs, progress=progress)
        classes[idx] = idx[sc]
        # composition-only rows keep formula identity; a structure never equals one of them
        first_comp: dict[str, int] = {}
        for i in np.flatnonzero(~has_struct):
            classes[i] = first_comp.setdefault(formulas[i], int(i))
    unique = classes == np.arange(n)
    timings["uniqueness"] = time.perf_counter() - t

    # novelty -------------------------------------------------------------------------------
    t = time.perf_counter()
    novel = np.full(n, np.nan)
    ref_info = None
    if reference is not None:
        ref_formulas = _frame_formulas(reference)
        ref_set = set(ref_formulas)
        novel = np.array([k not in ref_set for k in keys], dtype=float)
        if any_struct and "cif" in reference.columns:
            needed = {keys[i] for i in np.flatnonzero(has_struct)}
            rows = [j for j, f in enumerate(ref_formulas) if f in needed]
            ref_reduced = _reduce_cached(reference, rows, "reference", n_jobs, progress)
            idx = np.flatnonzero(has_struct)
            hits = matching.match_against([reduced_all[i] for i in idx], ref_reduced,
                                          n_jobs=n_jobs, progress=progress, desc="novelty")
            novel[idx] = (hits < 0).astype(float)
        ref_info = {"dataset": reference.attrs.get("dataset"),
                    "split": reference.attrs.get("split"),
                    "n": len(reference)}
    timings["novelty"] = time.perf_counter() - t

    # validity-gated distributions, coverage, recovery against the test set ------------------
    density = np.array([s.density if s is not None else np.nan for s in structures], float)
    n_elem = np.array([len(cost._symbols(f)) for f in formulas])
    metrics: dict[str, Any] = {k: None for k in METRIC_KEYS}
    details: dict[str, Any] = {"timings_s": timings, "reference": ref_info}
    precise = np.full(n, np.nan)
    test_density = test_nelem = None
    test_formulas: list[str] = []
    if test is not None:
        t = time.perf_counter()
        test_formulas = _frame_formulas(test)
        test_nelem = np.array([len(cost._symbols(f)) for f in test_formulas])
        details["test"] = {"dataset": test.attrs.get("dataset"), "split": test.attrs.get("split"),
                           "n": len(test)}
        gate = valid if any_struct else comp_valid
        metrics["wdist_num_elements"] = distributions.wdist(n_elem[gate], test_nelem)
        if any_struct and "cif" in test.columns:
            summary = summarise_test_set(test["cif"].tolist(), n_jobs, progress)
            test_density = summary[:, 0]
            metrics["wdist_density"] = distributions.wdist(density[valid], test_density)
            test_fp = [None if np.isnan(r).all() else r for r in summary[:, 2:]]
            sample_fp: list = [None] * n
            idx = np.flatnonzero(has_struct)
            for i, fp in zip(idx, structure_fingerprints([structures[i] for i in idx], n_jobs,
                                                         progress)):
                sample_fp[i] = fp
            cut = cov_cutoffs or coverage.cutoffs_for(test.attrs.get("dataset"))
            cov = coverage.coverage(sample_fp, composition_fingerprints(formulas), test_fp,
                                    composition_fingerprints(test_formulas), *cut)
            metrics["cov_recall"] = cov["cov_recall"]
            metrics["cov_precision"] = cov["cov_precision"]
            precise = np.array(cov["precise"], dtype=float)
            details["cov_cutoffs"] = {"struc": cut[0], "comp": cut[1]}
            # recovery by structure: each test structure (of a formula the samples have) against
            # the samples in order, so duplicates within the test set are each recovered
            needed = {keys[i] for i in idx}
            rows = [j for j, f in enumerate(test_formulas) if f in needed]
            t_reduced = _reduce_cached(test, rows, "test", n_jobs, progress)
            hits = matching.match_against(t_reduced, [reduced_all[i] for i in idx],
                                          n_jobs=n_jobs, progress=progress, desc="recovery")
            first = np.full(len(test_formulas), -1)
            first[rows] = [idx[h] if h >= 0 else -1 for h in hits]
            details["recovery_by"] = "structure"
        else:
            first = recovery.first_hits_by_formula(test_formulas, keys)
            details["recovery_by"] = "formula"
        metrics["recovery"] = float(np.mean(first >= 0)) if len(first) else None
        details["recovery_curve"] = recovery.recovery_curve(first, n)
        timings["test_set_metrics"] = time.perf_counter() - t

    # crystal structure prediction ------------------------------------------------------------
    if targets is not None and any_struct:
        t = time.perf_counter()
        t_structs = _parse_structures(targets, "targets")
        if any(s is None for s in t_structs):
            raise DataError("CSP targets need a cif for every row", "targets")
        preds = _csp_predictions(samples, formulas, structures, valid, targets,
                                 [s.composition.reduced_formula for s in t_structs])
        res = csp.csp_metrics(t_structs, preds, n_jobs=n_jobs, progress=progress)
        metrics["match_rate"], metrics["rmse"] = res["match_rate"], res["rmse"]
        details["csp"] = {k: v for k, v in res.items() if k != "rms_per_target"}
        timings["csp"] = time.perf_counter() - t

    # stability-aware ---------------------------------------------------------------------------
    e_col = stability.find_e_hull_column(samples)
    e_hull = (pd.to_numeric(samples[e_col], errors="coerce").to_numpy(float) if e_col
              else np.full(n, np.nan))
    stable = sun = np.full(n, np.nan)
    if e_col and reference is not None:
        stable_b, sun_b = stability.sun_flags(e_hull, unique, novel == 1.0, sun_threshold)
        stable, sun = stable_b.astype(float), sun_b.astype(float)
        metrics["sun_rate"] = float(sun_b.mean())
        details["sun_threshold_ev_per_atom"] = sun_threshold

    # cost and supply risk ----------------------------------------------------------------------
    hhis = [cost.hhi(f) for f in formulas]
    hhi_p = np.array([h[0] if h[0] is not None else np.nan for h in hhis], float)
    hhi_r = np.array([h[1] if h[1] is not None else np.nan for h in hhis], float)
    flagged = [cost.flagged_elements(f) for f in formulas]
    details["critical_or_toxic_free"] = float(np.mean([not fl for fl in flagged]))

    metrics.update({
        "n": n,
        "structural_validity": float(struct_valid[has_struct].mean()) if any_struct else None,
        "compositional_validity": float(comp_valid.mean()),
        "compositional_validity_strict": float(comp_strict.mean()),
        "validity": float(valid[has_struct].mean()) if any_struct else None,
        "uniqueness": float(unique.mean()),
        "novelty": _mean(novel) if reference is not None else None,
        "hhi_production": _mean(hhi_p),
        "hhi_reserve": _mean(hhi_r),
    })
    timings["total"] = time.perf_counter() - t0

    per_sample = pd.DataFrame({
        "formula": formulas,
        "has_structure": has_struct,
        "compositional_validity": comp_valid,
        "compositional_validity_strict": comp_strict,
        "composition_reason": [c[2] for c in comp],
        "structural_validity": [r[0] for r in struct_res],
        "structure_reason": [r[1] for r in struct_res],
        "status": ["failed" if p else "ok" for p in sanity],
        "reason": [f"unphysical structure: {p}" if p else "" for p in sanity],
        "valid": np.where(has_struct, valid, None),
        "unique": unique,
        "duplicate_of": np.where(unique, -1, classes),
        "novel": _nullable_bool(novel),
        "cov_precise": _nullable_bool(precise),
        "e_above_hull": e_hull,
        "stable": _nullable_bool(stable),
        "sun": _nullable_bool(sun),
        "density": density,
        "num_elements": n_elem,
        "hhi_production": hhi_p,
        "hhi_reserve": hhi_r,
        "critical_or_toxic": [" ".join(f) for f in flagged],
    })
    return EvaluationResult(metrics=_clean(metrics), per_sample=per_sample, details=details,
                            structures=structures, test_density=test_density,
                            test_num_elements=test_nelem, test_formulas=test_formulas)


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
