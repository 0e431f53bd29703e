"""A GFlowNet that samples compositions in proportion to a reward (trajectory balance).

Construction: a composition is built one (element, count) pair at a time, elements in
increasing electronegativity rank (pymatgen's formula order), then a stop action. That order
gives every reduced composition exactly one trajectory, so the state graph is a tree, the
backward policy is 1 and the trajectory-balance loss is
    (log Z + sum_t log P_F(a_t | s_t) - log R(x))^2
with log Z learned. The forward policy is a small MLP scoring (state, action) pairs from
element descriptors (electronegativity, Mendeleev number, row, group, radius) plus learned
element embeddings; a state is the count-weighted mean of its elements' vectors. A learned
bias per trie edge (the tabular part) lets the policy match rewards the features cannot
explain; log Z learns at ten times the policy's rate.

Terminal states are restricted to the step's candidate set, never mapped onto it afterwards:
the remaining pool (a lookup oracle only knows pool formulas), or without a pool the filtered
fresh samples of the campaign's generator. The candidates' token sequences form a trie, and
the forward policy may only take actions along it (stop only where a candidate ends), so
every trajectory ends on a candidate and P_F is a proper distribution over them. Mapping free
compositions onto their nearest pool member instead would pile the flow of many terminals
onto one member and bias the sampler towards isolated pool members.

Reward: log R(x) = beta * z(x), z the standardised optimistic surrogate reward (forest
UCB of the scaled utilities, fitted on the oracle evaluations). Because the trie is finite,
every terminal's log P_F comes from one pass over the trie's edges, so training samples
trajectories exactly from P_F (mixed with uniform exploration, which trajectory balance
allows) and the whole round costs about a second on one core. The policy is retrained from
a (seed, step)-seeded initialisation each round, so it is a pure function of the stored
evaluations and `--resume` rebuilds it. The batch is drawn from P_F without replacement
(Gumbel top-k; `select: top` takes the most probable instead), which keeps it diverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import Field

from matforge.design.strategies._reward import surrogate_reward, zscore
from matforge.design.strategies.base import (
    Context,
    Selection,
    Strategy,
    StrategyOptions,
    candidates_from,
    random_selection,
)
from matforge.errors import MatforgeError


@lru_cache(maxsize=1)
def element_descriptors() -> np.ndarray:
    """(103, 6) standardised descriptors: X, Mendeleev number, row, group, radius, Z."""
    import warnings

    from pymatgen.core import Element

    from matforge.representations.composition import ELEMENTS

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sym in ELEMENTS:
            e = Element(sym)
            vals = [e.X, e.mendeleev_no, e.row, e.group, e.atomic_radius, e.Z]
            rows.append([float(v) if v is not None else np.nan for v in vals])
    D = np.array(rows, dtype=float)
    mu, sd = np.nanmean(D, axis=0), np.nanstd(D, axis=0)
    D = np.where(np.isfinite(D), D, mu)
    return ((D - mu) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


@dataclass
class Trie:
    """The candidates' construction trie as flat edge arrays (edge = one action)."""

    parent: np.ndarray  # (E,) node the action is taken from
    element: np.ndarray  # (E,) element index added, -1 for stop
    count: np.ndarray  # (E,) its count, 0 for stop
    node_el: np.ndarray  # (M,) (node, element, count) entries describing each node's prefix
    node_of: np.ndarray  # (M,)
    node_cnt: np.ndarray  # (M,)
    n_nodes: int
    path_edges: np.ndarray  # (P,) edges on terminal paths, with
    path_term: np.ndarray  # (P,) the terminal each belongs to
    terminals: np.ndarray  # (T,) index of each terminal in the candidate list


def build_trie(formulas: list[str]) -> Trie:
    from matforge.representations.tokens import parse_reduced

    nodes: dict[tuple, int] = {(): 0}
    edges: dict[tuple, int] = {}
    parent, element, count, path_edges, path_term, terminals = [], [], [], [], [], []

    def edge(p: int, el: int, cnt: int) -> int:
        key = (p, el, cnt)
        if key not in edges:
            edges[key] = len(parent)
            parent.append(p)
            element.append(el)
            count.append(cnt)
        return edges[key]

    for i, f in enumerate(formulas):
        parsed = parse_reduced(f)
        if parsed is None:
            continue  # fractional amounts: outside the construction grammar
        seq = tuple(zip(*parsed))
        path, prefix = [], ()
        for el, cnt in seq:
            path.append(edge(nodes[prefix], el, cnt))
            prefix = prefix + ((el, cnt),)
            nodes.setdefault(prefix, len(nodes))
        path.append(edge(nodes[prefix], -1, 0))
        t = len(terminals)
        terminals.append(i)
        path_edges += path
        path_term += [t] * len(path)
    node_of, node_el, node_cnt = [], [], []
    for prefix, n in nodes.items():
        for el, cnt in prefix:
            node_of.append(n)
            node_el.append(el)
            node_cnt.append(cnt)
    a = np.asarray
    return Trie(a(parent), a(element), a(count), a(node_el, dtype=np.int64),
                a(node_of, dtype=np.int64), a(node_cnt, dtype=np.float32), len(nodes),
                a(path_edges, dtype=np.int64), a(path_term, dtype=np.int64),
                a(terminals, dtype=np.int64))


