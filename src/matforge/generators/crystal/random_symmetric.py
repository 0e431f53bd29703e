"""Symmetry-constrained random structures (pyxtal): the floor any crystal generator must clear.

For a composition, draw a space group (from the reference set's space-group frequencies when
fitted, else uniformly over 2..230), let pyxtal place the atoms on compatible Wyckoff
positions with its default distance tolerances and volume estimate, and keep the first
structure that is valid. Nothing is learned except those frequencies and, for de novo
sampling, the reference compositions.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Structure

from matforge.candidate import Candidate
from matforge.errors import DataError, MatforgeError
from matforge.generators.base import Condition, Generator, read_config, write_config

MAX_TRIES = 60  # space groups tried per structure before giving up


def _pyxtal():
    try:
        from pyxtal import pyxtal
    except ImportError:  # pragma: no cover - pyxtal is a dependency of the crystal extra
        raise MatforgeError("the random symmetric baseline needs pyxtal: pip install pyxtal") \
            from None
    return pyxtal


class RandomSymmetricCSP(Generator):
    """pyxtal random crystals with a given composition (CSP) or a reference composition."""

    kind: ClassVar[str] = "crystal-random"

    def __init__(self, spacegroup_weights: dict[int, float] | None = None,
                 compositions: list[str] | None = None):
        self.spacegroup_weights = spacegroup_weights or {}
        self.compositions = compositions or []

    def fit(self, dataset: pd.DataFrame, **options: Any) -> RandomSymmetricCSP:
        """Learn space-group frequencies (from up to `max_structures` cells) and keep the
        cell compositions for de novo sampling."""
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        if "cif" not in dataset.columns:
            raise DataError("the random baseline needs a structure data set (a 'cif' column)")
        rng = np.random.default_rng(int(options.get("seed", 0)))
        cifs = dataset["cif"].tolist()
        take = rng.permutation(len(cifs))[: int(options.get("max_structures", 300))]
        counts: dict[int, float] = {}
        comps = []
        for i in take:
            s = Structure.from_str(cifs[i], fmt="cif")
            comps.append(s.composition.formula.replace(" ", ""))
            try:
                sg = SpacegroupAnalyzer(s, symprec=0.1).get_space_group_number()
            except Exception:  # noqa: BLE001, S112 - spglib fails on rare degenerate cells
                continue
            counts[sg] = counts.get(sg, 0.0) + 1.0
        total = sum(counts.values()) or 1.0
        self.spacegroup_weights = {k: v / total for k, v in counts.items()}
        self.compositions = comps
        return self

    def _groups(self, rng: np.random.Generator) -> np.ndarray:
        """A random order of space groups: half from the learned frequencies, then the rest."""
        uniform = rng.permutation(np.arange(2, 231))
        if not self.spacegroup_weights:
            return uniform
        sgs = np.array(list(self.spacegroup_weights))
        p = np.array(list(self.spacegroup_weights.values()))
        learned = rng.choice(sgs, size=MAX_TRIES // 2, p=p / p.sum())
        return np.concatenate([learned, uniform])

    def propose(self, composition: Composition | str, k: int = 1, seed: int = 0
                ) -> list[Structure]:
        """`k` random symmetric structures with exactly this cell composition."""
        try:
            comp = Composition(composition)
        except Exception as exc:  # noqa: BLE001
            raise MatforgeError(f"cannot read composition {composition!r}: {exc}") from None
        amounts = [comp[el] for el in comp.elements]
        if any(abs(a - round(a)) > 1e-6 for a in amounts):
            raise MatforgeError(f"{comp.formula}: fractional amounts; give a cell formula")
        species = [el.symbol for el in comp.elements]
        counts = [round(a) for a in amounts]
        pyxtal = _pyxtal()
        rng = np.random.default_rng(seed)
        out: list[Structure] = []
        for _ in range(k):
            groups = self._groups(rng)
            for sg in groups[:MAX_TRIES]:
                crystal = pyxtal()
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        crystal.from_random(3, int(sg), species, counts, conventional=False,
                                            random_state=np.random.default_rng(
                                                int(rng.integers(2**31))))
                except Exception:  # noqa: BLE001, S112 - group incompatible with the counts
                    continue
                if crystal.valid:
                    s = crystal.to_pymatgen()
                    if abs(len(s) - comp.num_atoms) > 1e-6:
                        s = s.get_primitive_structure()  # pyxtal returns centred cells
                    if s.composition != comp:
                        continue
                    s.properties = {"spacegroup": int(sg)}
                    out.append(s)
                    break
        if not out:
            raise MatforgeError(f"{comp.formula}: pyxtal found no symmetric placement")
        return out

    def sample(self, n: int, condition: Condition | None = None,
               seed: int | None = None) -> list[Candidate]:
        """With condition {'formula': F}: n structures of F; else n structures of random
        reference compositions."""
        seed = 0 if seed is None else int(seed)
        rng = np.random.default_rng(seed)
        formula = (condition or {}).get("formula")
        if formula is None and not self.compositions:
            raise MatforgeError("random baseline has no compositions; pass a formula or fit it")
        out = []
        for i in range(n):
            comp = formula or self.compositions[int(rng.integers(len(self.compositions)))]
            s = self.propose(str(comp), k=1, seed=seed * 100003 + i)[0]
            out.append(Candidate.from_structure(s, provenance={"generator": self.kind,
                                                               "seed": seed, "index": i}))
        return out

    def save(self, path: str | Path) -> Path:
        path = write_config(path, self.kind)
        (path / "reference.json").write_text(json.dumps({
            "spacegroup_weights": self.spacegroup_weights, "compositions": self.compositions}))
        return path

    @classmethod
    def load(cls, path: str | Path) -> RandomSymmetricCSP:
        read_config(path)
        ref = Path(path) / "reference.json"
        if not ref.exists():
            return cls()
        data = json.loads(ref.read_text())
        return cls({int(k): float(v) for k, v in data["spacegroup_weights"].items()},
                   data["compositions"])
