"""Synthesizability: how much a composition looks like the compounds made in a laboratory.

`score_synthesizability(X)` scores formulas, Compositions, Candidates or Structures with the
shipped positive-unlabelled model of compositions (`matforge/models/synthesizability`, see its
card) or a model directory trained by `matforge train synthesizability`.
`score_synthesizability(structures, STRUCTURE_MODEL)` scores structures with the structure
variant (`matforge/models/synthesizability-structure`), which tells polymorphs apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matforge.synthesizability.model import PUBaggingClassifier

DEFAULT_MODEL = "synthesizability"
STRUCTURE_MODEL = "synthesizability-structure"


@lru_cache(maxsize=4)
def load_synthesizability_model(name_or_dir: str = DEFAULT_MODEL) -> PUBaggingClassifier:
    return PUBaggingClassifier.load(name_or_dir)


def score_synthesizability(X: Iterable[Any], model: str | Path = DEFAULT_MODEL) -> np.ndarray:
    """Scores in [0, 1], one per input (a composition model scores structures by their
    composition; a structure model needs structures)."""
    return load_synthesizability_model(str(model)).score(X)


def synthesizability_frame(frame: pd.DataFrame, model: str | Path = DEFAULT_MODEL,
                           structure_model: str | Path | None = STRUCTURE_MODEL) -> pd.DataFrame:
    """A copy of `frame` (with a `formula` column, or `cif`) with `synthesizability` and
    `likely_synthesizable` (score at or above the model's threshold) added. Where the frame
    has structures (`cif`) and `structure_model` is given, also `structure_synthesizability`
    and `likely_synthesizable_structure` (left empty on rows without a CIF)."""
    from matforge.surrogates.train import inputs

    out = frame.copy()
    kind = "composition" if "formula" in frame.columns else "structure"
    _add_scores(out, "", load_synthesizability_model(str(model)), inputs(frame, kind))
    if "cif" in frame.columns and structure_model is not None:
        rows = frame["cif"].notna() & (frame["cif"].astype(str).str.strip() != "")
        if rows.any():
            clf = load_synthesizability_model(str(structure_model))
            _add_scores(out, "_structure", clf, inputs(frame[rows], "structure"), rows)
    return out


def _add_scores(out: pd.DataFrame, suffix: str, clf: PUBaggingClassifier, X: list[Any],
                rows: pd.Series | None = None) -> None:
    scores = clf.score(X)
    name = "structure_synthesizability" if suffix else "synthesizability"
    columns = {name: scores}
    if clf.threshold is not None:
        columns[f"likely_synthesizable{suffix}"] = scores >= clf.threshold
    for col, values in columns.items():
        if rows is None:
            out[col] = values
        else:
            out[col] = pd.Series(values, index=out.index[rows.to_numpy()]).reindex(out.index)


__all__ = ["STRUCTURE_MODEL", "PUBaggingClassifier", "load_synthesizability_model",
           "score_synthesizability", "synthesizability_frame"]
