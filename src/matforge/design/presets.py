"""The default campaign: a preset of the campaign engine, runnable offline with no arguments.

`matforge design --out DIR --seed 0` proposes novel compositions with a high p-type power
factor from the Materials Project transport data that ships inside matminer:

1. prepare (once, into DIR): a substitution generator fitted on the training split samples
   children of the top-decile compositions (`pool.csv`); an ensemble surrogate learns
   log10 of the power factor on the training split, its std calibrated on validation and
   its error measured on test (`surrogate/`);
2. the engine (`Campaign`) then filters the pool (SMACT's default oxidation states with
   alloys rejected, no noble gases or radioactive elements, novel against every
   composition matforge knows, an AFLOW prototype fits, at most 20 atoms), screens it by
   the surrogate's upper confidence bound with one pick per chemical system, and sends each
   batch to a chain oracle: the surrogate's prediction, then CHGNet (template cell,
   relaxation, energy above the offline hull);
3. the ranking puts candidates within 0.1 eV/atom of the hull first, then the highest
   predicted power factor; `candidates.csv` holds the best `n_final`.

Everything lives in DIR (`campaign.sqlite` holds the state), so `--resume` continues a run
that was interrupted or stopped by `--max-minutes`, which bounds the whole run: preparation
counts against it and no campaign step starts that would not fit.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from matforge.design.campaign import DB_NAME, run_campaign
from matforge.design.spec import CampaignSpec, spec_from_dict
from matforge.errors import MatforgeError

Log = Callable[[str], None]
PRESET = "default"


class DefaultCampaignConfig(BaseModel):
    """The default campaign's settings (written to DIR/config.yaml)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = "mp-transport"
    objective: str = Field("PF_p", description="property to maximise (log10 is modelled)")
    n_generate: int = Field(20000, description="compositions sampled from the generator")
    parent_quantile: float = Field(0.9, description="parents come from this quantile up")
    max_atoms: int = Field(20, description="largest reduced formula (atoms) kept")
    surrogate_members: int = 5
    surrogate_max_iter: int = Field(300, description="boosting rounds per ensemble member")
    kappa: float = Field(1.0, description="UCB exploration weight, in calibrated std units")
    budget: int = Field(120, description="candidates sent to CHGNet")
    batch_size: int = Field(40, description="candidates relaxed together per step")
    n_final: int = Field(60, description="ranked candidates written to candidates.csv")
    e_above_hull_max: float = Field(0.1, description="eV/atom; within this ranks first")
    relax_fmax: float = 0.1
    relax_steps: int = 300
    seed: int = 0
    max_minutes: float = 10.0


def run_default_campaign(out: str | Path, seed: int = 0, max_minutes: float = 10.0,
                         resume: bool = False, config: DefaultCampaignConfig | None = None,
                         log: Log = print) -> dict[str, Any]:
    """Run (or with `resume`, continue) the default campaign in `out`; returns the summary."""
    out = Path(out)
    deadline = time.monotonic() + 60.0 * max_minutes
    if resume:
        return run_campaign(None, out, resume=True, deadline=deadline,
                            overrides={"max_minutes": max_minutes})
    if (out / DB_NAME).exists() or (out.exists() and any(out.iterdir())):
        raise MatforgeError(f"{out} exists and is not empty; choose a new --out folder, or "
                            "--resume to continue the campaign in it")
    cfg = (config or DefaultCampaignConfig()).model_copy(update={"seed": seed,
                                                                 "max_minutes": max_minutes})
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    prepared = prepare(cfg, out, log)
    log(f"[prepare] done in {prepared['seconds']:.0f} s; the campaign starts")
    spec = default_spec(cfg, out)
    return run_campaign(spec, out, deadline=deadline, preset_summary=prepared)


