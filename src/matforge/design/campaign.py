"""The closed loop: propose, filter, predict, choose, verify, store, repeat; resumable.

`Campaign(spec, out).run()` writes `campaign.sqlite` (everything, transactionally),
`evaluations.csv` (one row per oracle evaluation, in order) and `report.html`.

Resume: every choice is a pure function of the stored history and an RNG seeded by
(seed, step), and a step's batch is stored before any oracle call, so a campaign killed at
any instant continues with exactly the batch it had chosen; evaluations already stored are
never repeated, and a call cut off mid-way (status `running`) is the only one run again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from matforge.candidate import PROVENANCE_PREFIX, Candidate
from matforge.data.known import KNOWN
from matforge.design.filters import CandidateFilter
from matforge.design.spec import CampaignSpec, spec_from_dict
from matforge.design.store import CampaignStore
from matforge.design.strategies import make_strategy
from matforge.design.strategies.base import Context
from matforge.errors import MatforgeError

DB_NAME = "campaign.sqlite"


class FeatureCache:
    """Magpie features (or Magpie + fractions), with a pretrained model's predictions when
    one is named, per formula, computed once per campaign."""

    def __init__(self, featurizer: str = "magpie", pretrained: str | None = None):
        self.featurizer = featurizer
        self.pretrained = pretrained
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, formulas: list[str]) -> np.ndarray:
        missing = [f for f in dict.fromkeys(formulas) if f not in self.cache]
        if missing:
            from matforge.representations.composition import element_fractions, magpie_features

            feats = magpie_features(missing)
            if self.featurizer == "magpie+fractions":
                feats = np.hstack([feats, element_fractions(missing)])
            if self.pretrained:
                from matforge.surrogates.pretrained import load_pretrained

                feats = np.hstack([feats, load_pretrained(self.pretrained).transform(missing)])
            for f, row in zip(missing, np.asarray(feats, dtype=float)):
                self.cache[f] = row
        if not formulas:
            return np.zeros((0, 0))
        return np.stack([self.cache[f] for f in formulas])


def load_pool(source: str, split: str = "all", size: int | None = None,
              seed: int = 0) -> list[Candidate]:
    """Candidates from a pool file or data set: unique reduced formulas, optional seeded
    subsample. Property columns in the pool file are ignored (strategies never see them);
    `prov_*` columns become the candidates' provenance."""
    from matforge.chem.formula import reduced_formula
    from matforge.data import load_dataset

    frame = load_dataset(source, split=split)
    if "formula" not in frame.columns:
        raise MatforgeError(f"pool {source}: needs a 'formula' column")
    seen: dict[str, int] = {}
    for i, f in enumerate(frame["formula"]):
        seen.setdefault(reduced_formula(str(f)), i)
    keys = list(seen)
    if size is not None and size < len(keys):
        rng = np.random.default_rng(seed)
        keys = [keys[i] for i in sorted(rng.choice(len(keys), size=size, replace=False))]
    has_cif = "cif" in frame.columns
    prov_cols = [c for c in frame.columns if c.startswith(PROVENANCE_PREFIX)]
    out = []
    for k in keys:
        row = frame.iloc[seen[k]]
        cif = row["cif"] if has_cif else None
        cand = Candidate(k) if not (isinstance(cif, str) and cif.strip()) else \
            Candidate.from_structure(cif)
        cand.provenance["source"] = "pool"
        cand.provenance.update({c[len(PROVENANCE_PREFIX):]: row[c] for c in prov_cols
                                if isinstance(row[c], str) or pd.notna(row[c])})
        out.append(cand)
    if not out:
        raise MatforgeError(f"pool {source} is empty")
    return out


