"""The generator interface and the model directory format.

A generator learns from a data set and samples candidates:
`fit(dataset, **options)`, `sample(n, condition=None, seed=None) -> list[Candidate]`,
`save(path)`, `load(path)`. A model directory holds `config.json` (with the generator's
registered `kind`), its weights (`weights.pt` loaded with `weights_only=True`, or
safetensors), and `MODEL_CARD.md` (data, split, command, metrics).

`load_generator(name_or_dir)` resolves a shipped model name (a folder under
`matforge/models/`) or a directory path, and builds the generator named by its config.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.model_dir import SHIPPED_MODELS, read_config, resolve_model_dir, write_config

__all__ = ["GENERATOR_KINDS", "SHIPPED_MODELS", "Condition", "Generator", "load_generator",
           "read_config", "register_generator", "resolve_model_dir", "write_config"]

# kind -> "module:Class". Each generator module adds itself here (see `register_generator`).
GENERATOR_KINDS: dict[str, str] = {
    "composition-substitution": "matforge.generators.composition.substitution:SubstitutionGenerator",
    "composition-transformer": "matforge.generators.composition.transformer:TransformerGenerator",
    "composition-vae": "matforge.generators.composition.vae:VAEGenerator",
    "composition-gan": "matforge.generators.composition.gan:GANGenerator",
    "composition-blank": "matforge.generators.composition.blank:BlankFillingGenerator",
    "crystal-template": "matforge.generators.crystal.template:TemplateCSP",
    "crystal-random": "matforge.generators.crystal.random_symmetric:RandomSymmetricCSP",
    "crystal-diffusion": "matforge.generators.crystal.diffusion.generator:CrystalDiffusion",
}

Condition = dict[str, float | tuple[float, float]]


def register_generator(kind: str, target: str) -> None:
    GENERATOR_KINDS[kind] = target


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
    path = resolve_model_dir(name_or_dir)
    kind = read_config(path).get("kind")
    if kind not in GENERATOR_KINDS:
        raise MatforgeError(f"{path}: unknown generator kind {kind!r} "
                            f"(known: {', '.join(sorted(GENERATOR_KINDS))})")
    module, cls_name = GENERATOR_KINDS[kind].split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    return cls.load(path)
