"""A genetic algorithm over compositions (and structures, by species substitution).

Parents are the best evaluated candidates (by utility, or by Pareto rank for several
objectives), chosen by tournament. Children come from substitution mutations (an element
replaced by a chemical neighbour: close Mendeleev number), stoichiometry mutations, and
crossover (elements aligned by electronegativity, each site taken from either parent).
With a pool, children must be pool members; missing ones are filled with the pool members
nearest (in feature space) to the parents, so the search stays local around good material.
By default the offspring are screened by a tree-ensemble surrogate (UCB) before the oracle
sees them (a surrogate-assisted GA); `surrogate: none` gives the plain GA.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import Field
from pymatgen.core import Composition, Element

from matforge.candidate import Candidate
from matforge.design.objectives import pareto_mask
from matforge.design.strategies._models import ensemble_samples
from matforge.design.strategies.base import (
    Context,
    Selection,
    Strategy,
    StrategyOptions,
    filter_new,
    random_pick,
)

_EXCLUDED = {"He", "Ne", "Ar", "Kr", "Xe", "Rn", "Tc", "Pm", "Po", "At", "Fr", "Ra"}


@lru_cache(maxsize=1)
def _palette() -> list[Element]:
    return [Element.from_Z(z) for z in range(1, 84) if Element.from_Z(z).symbol not in _EXCLUDED]


@lru_cache(maxsize=256)
def neighbours(symbol: str, k: int = 6) -> tuple[str, ...]:
    """The k elements with the closest Mendeleev number (chemical neighbours)."""
    el = Element(symbol)
    others = [e for e in _palette() if e.symbol != symbol]
    others.sort(key=lambda e: abs(e.mendeleev_no - el.mendeleev_no))
    return tuple(e.symbol for e in others[:k])


def _amounts(comp: Composition) -> list[tuple[str, int]]:
    red = comp.reduced_composition
    items = [(e.symbol, round(a)) for e, a in red.items()]
    items.sort(key=lambda t: (Element(t[0]).X if Element(t[0]).X == Element(t[0]).X else 0, t[0]))
    return items


def mutate(cand: Candidate, rng: np.random.Generator) -> Candidate:
    items = _amounts(cand.composition)
    op = rng.random()
    i = int(rng.integers(len(items)))
    el, n = items[i]
    present = {e for e, _ in items}
    if op < 0.75:  # substitution
        choices = [e for e in neighbours(el) if e not in present]
        if not choices:
            return cand
        new = str(rng.choice(choices))
        if cand.structure is not None:
            s = cand.structure.copy()
            s.replace_species({el: new})
            return Candidate.from_structure(s, provenance={"op": f"sub {el}->{new}",
                                                           "parent": cand.formula})
        items[i] = (new, n)
        tag = f"sub {el}->{new}"
    else:  # stoichiometry
        delta = 1 if (rng.random() < 0.5 or n == 1) else -1
        items[i] = (el, n + delta)
        tag = f"amount {el}{delta:+d}"
    comp = Composition({e: a for e, a in items})
    return Candidate(comp, provenance={"op": tag, "parent": cand.formula})


def crossover(a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
    ia, ib = _amounts(a.composition), _amounts(b.composition)
    if len(ia) != len(ib):
        return mutate(a, rng)
    items, used = [], set()
    for x, y in zip(ia, ib):
        pick = x if rng.random() < 0.5 else y
        if pick[0] in used:
            pick = y if pick is x else x
        if pick[0] in used:
            return mutate(a, rng)
        used.add(pick[0])
        items.append(pick)
    return Candidate(Composition(dict(items)),
                     provenance={"op": "crossover", "parent": f"{a.formula}+{b.formula}"})


def fitness(U: np.ndarray) -> np.ndarray:
    """Scalar fitness: the utility, or minus the Pareto rank for several objectives."""
    if U.shape[1] == 1:
        return U[:, 0]
    rank = np.zeros(len(U))
    remaining = np.arange(len(U))
    level = 0
    while len(remaining):
        front = pareto_mask(U[remaining])
        rank[remaining[front]] = level
        remaining = remaining[~front]
        level += 1
    return -rank


class GeneticOptions(StrategyOptions):
    population: int = Field(20, ge=1)  # parents kept
    children: int = Field(20, ge=1)  # offspring per batch slot
    p_crossover: float = Field(0.3, ge=0, le=1)
    surrogate: str = "forest"  # forest|ensemble|none
    screen: int = Field(5, ge=1)  # offspring screened per batch slot
    kappa: float = 1.0


class Genetic(Strategy):
    """options: population (parents kept), children (per batch slot), p_crossover,
    surrogate (forest|ensemble|none: screen `screen` x batch offspring by UCB), kappa."""

    name = "genetic"
    fits_surrogates = True

    def propose(self, ctx: Context) -> Selection:
        o = self.options
        formulas, _, U = ctx.history_arrays()
        if len(formulas) < 2:
            from matforge.design.strategies.random_search import RandomSearch

            return RandomSearch().propose(ctx)
        fit = fitness(U)
        pop = np.argsort(-fit)[: o.population]
        parents = [Candidate(formulas[i]) for i in pop]
        pfit = fit[pop]
        n_children = ctx.batch_size * o.children
        p_cx = o.p_crossover
        rng = ctx.rng
        raw: list[Candidate] = []
        for _ in range(n_children):
            a = parents[_tournament(pfit, rng)]
            if rng.random() < p_cx:
                raw.append(crossover(a, parents[_tournament(pfit, rng)], rng))
            else:
                raw.append(mutate(a, rng))
        raw = [c for c in raw if c.formula not in ctx.evaluated]
        if ctx.pool is not None:
            index = {c.formula: c for c in ctx.pool}
            seen: dict[str, Candidate] = {}
            for c in raw:
                if c.formula in index and c.formula not in seen:
                    seen[c.formula] = index[c.formula]
            kids = list(seen.values())
            verdicts: list[dict] = []
        else:
            kids, verdicts = filter_new(ctx, raw)
        surrogate = o.surrogate.lower()
        want = ctx.batch_size * (o.screen if surrogate != "none" else 1)
        if len(kids) > want:
            kids = [kids[i] for i in sorted(random_pick(ctx, kids, want))]
        if len(kids) < want and ctx.pool:
            kids += self._nearest(ctx, parents, {c.formula for c in kids}, want - len(kids))
        info = {"children": len(raw), "parents": len(parents)}
        if surrogate == "none" or len(kids) <= ctx.batch_size or len(formulas) < 10:
            return Selection(kids[: ctx.batch_size], verdicts=verdicts, info=info)
        # surrogate-assisted selection: screen the offspring with a tree ensemble's UCB
        _, Y, _ = ctx.history_arrays()
        S = ensemble_samples(formulas, Y, [c.formula for c in kids],
                             seed=ctx.seed * 1000 + ctx.step, kind=surrogate,
                             pretrained=self.options.pretrained)
        Us = np.stack([obj.utility(S[..., j]) for j, obj in enumerate(ctx.objectives)], -1)
        lo, hi = U.min(axis=0), U.max(axis=0)
        scale = np.where(hi - lo > 1e-12, hi - lo, 1.0)
        score = ((Us.mean(0) + o.kappa * Us.std(0) - lo) / scale).mean(1)
        order = np.argsort(-score)[: ctx.batch_size]
        return Selection([kids[i] for i in order], mean=S.mean(0)[order], std=S.std(0)[order],
                         acquisition=score[order], verdicts=verdicts, info=info)

    @staticmethod
    def _nearest(ctx: Context, parents: list[Candidate], taken: set[str], n: int) -> list:
        pool = [c for c in ctx.pool if c.formula not in taken]
        if not pool:
            return []
        pf = ctx.features([c.formula for c in pool])
        hf = ctx.features([p.formula for p in parents])
        sd = pf.std(axis=0)
        sd[sd < 1e-9] = 1.0
        d = (((pf[:, None, :] - hf[None, :, :]) / sd) ** 2).sum(-1)  # (pool, parents)
        order = np.argsort(d.min(axis=1) + 1e-6 * np.argmin(d, axis=1))
        return [pool[i] for i in order[:n]]


def _tournament(fit: np.ndarray, rng: np.random.Generator, k: int = 3) -> int:
    idx = rng.integers(0, len(fit), size=min(k, len(fit)))
    return int(idx[np.argmax(fit[idx])])