def default_spec(cfg: DefaultCampaignConfig, out: Path) -> CampaignSpec:
    """The campaign spec of the preset (stored in campaign.sqlite, so resume needs nothing
    else)."""
    target = f"log10_{cfg.objective}"
    return spec_from_dict({
        "preset": PRESET,
        "objectives": [f"pred_{target}:max"],
        "outcome_constraints": [f"e_above_hull<={cfg.e_above_hull_max}"],
        "constraints": {"validity": "strict", "novel_against": "known",
                        "max_atoms": cfg.max_atoms, "needs_template": True},
        "source": {"pool": str(out / "pool.csv")},
        "oracle": {"kind": "chain", "stages": [
            {"kind": "surrogate", "target": str(out / "surrogate")},
            {"kind": "chgnet", "options": {"hull": "auto", "fmax": cfg.relax_fmax,
                                           "steps": cfg.relax_steps}}]},
        "strategy": {"name": "screen", "options": {"surrogate": str(out / "surrogate"),
                                                   "kappa": cfg.kappa}},
        "executor": "batch", "initial": 0, "batch_size": cfg.batch_size,
        "budget": cfg.budget, "n_final": cfg.n_final, "seed": cfg.seed,
        "max_minutes": cfg.max_minutes,
    })


def prepare(cfg: DefaultCampaignConfig, out: Path, log: Log) -> dict[str, Any]:
    """pool.csv (generated compositions) and surrogate/ (trained, calibrated, tested)."""
    from matforge.data import load_dataset

    start = time.perf_counter()
    full = load_dataset(cfg.dataset)
    if cfg.objective not in full.columns:
        raise MatforgeError(f"{cfg.dataset} has no column {cfg.objective!r}")
    full = full[np.isfinite(full[cfg.objective]) & (full[cfg.objective] > 0)]
    splits = {name: full[full["split"] == name] for name in ("train", "val", "test")}
    log(f"[data] {cfg.dataset}: {len(full)} rows (train {len(splits['train'])}, "
        f"val {len(splits['val'])}, test {len(splits['test'])})")
    n_pool = _write_pool(cfg, splits["train"], out / "pool.csv")
    log(f"[generate] {cfg.n_generate} samples, {n_pool} distinct compositions -> pool.csv")
    surrogate = _train_surrogate(cfg, splits, out / "surrogate")
    log(f"[surrogate] {surrogate['target']}: test MAE {surrogate['test_mae']:.3f}, 68% interval "
        f"covers {surrogate['test_coverage_68']:.0%}, 95% covers "
        f"{surrogate['test_coverage_95']:.0%}")
    return {"dataset": cfg.dataset, "generated": cfg.n_generate, "pool": n_pool,
            "surrogate": surrogate, "seconds": round(time.perf_counter() - start, 1)}


def _write_pool(cfg: DefaultCampaignConfig, train: pd.DataFrame, path: Path) -> int:
    from matforge.generators.composition.substitution import SubstitutionGenerator

    generator = SubstitutionGenerator().fit(train, properties=[cfg.objective])
    threshold = float(np.quantile(train[cfg.objective], cfg.parent_quantile))
    samples = generator.sample(cfg.n_generate, condition={cfg.objective: (threshold, math.inf)},
                               seed=cfg.seed)
    rows = pd.DataFrame([{"formula": c.formula, "prov_parent": c.provenance.get("parent"),
                          "prov_generator": c.provenance.get("generator")} for c in samples])
    rows = rows.drop_duplicates("formula")
    rows.to_csv(path, index=False)
    return len(rows)


def _train_surrogate(cfg: DefaultCampaignConfig, splits: dict[str, pd.DataFrame],
                     folder: Path) -> dict[str, Any]:
    from matforge.surrogates.ensemble import EnsembleSurrogate

    target = f"log10_{cfg.objective}"

    def xy(frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        return list(frame["formula"]), np.log10(frame[cfg.objective].to_numpy())

    model = EnsembleSurrogate(n_members=cfg.surrogate_members, seed=cfg.seed, target=target,
                              max_iter=cfg.surrogate_max_iter, progress=False)
    model.fit(*xy(splits["train"]))
    calibration = model.calibrate(*xy(splits["val"]))
    held_out = model.evaluate(*xy(splits["test"]))
    report = {"target": target, "train_rows": len(splits["train"]),
              "val_rows": len(splits["val"]), "test_rows": len(splits["test"]),
              "test_mae": held_out.mae, "test_coverage_68": held_out.coverage_68,
              "test_coverage_95": held_out.coverage_95,
              "test_miscalibration_area": held_out.miscalibration_area,
              "val_calibration": calibration.to_dict()}
    model.save(folder, test_metrics=report)
    (folder / "metrics.json").write_text(json.dumps(report, indent=2, default=float))
    return report