def _policy(trie: Trie, hidden: int = 64, emb: int = 8) -> Any:
    import torch
    from torch import nn

    desc = torch.as_tensor(element_descriptors())
    t = {k: torch.as_tensor(getattr(trie, k)) for k in
         ("parent", "element", "count", "node_el", "node_of", "node_cnt", "path_edges",
          "path_term")}

    class Policy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(len(desc), emb)
            nn.init.normal_(self.emb.weight, std=0.1)
            d = desc.shape[1] + emb
            self.mlp = nn.Sequential(nn.Linear(2 * d + 4, hidden), nn.SiLU(),
                                     nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
            self.edge_bias = nn.Parameter(torch.zeros(len(t["parent"])))  # tabular part
            self.log_z = nn.Parameter(torch.zeros(()))

        def log_pf(self) -> torch.Tensor:
            """(T,) log P_F of every terminal's trajectory."""
            vec = torch.cat([desc, self.emb.weight], dim=1)
            d = vec.shape[1]
            w = t["node_cnt"][:, None]
            state = torch.zeros(trie.n_nodes, d).index_add(0, t["node_of"], w * vec[t["node_el"]])
            total = torch.zeros(trie.n_nodes).index_add(0, t["node_of"], t["node_cnt"])
            n_el = torch.zeros(trie.n_nodes).index_add(0, t["node_of"],
                                                       torch.ones(len(t["node_of"])))
            state = state / total.clamp_min(1.0)[:, None]
            stop = t["element"] < 0
            action = torch.where(stop[:, None], 0.0, vec[t["element"].clamp_min(0)])
            extra = torch.stack([stop.float(), torch.log1p(t["count"].float()),
                                 n_el[t["parent"]] / 4, torch.log1p(total[t["parent"]])], 1)
            logits = self.mlp(torch.cat([state[t["parent"]], action, extra], 1))[:, 0] \
                + self.edge_bias
            # log-softmax over the actions of each node
            top = torch.full((trie.n_nodes,), -1e30).scatter_reduce(
                0, t["parent"], logits.detach(), reduce="amax")
            ex = torch.exp(logits - top[t["parent"]])
            norm = torch.zeros(trie.n_nodes).index_add(0, t["parent"], ex)
            log_p = logits - top[t["parent"]] - torch.log(norm[t["parent"]])
            return torch.zeros(len(trie.terminals)).index_add(0, t["path_term"],
                                                               log_p[t["path_edges"]])

    return Policy()


def train_gflownet(formulas: list[str], log_reward: np.ndarray, seed: int, iters: int = 200,
                   batch: int = 128, lr: float = 0.03, explore: float = 0.2
                   ) -> tuple[Trie, np.ndarray, float, list[float]]:
    """Fit P_F by trajectory balance; returns the trie, log P_F per terminal (aligned with
    `trie.terminals`), the learned log Z and the loss curve."""
    import torch

    trie = build_trie(formulas)
    if not len(trie.terminals):
        raise MatforgeError("no candidate formula can be built by the GFlowNet (fractional?)")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    policy = _policy(trie)
    log_r = torch.as_tensor(np.asarray(log_reward, dtype=np.float32)[trie.terminals])
    rest = [p for name, p in policy.named_parameters() if name != "log_z"]
    opt = torch.optim.Adam([{"params": rest}, {"params": [policy.log_z], "lr": 10 * lr}], lr=lr)
    n = len(trie.terminals)
    losses = []
    for _ in range(iters):
        log_pf = policy.log_pf()
        with torch.no_grad():  # behaviour: P_F mixed with uniform exploration (off-policy TB)
            probs = (1 - explore) * log_pf.exp() + explore / n
            idx = torch.multinomial(probs, batch, replacement=True, generator=gen)
        loss = ((policy.log_z + log_pf[idx] - log_r[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        return trie, policy.log_pf().numpy(), float(policy.log_z), losses


class GFlowNetOptions(StrategyOptions):
    beta: float = 3.0  # reward exponent on the z-scored surrogate reward
    iters: int = Field(200, ge=1)
    batch: int = Field(128, ge=1)
    lr: float = Field(0.03, gt=0)
    explore: float = Field(0.2, ge=0, le=1)
    kappa: float = 0.5
    surrogate: str = "forest"  # forest|ensemble
    select: Literal["sample", "top"] = "sample"


class GFlowNet(Strategy):
    """options: beta (reward exponent on the z-scored surrogate reward), iters, batch, lr,
    explore, kappa, surrogate (forest|ensemble), select (sample|top)."""

    name = "gflownet"
    fits_surrogates = True

    def propose(self, ctx: Context) -> Selection:
        o = self.options
        cands, verdicts = candidates_from(ctx, max(ctx.generate_per_step, ctx.batch_size))
        formulas, _, _ = ctx.history_arrays()
        if len(formulas) < 10 or not cands:
            return random_selection(ctx, cands, verdicts, "too little data: random")
        names = [c.formula for c in cands]
        ucb, mean, std = surrogate_reward(ctx, names, o.kappa, o.surrogate)
        log_r = o.beta * zscore(ucb)
        trie, log_pf, log_z, losses = train_gflownet(
            names, log_r, seed=ctx.seed * 100_003 + ctx.step, iters=o.iters,
            batch=o.batch, lr=o.lr, explore=o.explore)
        q = min(ctx.batch_size, len(trie.terminals))
        if o.select == "top":
            pick = np.argsort(-log_pf, kind="stable")[:q]
        else:  # q draws from P_F without replacement (Gumbel top-k)
            pick = np.argsort(-(log_pf + ctx.rng.gumbel(size=len(log_pf))), kind="stable")[:q]
        idx = trie.terminals[pick]
        corr = float(np.corrcoef(log_pf, log_r[trie.terminals])[0, 1]) \
            if len(log_pf) > 2 else float("nan")
        info = {"log_z": round(log_z, 3), "tb_loss": round(losses[-1], 4),
                "corr_logpf_logr": round(corr, 3), "terminals": len(trie.terminals)}
        return Selection([cands[i] for i in idx], mean=mean[idx], std=std[idx],
                         acquisition=log_pf[pick], verdicts=verdicts, info=info)
