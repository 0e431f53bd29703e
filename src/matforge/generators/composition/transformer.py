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
from matforge.generators.base import Condition, Generator, read_config, write_config
from matforge.generators.composition import common, known
from matforge.generators.composition.layers import Block, sample_logits
from matforge.representations.tokens import (
    N_ELEMENTS,
    arrays_to_formulas,
    electronegativity_rank,
    formulas_to_arrays,
)

EOS = N_ELEMENTS


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


class TransformerGenerator(Generator):
    kind = "composition-transformer"

    def __init__(self, condition_on: Sequence[str] = (), max_elements: int = 8,
                 max_count: int = 20, d_model: int = 128, n_layers: int = 3, n_heads: int = 4,
                 d_ff: int = 256, dropout: float = 0.1, min_elements: int = 2,
                 temperature: float = 1.0, top_p: float = 1.0, guidance: float = 1.5,
                 device: str | None = None):
        self.condition_on = list(condition_on)
        self.arch = {"max_elements": max_elements, "max_count": max_count, "d_model": d_model,
                         "n_layers": n_layers, "n_heads": n_heads, "d_ff": d_ff, "dropout": dropout}
        self.min_elements = min_elements
        self.sampling = {"temperature": temperature, "top_p": top_p, "guidance": guidance}
        self.device = common.pick_device(device)
        self.model = FormulaTransformer(len(self.condition_on), **self.arch).to(self.device)
        self.stats: dict[str, list[float]] = {}
        self.allowed = torch.ones(N_ELEMENTS, dtype=torch.bool)
        self.info: dict[str, Any] = {}
        self.known: frozenset[str] = frozenset()  # training compositions, for novel_only

    # ---------------------------------------------------------------- training
    def fit(self, dataset: pd.DataFrame, epochs: int = 30, batch_size: int = 512,
            lr: float = 2e-3, max_minutes: float | None = 25.0, seed: int = 0,
            valid_only: bool = True, cond_drop: float = 0.15, **_: Any) -> TransformerGenerator:
        """Train on the compositions of `dataset`; stops after `max_minutes`."""
        common.set_threads()
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        ts = common.prepare(dataset, self.condition_on, self.arch["max_elements"],
                            self.arch["max_count"], valid_only, self.min_elements)
        self.stats = common.property_stats(ts.props, self.condition_on) if self.condition_on else {}
        self.known = frozenset(k for k in known.keys_of(dataset["formula"].astype(str)) if k)
        values, mask = common.scale(ts.props, self.condition_on, self.stats)
        self.allowed = torch.zeros(N_ELEMENTS, dtype=torch.bool)
        self.allowed[np.unique(ts.el[ts.el >= 0])] = True
        n = len(ts.formulas)
        order = rng.permutation(n)
        n_val = max(1, n // 50)
        val_idx, tr_idx = order[:n_val], order[n_val:]
        tensors = [torch.as_tensor(a) for a in (ts.el, ts.cnt, values, mask)]
        opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
        steps_total = epochs * max(1, len(tr_idx) // batch_size)
        step = 0
        timer = common.Timer(max_minutes)
        history = []
        bar = tqdm(total=steps_total, desc=f"train {self.kind}", mininterval=2)
        epoch = 0
        for epoch in range(1, epochs + 1):
            self.model.train()
            perm = rng.permutation(tr_idx)
            for s in range(0, len(perm) - batch_size + 1, batch_size):
                idx = torch.as_tensor(perm[s:s + batch_size])
                el, cnt, v, m = (t[idx].to(self.device) for t in tensors)
                m = m & (torch.rand(m.shape, device=self.device) > cond_drop)
                m = m & (torch.rand((m.shape[0], 1), device=self.device) > 0.1)
                loss = self.model.loss(el, cnt, v, m)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                opt.step()
                step += 1
                for group in opt.param_groups:
                    group["lr"] = common.lr_at(timer.progress(step, steps_total), lr)
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if timer.done():
                    break
            history.append({"epoch": epoch, "val_loss": self._val_loss(tensors, val_idx)})
            if timer.done():
                break
        bar.close()
        self.info = {"n_train": len(tr_idx), "n_val": int(n_val), "epochs": epoch,
                     "train_seconds": round(timer.elapsed, 1), "valid_only": valid_only,
                     "val_loss": history[-1]["val_loss"], "seed": seed}
        return self

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
        gen = torch.Generator(device=self.device)
        gen.manual_seed(0 if seed is None else int(seed))
        self.model.eval()
        out_el, out_cnt = [], []
        chunks = range(0, n, batch_size)
        for s in tqdm(chunks, desc="sample", disable=not progress):
            e, c = self._sample_batch(min(batch_size, n - s), cond, t, p, w, gen)
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
        n_props = len(self.condition_on)
        k = self.arch["max_elements"]
        values = torch.zeros((b, n_props), device=dev)
        mask = torch.zeros((b, n_props), dtype=torch.bool, device=dev)
        guided = cond is not None and guidance != 0.0
        if cond is not None:
            values[:] = torch.as_tensor(cond[0], device=dev)
            mask[:] = torch.as_tensor(cond[1], device=dev)
        if guided:  # second half: the unconditional pass
            values = torch.cat([values, torch.zeros_like(values)])
            mask = torch.cat([mask, torch.zeros_like(mask)])
        caches: list[dict] = [{} for _ in model.blocks]
        h = model.run(model.cond_token(values, mask), caches)[:, -1]
        rank = torch.as_tensor(electronegativity_rank(), device=dev)
        allowed = self.allowed.to(dev)
        # allowed elements ranked above each element: an early element must leave room for
        # min_elements - 1 more in increasing rank
        ranked = torch.where(allowed, rank, -1)
        n_above = (ranked[None, :] > rank[:, None]).sum(dim=1)
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

        for step in range(k + 1):
            m = act.shape[0]
            logits = mix(model.el_head(h))
            ok = allowed[None, :] & (rank[None, :] > last_rank[:, None])
            if step < self.min_elements:
                ok &= (n_above >= self.min_elements - step - 1)[None, :]
            eos_ok = torch.full((m, 1), step >= self.min_elements, device=dev)
            if step == k:
                ok = torch.zeros_like(ok)
                eos_ok = torch.ones_like(eos_ok)
            ok = torch.cat([ok, eos_ok], dim=1)
            ok[:, EOS] |= ~ok[:, :EOS].any(dim=1)  # nothing left to add: end
            e = sample_logits(logits.masked_fill(~ok, float("-inf")), temperature, top_p, gen)
            end = e == EOS
            e_safe = torch.where(end, 0, e)
            e_in = torch.cat([e_safe, e_safe]) if guided else e_safe
            c = sample_logits(mix(model.count_logits(h, e_in)), temperature, top_p, gen) + 1
            if step == k:
                break
            el_out[act, step] = torch.where(end, -1, e)
            cnt_out[act, step] = torch.where(end, 0, c)
            keep = ~end
            if not bool(keep.any()):
                break
            act, last_rank, e, c = act[keep], rank[e[keep]], e[keep], c[keep]
            keep2 = torch.cat([keep, keep]) if guided else keep
            for cache in caches:
                cache["k"], cache["v"] = cache["k"][keep2], cache["v"][keep2]
            e_in = torch.cat([e, e]) if guided else e
            c_in = torch.cat([c, c]) if guided else c
            x = model.pair_embedding(e_in, c_in, torch.full_like(e_in, step + 1))[:, None, :]
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
        if not novel_only:
            if reject_invalid:
                return common.sample_valid(self, n, condition, seed, **kwargs)
            prov = common.sampling_provenance(n, condition)
            return common.to_candidates(self.sample_formulas(n, condition, seed, **kwargs),
                                        self.kind, seed, prov)
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
        n_props = len(self.condition_on)
        out = []
        for s in range(0, len(el), batch_size):
            e = torch.as_tensor(el[s:s + batch_size], device=self.device)
            c = torch.as_tensor(cnt[s:s + batch_size], device=self.device)
            v = torch.zeros((len(e), n_props), device=self.device)
            m = torch.zeros((len(e), n_props), dtype=torch.bool, device=self.device)
            if cond is not None:
                v[:] = torch.as_tensor(cond[0], device=self.device)
                m[:] = torch.as_tensor(cond[1], device=self.device)
            out.append(self.model.log_prob(e, c, v, m))
        lp = torch.cat(out) if out else torch.zeros(0, device=self.device)
        return torch.where(torch.as_tensor(ok, device=self.device), lp, float("-inf"))

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        path = write_config(path, self.kind, condition_on=self.condition_on, arch=self.arch,
                            min_elements=self.min_elements, sampling=self.sampling,
                            stats=self.stats, training=self.info)
        torch.save({"model": self.model.state_dict(), "allowed": self.allowed},
                   Path(path) / "weights.pt")
        if self.known:
            known.save_keys(self.known, path)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> TransformerGenerator:
        cfg = read_config(path)
        gen = cls(cfg["condition_on"], min_elements=cfg["min_elements"], device=device,
                  **cfg["arch"], **cfg["sampling"])
        state = torch.load(Path(path) / "weights.pt", map_location=gen.device, weights_only=True)
        gen.model.load_state_dict(state["model"])
        gen.allowed = state["allowed"]
        gen.stats = cfg.get("stats", {})
        gen.info = cfg.get("training", {})
        gen.known = known.load_keys(path)
        gen.model.eval()
        return gen
