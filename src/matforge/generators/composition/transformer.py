"""Autoregressive transformer over formula tokens, conditional on properties.

A formula is a sequence of (element, count) pairs in electronegativity order. One step
predicts the next element (or end), then its count from the hidden state and the chosen
element, so a formula of k elements takes k+1 steps. Position 0 holds a condition token:
the sum of one embedding per property, or that property's learned "unknown" embedding.
Properties are dropped at random in training, so the same network gives unconditional
logits and classifier-free guidance (cond + w * (cond - uncond)) at sampling time.

Decoding is constrained by grammar, not by chemistry: elements must come in increasing
electronegativity rank (so each composition has exactly one sequence, and no element
repeats), at least `min_elements` elements, only elements seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from matforge.candidate import Candidate
from matforge.chem import check_composition
from matforge.errors import MatforgeError
from matforge.generators.base import Condition
from matforge.generators.composition import common, known
from matforge.generators.composition.layers import Block, sample_logits
from matforge.generators.composition.torch_base import TorchCompositionGenerator
from matforge.generators.training import TrainingLoop, optimiser_step
from matforge.representations.tokens import (
    N_ELEMENTS,
    arrays_to_formulas,
    electronegativity_rank,
    formula_keys,
    formulas_to_arrays,
)

EOS = N_ELEMENTS
FINE_TUNE_MODES = ("adapter", "full")
# peak learning rates: a new embedding learns fast; the whole network moves gently, so
# a few hundred compositions do not erase what the base model knows
FINE_TUNE_LR = {"adapter": 3e-3, "full": 3e-4}


class FormulaTransformer(nn.Module):
    def __init__(self, n_props: int, max_elements: int = 8, max_count: int = 20,
                 d_model: int = 128, n_layers: int = 3, n_heads: int = 4, d_ff: int = 256,
                 dropout: float = 0.1):
        super().__init__()
        self.max_elements, self.max_count = max_elements, max_count
        self.el_emb = nn.Embedding(N_ELEMENTS + 1, d_model)  # last row: padding
        self.cnt_emb = nn.Embedding(max_count + 1, d_model)
        self.pos_emb = nn.Embedding(max_elements + 1, d_model)
        self.cond_base = nn.Parameter(torch.zeros(d_model))
        self.null = nn.Parameter(torch.randn(max(n_props, 1), d_model) * 0.02)
        self.prop_mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(1, d_model), nn.SiLU(), nn.Linear(d_model, d_model))
            for _ in range(n_props))
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.el_head = nn.Linear(d_model, N_ELEMENTS + 1)
        self.el_out = nn.Embedding(N_ELEMENTS + 1, d_model)
        self.cnt_head = nn.Sequential(nn.Linear(2 * d_model, d_model), nn.GELU(),
                                      nn.Linear(d_model, max_count))

    def cond_token(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, P) scaled values and known-mask -> (B, 1, d)."""
        tok = self.cond_base.expand(values.shape[0], -1)
        for j, mlp in enumerate(self.prop_mlps):
            emb = mlp(values[:, j:j + 1])
            tok = tok + torch.where(mask[:, j:j + 1], emb, self.null[j].expand_as(emb))
        return tok[:, None, :]

    def add_properties(self, n_new: int) -> list[nn.Parameter]:
        """Append condition embeddings for n_new properties and return their weights. Each
        embedding's last layer and "unknown" vector start at zero, so the network's outputs
        are unchanged until the new embeddings are trained."""
        d, n_old = self.cond_base.shape[0], len(self.prop_mlps)
        params: list[nn.Parameter] = []
        for _ in range(n_new):
            mlp = nn.Sequential(nn.Linear(1, d), nn.SiLU(), nn.Linear(d, d))
            nn.init.zeros_(mlp[2].weight)
            nn.init.zeros_(mlp[2].bias)
            self.prop_mlps.append(mlp.to(self.cond_base.device))
            params += list(mlp.parameters())
        if n_new:
            zeros = torch.zeros((n_new, d), device=self.null.device)
            self.null = nn.Parameter(torch.cat([self.null.data[:n_old], zeros]))
        return params

    def pair_embedding(self, el: torch.Tensor, cnt: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        el = torch.where(el < 0, N_ELEMENTS, el)
        return self.el_emb(el) + self.cnt_emb(cnt.clamp(0, self.max_count)) + self.pos_emb(pos)

    def run(self, x: torch.Tensor, caches: list[dict] | None = None) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.ln_f(x)

    def count_logits(self, h: torch.Tensor, el: torch.Tensor) -> torch.Tensor:
        return self.cnt_head(torch.cat([h, self.el_out(el)], dim=-1))

    def loss(self, el: torch.Tensor, cnt: torch.Tensor, values: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
        b, k = el.shape
        pos = torch.arange(1, k + 1, device=el.device).expand(b, k)
        x = torch.cat([self.cond_token(values, mask), self.pair_embedding(el, cnt, pos)], dim=1)
        h = self.run(x)  # (B, k+1, d): position t predicts pair t+1
        n_el = (el >= 0).sum(dim=1)
        tgt = torch.cat([el, torch.full((b, 1), -1, device=el.device)], dim=1)
        tgt = torch.where(tgt < 0, EOS, tgt)
        t_idx = torch.arange(k + 1, device=el.device).expand(b, k + 1)
        live = t_idx <= n_el[:, None]
        el_loss = nn.functional.cross_entropy(self.el_head(h)[live], tgt[live])
        has = t_idx < n_el[:, None]
        cnt_tgt = torch.cat([cnt, torch.zeros((b, 1), dtype=cnt.dtype, device=cnt.device)], 1)
        cnt_loss = nn.functional.cross_entropy(self.count_logits(h[has], tgt[has]),
                                               cnt_tgt[has] - 1)
        return el_loss + cnt_loss

    def log_prob(self, el: torch.Tensor, cnt: torch.Tensor, values: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
        """(B,) teacher-forced log-probability of each row (elements, end, counts): the
        per-row version of `loss`, differentiable, for scoring and fine-tuning on rewards.
        The sampling grammar (electronegativity order) is not applied: the logits are those
        the training loss saw."""
        b, k = el.shape
        pos = torch.arange(1, k + 1, device=el.device).expand(b, k)
        x = torch.cat([self.cond_token(values, mask), self.pair_embedding(el, cnt, pos)], dim=1)
        h = self.run(x)
        n_el = (el >= 0).sum(dim=1)
        tgt = torch.cat([el, torch.full((b, 1), -1, device=el.device)], dim=1)
        tgt = torch.where(tgt < 0, EOS, tgt)
        t_idx = torch.arange(k + 1, device=el.device).expand(b, k + 1)
        el_lp = self.el_head(h).log_softmax(-1).gather(-1, tgt[..., None])[..., 0]
        el_lp = torch.where(t_idx <= n_el[:, None], el_lp, 0.0).sum(dim=1)
        cnt_tgt = torch.cat([cnt, torch.ones((b, 1), dtype=cnt.dtype, device=cnt.device)], 1)
        cnt_idx = (cnt_tgt - 1).clamp(0, self.max_count - 1)
        cnt_lp = self.count_logits(h, tgt.clamp(max=EOS)).log_softmax(-1) \
            .gather(-1, cnt_idx[..., None])[..., 0]
        cnt_lp = torch.where(t_idx < n_el[:, None], cnt_lp, 0.0).sum(dim=1)
        return el_lp + cnt_lp


class _Grammar:
    """The tokens a formula may take next: elements seen in training, in increasing
    electronegativity rank, leaving room for `min_elements`; the end once there are enough
    (and always after `max_elements`)."""

    def __init__(self, allowed: torch.Tensor, min_elements: int, max_elements: int):
        self.allowed, self.min_elements, self.max_elements = allowed, min_elements, max_elements
        self.rank = torch.as_tensor(electronegativity_rank(), device=allowed.device)
        # allowed elements ranked above each element: an early element must leave room for
        # min_elements - 1 more in increasing rank
        ranked = torch.where(allowed, self.rank, -1)
        self.n_above = (ranked[None, :] > self.rank[:, None]).sum(dim=1)

    def next_tokens(self, step: int, last_rank: torch.Tensor) -> torch.Tensor:
        """(rows, N_ELEMENTS + 1) mask of the tokens allowed at `step`, given the rank of each
        row's last element (-1 before the first)."""
        ok = self.allowed[None, :] & (self.rank[None, :] > last_rank[:, None])
        if step < self.min_elements:
            ok &= (self.n_above >= self.min_elements - step - 1)[None, :]
        eos_ok = torch.full((len(last_rank), 1), step >= self.min_elements, device=ok.device)
        if step == self.max_elements:
            ok = torch.zeros_like(ok)
            eos_ok = torch.ones_like(eos_ok)
        ok = torch.cat([ok, eos_ok], dim=1)
        ok[:, EOS] |= ~ok[:, :EOS].any(dim=1)  # nothing left to add: end
        return ok


class TransformerGenerator(TorchCompositionGenerator):
    kind = "composition-transformer"

    def __init__(self, condition_on: Sequence[str] = (), max_elements: int = 8,
                 max_count: int = 20, d_model: int = 128, n_layers: int = 3, n_heads: int = 4,
                 d_ff: int = 256, dropout: float = 0.1, min_elements: int = 2,
                 temperature: float = 1.0, top_p: float = 1.0, guidance: float = 1.5,
                 device: str | None = None):
        super().__init__(condition_on, device)
        self.arch = {"max_elements": max_elements, "max_count": max_count, "d_model": d_model,
                     "n_layers": n_layers, "n_heads": n_heads, "d_ff": d_ff, "dropout": dropout}
        self.min_elements = min_elements
        self.sampling = {"temperature": temperature, "top_p": top_p, "guidance": guidance}
        self.model = FormulaTransformer(len(self.condition_on), **self.arch).to(self.device)
        self.allowed = torch.ones(N_ELEMENTS, dtype=torch.bool)
        self.known: frozenset[str] = frozenset()  # training compositions, for novel_only

    # ---------------------------------------------------------------- training
    def fit(self, dataset: pd.DataFrame, epochs: int = 30, batch_size: int = 512,
            lr: float = 2e-3, max_minutes: float | None = 25.0, seed: int = 0,
            valid_only: bool = True, cond_drop: float = 0.15, **_: Any) -> TransformerGenerator:
        """Train on the compositions of `dataset`; stops after `max_minutes`."""
        rng = self._start_fit(seed)
        ts, values, mask = self._training_set(dataset, self.arch["max_elements"],
                                              self.arch["max_count"], valid_only,
                                              self.min_elements)
        self.known = frozenset(formula_keys(dataset["formula"].astype(str)))
        self.allowed = torch.zeros(N_ELEMENTS, dtype=torch.bool)
        self.allowed[np.unique(ts.el[ts.el >= 0])] = True
        self.info = {**self._train(ts, values, mask, list(self.model.parameters()), epochs,
                                   batch_size, lr, max_minutes, rng, cond_drop),
                     "valid_only": valid_only, "seed": seed}
        return self

    def fine_tune(self, dataset: pd.DataFrame, condition_on: Sequence[str] = (),
                  mode: str = "adapter", epochs: int = 60, batch_size: int = 64,
                  lr: float | None = None, max_minutes: float | None = 10.0, seed: int = 0,
                  valid_only: bool = True, cond_drop: float = 0.15) -> TransformerGenerator:
        """Adapt this trained generator to a user's (small) data set.

        mode "adapter": the network is frozen; each property of `condition_on` that the model
        does not know yet gets a new condition embedding, the only weights trained, so
        unconditional samples stay exactly those of the base model and the new property is
        steered with classifier-free guidance (as MatterGen adds property adapters to a frozen
        base). mode "full": every weight is trained at a small learning rate, on the
        compositions of `dataset` (a family of chemistry), with any new properties as well.
        The data's compositions join the known ones used by `novel_only`."""
        if mode not in FINE_TUNE_MODES:
            raise MatforgeError(f"unknown fine-tuning mode {mode!r}; choose from "
                                f"{', '.join(FINE_TUNE_MODES)}")
        new = [p for p in condition_on if p not in self.condition_on]
        if mode == "adapter" and not new:
            raise MatforgeError("adapter fine-tuning trains the embedding of a property the "
                                "model does not condition on yet; give one with condition_on, "
                                "or use mode='full' to adapt to a family of compositions")
        rng = self._start_fit(seed)
        names = [*self.condition_on, *new]
        frame = dataset.assign(**{p: np.nan for p in self.condition_on if p not in dataset})
        ts = common.prepare(frame, names, self.arch["max_elements"], self.arch["max_count"],
                            valid_only, self.min_elements)
        new_stats = common.property_stats(ts.props[:, len(self.condition_on):], new)
        params = self.model.add_properties(len(new))
        if mode == "full":
            params = list(self.model.parameters())
        self.condition_on, self.stats = names, {**self.stats, **new_stats}
        values, mask = common.scale(ts.props, names, self.stats)
        self.known |= formula_keys(dataset["formula"].astype(str))
        if mode == "full":  # a frozen network has learnt nothing of elements it never saw
            self.allowed[np.unique(ts.el[ts.el >= 0])] = True
        log = self._train(ts, values, mask, params, epochs, batch_size,
                          lr or FINE_TUNE_LR[mode], max_minutes, rng, cond_drop)
        self.info = {**log, "valid_only": valid_only, "seed": seed, "fine_tune": mode,
                     "new_properties": new, "base": self.info}
        return self

    def _train(self, ts: common.TrainingSet, values: np.ndarray, mask: np.ndarray,
               params: list[nn.Parameter], epochs: int, batch_size: int, lr: float,
               max_minutes: float | None, rng: np.random.Generator, cond_drop: float
               ) -> dict[str, Any]:
        """Fit `params` on the training set with 2% held out for a validation loss per
        epoch; returns the training log."""
        order = rng.permutation(len(ts.formulas))
        n_val = max(1, len(order) // 50)
        val_idx, tr_idx = order[:n_val], order[n_val:]
        batch_size = min(batch_size, len(tr_idx))
        tensors = [torch.as_tensor(a) for a in (ts.el, ts.cnt, values, mask)]
        trained = {id(p) for p in params}
        for p in self.model.parameters():  # a frozen base needs no gradients of its own
            p.requires_grad_(id(p) in trained)
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        history: list[float] = []
        loop = TrainingLoop(f"train {self.kind}", tr_idx, batch_size, epochs, max_minutes, rng,
                            self.model, schedules=[(opt, lr)],
                            on_epoch_end=lambda: history.append(self._val_loss(tensors, val_idx)))
        try:
            for idx in loop:
                el, cnt, v, m = (t[idx].to(self.device) for t in tensors)
                loss = self.model.loss(el, cnt, v, self._drop_conditions(m, cond_drop))
                optimiser_step(opt, loss, clip_norm=1.0)
                loop.postfix = {"loss": f"{loss.item():.3f}"}
        finally:
            self.model.requires_grad_(True)
        return {"n_train": len(tr_idx), "n_val": int(n_val), "epochs": loop.epoch,
                "train_seconds": round(loop.timer.elapsed, 1),
                "val_loss": history[-1] if history else None}

    def _drop_conditions(self, mask: torch.Tensor, p: float) -> torch.Tensor:
        """Forget each known property with probability p, and every property of a tenth of
        the rows, so one network also gives the unconditional logits guidance needs."""
        mask = mask & (torch.rand(mask.shape, device=self.device) > p)
        return mask & (torch.rand((mask.shape[0], 1), device=self.device) > 0.1)

    @torch.no_grad()
    def _val_loss(self, tensors: list[torch.Tensor], idx: np.ndarray) -> float:
        self.model.eval()
        i = torch.as_tensor(idx)
        el, cnt, v, m = (t[i].to(self.device) for t in tensors)
        return round(float(self.model.loss(el, cnt, v, m)), 4)

    # ---------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_arrays(self, n: int, condition: Condition | None = None, seed: int | None = None,
                      temperature: float | None = None, top_p: float | None = None,
                      guidance: float | None = None, batch_size: int = 20_000,
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """`el`, `cnt` arrays (n, max_elements) of n sampled compositions."""
        t = self.sampling["temperature"] if temperature is None else temperature
        p = self.sampling["top_p"] if top_p is None else top_p
        w = self.sampling["guidance"] if guidance is None else guidance
        cond = common.condition_arrays(condition, self.condition_on, self.stats)
        gen = self._torch_rng(seed)
        self.model.eval()
        out_el, out_cnt = [], []
        for _, b in tqdm(list(self._batches(n, batch_size)), desc="sample", disable=not progress):
            e, c = self._sample_batch(b, cond, t, p, w, gen)
            out_el.append(e)
            out_cnt.append(c)
        k = self.arch["max_elements"]
        if not out_el:
            return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.int64)
        return np.concatenate(out_el), np.concatenate(out_cnt)

    def _sample_batch(self, b: int, cond: tuple[np.ndarray, np.ndarray] | None, temperature: float,
                      top_p: float, guidance: float, gen: torch.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
        model, dev = self.model, self.device
        k = self.arch["max_elements"]
        values, mask = self._condition_batch(cond, b)
        guided = cond is not None and guidance != 0.0
        if guided:  # second half: the unconditional pass
            values = torch.cat([values, torch.zeros_like(values)])
            mask = torch.cat([mask, torch.zeros_like(mask)])
        caches: list[dict] = [{} for _ in model.blocks]
        h = model.run(model.cond_token(values, mask), caches)[:, -1]
        grammar = _Grammar(self.allowed.to(dev), self.min_elements, k)
        el_out = torch.full((b, k), -1, dtype=torch.long, device=dev)
        cnt_out = torch.zeros((b, k), dtype=torch.long, device=dev)
        # rows still decoding; finished rows leave the batch (and the key/value caches)
        act = torch.arange(b, device=dev)
        last_rank = torch.full((b,), -1, dtype=torch.long, device=dev)

        def mix(logits: torch.Tensor) -> torch.Tensor:
            if not guided:
                return logits
            m = logits.shape[0] // 2
            c, u = logits[:m], logits[m:]
            return c + guidance * (c - u)

        def both(x: torch.Tensor) -> torch.Tensor:  # rows of the conditional and unconditional pass
            return torch.cat([x, x]) if guided else x

        for step in range(k + 1):
            logits = mix(model.el_head(h)).masked_fill(~grammar.next_tokens(step, last_rank),
                                                       float("-inf"))
            e = sample_logits(logits, temperature, top_p, gen)
            end = e == EOS
            c_logits = mix(model.count_logits(h, both(torch.where(end, 0, e))))
            c = sample_logits(c_logits, temperature, top_p, gen) + 1
            if step == k:
                break
            el_out[act, step] = torch.where(end, -1, e)
            cnt_out[act, step] = torch.where(end, 0, c)
            keep = ~end
            if not bool(keep.any()):
                break
            act, last_rank, e, c = act[keep], grammar.rank[e[keep]], e[keep], c[keep]
            for cache in caches:
                cache["k"], cache["v"] = cache["k"][both(keep)], cache["v"][both(keep)]
            e_in = both(e)
            x = model.pair_embedding(e_in, both(c), torch.full_like(e_in, step + 1))[:, None, :]
            h = model.run(x, caches)[:, -1]
        return el_out.cpu().numpy(), cnt_out.cpu().numpy()

    def sample_formulas(self, n: int, condition: Condition | None = None,
                        seed: int | None = None, **kwargs: Any) -> list[str]:
        return arrays_to_formulas(*self.sample_arrays(n, condition, seed, **kwargs))

    def sample(self, n: int, condition: Condition | None = None, seed: int | None = None,
               reject_invalid: bool = False, novel_only: bool = False,
               **kwargs: Any) -> list[Candidate]:
        """n candidates. With `reject_invalid`, resample until n pass the strict SMACT check;
        with `novel_only`, until n distinct compositions absent from the training data."""
        if novel_only:
            return self._sample_novel(n, condition, seed, reject_invalid, **kwargs)
        return super().sample(n, condition, seed, reject_invalid, **kwargs)

    def _sample_novel(self, n: int, condition: Condition | None, seed: int | None,
                      reject_invalid: bool, **kwargs: Any) -> list[Candidate]:
        if not self.known:
            raise MatforgeError("this model was saved without its training compositions, so "
                                "novel_only cannot tell which samples are new; retrain it")
        prov = {**common.sampling_provenance(n, condition), "filtered": "novel" +
                ("+smact-strict" if reject_invalid else "")}

        def draw(m: int, s: int | None) -> list[str]:
            return self.sample_formulas(m, condition, s, **kwargs)

        def valid(f: str) -> bool:
            return check_composition(f).valid_strict

        formulas = known.reject_known(draw(n, seed), n, self.known, draw, seed,
                                      keep=valid if reject_invalid else (lambda f: True))
        return common.to_candidates(formulas, self.kind, seed, prov)

    def log_likelihood(self, formulas: Sequence[str], condition: Condition | None = None,
                       batch_size: int = 4096) -> torch.Tensor:
        """(n,) log p(formula) under the model (unconditional unless `condition`), with
        gradients when grad mode is on; -inf for formulas the model cannot encode (too many
        elements, counts above max_count, fractional amounts)."""
        el, cnt, ok = formulas_to_arrays(list(formulas), self.arch["max_elements"],
                                         self.arch["max_count"], 1)
        cond = common.condition_arrays(condition, self.condition_on, self.stats)
        out = []
        for s, b in self._batches(len(el), batch_size):
            e = torch.as_tensor(el[s:s + b], device=self.device)
            c = torch.as_tensor(cnt[s:s + b], device=self.device)
            out.append(self.model.log_prob(e, c, *self._condition_batch(cond, b)))
        lp = torch.cat(out) if out else torch.zeros(0, device=self.device)
        return torch.where(torch.as_tensor(ok, device=self.device), lp, float("-inf"))

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        path = super().save(path)
        if self.known:
            known.save_keys(self.known, path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> TransformerGenerator:
        gen = super().load(path, device)
        gen.known = known.load_keys(path)
        return gen

    def _weights(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "allowed": self.allowed}

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.allowed = state["allowed"]
