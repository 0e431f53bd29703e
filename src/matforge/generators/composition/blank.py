"""Blank-filling "tinkering": a masked model over a composition's elements.

A composition is a set of (element, count) pairs; a bidirectional transformer without
positions (so order carries no information) reads it with some elements replaced by a
blank and predicts, for each blank, a distribution over elements. That answers doping and
substitution questions directly: `fill("Sr*O3")` ranks what can stand in the blank, and
`substitutions("LiFePO4")` ranks replacements for each element;
`matforge fill` is the command-line face of `fill_ranked`. `sample(n)` tinkers with
known training compositions (one or two blanks each, never returning the original element),
choosing parents near a property target when a condition is given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.generators.base import Condition
from matforge.generators.composition import common
from matforge.generators.composition.layers import Block
from matforge.generators.composition.torch_base import TorchCompositionGenerator
from matforge.generators.training import TrainingLoop, optimiser_step
from matforge.representations.composition import ELEMENT_INDEX, ELEMENTS
from matforge.representations.tokens import N_ELEMENTS, arrays_to_formulas

MASK, PAD = N_ELEMENTS, N_ELEMENTS + 1
_BLANK_TOKEN = re.compile(r"([A-Z][a-z]?|[*?])(\d*)")


def _parse_blanks(formula: str, mask: Sequence[str] = ()
                  ) -> tuple[list[int], list[int], dict[int, int]]:
    """Element indices (MASK for blanks), counts, and {position: original element} for the
    elements of `mask`, from a plain formula with '*' or '?' blanks ('Sr?O3', 'Li*2*O4')."""
    text = formula.replace(" ", "")
    tokens = _BLANK_TOKEN.findall(text)
    if not tokens or "".join(s + c for s, c in tokens) != text:
        raise MatforgeError(f"cannot read {formula!r}: write elements with integer counts and "
                            "'*' or '?' blanks, e.g. 'Sr?O3' (no brackets or fractions)")
    el, cnt, original = [], [], {}
    for sym, num in tokens:
        if sym not in "*?" and sym not in ELEMENT_INDEX:
            raise MatforgeError(f"unknown element {sym!r} in {formula!r}")
        el.append(MASK if sym in "*?" else ELEMENT_INDEX[sym])
        cnt.append(int(num) if num else 1)
        if cnt[-1] < 1:
            raise MatforgeError(f"{formula!r}: counts must be positive integers")
    for sym in mask:
        if sym not in ELEMENT_INDEX or ELEMENT_INDEX[sym] not in el:
            raise MatforgeError(f"cannot mask {sym!r}: it is not an element of {formula!r}")
        for i, e in enumerate(el):
            if e == ELEMENT_INDEX[sym]:
                el[i], original[i] = MASK, e
    if MASK not in el:
        raise MatforgeError(f"{formula!r} has no blank to fill: write '*' or '?' for one "
                            "(e.g. 'Sr?O3') or mask an element")
    if len(el) > 8:
        raise MatforgeError(f"{formula!r}: at most 8 elements")
    known = [e for e in el if e != MASK]
    if len(set(known)) != len(known):
        raise MatforgeError(f"{formula!r}: an element appears twice")
    return el, cnt, original


class BlankModel(nn.Module):
    def __init__(self, max_count: int = 20, d_model: int = 96, n_layers: int = 3,
                 n_heads: int = 4, d_ff: int = 192, dropout: float = 0.1):
        super().__init__()
        self.max_count = max_count
        self.el_emb = nn.Embedding(N_ELEMENTS + 2, d_model)
        self.cnt_emb = nn.Embedding(max_count + 1, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, N_ELEMENTS)

    def forward(self, el: torch.Tensor, cnt: torch.Tensor) -> torch.Tensor:
        """el (B, K) with MASK for blanks and -1/PAD for padding -> (B, K, 103) logits."""
        pad = (el < 0) | (el == PAD)
        x = self.el_emb(torch.where(pad, PAD, el)) + self.cnt_emb(cnt.clamp(0, self.max_count))
        for block in self.blocks:
            x = block(x, causal=False, pad=pad)
        return self.head(self.ln(x))


class BlankFillingGenerator(TorchCompositionGenerator):
    kind = "composition-blank"
    config_fields = ("max_elements",)

    def __init__(self, condition_on: Sequence[str] = (), max_elements: int = 8,
                 max_count: int = 20, d_model: int = 96, n_layers: int = 3, n_heads: int = 4,
                 d_ff: int = 192, dropout: float = 0.1, temperature: float = 1.0,
                 device: str | None = None):
        super().__init__(condition_on, device)
        self.max_elements = max_elements
        self.arch = {"max_count": max_count, "d_model": d_model, "n_layers": n_layers,
                     "n_heads": n_heads, "d_ff": d_ff, "dropout": dropout}
        self.sampling = {"temperature": temperature}
        self.model = BlankModel(**self.arch).to(self.device)
        # parents for sample(): training compositions and their scaled properties
        self.parents_el = torch.zeros((0, max_elements), dtype=torch.long)
        self.parents_cnt = torch.zeros((0, max_elements), dtype=torch.long)
        self.parents_props = torch.zeros((0, len(self.condition_on)))
        self.parents_mask = torch.zeros((0, len(self.condition_on)), dtype=torch.bool)

    def fit(self, dataset: pd.DataFrame, epochs: int = 30, batch_size: int = 512,
            lr: float = 2e-3, mask_rate: float = 0.3, max_minutes: float | None = 25.0,
            seed: int = 0, valid_only: bool = True, **_: Any) -> BlankFillingGenerator:
        rng = self._start_fit(seed)
        ts, values, mask = self._training_set(dataset, self.max_elements, self.arch["max_count"],
                                              valid_only, 2)
        self.parents_el, self.parents_cnt = torch.as_tensor(ts.el), torch.as_tensor(ts.cnt)
        self.parents_props, self.parents_mask = torch.as_tensor(values), torch.as_tensor(mask)
        opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
        loop = TrainingLoop(f"train {self.kind}", len(ts.el), batch_size, epochs, max_minutes,
                            rng, self.model, schedules=[(opt, lr)])
        loss_value = float("nan")
        for idx in loop:
            el, cnt = self.parents_el[idx].to(self.device), self.parents_cnt[idx].to(self.device)
            loss = self._masked_loss(el, cnt, mask_rate)
            optimiser_step(opt, loss)
            loss_value = loss.item()
            loop.postfix = {"loss": f"{loss_value:.3f}"}
        self.info = {"n_train": len(ts.el), "epochs": loop.epoch,
                     "train_seconds": round(loop.timer.elapsed, 1), "loss": round(loss_value, 4),
                     "valid_only": valid_only, "seed": seed}
        return self

    def _masked_loss(self, el: torch.Tensor, cnt: torch.Tensor, mask_rate: float
                     ) -> torch.Tensor:
        """Cross-entropy of the model's guesses for elements blanked at `mask_rate`."""
        real = el >= 0
        blank = real & (torch.rand(el.shape, device=self.device) < mask_rate)
        # at least one blank per row: the first real position when none was drawn
        none = ~blank.any(dim=1)
        blank[none, 0] = True
        logits = self.model(torch.where(blank, MASK, el), cnt)
        return nn.functional.cross_entropy(logits[blank], el[blank])

    # ---------------------------------------------------------------- tinkering
    @torch.no_grad()
    def _probs(self, el: torch.Tensor, cnt: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Per-position element probabilities; elements already in the row are excluded."""
        logits = self.model(el.to(self.device), cnt.to(self.device))
        present = torch.zeros((len(el), N_ELEMENTS + 2), dtype=torch.bool, device=self.device)
        present.scatter_(1, torch.where(el < 0, PAD, el).to(self.device), True)
        logits = logits.masked_fill(present[:, None, :N_ELEMENTS], float("-inf"))
        return (logits / max(temperature, 1e-6)).softmax(dim=-1)

    def fill(self, formula: str, top_k: int = 10, mask: Sequence[str] = ()
             ) -> list[tuple[str, float]]:
        """Rank completions of a formula with blanks, e.g. 'Sr*O3' or 'Li*2*O4' ('*' or '?';
        a blank takes the count written after it). Returns (formula, probability) pairs."""
        return [(r["formula"], r["probability"]) for r in self.fill_ranked(formula, top_k, mask)]

    def fill_ranked(self, formula: str, top_k: int = 10, mask: Sequence[str] = ()
                    ) -> list[dict[str, Any]]:
        """Beam search over the blanks of `formula`, left to right, re-reading the filled ones.

        `mask` names elements of the formula to replace by a blank (substitution design:
        `fill_ranked("LiFePO4", mask=["Fe"])`); a masked element is never proposed for its
        own place. Rows: formula, probability (product over the blanks; paths that give the
        same composition are summed), fills ('* -> Mn' or 'Fe -> Mn', one per blank)."""
        el, cnt, original = _parse_blanks(formula, mask)
        beams: list[tuple[list[int], float]] = [(el, 1.0)]
        c = torch.tensor([cnt])
        while MASK in beams[0][0]:
            grown = []
            for seq, p in beams:
                pos = seq.index(MASK)
                probs = self._probs(torch.tensor([seq]), c)[0, pos].clone()
                if pos in original:
                    probs[original[pos]] = 0.0
                top = probs.topk(min(top_k, int((probs > 0).sum())))
                for q, e in zip(top.values.tolist(), top.indices.tolist()):
                    grown.append((seq[:pos] + [e] + seq[pos + 1:], p * q))
            beams = sorted(grown, key=lambda b: -b[1])[:top_k]
        blanks = [i for i, e in enumerate(el) if e == MASK]
        rows: dict[str, dict[str, Any]] = {}
        for seq, p in beams:
            f = arrays_to_formulas(np.array([seq]), np.array([cnt]))[0]
            fills = ", ".join(f"{ELEMENTS[original[i]] if i in original else '*'} -> "
                              f"{ELEMENTS[seq[i]]}" for i in blanks)
            if f in rows:
                rows[f]["probability"] += float(p)
            else:
                rows[f] = {"formula": f, "probability": float(p), "fills": fills}
        out = sorted(rows.values(), key=lambda r: -r["probability"])
        for r in out:
            r["probability"] = round(r["probability"], 6)
        return out

    def substitutions(self, formula: str, top_k: int = 5) -> dict[str, list[tuple[str, float]]]:
        """For each element of a formula, the top-k replacement elements and probabilities."""
        from matforge.representations.tokens import parse_reduced

        parsed = parse_reduced(formula)
        if parsed is None:
            raise MatforgeError(f"cannot read {formula!r} as an integer composition")
        idx, counts = parsed
        k = len(idx)
        el = torch.tensor([list(idx)] * k)
        el[torch.arange(k), torch.arange(k)] = MASK
        probs = self._probs(el, torch.tensor([list(counts)] * k))
        out = {}
        for i, e in enumerate(idx):
            p = probs[i, i].clone()
            p[e] = 0.0
            top = p.topk(top_k)
            out[ELEMENTS[e]] = [(ELEMENTS[j], round(float(q), 6))
                                for q, j in zip(top.values.tolist(), top.indices.tolist())]
        return out

    # ---------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_formulas(self, n: int, condition: Condition | None = None,
                        seed: int | None = None, temperature: float | None = None,
                        return_parents: bool = False) -> list[str] | tuple[list[str], list[str]]:
        if len(self.parents_el) == 0:
            raise MatforgeError("this blank-filling model has no parent compositions: fit it first")
        t = self.sampling["temperature"] if temperature is None else temperature
        gen = self._torch_rng(seed, device="cpu")
        weights = torch.ones(len(self.parents_el))
        cond = common.condition_arrays(condition, self.condition_on, self.stats)
        if cond is not None:  # parents near the target: Gaussian weight in scaled units
            v, m = torch.as_tensor(cond[0]), torch.as_tensor(cond[1])
            known = self.parents_mask & m
            d2 = (((self.parents_props - v) ** 2) * known).sum(1)
            weights = torch.exp(-d2 / (2 * 0.25 ** 2)) * known.any(1) + 1e-12
        parent = torch.multinomial(weights, n, replacement=True, generator=gen)
        el0, cnt = self.parents_el[parent].clone(), self.parents_cnt[parent]
        el = el0.clone()
        n_el = (el >= 0).sum(1)
        n_blank = torch.where(torch.rand(n, generator=gen) < 0.3, 2, 1).clamp(max=n_el - 1)
        n_blank = n_blank.clamp(min=1)
        keys = torch.rand(el.shape, generator=gen).masked_fill(el < 0, 2.0)
        order = keys.argsort(dim=1)
        for r in range(2):
            rows = torch.nonzero(n_blank > r).squeeze(1)
            pos = order[rows, r]
            el[rows, pos] = MASK
        for r in range(2):  # fill blanks one at a time, re-reading the filled ones
            rows = torch.nonzero(n_blank > r).squeeze(1)
            if len(rows) == 0:
                break
            pos = order[rows, r]
            probs = []
            for s in range(0, len(rows), 20_000):
                sl = rows[s:s + 20_000]
                pr = self._probs(el[sl], cnt[sl], t).cpu()
                pr = pr[torch.arange(len(sl)), pos[s:s + 20_000]]
                pr[torch.arange(len(sl)), el0[sl, pos[s:s + 20_000]]] = 0.0  # never the original
                probs.append(pr)
            p = torch.cat(probs)
            p = torch.where(p.sum(1, keepdim=True) > 0, p, torch.ones_like(p))
            el[rows, pos] = torch.multinomial(p, 1, generator=gen).squeeze(1)
        formulas = arrays_to_formulas(el.numpy(), cnt.numpy())
        if return_parents:
            return formulas, arrays_to_formulas(el0.numpy(), cnt.numpy())
        return formulas

    def _sample_candidates(self, n: int, condition: Condition | None, seed: int | None,
                           **kwargs: Any) -> list[Candidate]:
        """Candidates that name the training composition they were tinkered from."""
        prov = common.sampling_provenance(n, condition)
        formulas, parents = self.sample_formulas(n, condition, seed, return_parents=True, **kwargs)
        cands = common.to_candidates(formulas, self.kind, seed, prov)
        for c, p in zip(cands, parents):
            c.provenance["parent"] = p
        return cands

    def _weights(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(),
                "parents_el": self.parents_el.to(torch.int16),
                "parents_cnt": self.parents_cnt.to(torch.int16),
                "parents_props": self.parents_props.float(),
                "parents_mask": self.parents_mask}

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        # parents stay on the CPU: sample_formulas draws them with a CPU generator
        self.parents_el = state["parents_el"].long().cpu()
        self.parents_cnt = state["parents_cnt"].long().cpu()
        self.parents_props = state["parents_props"].cpu()
        self.parents_mask = state["parents_mask"].cpu()
