"""The default campaign: novel p-type thermoelectric candidates from the embedded data.

One pass through every stage of the loop on the `mp-transport` data that ships with
matminer, so it runs offline on any machine:

1. generate: a data-mined substitution generator fitted on the training split, sampling
   children of the compositions with the highest p-type power factor;
2. filter: charge neutrality and electronegativity balance (SMACT, alloys rejected), novelty
   against every composition of the data set, a known structure template, a size limit;
3. score: a gradient-boosted ensemble on Magpie features predicts log10 of the power factor
   with a std calibrated on the validation split; an upper-confidence-bound acquisition picks
   a batch with at most one candidate per chemical system;
4. verify: template substitution from the AFLOW prototype library gives each pick a
   structure, CHGNet relaxes it and gives its energy and formation energy;
5. report: `candidates.csv`, one CIF per candidate, `report.html`, `config.yaml`, `summary.json`.

Everything is written to a temporary folder and moved into place at the end, so a failed or
interrupted run leaves no half-written output.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, Field
from pymatgen.core import Composition, Structure

from matforge.candidate import Candidate, candidates_to_frame, write_cifs
from matforge.chem import check_composition
from matforge.errors import MatforgeError


class DefaultDesignConfig(BaseModel):
    dataset: str = "mp-transport"
    objective: str = Field("PF_p", description="property to maximise")
    n_generate: int = Field(20000, description="compositions sampled from the generator")
    parent_quantile: float = Field(0.9, description="parents come from this quantile of the objective up")
    max_atoms: int = Field(20, description="largest reduced formula (atoms) kept")
    surrogate_members: int = 5
    surrogate_max_iter: int = Field(300, description="boosting rounds per ensemble member")
    kappa: float = Field(1.0, description="UCB exploration weight, in calibrated std units")
    n_select: int = Field(60, description="candidates sent to structure generation and relaxation")
    max_per_chemsys: int = 1
    relax_fmax: float = 0.1
    relax_steps: int = 300
    seed: int = 0
    max_minutes: float = 10.0


Log = Callable[[str], None]


def run_default_design(out: str | Path, seed: int = 0, max_minutes: float = 10.0,
                       config: DefaultDesignConfig | None = None,
                       log: Log = print) -> dict[str, Any]:
    """Run the default campaign into `out`; returns the summary written to summary.json."""
    cfg = (config or DefaultDesignConfig()).model_copy(update={"seed": seed,
                                                               "max_minutes": max_minutes})
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise MatforgeError(f"{out} exists and is not empty; choose a new --out folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".matforge-design-", dir=out.parent))
    try:
        summary = _run(cfg, staging, log)
        out.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            shutil.move(str(item), out / item.name)
        staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def _run(cfg: DefaultDesignConfig, folder: Path, log: Log) -> dict[str, Any]:
    from matforge.data import load_dataset

    t0 = time.perf_counter()
    deadline = t0 + 60.0 * cfg.max_minutes
    timings: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 2)
        log(f"[{name}] done in {timings[name]:.1f} s")

    # 1. data and generator --------------------------------------------------------------
    t = time.perf_counter()
    full = load_dataset(cfg.dataset)
    if cfg.objective not in full.columns:
        raise MatforgeError(f"{cfg.dataset} has no column {cfg.objective!r}")
    full = full[np.isfinite(full[cfg.objective]) & (full[cfg.objective] > 0)]
    known = {Composition(f).reduced_formula for f in full["formula"]}
    train = full[full["split"] == "train"]
    val = full[full["split"] == "val"]
    test = full[full["split"] == "test"]
    log(f"[data] {cfg.dataset}: {len(full)} rows, {len(known)} compositions "
        f"(train {len(train)}, val {len(val)}, test {len(test)})")

    from matforge.generators.composition.substitution import SubstitutionGenerator

    generator = SubstitutionGenerator().fit(train, properties=[cfg.objective])
    threshold = float(np.quantile(train[cfg.objective], cfg.parent_quantile))
    samples = generator.sample(cfg.n_generate, condition={cfg.objective: (threshold, math.inf)},
                               seed=cfg.seed)
    log(f"[generate] {len(samples)} compositions from parents with {cfg.objective} >= {threshold:.3g}")
    stage("generate", t)

    # 2. filters -------------------------------------------------------------------------
    t = time.perf_counter()
    from matforge.generators.crystal.template import TemplateCSP

    csp = TemplateCSP.from_aflow_prototypes()
    counts = {"generated": len(samples)}
    seen: set[str] = set()
    unique = []
    for cand in samples:
        if cand.formula not in seen:
            seen.add(cand.formula)
            unique.append(cand)
    counts["unique"] = len(unique)
    kept = []
    for cand in _progress(unique, "filter"):
        verdict = check_composition(cand.composition)
        cand.scores.update(charge_neutral=verdict.charge_neutral_strict,
                           electronegativity_balanced=verdict.electronegativity_balanced,
                           chem_reason=verdict.reason)
        if not verdict.valid_strict:
            continue
        counts["valid"] = counts.get("valid", 0) + 1
        if cand.formula in known:
            continue
        counts["valid_novel"] = counts.get("valid_novel", 0) + 1
        cand.scores["novel"] = True
        if cand.composition.reduced_composition.num_atoms > cfg.max_atoms:
            continue
        if not csp.has_template(cand.composition):
            continue
        kept.append(cand)
    counts["valid_novel_templated"] = len(kept)
    log("[filter] " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if len(kept) < cfg.n_select:
        raise MatforgeError(f"only {len(kept)} candidates passed the filters; raise n_generate")
    stage("filter", t)

    # 3. surrogate and acquisition -------------------------------------------------------
    t = time.perf_counter()
    from matforge.surrogates.ensemble import EnsembleSurrogate

    target = f"log10_{cfg.objective}"
    surrogate = EnsembleSurrogate(n_members=cfg.surrogate_members, seed=cfg.seed, target=target,
                                  max_iter=cfg.surrogate_max_iter, progress=False)
    surrogate.fit(list(train["formula"]), np.log10(train[cfg.objective].to_numpy()))
    calibration = surrogate.calibrate(list(val["formula"]), np.log10(val[cfg.objective].to_numpy()))
    held_out = surrogate.evaluate(list(test["formula"]), np.log10(test[cfg.objective].to_numpy()))
    surrogate_report = {
        "target": target,
        "train_rows": len(train), "val_rows": len(val), "test_rows": len(test),
        "test_mae": held_out.mae,
        "test_coverage_68": held_out.coverage_68,
        "test_coverage_95": held_out.coverage_95,
        "test_miscalibration_area": held_out.miscalibration_area,
        "val_calibration": calibration.to_dict(),
    }
    log(f"[surrogate] {target}: test MAE {surrogate_report['test_mae']:.3f}, "
        f"68% interval covers {surrogate_report['test_coverage_68']:.0%}, "
        f"95% covers {surrogate_report['test_coverage_95']:.0%}")
    mean, std = surrogate.predict([c.composition for c in kept])
    ucb = mean + cfg.kappa * std
    for cand, m, s, a in zip(kept, mean, std, ucb):
        cand.scores.update({f"pred_{target}": float(m), f"pred_{target}_std": float(s),
                            f"pred_{cfg.objective}": float(10 ** m), "acquisition_ucb": float(a)})
    picked = _diverse_top(kept, ucb, cfg.n_select, cfg.max_per_chemsys)
    log(f"[acquire] picked {len(picked)} of {len(kept)} by UCB (kappa {cfg.kappa}), "
        f"at most {cfg.max_per_chemsys} per chemical system")
    stage("score", t)

    # 4. structures, relaxation, energies ------------------------------------------------
    t = time.perf_counter()
    structured = []
    for cand in _progress(picked, "structures"):
        proposals = csp.propose(cand.composition, k=1, seed=cfg.seed)
        if not proposals:
            continue
        cand.structure = proposals[0]
        props = proposals[0].properties
        cand.scores["prototype"] = f"{props.get('template_formula', '?')} " \
                                   f"({props.get('template_source', '')} #{props.get('template_index', '?')})"
        structured.append(cand)
    log(f"[structures] {len(structured)} template structures")
    from matforge.oracles.references import ElementalReferences
    from matforge.oracles.relax import relax_structures
    from matforge.oracles.stability import formation_energy_per_atom

    remaining = deadline - time.perf_counter()
    if remaining < 60:
        raise MatforgeError(f"--max-minutes {cfg.max_minutes} leaves no time to relax structures")
    results = relax_structures([c.structure for c in structured], fmax=cfg.relax_fmax,
                               steps=cfg.relax_steps)
    references = ElementalReferences.default()
    # elements missing from the shipped table are relaxed together, in one batch
    missing = sorted({str(el) for c in structured for el in c.composition.elements} - set(references.entries))
    if missing:
        log(f"[references] computing CHGNet references for {', '.join(missing)}")
        references.compute(missing)
    final = []
    for cand, res in zip(structured, results):
        if not res.ok:
            log(f"[relax] {cand.formula} failed: {res.error}")
            continue
        cand.structure = res.structure
        cand.scores.update(energy_per_atom=float(res.energy_per_atom), relax_converged=bool(res.converged),
                           relax_steps=int(res.steps))
        cand.scores["formation_energy_per_atom"] = float(
            formation_energy_per_atom(cand.composition, res.energy_per_atom, references))
        cand.scores["min_distance"] = _min_distance(res.structure)
        if cand.scores["min_distance"] <= 0.5:
            log(f"[relax] {cand.formula} dropped: atoms {cand.scores['min_distance']:.2f} Å apart")
            continue
        final.append(cand)
    stage("relax", t)

    # 5. rank and write ------------------------------------------------------------------
    t = time.perf_counter()
    final.sort(key=lambda c: (c.scores["formation_energy_per_atom"] > 0,
                              -c.scores["acquisition_ucb"]))
    for rank, cand in enumerate(final, start=1):
        cand.scores["rank"] = rank
    frame = _candidate_table(final)
    frame.to_csv(folder / "candidates.csv", index=False)
    write_cifs(final, folder / "cifs", name_key="rank")
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    summary = {
        "config": cfg.model_dump(), "counts": {**counts, "picked": len(picked),
                                               "structured": len(structured), "final": len(final)},
        "surrogate": surrogate_report, "timings_s": timings,
        "n_negative_formation_energy": int(sum(c.scores["formation_energy_per_atom"] < 0 for c in final)),
    }
    from matforge.design.default_report import write_default_report

    write_default_report(folder / "report.html", final, kept, train[cfg.objective].to_numpy(),
                         summary, cfg)
    stage("report", t)
    summary["timings_s"] = timings
    summary["total_s"] = round(time.perf_counter() - t0, 1)
    (folder / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2))
    log(f"[done] {len(final)} ranked candidates in {summary['total_s']:.0f} s")
    return summary


def _diverse_top(cands: list[Candidate], score: np.ndarray, n: int, per_chemsys: int) -> list[Candidate]:
    chosen: list[Candidate] = []
    used: dict[str, int] = {}
    for i in np.argsort(-score, kind="stable"):
        chemsys = cands[i].composition.chemical_system
        if used.get(chemsys, 0) >= per_chemsys:
            continue
        used[chemsys] = used.get(chemsys, 0) + 1
        chosen.append(cands[i])
        if len(chosen) == n:
            break
    return chosen


def _min_distance(structure: Structure) -> float:
    if len(structure) == 1:
        return float(min(structure.lattice.abc))
    d = structure.distance_matrix
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def _candidate_table(cands: list[Candidate]) -> pd.DataFrame:
    frame = candidates_to_frame(cands)
    first = ["rank", "formula"]
    rest = [c for c in frame.columns if c not in first and c != "cif"]
    return frame[first + rest + ["cif"]]


def _progress(items: list, desc: str):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, mininterval=0.5)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