class Campaign:
    """One campaign in one run folder."""

    def __init__(self, spec: CampaignSpec | None, out: str | Path, resume: bool = False,
                 progress: bool = True, overrides: dict[str, Any] | None = None,
                 deadline: float | None = None):
        """`deadline` (time.monotonic()) overrides the spec's max_minutes for this run."""
        if spec is not None:  # options set after loading are checked before a folder is made
            spec.check_plugins()
        self.out = Path(out)
        db = self.out / DB_NAME
        if db.exists() and not resume:
            raise MatforgeError(f"{self.out} already holds a campaign: use --resume to continue "
                                "it, or another --out")
        if resume and not db.exists():
            raise MatforgeError(f"nothing to resume: {db} does not exist")
        self.store = CampaignStore(db)
        stored = self.store.get_meta("spec")
        if stored is not None:
            base = spec_from_dict(stored)
            if spec is not None:  # where to run may change on resume, what to run may not
                base = base.model_copy(update={"executor": spec.executor, "workers": spec.workers,
                                               "ray_address": spec.ray_address})
            # on resume only where to run and how far to go may change
            allowed = {"executor", "workers", "ray_address", "budget", "max_minutes"}
            extra = {k: v for k, v in (overrides or {}).items() if k in allowed and v is not None}
            if extra:
                base = base.model_copy(update=extra)
                self.store.set_meta(spec=base.model_dump(mode="json"))
            spec = base
        elif spec is None:
            raise MatforgeError("a new campaign needs a spec")
        else:
            self.store.set_meta(spec=spec.model_dump(mode="json"), version=1,
                                created=time.time())
        self.spec: CampaignSpec = spec
        self.progress = progress
        self.deadline = deadline if deadline is not None or spec.max_minutes is None else \
            time.monotonic() + 60.0 * spec.max_minutes
        self.features = FeatureCache(spec.strategy.options.get("featurizer", "magpie"),
                                     spec.strategy.options.get("pretrained"))

    # -- set-up --------------------------------------------------------------------------------
    def _setup(self) -> None:
        from matforge.oracles.plugins import build_oracle

        spec = self.spec
        constraints = spec.constraints
        if spec.source.generator and "novel_against" not in constraints.model_fields_set:
            # new proposals are checked against everything matforge knows unless the spec
            # says otherwise (a pool may hold known compositions on purpose)
            constraints = constraints.model_copy(update={"novel_against": KNOWN})
        self.filter = CandidateFilter(constraints)
        if self.filter.novelty_reference:
            self.store.set_meta(novelty_reference=self.filter.novelty_reference)
        self.pool: list[Candidate] | None = None
        if spec.source.pool:
            pool = load_pool(spec.source.pool, spec.source.pool_split, spec.source.pool_size,
                             spec.seed)
            verdicts = self.filter(pool)
            if not self.store.get_meta("pool_verdicts"):
                self.store.record_verdicts(-1, [{"formula": c.formula, "passed": ok,
                                                 "reason": r} for c, (ok, r) in
                                                zip(pool, verdicts)])
                self.store.set_meta(pool_verdicts=True)
            self.pool = [c for c, (ok, _) in zip(pool, verdicts) if ok]
            if not self.pool:
                raise MatforgeError("no pool candidate passes the constraints")
        self.generator = None
        if spec.source.generator:
            from matforge.generators.base import load_generator

            self.generator = load_generator(spec.source.generator)
        if self.pool is None and self.generator is None:
            raise MatforgeError("a campaign needs a pool (--pool) or a generator to propose from")
        opts = dict(spec.oracle.options)
        self.oracle = build_oracle(spec.oracle.kind, spec.oracle.target, spec.oracle.args,
                                   spec.oracle.timeout, stages=spec.oracle.stages, **opts)
        self.strategy = make_strategy(spec.strategy.name, **spec.strategy.options)
        self.initial = make_strategy("random")

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from matforge.design.executors import make_executor

        self._setup()
        spec = self.spec
        executor = make_executor(spec.executor, self.oracle, spec.workers, spec.ray_address)
        n_initial = spec.batch_size if spec.initial is None else spec.initial
        bar = tqdm(total=spec.budget, desc=f"campaign ({spec.strategy.name})",
                   disable=not self.progress)
        clock = _StepClock(self.deadline)
        self.store.set_meta(stopped=None)
        try:
            done = sum(1 for e in self.store.evaluations() if e["status"] in ("ok", "failed"))
            bar.update(done)
            steps = self.store.steps()
            for st in steps:
                if st["status"] != "done" and not clock.out_of_time(self.store):
                    with clock:
                        self._evaluate(st["step"], executor, bar)
            step = len(steps)
            while True:
                n_sel = self.store.n_selected()
                if n_sel >= spec.budget or clock.out_of_time(self.store):
                    break
                q = min(spec.batch_size, spec.budget - n_sel)
                if n_sel < n_initial:
                    q = min(q, n_initial - n_sel)
                strategy = self.initial if n_sel < n_initial else self.strategy
                selection = strategy.propose(self._context(step, q))
                batch_rows = selection.rows(strategy.name)[:q]
                if not batch_rows:
                    break  # nothing left to propose
                self.store.record_step(step, strategy.name, batch_rows, selection.scored,
                                       selection.verdicts, selection.info)
                latent_map = getattr(strategy, "latent_map", None)
                if latent_map:
                    self.store.set_meta(latent_map=latent_map)
                with clock:
                    self._evaluate(step, executor, bar)
                step += 1
        finally:
            bar.close()
            executor.close()
        from matforge.design.report import write_outputs

        return write_outputs(self.store, self.spec, self.out)

    def _context(self, step: int, q: int) -> Context:
        import random

        rng = np.random.default_rng([self.spec.seed, step])
        random.seed(self.spec.seed * 100_003 + step)
        import torch

        torch.manual_seed(self.spec.seed * 100_003 + step)
        evals = self.store.evaluations()
        evaluated = {e["formula"] for e in evals}
        history = [{"formula": e["formula"], "values": e["values"], "step": e["step"]}
                   for e in evals if e["status"] == "ok"]
        pool = None if self.pool is None else [c for c in self.pool if c.formula not in evaluated]
        return Context(step=step, batch_size=q, objectives=self.spec.objectives, history=history,
                       evaluated=evaluated, pool=pool, rng=rng, seed=self.spec.seed,
                       accept=self.filter, features=self.features, generator=self.generator,
                       generate_per_step=self.spec.source.generate_per_step,
                       options=self.spec.strategy.options)

    def _evaluate(self, step: int, executor: Any, bar: Any) -> None:
        todo = self.store.unfinished(step)
        jobs = []
        for e in todo:
            cand = Candidate.from_structure(e["cif"]) if e["cif"] else Candidate(e["formula"])
            cand.provenance.update(e["provenance"])
            jobs.append(((step, e["idx"]), cand))
        # the given structure written the way a result's is, so an unchanged one compares equal
        inputs = {key: None if cand.structure is None else cand.structure.to(fmt="cif")
                  for key, cand in jobs}
        for (s, i), result in executor.run(jobs, on_start=lambda key: self.store.mark_running(
                *key)):
            values = {k: v if isinstance(v, str) else float(v)
                      for k, v in result.values.items()}
            final = result.candidate.structure
            final_cif = final.to(fmt="cif") if final is not None else None
            self.store.record_result(s, i, result.status, values, result.reason,
                                     float(result.seconds),
                                     final_cif if final_cif != inputs[(s, i)] else None)
            bar.update(1)
        self.store.complete_step(step)


class _StepClock:
    """Times steps; a new step starts only if the longest one so far still fits before the
    deadline. A campaign stopped by time says so in its store and resumes with --resume."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.longest = 0.0
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.longest = max(self.longest, time.monotonic() - self._start)

    def out_of_time(self, store: CampaignStore) -> bool:
        if self.deadline is None or time.monotonic() + self.longest < self.deadline:
            return False
        store.set_meta(stopped="out of time (max_minutes); continue with --resume")
        return True


def run_campaign(spec: CampaignSpec | None, out: str | Path, resume: bool = False,
                 progress: bool = True, overrides: dict[str, Any] | None = None,
                 deadline: float | None = None,
                 preset_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run (or resume) a campaign; returns a summary with the output paths. On resume the
    stored spec is used; `overrides` may change executor, workers, ray_address, budget and
    max_minutes. `deadline` (time.monotonic()) bounds this run instead of max_minutes;
    `preset_summary` (what a preset prepared) is kept for the report."""
    campaign = Campaign(spec, out, resume=resume, progress=progress, overrides=overrides,
                        deadline=deadline)
    if preset_summary is not None:
        campaign.store.set_meta(preset_summary=preset_summary)
    try:
        return campaign.run()
    finally:
        campaign.store.close()
