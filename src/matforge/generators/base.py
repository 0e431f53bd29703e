"""The generator interface and the model directory format.

A generator learns from a data set and samples candidates:
`fit(dataset, **options)`, `sample(n, condition=None, seed=None) -> list[Candidate]`,
`save(path)`, `load(path)`. A model directory holds `config.json` (with the generator's
registered `kind`), its weights (`weights.pt` loaded with `weights_only=True`, or
safetensors), and `MODEL_CARD.md` (data, split, command, metrics).

`load_generator(name_or_dir)` resolves a shipped model name (a folder under
`matforge/models/`) or a directory path, and builds the generator registered (in
`matforge.registry`) for the kind its config names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from matforge import registry
from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.model_dir import SHIPPED_MODELS, read_config, resolve_model_dir, write_config

__all__ = ["SHIPPED_MODELS", "Condition", "Generator", "load_generator", "read_config",
           "resolve_model_dir", "write_config"]

Condition = dict[str, float | tuple[float, float]]


class Generator(ABC):
    kind: ClassVar[str]

    @abstractmethod
    def fit(self, dataset: pd.DataFrame, **options: Any) -> Generator: ...

    @abstractmethod
    def sample(self, n: int, condition: Condition | None = None,
               seed: int | None = None) -> list[Candidate]: ...

    @abstractmethod
    def save(self, path: str | Path) -> Path: ...

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Generator: ...


def load_generator(name_or_dir: str | Path) -> Generator:
    """The generator saved in a model directory (or shipped model), built by the class
    registered for its config's `kind` (`matforge.registry`, kind "generator")."""
    path = resolve_model_dir(name_or_dir)
    kind = read_config(path).get("kind")
    try:
        plugin = registry.get("generator", str(kind))
    except MatforgeError as exc:
        raise MatforgeError(f"{path}: {exc}") from None
    return plugin.load().load(path)
