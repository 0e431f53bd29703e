"""The unit of work that flows through matforge: one proposed material.

A `Candidate` carries a composition, an optional structure, where it came from
(provenance) and every score attached to it along the way. It round-trips through
CSV rows (`formula`, `cif`, `prov_*`, score columns) and CIF files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pymatgen.core import Composition, Structure

PROVENANCE_PREFIX = "prov_"
_RESERVED = {"formula", "cif"}


@dataclass
class Candidate:
    composition: Composition
    structure: Structure | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.composition, Composition):
            self.composition = Composition(self.composition)
        if self.structure is not None and not isinstance(self.structure, Structure):
            self.structure = to_structure(self.structure)

    @classmethod
    def from_structure(cls, structure: Any, **kwargs: Any) -> Candidate:
        structure = to_structure(structure)
        return cls(composition=structure.composition, structure=structure, **kwargs)

    @property
    def formula(self) -> str:
        """Reduced formula, the identity used for composition uniqueness and novelty."""
        return self.composition.reduced_formula

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"formula": self.formula}
        row["cif"] = self.structure.to(fmt="cif") if self.structure is not None else None
        for key, value in self.provenance.items():
            row[PROVENANCE_PREFIX + key] = _scalar(value)
        for key, value in self.scores.items():
            row[key] = _scalar(value)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Candidate:
        cif = row.get("cif")
        structure = None
        if isinstance(cif, str) and cif.strip():
            structure = Structure.from_str(cif, fmt="cif")
        formula = row.get("formula")
        if structure is not None:
            composition = structure.composition
        elif isinstance(formula, str) and formula.strip():
            composition = Composition(formula)
        else:
            raise ValueError("a candidate row needs a 'formula' or a 'cif'")
        provenance, scores = {}, {}
        for key, value in row.items():
            if key in _RESERVED or _missing(value):
                continue
            if key.startswith(PROVENANCE_PREFIX):
                provenance[key[len(PROVENANCE_PREFIX):]] = value
            else:
                scores[key] = value
        return cls(composition=composition, structure=structure, provenance=provenance,
                   scores=scores)


def to_structure(obj: Any) -> Structure:
    """Accept a pymatgen Structure, an ase.Atoms or a CIF string; return a Structure."""
    if isinstance(obj, Structure):
        return obj
    if isinstance(obj, str):
        return Structure.from_str(obj, fmt="cif")
    try:
        from ase import Atoms
    except ImportError:  # pragma: no cover - ase is a dependency
        Atoms = None
    if Atoms is not None and isinstance(obj, Atoms):
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(obj)
    raise TypeError(f"cannot convert {type(obj).__name__} to a pymatgen Structure")


def candidates_to_frame(candidates: Iterable[Candidate]) -> pd.DataFrame:
    rows = [c.to_row() for c in candidates]
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["formula", "cif"])
    return frame


def write_candidates(candidates: Iterable[Candidate], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = candidates_to_frame(candidates)
    if frame["cif"].isna().all():
        frame = frame.drop(columns=["cif"])
    frame.to_csv(path, index=False)
    return path


def read_candidates(path: str | Path) -> list[Candidate]:
    frame = pd.read_csv(path)
    return [Candidate.from_row(row) for row in frame.to_dict(orient="records")]


def write_cifs(candidates: Iterable[Candidate], folder: str | Path,
               name_key: str | None = None) -> list[Path]:
    """One CIF per candidate with a structure, named by rank and formula."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, cand in enumerate(candidates):
        if cand.structure is None:
            continue
        stem = str(cand.scores.get(name_key, i)) if name_key else f"{i:04d}"
        path = folder / f"{stem}_{cand.formula}.cif"
        path.write_text(cand.structure.to(fmt="cif"))
        paths.append(path)
    return paths


def _scalar(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
