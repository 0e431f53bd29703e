"""The strategy interface: given what the campaign knows, choose the next batch.

A strategy sees the evaluated history (formulas and oracle values, never the lookup table),
the remaining filtered pool (if any), a filter for new proposals, a featuriser, and an RNG
seeded by (campaign seed, step). It must be a pure function of those, so a resumed campaign
makes the same choices as an uninterrupted one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from matforge.candidate import Candidate
from matforge.design.objectives import Objective
from matforge.errors import MatforgeError


@dataclass
class Context:
    step: int
    batch_size: int
    objectives: list[Objective]
    history: list[dict[str, Any]]  # ok evaluations, in order: {"formula", "values", ...}
    evaluated: set[str]  # every formula already chosen (any status)
    pool: list[Candidate] | None  # remaining filtered pool, or None without a pool
    rng: np.random.Generator
    seed: int
    accept: Callable[[list[Candidate]], list[tuple[bool, str]]]
    features: Callable[[list[str]], np.ndarray]
    generator: Any = None
    generate_per_step: int = 200
    options: dict[str, Any] = field(default_factory=dict)

    _arrays: tuple[list[str], np.ndarray, np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False)

    def history_arrays(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Formulas, raw values (n, k) and utilities (n, k) of the rows with every objective
        (computed once per step: several helpers of a strategy ask for them)."""
        if self._arrays is None:
            self._arrays = self._history_arrays()
        formulas, Y, U = self._arrays
        return list(formulas), Y.copy(), U.copy()

    def _history_arrays(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        formulas, rows = [], []
        for h in self.history:
            vals = [h["values"].get(o.name) for o in self.objectives]
            if all(v is not None and np.isfinite(v) for v in vals):
                formulas.append(h["formula"])
                rows.append(vals)
        Y = np.array(rows, dtype=float).reshape(-1, len(self.objectives))
        U = np.stack([o.utility(Y[:, j]) for j, o in enumerate(self.objectives)], axis=1) \
            if len(Y) else Y
        return formulas, Y, U


@dataclass
class Selection:
    """The chosen batch with what the strategy believed about it (for the store)."""

    batch: list[Candidate]
    mean: np.ndarray | None = None  # (len(batch), k) predicted raw values
    std: np.ndarray | None = None
    acquisition: np.ndarray | None = None
    scored: list[dict[str, Any]] = field(default_factory=list)  # other logged proposals
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def rows(self, name: str) -> list[dict[str, Any]]:
        out = []
        for i, c in enumerate(self.batch):
            out.append({"formula": c.formula,
                        "cif": c.structure.to(fmt="cif") if c.structure is not None else None,
                        "provenance": {"strategy": name, **c.provenance},
                        "mean": None if self.mean is None else np.asarray(self.mean[i]).tolist(),
                        "std": None if self.std is None else np.asarray(self.std[i]).tolist(),
                        "acquisition": None if self.acquisition is None
                        else float(self.acquisition[i])})
        return out


class StrategyOptions(BaseModel):
    """Options every strategy takes; each strategy's options model extends this one."""

    model_config = ConfigDict(extra="forbid")

    featurizer: str = "magpie"  # the campaign's composition features (`ctx.features`)
    # "auto" (the shipped composition-pretrained) or a model directory: its predictions of
    # eight computed properties join the features of every surrogate the strategy fits
    pretrained: str | None = None


class Strategy(ABC):
    """A strategy is built with its options model, validated by `make_strategy`
    (`matforge.registry` names the model of each registered strategy)."""

    name = "strategy"
    needs_pool = False
    fits_surrogates = False  # learns from the campaign's evaluations (`pretrained` applies)

    def __init__(self, options: StrategyOptions | None = None):
        if options is None:  # built directly: the registered model's defaults
            from matforge import registry

            options = registry.get("strategy", self.name).validate({})
        if options.pretrained and not self.fits_surrogates:
            raise MatforgeError(f"strategy {self.name!r} fits no surrogate on the campaign's "
                                "data, so option 'pretrained' has nothing to start; use it "
                                "with generate_rank, bayesopt, genetic, steering or gflownet")
        self.options = options

    @abstractmethod
    def propose(self, ctx: Context) -> Selection:
        """Choose up to ctx.batch_size new candidates."""


def candidates_from(ctx: Context, n: int) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """The strategy's candidate set: the remaining pool, else n fresh generator samples
    (filtered, new, unique) with their verdicts."""
    if ctx.pool is not None:
        return list(ctx.pool), []
    if ctx.generator is None:
        raise MatforgeError("this campaign has neither a pool nor a generator to propose from")
    seed = int(ctx.rng.integers(0, 2**31 - 1))
    raw = ctx.generator.sample(n, seed=seed)
    return filter_new(ctx, raw)


def filter_new(ctx: Context, raw: list[Candidate]) -> tuple[list[Candidate], list[dict]]:
    """Keep proposals that pass the constraints and are neither evaluated nor repeated."""
    verdicts, out, seen = [], [], set(ctx.evaluated)
    for cand, (ok, reason) in zip(raw, ctx.accept(raw)):
        if ok and cand.formula in seen:
            ok, reason = False, "duplicate"
        verdicts.append({"formula": cand.formula, "passed": ok, "reason": reason})
        if ok:
            seen.add(cand.formula)
            out.append(cand)
    return out, verdicts


def random_pick(ctx: Context, cands: list[Candidate], n: int) -> list[int]:
    n = min(n, len(cands))
    return [int(i) for i in ctx.rng.choice(len(cands), size=n, replace=False)]


def random_selection(ctx: Context, cands: list[Candidate],
                     verdicts: list[dict[str, Any]] | None = None,
                     note: str | None = None) -> Selection:
    """A uniform batch of the candidates: random search, and every model-based strategy's
    start while it has too few evaluations to fit anything."""
    idx = random_pick(ctx, cands, ctx.batch_size)
    return Selection([cands[i] for i in idx], verdicts=list(verdicts or []),
                     info={"note": note} if note else {})
