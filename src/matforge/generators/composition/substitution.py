"""Data-mined element substitution: new compositions from known ones.

Fitting counts, for every pair of elements A and B, how often the training set holds two
compositions that differ only by A replaced with B at the same amount (the idea behind
Hautier et al.'s ionic substitution model, Inorg. Chem. 50, 656 (2011), estimated here from
the training set's own pairs). Sampling picks a parent composition, optionally weighted
toward a property condition, and replaces one or two of its elements by partners drawn in
proportion to those counts. It is fast (tens of thousands of samples per second) and keeps
the parent's stoichiometry, so most samples stay chemically sensible.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.generators.base import Condition, Generator, read_config, write_config


class SubstitutionGenerator(Generator):
    kind = "composition-substitution"

    def __init__(self, max_substitutions: int = 2, p_double: float = 0.3) -> None:
        self.max_substitutions = max_substitutions
        self.p_double = p_double
        self.parents: list[dict[str, float]] = []
        self.properties: dict[str, np.ndarray] = {}
        self.partners: dict[str, tuple[list[str], np.ndarray]] = {}

    def fit(self, dataset: pd.DataFrame, properties: list[str] | None = None,
            **_: Any) -> SubstitutionGenerator:
        frame = dataset.drop_duplicates("formula").reset_index(drop=True)
        comps = [Composition(f).reduced_composition for f in frame["formula"]]
        self.parents = [{str(e): float(a) for e, a in c.items()} for c in comps]
        self.properties = {p: frame[p].to_numpy(dtype=float) for p in (properties or [])
                           if p in frame.columns}
        # Group compositions by "everything except one element": members of a group are
        # the same compound with one element swapped.
        groups: dict[tuple, set[str]] = defaultdict(set)
        for parent in self.parents:
            for el, amt in parent.items():
                rest = tuple(sorted((e, a) for e, a in parent.items() if e != el))
                groups[(rest, amt)].add(el)
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for members in groups.values():
            if len(members) < 2:
                continue
            for a in members:
                for b in members:
                    if a != b:
                        counts[a][b] += 1
        self.partners = {}
        for a, row in counts.items():
            names = sorted(row)
            weights = np.array([row[b] for b in names], dtype=float)
            self.partners[a] = (names, weights / weights.sum())
        if not self.partners:
            raise MatforgeError("substitution generator: the data set has no substitution pairs")
        return self

    def _parent_weights(self, condition: Condition | None) -> np.ndarray:
        n = len(self.parents)
        if not condition:
            return np.full(n, 1.0 / n)
        weights = np.ones(n)
        for prop, target in condition.items():
            if prop not in self.properties:
                raise MatforgeError(f"cannot condition on {prop!r}: the generator was fitted with "
                                    f"properties {sorted(self.properties) or 'none'}")
            y = self.properties[prop]
            ok = np.isfinite(y)
            if isinstance(target, (tuple, list)):
                lo, hi = target
                inside = ok & (y >= lo) & (y <= hi)
                weights *= np.where(inside, 1.0, 1e-3)
            else:
                scale = np.nanstd(y) or 1.0
                weights *= np.where(ok, np.exp(-np.abs(y - float(target)) / (0.25 * scale)), 0.0)
        if weights.sum() <= 0:
            raise MatforgeError(f"no training composition is near the condition {condition}")
        return weights / weights.sum()

    def sample(self, n: int, condition: Condition | None = None,
               seed: int | None = None) -> list[Candidate]:
        if not self.parents:
            raise MatforgeError("the substitution generator is not fitted")
        rng = np.random.default_rng(seed)
        parent_idx = rng.choice(len(self.parents), size=n, p=self._parent_weights(condition))
        out = []
        for i in parent_idx:
            parent = self.parents[i]
            child = dict(parent)
            n_sub = 2 if (len(parent) > 1 and self.max_substitutions > 1
                          and rng.random() < self.p_double) else 1
            swappable = [e for e in parent if e in self.partners]
            rng.shuffle(swappable)
            done = 0
            for el in swappable:
                names, probs = self.partners[el]
                choice = names[rng.choice(len(names), p=probs)]
                if choice in child:
                    continue
                child[choice] = child.pop(el)
                done += 1
                if done == n_sub:
                    break
            if done == 0:
                continue
            comp = Composition(child)
            out.append(Candidate(comp, provenance={
                "generator": self.kind, "seed": seed,
                "parent": Composition(parent).reduced_formula}))
        return out

    def save(self, path: str | Path) -> Path:
        path = write_config(path, self.kind, max_substitutions=self.max_substitutions,
                            p_double=self.p_double)
        payload = {
            "parents": self.parents,
            "properties": {k: [None if not math.isfinite(x) else x for x in v.tolist()]
                           for k, v in self.properties.items()},
            "partners": {a: [names, probs.tolist()] for a, (names, probs) in self.partners.items()},
        }
        (path / "substitutions.json").write_text(json.dumps(payload))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SubstitutionGenerator:
        cfg = read_config(path)
        gen = cls(max_substitutions=cfg.get("max_substitutions", 2), p_double=cfg.get("p_double", 0.3))
        payload = json.loads((Path(path) / "substitutions.json").read_text())
        gen.parents = payload["parents"]
        gen.properties = {k: np.array([np.nan if x is None else x for x in v], dtype=float)
                          for k, v in payload["properties"].items()}
        gen.partners = {a: (names, np.array(probs)) for a, (names, probs) in payload["partners"].items()}
        return gen
