"""Synthesizability: how much a composition looks like the compounds made in a laboratory.

`score_synthesizability(X)` scores formulas, Compositions, Candidates or Structures with the
shipped positive-unlabelled model (`matforge/models/synthesizability`, see its card) or a
model directory trained by `matforge train synthesizability`.
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


@lru_cache(maxsize=4)
def load_synthesizability_model(name_or_dir: str = DEFAULT_MODEL) -> PUBaggingClassifier:
    return PUBaggingClassifier.load(name_or_dir)


def score_synthesizability(X: Iterable[Any], model: str | Path = DEFAULT_MODEL) -> np.ndarray:
    """Scores in [0, 1], one per input (structures are scored by their composition)."""
    return load_synthesizability_model(str(model)).score(X)


def synthesizability_frame(frame: pd.DataFrame, model: str | Path = DEFAULT_MODEL) -> pd.DataFrame:
    """A copy of `frame` (with a `formula` column, or `cif`) with `synthesizability` and
    `likely_synthesizable` (score at or above the model's threshold) added."""
    from matforge.surrogates.train import inputs

    clf = load_synthesizability_model(str(model))
    kind = "composition" if "formula" in frame.columns else "structure"
    scores = clf.score(inputs(frame, kind))
    out = frame.copy()
    out["synthesizability"] = scores
    if clf.threshold is not None:
        out["likely_synthesizable"] = scores >= clf.threshold
    return out


__all__ = ["PUBaggingClassifier", "load_synthesizability_model", "score_synthesizability",
           "synthesizability_frame"]
